"""rnnkit from Python (the rnnkit package over librnnkit), as installed by pip in a venv.

Run by Tools/test with RNNKIT_BIN pointing at the command-line tools of the same build (for the same-model
check against `prep csv` + `train fit`)."""
import json
import os
import pathlib
import pickle
import random
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest

import numpy
import rnninfer
import rnnkit

BIN = pathlib.Path(os.environ.get("RNNKIT_BIN", "../../.build/release"))
TOPICS = {"sport": "goal match team coach league win", "tech": "chip software cloud data code server",
          "money": "bank stock market price trade fund"}
FILLER = "the a of and to in is it that on for with".split()


def rows(count, seed):
    """Generated texts whose topic words say the label; a few have a missing text or non-string values."""
    rng = random.Random(seed)
    result = []
    for _ in range(count):
        label = rng.choice(sorted(TOPICS))
        words = [rng.choice(TOPICS[label].split() if rng.random() < 0.35 else FILLER)
                 for _ in range(rng.randint(3, 25))]
        result.append((" ".join(words), label))
    return result


def safetensors(path):
    """name -> (dtype, shape, bytes) of a safetensors file."""
    data = pathlib.Path(path).read_bytes()
    (size,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + size])
    body = data[8 + size:]
    return {name: (entry["dtype"], entry["shape"], body[entry["data_offsets"][0]:entry["data_offsets"][1]])
            for name, entry in header.items() if name != "__metadata__"}


def history_without_times(history):
    return [{k: v for k, v in record.items() if k not in ("seconds", "samplesPerSecond")} for record in history]


SMALL = dict(epochs=2, hidden=24, embedding=16, seed=3, threads=2, progress=False)


