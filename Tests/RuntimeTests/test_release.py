"""What a stranger installs: the release tarball and wheel, used where the toolchain cannot be reached.

Tools/test runs this with the system's Python under `env -i PATH=/usr/bin:/bin HOME=<empty directory>`, after
Tools/release, passing only where the artifacts are:
  RNNKIT_TARBALL  dist/rnnkit-<version>-linux-x86_64.tar.gz
  RNNKIT_WHEEL    dist/rnninfer-<version>-py3-none-manylinux_*.whl
  RNNKIT_TRAINER_WHEEL  dist/rnnkit-<version>-py3-none-manylinux_*.whl
  RNNKIT_EXAMPLE  Examples/classify.c (the C program a user would write)
  RNNKIT_AUDITWHEEL  the auditwheel Tools/release repaired the wheel with (a check of the file, not a tool the
                  user needs)
"""
import os
import pathlib
import random
import shutil
import subprocess
import sys
import tempfile
import unittest

TARBALL = pathlib.Path(os.environ["RNNKIT_TARBALL"])
WHEEL = pathlib.Path(os.environ["RNNKIT_WHEEL"])
TRAINER_WHEEL = pathlib.Path(os.environ["RNNKIT_TRAINER_WHEEL"])
EXAMPLE = pathlib.Path(os.environ["RNNKIT_EXAMPLE"])
VERSION = TARBALL.name.split("-")[1]
ABI = 3


def run(*arguments, cwd=None, env=None):
    result = subprocess.run([str(a) for a in arguments], capture_output=True, text=True, cwd=cwd,
                            env={**os.environ, **(env or {})})
    if result.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, arguments))} failed ({result.returncode}): {result.stderr}")
    return result.stdout


def write_reviews(folder):
    """The README's example: reviews-train.csv and reviews-test.csv, a review column and a stars label."""
    rng = random.Random(11)
    words = ["the", "film", "plot", "was", "actors", "and", "a", "movie", "scene"]
    for name, rows in (("train", 600), ("test", 120)):
        with open(folder / f"reviews-{name}.csv", "w") as f:
            f.write("review,stars\n")
            while rows:
                text = [rng.choice(words + ["good", "bad"]) for _ in range(rng.randint(3, 15))]
                if text.count("good") != text.count("bad"):
                    f.write(f"{' '.join(text)},{5 if text.count('good') > text.count('bad') else 1}\n")
                    rows -= 1


