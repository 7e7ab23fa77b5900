"""The aarch64 library against the x86-64 one, on the same inputs: every committed fixture and freshly
trained IMDB and AG News models, in float and int8, give the same labels and probabilities within 1e-6
under every aarch64 kernel set.

Run by Tools/test-aarch64 with the host's Python, after Tools/build-runtime (both targets), setting
  RNNKIT_BIN        the x86-64 prep, train and convert that make the models
  RNNKIT_DATA       the datasets
  RNNKIT_EMULATOR   the command that runs an aarch64 program (qemu-aarch64-static -L <sysroot>)
  RNNKIT_AARCH64_PYTHON  the sysroot's aarch64 python3
  RNNKIT_AARCH64_PYTHONPATH  a directory holding the rnninfer package with the aarch64 library
  RNNKIT_AARCH64_CC  the compiler that builds an aarch64 program against the sysroot
  RNNKIT_AARCH64_TARBALL, RNNKIT_AARCH64_WHEEL  what Tools/release --target aarch64 made
Both libraries are driven by probabilities.py: the x86-64 package of Python/ natively, the aarch64 one
through the emulated python3 of the sysroot.
"""
import json
import os
import pathlib
import shlex
import shutil
import subprocess
import sys
import tempfile
import unittest

import parity

ROOT = pathlib.Path(__file__).resolve().parents[2]
BIN = pathlib.Path(os.environ["RNNKIT_BIN"])
DATA = pathlib.Path(os.environ["RNNKIT_DATA"])
EMULATOR = shlex.split(os.environ["RNNKIT_EMULATOR"])
AARCH64_PYTHON = os.environ["RNNKIT_AARCH64_PYTHON"]
AARCH64_PYTHONPATH = os.environ["RNNKIT_AARCH64_PYTHONPATH"]
HERE = pathlib.Path(__file__).resolve().parent
TOLERANCE = 1e-6
# (aarch64 set, x86-64 set): the sets with FMA against the x86-64 default (the widest, AVX2 or AVX-512), the
# portable ones against each other. The float kernels of neon-dot are neon's, so float models need only two.
# The trained models, whose texts are many, take the sets with FMA only (both int8 products): the portable
# kernels are checked on the fixtures and, against Double arithmetic, by kernel-checks.
FLOAT_SETS = (("neon", None), ("baseline", "baseline"))
INT8_SETS = (("neon-dot", None), ("neon", None), ("baseline", "baseline"))
TRAINED_FLOAT_SETS = FLOAT_SETS[:1]
TRAINED_INT8_SETS = INT8_SETS[:2]
# Emulation runs the aarch64 code at about 1/140 of native speed: IMDB is checked on every 25th test review.
IMDB_STRIDE = 25


def run(*arguments):
    result = subprocess.run([str(a) for a in arguments], capture_output=True, text=True)
    if result.returncode != 0:
        raise AssertionError(f"{arguments[0]} failed: {result.stderr}")
    return result.stdout