class TrainingTests(unittest.TestCase):
    def test_a_dataframe_trains_exactly_the_model_prep_csv_and_train_fit_give(self):
        import pandas
        frame = pandas.DataFrame(rows(1200, 1), columns=["text", "label"])
        frame.loc[5, "text"] = None  # missing: an empty text in the CSV, here too
        frame["score"] = range(len(frame))
        with tempfile.TemporaryDirectory() as folder:
            folder = pathlib.Path(folder)
            model = rnnkit.train(rnnkit.Dataset.from_pandas(frame, text="text", label="label"), validation=0.2,
                                 recipe="csv", out=folder / "python", max_length=40, vocab_size=50, **SMALL)
            frame.to_csv(folder / "rows.csv", index=False)
            recipe = pathlib.Path(rnnkit.__file__).parent / "recipes" / "csv.json"  # the one rnnkit.train found
            subprocess.run([BIN / "prep", "csv", "--train", folder / "rows.csv", "--text-column", "text",
                            "--label-column", "label", "--recipe", recipe, "--vocab-size", "50", "--out",
                            folder / "shards", "--quiet"], check=True, stdout=subprocess.DEVNULL)
            subprocess.run([BIN / "train", "--shards", folder / "shards", "--out", folder / "cli", "--recipe", recipe,
                            "--validation", "0.2", "--epochs", "2", "--hidden", "24", "--embed", "16", "--seed", "3",
                            "--threads", "2", "--max-len", "40", "--quiet"], check=True, stdout=subprocess.DEVNULL)
            tensors = []
            for name in ("python/run", "cli"):
                subprocess.run([BIN / "convert", "export", folder / name / "model.rnnk", "--to", "safetensors",
                                "--out", folder / name / "export"], check=True, stdout=subprocess.DEVNULL)
                tensors.append(safetensors(folder / name / "export" / "model.safetensors"))
            self.assertGreaterEqual(len(tensors[0]), 4)
            self.assertEqual(tensors[0].keys(), tensors[1].keys())
            for name in tensors[0]:
                self.assertEqual(tensors[0][name], tensors[1][name], name)
            cli_history = [json.loads(l) for l in (folder / "cli" / "metrics.jsonl").read_text().splitlines()]
            self.assertEqual(history_without_times(model.history), history_without_times(cli_history))
            self.assertEqual(model.classes_, ["money", "sport", "tech"])

    def test_predict_evaluate_explain_save_and_load(self):
        model = rnnkit.train(rnnkit.Dataset.from_records(rows(2000, 2)), **dict(SMALL, epochs=3))
        test = rows(300, 3)
        texts = [t for t, _ in test]
        probabilities = model.predict_proba(texts)
        self.assertEqual(probabilities.shape, (300, 3))
        self.assertEqual(probabilities.dtype, numpy.float32)
        numpy.testing.assert_allclose(probabilities.sum(axis=1), 1, rtol=1e-5)
        predicted = model.predict(texts)
        self.assertEqual(predicted, [model.classes_[i] for i in probabilities.argmax(axis=1)])
        figures = model.evaluate(rnnkit.Dataset.from_records(test))
        accuracy = sum(p == l for p, (_, l) in zip(predicted, test)) / len(test)
        self.assertAlmostEqual(figures["accuracy"], accuracy, places=9)
        self.assertGreater(figures["accuracy"], 0.8)
        self.assertEqual(figures["examples"], 300)
        self.assertEqual([c["label"] for c in figures["per_class"]], model.classes_)
        self.assertEqual(sum(map(sum, figures["confusion"])), 300)
        self.assertTrue(0 < figures["macro_f1"] <= 1 and figures["loss"] > 0)
        explanation = model.explain("the goal of the bank")
        self.assertEqual([(t, s, e) for t, s, e, _ in explanation],
                         [("the", 0, 3), ("goal", 4, 8), ("of", 9, 11), ("the", 12, 15), ("bank", 16, 20)])
        by_token = {t: score for t, _, _, score in model.explain("goal bank", label="sport")}
        self.assertGreater(by_token["goal"], by_token["bank"])
        self.assertEqual([record["epoch"] for record in model.history], [1, 2, 3])  # no test split: no test record
        with tempfile.TemporaryDirectory() as folder:
            path = pathlib.Path(folder) / "model.rnnk"
            model.save(path)
            loaded = rnnkit.load(path)
            self.assertEqual(loaded.classes_, model.classes_)
            numpy.testing.assert_array_equal(loaded.predict_proba(texts), probabilities)
            runtime = rnninfer.Model(path)
            numpy.testing.assert_array_equal(runtime.classify_batch(texts), probabilities)
            copy = pickle.loads(pickle.dumps(model))
            numpy.testing.assert_array_equal(copy.predict_proba(texts), probabilities)

    def test_the_model_options_are_keywords(self):
        model = rnnkit.train(rnnkit.Dataset.from_records(rows(600, 4)),
                             **dict(SMALL, loss="ova", pooling="max", freeze_embedding=False))
        with tempfile.TemporaryDirectory() as folder:
            path = pathlib.Path(folder) / "model.rnnk"
            model.save(path)
            runtime = rnninfer.Model(path)
            self.assertTrue(runtime.metadata["multi_label"])
            self.assertEqual(runtime.file_metadata["architecture.pooling"], "max")
            probabilities = model.predict_proba(["the goal of the match"])
            self.assertGreater(abs(float(probabilities.sum()) - 1), 1e-3, "independent sigmoids")

    def test_ctrl_c_stops_and_resume_gives_the_uninterrupted_metrics(self):
        data = rnnkit.Dataset.from_records(rows(6000, 4))
        settings = dict(SMALL, epochs=4, hidden=64)
        with tempfile.TemporaryDirectory() as folder:
            whole = rnnkit.train(data, out=pathlib.Path(folder) / "whole", **settings)
            work = pathlib.Path(folder) / "stopped"
            metrics = work / "run" / "metrics.jsonl"

            def interrupt_after_the_first_epoch():
                deadline = time.time() + 120
                while not metrics.exists():
                    if time.time() > deadline:
                        return
                    time.sleep(0.001)
                os.kill(os.getpid(), signal.SIGINT)

            threading.Thread(target=interrupt_after_the_first_epoch, daemon=True).start()
            with self.assertRaises(KeyboardInterrupt) as stopped:
                rnnkit.train(data, out=work, **settings)
            self.assertIn(f"resume='{work}'", str(stopped.exception))
            self.assertTrue((work / "run" / "checkpoint.rnnk").exists())
            self.assertFalse((work / "run" / "model.rnnk").exists())
            done = len(metrics.read_text().splitlines())
            self.assertLess(done, 4)
            resumed = rnnkit.train(data, resume=work, **settings)
            self.assertEqual(history_without_times(resumed.history), history_without_times(whole.history))
            numpy.testing.assert_array_equal(resumed.predict_proba(["goal bank"]), whole.predict_proba(["goal bank"]))

    @unittest.skipUnless(" avx2 " in pathlib.Path("/proc/cpuinfo").read_text(), "needs a CPU above OpenBLAS's SSE3 tier")
    def test_an_openblas_fallback_in_process_runs_the_products_on_rnnkits_kernels(self):
        """No re-execution is possible in a host process: a fallback core is replaced by rnnkit's own products."""
        script = ("import rnninfer, rnnkit\nfrom test_rnnkit import rows, SMALL\n"
                  "model = rnnkit.train(rnnkit.Dataset.from_records(rows(2000, 13)), **SMALL)\n"
                  "print(model.evaluate(rnnkit.Dataset.from_records(rows(400, 14)))['accuracy'])\n"
                  "print(rnninfer.Model(model.path).file_metadata['training.blas'])\n")
        outputs = []
        for core in ("Prescott", None):
            environment = {k: v for k, v in os.environ.items() if k != "OPENBLAS_CORETYPE"}
            environment.update({"OPENBLAS_CORETYPE": core} if core else {})
            result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                                    cwd=pathlib.Path(__file__).parent, env=environment)
            self.assertEqual(result.returncode, 0, result.stderr)
            outputs.append(result.stdout.splitlines())
        (fallback, blas), (native, _) = outputs
        self.assertIn("core Prescott", blas)
        self.assertIn("the products run on rnnkit's own kernels instead", blas)
        # Another summation order, the same training: the figures agree to rounding.
        self.assertAlmostEqual(float(fallback), float(native), delta=0.02)

    def test_another_python_thread_runs_while_training(self):
        counted = [0]
        running = threading.Event()

        def count():
            while not running.is_set():
                counted[0] += 1

        data = rnnkit.Dataset.from_records(rows(6000, 5))
        thread = threading.Thread(target=count, daemon=True)
        started = time.time()
        thread.start()
        try:
            rnnkit.train(data, **dict(SMALL, epochs=3, hidden=64))
        finally:
            seconds = time.time() - started
            running.set()
            thread.join()
        # A thread holding the GIL alone counts millions a second; blocked by a held GIL it would count ~0.
        self.assertGreater(counted[0], 100_000 * seconds, f"{counted[0]} counts in {seconds:.2f} s")

    def test_errors_are_python_exceptions_with_the_tools_messages(self):
        data = rnnkit.Dataset.from_records(rows(200, 6))
        with self.assertRaisesRegex(ValueError, "unknown setting 'hiden'"):
            rnnkit.train(data, hiden=3, progress=False)
        with self.assertRaises(rnnkit.InvalidArgumentError) as bad:
            rnnkit.train(data, cell="transformer", progress=False)
        self.assertIn("transformer", str(bad.exception))
        with self.assertRaises(FileNotFoundError):
            rnnkit.Dataset.from_csv("/nonexistent/train.csv")
        with self.assertRaises(FileNotFoundError):
            rnnkit.train(data, recipe="/nonexistent/recipe.json", progress=False)
        with self.assertRaisesRegex(rnnkit.FormatError, r"row 1 \(train\): empty label"):
            rnnkit.train(rnnkit.Dataset(["a b", "c d"], ["x", None]), progress=False)
        model = rnnkit.train(data, **SMALL)
        with self.assertRaisesRegex(ValueError, '"weather" is not one of the model\'s labels'):
            model.evaluate(rnnkit.Dataset(["rain"], ["weather"]))
        with tempfile.TemporaryDirectory() as folder:
            broken = pathlib.Path(folder) / "broken.csv"
            broken.write_text("text,label\n\"unterminated,sport\n")
            with self.assertRaises(rnnkit.FormatError) as failure:
                rnnkit.train(rnnkit.Dataset.from_csv(broken), progress=False)
            self.assertIn("broken.csv", str(failure.exception))

    def test_files_and_rows_mix_and_read_as_prep_reads_them(self):
        with tempfile.TemporaryDirectory() as folder:
            path = pathlib.Path(folder) / "valid.jsonl"
            path.write_text("".join(json.dumps({"body": {"text": t}, "topic": l}) + "\n" for t, l in rows(300, 7)))
            validation = rnnkit.Dataset.from_jsonl(path, text="body.text", label="topic")
            model = rnnkit.train(rnnkit.Dataset.from_records(rows(1500, 8)), validation=validation, **SMALL)
            self.assertEqual(model.history[0]["split"], "validation")
            self.assertEqual(model.history[0]["evaluation"]["examples"], 300)

    def test_from_hf_names_class_labels(self):
        import datasets
        records = rows(800, 9)
        names = sorted(TOPICS)
        table = datasets.Dataset.from_dict(
            {"text": [t for t, _ in records], "label": [names.index(l) for _, l in records]},
            features=datasets.Features({"text": datasets.Value("string"),
                                        "label": datasets.ClassLabel(names=names)}))
        model = rnnkit.train(rnnkit.Dataset.from_hf(table), **SMALL)
        self.assertEqual(model.classes_, names)