class Release(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.work = pathlib.Path(tempfile.mkdtemp(prefix="rnnkit-release-"))
        (cls.work / "prefix").mkdir()
        run("tar", "-xzf", TARBALL, "-C", cls.work / "prefix")
        cls.tree = cls.work / "prefix" / TARBALL.name.removesuffix(".tar.gz")
        cls.rnnkit = cls.tree / "bin" / "rnnkit"
        # Trained once, by the unpacked tool, from a folder with no recipes of its own.
        data = cls.work / "data"
        data.mkdir()
        write_reviews(data)
        run(cls.rnnkit, "prep", "csv", "reviews-train.csv", "reviews-test.csv", "--text-column", "review",
            "--label-column", "stars", "--out", cls.work / "shards", "--quiet", cwd=data)
        run(cls.rnnkit, "train", "--shards", cls.work / "shards", "--epochs", "3", "--embed", "8", "--hidden", "12",
            "--lr", "0.01", "--out", cls.work / "run", "--quiet", cwd=data)
        cls.model = cls.work / "run" / "model.rnnk"

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.work, ignore_errors=True)

    def test_no_toolchain_is_within_reach(self):
        self.assertIsNone(shutil.which("swift"))
        self.assertIsNone(shutil.which("swiftc"))
        self.assertNotIn("/opt/swift", os.environ["PATH"])

    def test_the_tree_holds_what_a_user_expects(self):
        for path in ("bin/rnnkit", "libexec/rnnkit/rnnkit", f"lib/librnninfer.so.{ABI}", "lib/librnninfer.a",
                     "include/rnninfer.h", "lib/pkgconfig/rnninfer.pc", "lib/pkgconfig/rnninfer-static.pc",
                     "lib/cmake/rnninfer/rnninferConfig.cmake", "lib/cmake/rnninfer/rnninferConfigVersion.cmake",
                     "share/rnnkit/recipes/csv.json", "share/rnnkit/recipes/imdb.json", "share/doc/rnnkit/README.md",
                     "share/doc/rnnkit/formats/model-format.md", "LICENSE", "CHANGELOG.md"):
            self.assertTrue((self.tree / path).is_file(), path)
        self.assertEqual(os.readlink(self.tree / "lib" / "librnninfer.so"), f"librnninfer.so.{ABI}")
        self.assertIn("Apache License", (self.tree / "LICENSE").read_text())
        self.assertIn(f"## {VERSION}", (self.tree / "CHANGELOG.md").read_text())
        self.assertIn("SPDX-License-Identifier: Apache-2.0", (self.tree / "include" / "rnninfer.h").read_text())
        dynamic = run("readelf", "-d", self.tree / "lib" / f"librnninfer.so.{ABI}")
        self.assertIn(f"Library soname: [librnninfer.so.{ABI}]", dynamic)
        pc = (self.tree / "lib" / "pkgconfig" / "rnninfer.pc").read_text()
        self.assertIn("prefix=${pcfiledir}/../..", pc)
        self.assertNotIn("rpath", pc)
        self.assertNotIn(str(pathlib.Path(__file__).resolve().parents[2]), pc, "no path of the build's checkout")

    def test_the_static_library_exports_only_the_c_abi(self):
        symbols = run("nm", "-g", "--defined-only", self.tree / "lib" / "librnninfer.a").split("\n")
        names = [line.split()[-1] for line in symbols if len(line.split()) == 3]
        self.assertIn("rnn_classify", names)
        self.assertEqual([n for n in names if not n.startswith("rnn_")], [])

    def test_the_binaries_need_no_swift_runtime(self):
        for binary in (self.tree / "libexec" / "rnnkit" / "rnnkit", self.tree / "lib" / f"librnninfer.so.{ABI}"):
            linked = run("ldd", binary)
            self.assertNotIn("not found", linked, binary)
            self.assertNotIn("libswift", linked, binary)
            self.assertNotIn("libFoundation", linked, binary)
            self.assertNotIn("libdispatch", linked, binary)

    def test_one_command_for_the_whole_tool(self):
        self.assertEqual(run(self.rnnkit, "--version").strip(), VERSION)
        usage = run(self.rnnkit, "--help")
        for tool in ("prep", "train", "classify", "convert"):
            self.assertIn(tool, usage)
            self.assertEqual(run(self.rnnkit, tool, "--version").strip(), VERSION)

    def test_prep_train_classify_with_the_unpacked_tool(self):
        result = subprocess.run([str(self.rnnkit), "classify", "--model", str(self.model)],
                                input="good good film\nbad bad movie\n", capture_output=True, text=True)
        self.assertEqual(result.returncode, 0, result.stderr)
        rows = [line.split("\t") for line in result.stdout.splitlines()]
        self.assertEqual(rows[0], ["label", "p_1", "p_5"])
        self.assertEqual([row[0] for row in rows[1:]], ["5", "1"])
        inspected = run(self.rnnkit, "train", "inspect", self.model)
        self.assertIn(f"rnnkit train {VERSION}", inspected)
        self.assertIn("share/rnnkit/recipes/csv.json", inspected, "the recipe came from the tree, not a checkout")

    def test_a_missing_system_library_is_named_with_its_package(self):
        """libsnappy hidden from the loader in a mount namespace: the system's library folder replaced by links
        to every file in it but libsnappy's."""
        if os.geteuid() != 0 or not shutil.which("unshare"):
            self.skipTest("a mount namespace needs root")
        libraries = pathlib.Path("/usr/lib/x86_64-linux-gnu")
        farm, original = self.work / "farm", self.work / "original"
        farm.mkdir()
        original.mkdir()
        for entry in libraries.iterdir():
            if not entry.name.startswith("libsnappy.so"):
                (farm / entry.name).symlink_to(original / entry.name)
        script = (f"mount --make-rprivate / && mount --bind {libraries} {original} && "
                  f"mount --bind {farm} {libraries} && exec {self.rnnkit} --version")
        result = subprocess.run(["unshare", "--mount", "sh", "-c", script], capture_output=True, text=True)
        self.assertEqual(result.returncode, 127, result.stderr)
        self.assertEqual(result.stderr, "rnnkit: the system library libsnappy.so.1 is missing (Debian/Ubuntu package "
                                        "libsnappy1v5)\nrnnkit: install it with: sudo apt-get install libsnappy1v5\n")

    def c_program(self, tree, name, how, static=False):
        """Examples/classify.c built against `tree` with pkg-config or CMake, linking the shared or the static
        library."""
        build = self.work / f"build-{name}"
        build.mkdir()
        shutil.copy(EXAMPLE, build / "classify.c")
        if how == "pkg-config":
            env = {"PKG_CONFIG_PATH": str(tree / "lib" / "pkgconfig")}
            package = "rnninfer-static" if static else "rnninfer"
            flags = run("pkg-config", "--cflags", "--libs", package, env=env).split()
            libdir = run("pkg-config", "--variable=libdir", package, env=env).strip()
            run("cc", "-Wall", "-Werror", build / "classify.c", *flags, *([] if static else [f"-Wl,-rpath,{libdir}"]),
                "-o", build / "classify")
            return build / "classify"
        target = "rnninfer::rnninfer_static" if static else "rnninfer::rnninfer"
        (build / "CMakeLists.txt").write_text(
            "cmake_minimum_required(VERSION 3.16)\nproject(classify C)\n"
            f"find_package(rnninfer {VERSION} REQUIRED)\n"
            f"add_executable(classify classify.c)\ntarget_link_libraries(classify PRIVATE {target})\n")
        run("cmake", "-S", build, "-B", build / "out", f"-DCMAKE_PREFIX_PATH={tree}")
        run("cmake", "--build", build / "out")
        return build / "out" / "classify"

    def check_c_program(self, program):
        out = run(program, self.model, "good good film", "bad bad movie").splitlines()
        self.assertEqual([line.split("\t")[0] for line in out], ["5", "1"])

    def test_a_c_program_builds_with_pkg_config_and_with_cmake(self):
        self.check_c_program(self.c_program(self.tree, "pkg-config", "pkg-config"))
        self.check_c_program(self.c_program(self.tree, "cmake", "cmake"))
        for how in ("pkg-config", "cmake"):
            program = self.c_program(self.tree, f"{how}-static", how, static=True)
            self.check_c_program(program)
            self.assertNotIn("librnninfer", run("ldd", program))
        # CMake refuses a version the package does not provide.
        build = self.work / "build-too-new"
        build.mkdir()
        (build / "CMakeLists.txt").write_text(
            "cmake_minimum_required(VERSION 3.16)\nproject(p C)\nfind_package(rnninfer 9.0 REQUIRED)\n")
        result = subprocess.run(["cmake", "-S", str(build), "-B", str(build / "out"),
                                 f"-DCMAKE_PREFIX_PATH={self.tree}"], capture_output=True, text=True)
        self.assertNotEqual(result.returncode, 0)
        self.assertIn("rnninfer", result.stderr)

    def test_the_tree_works_wherever_it_is_moved(self):
        moved = self.work / "elsewhere" / "opt" / "rnnkit"
        moved.parent.mkdir(parents=True)
        shutil.copytree(self.tree, moved, symlinks=True)
        result = subprocess.run([str(moved / "bin" / "rnnkit"), "classify", "--model", str(self.model)],
                                input="good good film\n", capture_output=True, text=True)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(result.stdout.splitlines()[1].split("\t")[0], "5")
        run(moved / "bin" / "rnnkit", "train", "--shards", self.work / "shards", "--epochs", "1", "--embed", "4",
            "--hidden", "4", "--out", self.work / "moved-run", "--quiet", cwd=self.work)
        self.assertIn(str(moved / "share" / "rnnkit" / "recipes" / "csv.json"),
                      run(moved / "bin" / "rnnkit", "train", "inspect", self.work / "moved-run" / "model.rnnk"))
        self.check_c_program(self.c_program(moved, "moved", "pkg-config"))

    def test_the_wheel_installs_in_a_fresh_venv_and_classifies(self):
        self.assertRegex(WHEEL.name, rf"^rnninfer-{VERSION}-py3-none-manylinux_2_\d+_x86_64\.whl$")
        shown = " ".join(run(os.environ["RNNKIT_AUDITWHEEL"], "show", WHEEL).split())
        self.assertIn(f'is consistent with the following platform tag: "{WHEEL.name.split("-")[-1][:-4]}"', shown)
        venv = self.work / "venv"
        run(sys.executable, "-m", "venv", venv)
        run(venv / "bin" / "pip", "install", "--quiet", WHEEL)
        script = (
            "import pathlib, sys, rnninfer\n"
            f"model = rnninfer.Model({str(self.model)!r})\n"
            "batch = model.classify_batch(['good good film', 'bad bad movie'])\n"
            "print(*[model.labels[i] for i in batch.argmax(axis=1)], rnninfer.__version__, rnninfer.abi_version())\n"
            "print(pathlib.Path(rnninfer.library_path).resolve().is_relative_to(pathlib.Path(sys.prefix).resolve()))\n")
        out = run(venv / "bin" / "python", "-c", script, cwd=self.work).split()
        self.assertEqual(out, ["5", "1", VERSION, str(ABI), "True"])
        licence = run(venv / "bin" / "python", "-c",
                      "import importlib.metadata as m; d = m.distribution('rnninfer'); "
                      "print(d.metadata['License-Expression'], *[f.name for f in d.files if 'LICENSE' in f.name])")
        self.assertEqual(licence.split(), ["Apache-2.0", "LICENSE"])

    def test_the_trainer_wheel_trains_in_a_fresh_venv(self):
        self.assertRegex(TRAINER_WHEEL.name, rf"^rnnkit-{VERSION}-py3-none-manylinux_2_\d+_x86_64\.whl$")
        venv = self.work / "trainer-venv"
        run(sys.executable, "-m", "venv", venv)
        run(venv / "bin" / "pip", "install", "--quiet", WHEEL, TRAINER_WHEEL)
        data = self.work / "trainer-data"
        data.mkdir()
        write_reviews(data)
        script = (
            "import pathlib, sys, rnninfer, rnnkit\n"
            "train = rnnkit.Dataset.from_csv('reviews-train.csv', text='review', label='stars')\n"
            "model = rnnkit.train(train, epochs=3, embedding=8, hidden=12, lr=0.01, progress=False)\n"
            "figures = model.evaluate(rnnkit.Dataset.from_csv('reviews-test.csv', text='review', label='stars'))\n"
            "model.save('model.rnnk')\n"
            "runtime = rnninfer.Model('model.rnnk')\n"
            "print(*model.classes_, *model.predict(['good good film', 'bad bad movie']), figures['examples'],\n"
            "      figures['accuracy'] > 0.7, len(model.history),\n"
            "      pathlib.Path(rnnkit._library._name).resolve().is_relative_to(pathlib.Path(sys.prefix).resolve()))\n")
        out = run(venv / "bin" / "python", "-c", script, cwd=data).split()
        self.assertEqual(out, ["1", "5", "5", "1", "120", "True", "3", "True"])
        # Every library librnnkit links is in the wheel or in the manylinux policy (libc, libm, libstdc++, …).
        library = next((venv / "lib").glob("python3*/site-packages/rnnkit/librnnkit.so"))
        self.assertNotIn("not found", run("ldd", library))
        licence = run(venv / "bin" / "python", "-c",
                      "import importlib.metadata as m; d = m.distribution('rnnkit'); "
                      "print(d.metadata['License-Expression'], *[f.name for f in d.files if 'LICENSE' in f.name])")
        self.assertEqual(licence.split(), ["Apache-2.0", "LICENSE"])


if __name__ == "__main__":
    unittest.main()