def outputs(jobs, work, emulated):
    """probabilities.py's rows for every job, from the aarch64 library (emulated) or the x86-64 one; the jobs are
    split between two processes, one per core here (emulation is the slow part of the tests)."""
    command = [*EMULATOR, AARCH64_PYTHON] if emulated else [sys.executable]
    environment = {**os.environ, "PYTHONPATH": AARCH64_PYTHONPATH if emulated else str(ROOT / "Python")}
    environment.pop("RNNKIT_KERNELS", None)
    processes = []
    for part in (jobs[0::2], jobs[1::2]):
        path = work / f"jobs-{'aarch64' if emulated else 'x86_64'}-{len(processes)}.json"
        path.write_text(json.dumps(part))
        processes.append(subprocess.Popen(command + [str(HERE / "probabilities.py"), str(path)], env=environment,
                                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    results = []
    for process in processes:
        out, err = process.communicate()
        if process.returncode != 0:
            raise AssertionError(f"probabilities.py ({'aarch64' if emulated else 'x86-64'}) failed: {err}")
        results.append([json.loads(line) for line in out.splitlines()])
    # Back in the jobs' order: the even ones came from the first process, the odd ones from the second.
    return [results[i % 2][i // 2] for i in range(len(jobs))]


class AArch64ParityTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.work = pathlib.Path(tempfile.mkdtemp(prefix="rnninfer-aarch64-"))
        cls.figures = []

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.work, ignore_errors=True)
        # After unittest's lines, which these would split.
        print("\n".join(cls.figures), file=sys.stderr)

    def compare(self, cases):
        """cases: (name, model, kernel set pairs, input) with input {"texts": path} or {"ids": lists}."""
        def jobs(side):
            return [{"model": str(model), "kernels": pair[side], **given} for _, model, pairs, given in cases
                    for pair in pairs]
        native = iter(outputs(jobs(1), self.work, emulated=False))
        emulated = iter(outputs(jobs(0), self.work, emulated=True))
        for name, _, pairs, _ in cases:
            for kernels, x86 in pairs:
                rows, reference = next(emulated), next(native)
                self.assertEqual(len(rows), len(reference), name)
                labels = sum(1 for (a, _), (b, _) in zip(rows, reference) if a == b)
                worst = max(abs(float.fromhex(p) - float.fromhex(q))
                            for (_, ps), (_, qs) in zip(rows, reference) for p, q in zip(ps, qs))
                self.figures.append(f"{name}, aarch64 {kernels} against x86-64 {x86 or 'default'}: {len(rows)} "
                                    f"inputs, same label on {labels}, max |Δp| = {worst:.1e}")
                self.assertEqual(labels, len(rows), f"{name} ({kernels})")
                self.assertLessEqual(worst, TOLERANCE, f"{name} ({kernels})")

    def test_committed_fixtures(self):
        """The released model files, on their own texts, and every PyTorch fixture imported, on its sequences."""
        cases = []
        for fixture, sets in (("model-v1.0", FLOAT_SETS), ("model-v1.1-int8", INT8_SETS)):
            texts = self.work / f"{fixture}.txt"
            lines = (ROOT / "Tests" / "Fixtures" / "models" / f"{fixture}.expected.tsv").read_text().splitlines()
            texts.write_text("".join(line.split("\t")[0] + "\n" for line in lines))
            cases.append((fixture, ROOT / "Tests" / "Fixtures" / "models" / f"{fixture}.rnnk", sets,
                          {"texts": str(texts)}))
        fixtures = sorted((ROOT / "Tests" / "RNNInteropTests" / "Fixtures").iterdir())
        self.assertEqual(len(fixtures), 10)
        vocabulary = self.work / "vocab.txt"
        for directory in fixtures:
            expected = json.loads((directory / "expected.json").read_text())
            vocabulary.write_text("".join(f"{w}\n" for w in ["<pad>", "<start>", "<unk>"] +
                                          [f"w{i}" for i in range(3, expected["vocab"])]))
            model = self.work / f"{directory.name}.rnnk"
            run(BIN / "convert", "import", directory / "model.safetensors", "--word-vocabulary", vocabulary,
                "--labels", ",".join(f"c{i}" for i in range(expected["classes"])), "--padding", expected["padding"],
                "--max-length", expected["max_length"], "--markers", "off", "--pooling", expected.get("pooling", "last"),
                "--out", model)
            cases.append((directory.name, model, FLOAT_SETS, {"ids": expected["sequences"]}))
        self.compare(cases)

    def trained(self, name, prep, train_options):
        """A small model trained here (1 epoch), and its int8 form."""
        shards, run_dir = self.work / f"{name}-shards", self.work / f"{name}-run"
        run(BIN / "prep", *prep, "--out", shards, "--quiet")
        run(BIN / "train", "--shards", shards, "--epochs", "1", "--embed", "32", "--hidden", "32", *train_options,
            "--out", run_dir, "--quiet")
        run(BIN / "train", "quantize", run_dir / "model.rnnk", "--shards", shards, "--out", run_dir / "int8.rnnk",
            "--force")
        return run_dir / "model.rnnk", run_dir / "int8.rnnk"

    def test_freshly_trained_agnews_and_imdb_models(self):
        """AG News (WordPiece, every test text) and IMDB (word level, every 25th test review), float and int8."""
        agnews, agnews_int8 = self.trained(
            "agnews", ["agnews", DATA / "agnews/train.csv", DATA / "agnews/test.csv"], ["--cell", "lstm"])
        imdb, imdb_int8 = self.trained("imdb", ["imdb", DATA / "aclImdb_v1.tar.gz"], ["--cell", "gru", "--bidirectional"])
        agnews_texts = self.work / "agnews.txt"
        agnews_texts.write_bytes(b"".join(t.encode().replace(b"\n", b" ").replace(b"\r", b" ") + b"\n"
                                          for t in parity.agnews_texts(DATA / "agnews/test.csv")))
        imdb_texts = self.work / "imdb.txt"
        reviews = parity.imdb_texts(DATA / "aclImdb_v1.tar.gz")[::IMDB_STRIDE]
        imdb_texts.write_bytes(b"".join(t.replace(b"\n", b" ").replace(b"\r", b" ") + b"\n" for t in reviews))
        self.compare([("AG News LSTM", agnews, TRAINED_FLOAT_SETS, {"texts": str(agnews_texts)}),
                      ("AG News LSTM int8", agnews_int8, TRAINED_INT8_SETS, {"texts": str(agnews_texts)}),
                      ("IMDB biGRU", imdb, TRAINED_FLOAT_SETS, {"texts": str(imdb_texts)}),
                      ("IMDB biGRU int8", imdb_int8, TRAINED_INT8_SETS, {"texts": str(imdb_texts)})])



class AArch64ReleaseTests(unittest.TestCase):
    """What an aarch64 user installs (Tools/release --target aarch64): the tarball unpacked and a C program built
    against it with pkg-config, shared and static; the wheel installed by pip for an aarch64 platform and
    imported by the aarch64 python3."""

    @classmethod
    def setUpClass(cls):
        cls.work = pathlib.Path(tempfile.mkdtemp(prefix="rnnkit-release-aarch64-"))
        cls.tarball = pathlib.Path(os.environ["RNNKIT_AARCH64_TARBALL"])
        cls.wheel = pathlib.Path(os.environ["RNNKIT_AARCH64_WHEEL"])
        cls.version = cls.tarball.name.split("-")[1]
        run("tar", "-xzf", cls.tarball, "-C", cls.work)
        cls.tree = cls.work / cls.tarball.name.removesuffix(".tar.gz")
        cls.fixture = ROOT / "Tests" / "Fixtures" / "models" / "model-v1.0.rnnk"

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.work, ignore_errors=True)

    def test_the_tree_builds_a_c_program_shared_and_static(self):
        for path in ("lib/librnninfer.so.3", "lib/librnninfer.a", "include/rnninfer.h", "lib/pkgconfig/rnninfer.pc",
                     "lib/cmake/rnninfer/rnninferConfig.cmake", "share/doc/rnnkit/README.md", "LICENSE", "CHANGELOG.md"):
            self.assertTrue((self.tree / path).is_file(), path)
        self.assertIn("AArch64", run("readelf", "-h", self.tree / "lib" / "librnninfer.so.3"))
        expected = [line.split("\t")[:2] for line in
                    (ROOT / "Tests" / "Fixtures" / "models" / "model-v1.0.expected.tsv").read_text().splitlines()]
        environment = {**os.environ, "PKG_CONFIG_PATH": str(self.tree / "lib" / "pkgconfig")}
        for package in ("rnninfer", "rnninfer-static"):
            flags = subprocess.run(["pkg-config", "--cflags", "--libs", package], capture_output=True, text=True,
                                   check=True, env=environment).stdout.split()
            program = self.work / package
            rpath = [f"-Wl,-rpath,{self.tree / 'lib'}"] if package == "rnninfer" else []
            run(*shlex.split(os.environ["RNNKIT_AARCH64_CC"]), "-O2", ROOT / "Examples" / "classify.c", *flags, *rpath,
                "-o", program)
            needed = run("readelf", "-d", program)
            self.assertEqual("librnninfer" in needed, package == "rnninfer", needed)
            texts = "".join(text + "\n" for text, _ in expected)
            result = subprocess.run([*EMULATOR, str(program), "--tsv", str(self.fixture)], input=texts,
                                    capture_output=True, text=True)
            self.assertEqual(result.returncode, 0, result.stderr)
            self.assertEqual([line.split("\t")[0] for line in result.stdout.splitlines()], [b for _, b in expected])

    def test_the_wheel_installs_for_aarch64_and_classifies(self):
        self.assertRegex(self.wheel.name, rf"^rnninfer-{self.version}-py3-none-manylinux_2_\d+_aarch64\.whl$")
        platform_tag = self.wheel.name.split("-")[-1][:-4]
        target = self.work / "site"
        # pip as on an aarch64 machine of that platform; numpy is the sysroot's.
        run(sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--only-binary=:all:", "--platform",
            platform_tag, "--target", target, self.wheel)
        script = ("import rnninfer\n"
                  f"model = rnninfer.Model({str(self.fixture)!r})\n"
                  "print(rnninfer.__version__, model.metadata['kernels'], model.labels[model.classify('good')[0]])\n")
        result = subprocess.run([*EMULATOR, AARCH64_PYTHON, "-c", script], capture_output=True, text=True,
                                env={**os.environ, "PYTHONPATH": str(target)})
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(result.stdout.split()[:2], [self.version, "neon-dot"])


if __name__ == "__main__":
    unittest.main()