class SweepTests(unittest.TestCase):
    def test_a_sweep_runs_in_process_and_returns_its_table(self):
        with tempfile.TemporaryDirectory() as folder:
            folder = pathlib.Path(folder)
            for name, count, seed in (("train", 900, 11), ("test", 200, 12)):
                with open(folder / f"{name}.csv", "w") as file:
                    file.write("text,label\n" + "".join(f"{t},{l}\n" for t, l in rows(count, seed)))
            (folder / "tiny.json").write_text(json.dumps({
                "name": "tiny", "recipe": "csv",
                "prep": ["csv", "$DATA/train.csv", "$DATA/test.csv", "--text-column", "text", "--label-column",
                         "label"],
                "base": {"training.epochs": 2, "training.earlyStopping": None, "model.hidden": 8,
                         "model.embedding": 8},
                "seeds": [1, 2], "variation": "one-at-a-time",
                "axes": [{"name": "cell", "field": "model.cell", "values": ["rnn", "gru"]}]}))
            os.environ["RNNKIT_DATA"], data = str(folder), os.environ.get("RNNKIT_DATA")
            try:
                table = rnnkit.sweep(folder / "tiny.json", out=folder / "out", threads=2, progress=False)
                again = rnnkit.sweep(folder / "tiny.json", out=folder / "out", report_only=True, progress=False)
            finally:
                if data is not None:
                    os.environ["RNNKIT_DATA"] = data
            self.assertEqual([r["configuration"] for r in table], ["base", "cell rnn"])
            self.assertEqual(table, again)
            for record in table:
                self.assertEqual(record["runs"], 2)
                self.assertTrue(0 < record["test_accuracy"] <= 1 and record["seconds_per_epoch"] > 0, record)
                self.assertIsNotNone(record["test_accuracy_deviation"])
            report = (folder / "out" / "report.md").read_text()
            self.assertIn("## cell", report)
            tests = [json.loads((folder / "out" / f"cell=rnn,seed={seed}" / "metrics.jsonl").read_text()
                                .splitlines()[-1]) for seed in (1, 2)]
            self.assertEqual([t["kind"] for t in tests], ["test", "test"])
            self.assertAlmostEqual(table[1]["test_accuracy"], sum(t["evaluation"]["accuracy"] for t in tests) / 2)


class ExampleTests(unittest.TestCase):
    def test_the_notebook_example_runs_on_ag_news(self):
        """Examples/from_python.py, as the README shows it (AG News from $RNNKIT_DATA; fewer epochs)."""
        example = pathlib.Path(__file__).resolve().parents[2] / "Examples" / "from_python.py"
        result = subprocess.run([sys.executable, example, "--epochs", "4"], capture_output=True, text=True)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn("rnninfer gives the same probabilities: True", result.stdout)
        self.assertRegex(result.stdout, r"test: accuracy 0\.[789]\d+  macro-F1 0\.\d+  \(7600 examples\)")


class EstimatorTests(unittest.TestCase):
    def setUp(self):
        records = rows(2400, 10)
        self.texts = [t for t, _ in records]
        self.labels = numpy.array([sorted(TOPICS).index(l) for _, l in records])

    def test_scikit_learn_rules(self):
        from sklearn.base import clone
        from sklearn.exceptions import NotFittedError
        from rnnkit.sklearn import RNNClassifier
        estimator = RNNClassifier(hidden=16, epochs=8, threads=1)
        self.assertEqual(estimator.get_params()["hidden"], 16)
        self.assertEqual(clone(estimator).get_params(), estimator.get_params())
        self.assertEqual(estimator.set_params(embedding=8).embedding, 8)
        with self.assertRaises(NotFittedError):
            estimator.predict(self.texts[:3])
        self.assertEqual(pickle.loads(pickle.dumps(estimator)).get_params(), estimator.get_params())
        estimator.fit(self.texts, self.labels)
        numpy.testing.assert_array_equal(estimator.classes_, [0, 1, 2])
        self.assertEqual(estimator.predict(self.texts[:5]).dtype, self.labels.dtype)
        self.assertGreater(estimator.score(self.texts, self.labels), 0.8)
        copy = pickle.loads(pickle.dumps(estimator))
        numpy.testing.assert_array_equal(copy.predict_proba(self.texts), estimator.predict_proba(self.texts))
        self.assertFalse(hasattr(clone(estimator), "model_"))

    def test_in_a_pipeline_cross_validation_and_a_parallel_grid_search(self):
        from sklearn.model_selection import GridSearchCV, cross_val_score
        from sklearn.pipeline import Pipeline
        from sklearn.preprocessing import FunctionTransformer
        from rnnkit.sklearn import RNNClassifier
        pipeline = Pipeline([("lower", FunctionTransformer(lambda X: [x.lower() for x in X])),
                             ("rnn", RNNClassifier(hidden=16, epochs=4, threads=1))])
        scores = cross_val_score(pipeline, self.texts, self.labels, cv=2)
        self.assertEqual(len(scores), 2)
        self.assertTrue(all(s > 0.6 for s in scores), scores)
        search = GridSearchCV(RNNClassifier(epochs=4, threads=1), {"hidden": [8, 16]}, cv=2, n_jobs=2)
        search.fit(self.texts, self.labels)
        self.assertIn(search.best_params_["hidden"], (8, 16))
        self.assertEqual(len(search.cv_results_["mean_test_score"]), 2)


if __name__ == "__main__":
    unittest.main()
