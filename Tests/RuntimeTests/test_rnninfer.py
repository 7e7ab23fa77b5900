"""Tests of librnninfer through the Python binding and the C programs.

Run by Tools/test, which builds the library (Tools/build-runtime), the C example
and the stress test, and sets RNNKIT_BIN (the prep/train binaries), RNNKIT_CLASSIFY,
RNNKIT_STRESS and RNNKIT_DATA. Tools/test-aarch64 runs them again on the aarch64
library under an emulated Python: RNNKIT_EMULATOR is then the command that runs
an aarch64 program, and RNNKIT_CC the compiler that builds one.
"""
import ctypes
import json
import os
import pathlib
import platform
import shlex
import shutil
import math
import subprocess
import struct
import sys
import tempfile
import threading
import unittest

import parity
import rnninfer

ROOT = pathlib.Path(__file__).resolve().parents[2]
BIN = pathlib.Path(os.environ.get("RNNKIT_BIN", ROOT / ".build" / "release"))
DATA = pathlib.Path(os.environ.get("RNNKIT_DATA", ROOT / "data"))
CLASSIFY = os.environ.get("RNNKIT_CLASSIFY")
STRESS = os.environ.get("RNNKIT_STRESS")
EMULATOR = shlex.split(os.environ.get("RNNKIT_EMULATOR", ""))
PYTHON = EMULATOR + [sys.executable]
CC = shlex.split(os.environ.get("RNNKIT_CC", "cc"))
# Every kernel set of this architecture, widest first.
KERNEL_SETS = ("neon-dot", "neon", "baseline") if platform.machine() == "aarch64" else (
    "avx512-vnni", "avx512", "avx2", "baseline")
FIXTURE = ROOT / "Tests" / "Fixtures" / "models" / "model-v1.0.rnnk"
INT8_FIXTURE = ROOT / "Tests" / "Fixtures" / "models" / "model-v1.1-int8.rnnk"


def bits(probabilities):
    """The exact float32 bytes of a row of probabilities (a numpy array or a list)."""
    return struct.pack(f"{len(probabilities)}f", *probabilities)


def run(*arguments):
    result = subprocess.run([str(a) for a in arguments], capture_output=True, text=True)
    if result.returncode != 0:
        raise AssertionError(f"{arguments[0]} failed: {result.stderr}")
    return result.stdout


class TrainedModel(unittest.TestCase):
    """A small model trained here on generated reviews (label: more "good" than "bad")."""

    @classmethod
    def setUpClass(cls):
        cls.work = pathlib.Path(tempfile.mkdtemp(prefix="rnninfer-test-"))
        import random
        rng = random.Random(5)
        words = ["the", "film", "plot", "was", "actors", "and", "a", "movie", "scene"]
        for name, rows in (("train", 1500), ("test", 300)):
            with open(cls.work / f"{name}.csv", "w") as f:
                f.write("text,label\n")
                while rows:
                    text = [rng.choice(words + ["good", "bad"]) for _ in range(rng.randint(3, 20))]
                    if text.count("good") != text.count("bad"):
                        f.write(f"\"{' '.join(text)}\",{'pos' if text.count('good') > text.count('bad') else 'neg'}\n")
                        rows -= 1
        run(BIN / "prep", "csv", cls.work / "train.csv", cls.work / "test.csv", "--text-column", "text",
            "--label-column", "label", "--out", cls.work / "shards", "--quiet")
        run(BIN / "train", "--shards", cls.work / "shards", "--recipe", "csv", "--cell", "lstm", "--embed", "8", "--hidden", "12",
            "--bidirectional", "--epochs", "3", "--lr", "0.01", "--optimizer", "adam", "--out", cls.work / "run", "--quiet")
        cls.path = str(cls.work / "run" / "model.rnnk")
        # A model that can stream: unidirectional, packed; two layers, so the second layer's input products count too.
        run(BIN / "train", "--shards", cls.work / "shards", "--recipe", "csv", "--cell", "gru", "--layers", "2",
            "--embed", "8", "--hidden", "12", "--no-bidirectional", "--epochs", "2", "--lr", "0.01", "--optimizer",
            "adam", "--out", cls.work / "stream-run", "--quiet")
        cls.stream_path = str(cls.work / "stream-run" / "model.rnnk")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.work, ignore_errors=True)


class BindingTests(TrainedModel):
    def test_classify_metadata_and_labels(self):
        with rnninfer.Model(self.path) as model:
            self.assertEqual(model.labels, ["neg", "pos"])
            self.assertEqual(model.metadata["cell"], "lstm")
            self.assertTrue(model.metadata["bidirectional"])
            self.assertEqual((model.metadata["embedding"], model.metadata["hidden"]), (8, 12))
            self.assertEqual(model.metadata["tokenizer"], "word")
            best, probabilities = model.classify("good good film")
            self.assertEqual(model.labels[best], "pos")
            self.assertAlmostEqual(sum(probabilities), 1.0, places=5)
            self.assertEqual(model.labels[model.classify("bad bad bad movie")[0]], "neg")

    def test_a_multi_label_model_says_so_and_gives_independent_probabilities(self):
        with rnninfer.Model(self.path) as model:
            self.assertFalse(model.metadata["multi_label"])
            self.assertIsNone(model.metadata["threshold"])
        run(BIN / "train", "--shards", self.work / "shards", "--recipe", "csv", "--loss", "ova", "--embed", "8",
            "--hidden", "12", "--no-bidirectional", "--epochs", "2", "--lr", "0.01", "--optimizer", "adam",
            "--out", self.work / "ova-run", "--quiet")
        texts = ["good good film", "bad movie", "", "the plot was good and bad and bad"]
        with rnninfer.Model(self.work / "ova-run" / "model.rnnk") as model:
            self.assertTrue(model.metadata["multi_label"])
            self.assertTrue(0 < model.metadata["threshold"] < 1)
            self.assertEqual(model.file_metadata["architecture.output"], "sigmoid")
            self.assertEqual(float(model.file_metadata["output.threshold"]), model.metadata["threshold"])
            batch = model.classify_batch(texts)
            self.assertTrue(any(abs(sum(row) - 1) > 1e-3 for row in batch), batch)
            logits = model.logits(texts)
            for text, row, z in zip(texts, batch, logits):
                best, single = model.classify(text)
                self.assertEqual(bits(row), bits(single))
                self.assertEqual(best, int(row.argmax()))
                for p, value in zip(row, z):
                    self.assertAlmostEqual(float(p), 1 / (1 + math.exp(-float(value))), places=6)
                with model.stream() as stream:
                    stream.feed(text)
                    self.assertEqual(bits(stream.probabilities()[1]), bits(single))

    def test_batch_top_k_and_tokenize_agree_with_single_calls(self):
        texts = ["good film", "bad", "the plot was good and good", "", "bad movie bad scene good"]
        with rnninfer.Model(self.path) as model:
            batch = model.classify_batch(texts)
            self.assertEqual((batch.dtype.name, batch.shape), ("float32", (len(texts), 2)))
            for text, probabilities in zip(texts, batch):
                best, single = model.classify(text)
                self.assertEqual(int(probabilities.argmax()), best)
                self.assertEqual(bits(probabilities), bits(single))
                top = model.top_k(text, 2)
                self.assertEqual(top[0][0], best)
                self.assertGreaterEqual(top[0][1], top[1][1])
            ids = model.tokenize("Good FILM, zzz")
            self.assertEqual(ids[0], 1)  # <start>
            self.assertEqual(ids[-1], 2)  # zzz is <unk>
            self.assertEqual(len(ids), 5)

    def test_tokenize_matches_prep(self):
        result = subprocess.run([str(BIN / "prep"), "tokenize", "--artifacts", str(self.work / "shards")],
                                input="Good FILM, bad zzz\nthe plot\n", capture_output=True, text=True, check=True)
        expected = [[int(i) for i in line.split()] for line in result.stdout.splitlines()]
        with rnninfer.Model(self.path) as model:
            self.assertEqual([model.tokenize("Good FILM, bad zzz"), model.tokenize("the plot")], expected)

    def test_bad_texts_get_defined_results(self):
        with rnninfer.Model(self.path) as model:
            for text in [b"\xff\xfe good \xc3", b"", "x" * 10_000_000, "good " * 200_000]:
                best, probabilities = model.classify(text)
                self.assertIn(best, (0, 1))
                self.assertAlmostEqual(sum(probabilities), 1.0, places=5)
            # More tokens than RNN_MAX_TOKENS are cut by the model's truncation rule.
            self.assertEqual(len(model.tokenize("good " * 100_000)), 65536)

    def test_load_from_buffer_equals_load_from_path(self):
        data = pathlib.Path(self.path).read_bytes()
        with rnninfer.Model(self.path) as a, rnninfer.Model(data=data) as b:
            self.assertEqual(bits(a.classify("good movie")[1]), bits(b.classify("good movie")[1]))

    def test_errors_raise_with_messages(self):
        with self.assertRaises(FileNotFoundError) as missing:
            rnninfer.Model(self.work / "absent.rnnk")
        self.assertIn("absent.rnnk", str(missing.exception))
        with self.assertRaises(rnninfer.ReadError) as directory:
            rnninfer.Model(self.work)
        self.assertEqual(directory.exception.status, 2)
        self.assertIsInstance(directory.exception, OSError)
        model = rnninfer.Model(self.path)
        for bad in (lambda: model.top_k("good", 3), lambda: model.explain("good", "great"),
                    lambda: model.explain("good", 2), lambda: rnninfer.Model(self.path, threads=0),
                    lambda: model.classify_ids([0, 1, 10 ** 6])):
            with self.assertRaises(ValueError):
                bad()
        with self.assertRaises(rnninfer.InvalidArgumentError) as bad_id:
            model.classify_ids([1, -3])
        self.assertIn("rnn_classify_ids: ids[1] is -3 (expected 0…", str(bad_id.exception))
        with self.assertRaises(TypeError):
            model.classify(None)
        model.close()
        model.close()
        with self.assertRaises(ValueError):
            model.classify("good")
        rnninfer.library.rnn_model_free(None)  # a no-op
        self.assertEqual(rnninfer.abi_version(), 3)
        major, minor = ctypes.c_uint32(), ctypes.c_uint32()
        rnninfer.library.rnn_supported_format(ctypes.byref(major), ctypes.byref(minor))
        self.assertEqual((major.value, minor.value), (2, 0))

    def test_corrupt_files_fail_at_load(self):
        data = pathlib.Path(self.path).read_bytes()
        for length in range(0, len(data), max(1, len(data) // 500)):
            with self.assertRaises(rnninfer.FormatError) as error:
                rnninfer.Model(data=data[:length] if length else b"\0")
            self.assertEqual(error.exception.status, 3, f"truncated to {length}")
        for offset in range(0, len(data), max(1, len(data) // 300)):
            corrupt = bytearray(data)
            corrupt[offset] ^= 0x10
            with self.assertRaises(rnninfer.RNNInferError, msg=f"flipped byte {offset}"):
                rnninfer.Model(data=bytes(corrupt))
        newer = bytearray(data)
        newer[8] = 3
        with self.assertRaises(rnninfer.FormatVersionError) as version:
            rnninfer.Model(data=bytes(newer))
        self.assertEqual(version.exception.status, 4)
        self.assertIn("model format 3.0 is not supported (this build reads formats 1.x to 2.x)", str(version.exception))

    def call(self, function, *arguments):
        """(status, message) of a direct call into the C ABI."""
        status = getattr(rnninfer.library, function)(*arguments)
        message = rnninfer.library.rnn_last_error() if status else None
        return status, message.decode() if message else ""

    def test_any_argument_values_get_a_status_never_a_crash(self):
        size_max = 2**64 - 1
        with rnninfer.Model(self.path) as model:
            handle, text = model._handle, b"good film"
            probabilities, best = (ctypes.c_float * 4)(), (ctypes.c_int32 * 2)()
            texts, lengths = (ctypes.c_char_p * 1)(text), (ctypes.c_size_t * 1)(len(text))
            # count × labels overflows size_t: refused, not a trap.
            status, message = self.call("rnn_classify_batch", handle, texts, lengths, size_max // 2, probabilities,
                                        4, best)
            self.assertEqual(status, 1)
            self.assertIn(f"rnn_classify_batch: count {size_max // 2} × 2 labels is larger than any buffer", message)
            # A capacity above INT64_MAX is a large capacity, not a negative one.
            self.assertEqual(self.call("rnn_classify_batch", handle, texts, lengths, 1, probabilities, size_max,
                                       best), (0, ""))
            self.assertEqual(self.call("rnn_classify", handle, text, len(text), probabilities, size_max, best), (0, ""))
            self.assertEqual(self.call("rnn_top_k", handle, text, len(text), 1, best, None), (0, ""))
            status, message = self.call("rnn_classify", handle, text, size_max, probabilities, 2, best)
            self.assertEqual((status, message), (1, f"rnn_classify: text has length {size_max}, larger than any buffer"))
            status, message = self.call("rnn_classify_batch", handle, texts, lengths, 2, probabilities, 3, None)
            self.assertEqual((status, message), (5, "rnn_classify_batch: probabilities needs 4 floats (2 per text), "
                                                    "capacity is 3"))
            status, message = self.call("rnn_classify_batch", handle, None, None, 1, probabilities, 4, None)
            self.assertEqual(status, 1)
            self.assertIn("texts and lengths must not be NULL when count is 1", message)
            self.assertEqual(self.call("rnn_classify_batch", handle, None, None, 0, probabilities, 0, None), (0, ""))
            # ids may be NULL only with capacity 0 (asking for the count); count may not be NULL.
            count = ctypes.c_size_t()
            status, message = self.call("rnn_tokenize", handle, text, len(text), None, 8, ctypes.byref(count))
            self.assertEqual(status, 1)
            self.assertIn("rnn_tokenize: ids is NULL with capacity 8", message)
            # A size query (NULL, 0) succeeds and leaves the last error as it was.
            status, _ = self.call("rnn_tokenize", handle, text, len(text), None, 0, ctypes.byref(count))
            self.assertEqual((status, count.value), (0, 3))
            self.assertIn("rnn_tokenize: ids is NULL with capacity 8", rnninfer.library.rnn_last_error().decode())
            ids = (ctypes.c_int32 * 8)()
            status, message = self.call("rnn_tokenize", handle, text, len(text), ids, 8, None)
            self.assertEqual((status, message), (1, "rnn_tokenize: count must not be NULL"))
            self.assertEqual(self.call("rnn_tokenize", handle, text, len(text), ids, size_max, ctypes.byref(count)),
                             (0, ""))
            # name may be NULL only with capacity 0 (asking for the length).
            length = ctypes.c_size_t()
            status, message = self.call("rnn_model_label", handle, 0, None, 10, ctypes.byref(length))
            self.assertEqual(status, 1)
            self.assertIn("rnn_model_label: name is NULL with capacity 10", message)
            self.assertEqual(self.call("rnn_model_label", handle, 0, None, 0, ctypes.byref(length))[0], 0)
            self.assertEqual(length.value, 3)
            name = ctypes.create_string_buffer(3)
            self.assertEqual(self.call("rnn_model_label", handle, 0, name, 3, ctypes.byref(length)),
                             (5, "rnn_model_label: name needs 4 bytes with its NUL, capacity is 3"))
            for index in (-1, 2, 2 ** 31 - 1):
                status, message = self.call("rnn_model_label", handle, index, None, 0, None)
                self.assertEqual(status, 1)
                self.assertIn(f"index {index} is out of range (expected 0…1", message)
            status, message = self.call("rnn_top_k", handle, text, len(text), size_max, best, None)
            self.assertEqual((status, message), (1, f"rnn_top_k: k is {size_max} (expected 1…2, the model's label count)"))
            status, message = self.call("rnn_model_load_buffer", None, 5, ctypes.byref(ctypes.c_void_p()))
            self.assertEqual(status, 1)
            self.assertIn("rnn_model_load_buffer: data is NULL with size 5", message)
            scores, count = (rnninfer._TokenScore * 4)(), ctypes.c_size_t()
            status, message = self.call("rnn_explain", handle, text, len(text), 2, scores, 4, ctypes.byref(count))
            self.assertEqual((status, message), (1, "rnn_explain: label 2 is out of range (expected 0…1: the model "
                                                    "has 2 labels)"))
            for label in (-1, 2 ** 31 - 1):
                self.assertEqual(self.call("rnn_explain", handle, text, len(text), label, scores, 4, None)[0], 1)
            self.assertEqual(self.call("rnn_explain", handle, text, len(text), 0, None, 0, ctypes.byref(count)), (0, ""))
            self.assertEqual(count.value, 2)
            self.assertEqual(self.call("rnn_explain", handle, text, len(text), 0, scores, 4, None),
                             (1, "rnn_explain: count must not be NULL"))
            status, message = self.call("rnn_explain", handle, text, len(text), 0, None, 4, ctypes.byref(count))
            self.assertEqual(status, 1)
            self.assertIn("rnn_explain: tokens is NULL with capacity 4", message)
            self.assertEqual(self.call("rnn_explain", handle, text, len(text), 0, scores, 1, ctypes.byref(count)),
                             (5, "rnn_explain: the text has 2 tokens, capacity is 1"))
            self.assertEqual(count.value, 2)
            self.assertEqual(self.call("rnn_explain", handle, text, len(text), 0, scores, size_max, ctypes.byref(count)),
                             (0, ""))
            self.assertEqual((scores[0].start, scores[0].end, scores[1].start, scores[1].end), (0, 4, 5, 9))
            self.assertEqual(self.call("rnn_explain", handle, None, 2, 0, scores, 4, ctypes.byref(count)),
                             (1, "rnn_explain: text is NULL with length 2 (NULL only with length 0)"))
        with rnninfer.Model(self.stream_path) as model, model.stream() as stream:
            handle, probabilities = stream._handle, (ctypes.c_float * 2)()
            for name, arguments in (("rnn_stream_feed", (b"x", 1)), ("rnn_stream_probabilities", (probabilities, 2, None)),
                                    ("rnn_stream_reset", ())):
                self.assertEqual(self.call(name, None, *arguments), (1, f"{name}: stream must not be NULL"))
            self.assertEqual(self.call("rnn_stream_open", None, ctypes.byref(ctypes.c_void_p()))[0], 1)
            self.assertEqual(self.call("rnn_stream_open", model._handle, None)[0], 1)
            self.assertEqual(self.call("rnn_stream_feed", handle, None, 3),
                             (1, "rnn_stream_feed: text is NULL with length 3 (NULL only with length 0)"))
            self.assertEqual(self.call("rnn_stream_feed", handle, b"good", size_max),
                             (1, f"rnn_stream_feed: text has length {size_max}, larger than any buffer"))
            self.assertEqual(self.call("rnn_stream_feed", handle, None, 0), (0, ""))
            self.assertEqual(self.call("rnn_stream_probabilities", handle, probabilities, 1, None),
                             (5, "rnn_stream_probabilities: probabilities needs 2 floats (2 per text), capacity is 1"))
            self.assertEqual(self.call("rnn_stream_probabilities", handle, None, 2, None),
                             (1, "rnn_stream_probabilities: probabilities must not be NULL"))
            self.assertEqual(self.call("rnn_stream_probabilities", handle, probabilities, size_max, None), (0, ""))
            rnninfer.library.rnn_stream_free(None)

    def test_a_stream_fed_in_any_pieces_gives_the_whole_texts_bits(self):
        import random
        rng = random.Random(11)
        words = ["good", "bad", "film", "the", "plot", "<br />", "<br", "/>", "don't", "é", "日本", "😀", "!", " ", "\n"]
        with rnninfer.Model(self.stream_path) as model, model.stream() as stream:
            for _ in range(60):
                text = " ".join(rng.choice(words) for _ in range(rng.randint(0, 30))).encode()
                if rng.random() < 0.2:
                    text += b"\xff\xe6\x97"  # invalid and cut-off UTF-8
                stream.reset()
                fed = 0
                while fed < len(text):
                    piece = rng.randint(1, 6)  # pieces end mid-word and mid-character
                    stream.feed(text[fed:fed + piece])
                    fed = min(len(text), fed + piece)
                    if rng.random() < 0.3:
                        self.assertEqual(bits(stream.probabilities()[1]), bits(model.classify(text[:fed])[1]))
                best, probabilities = stream.probabilities()
                expected = model.classify(text)
                self.assertEqual((best, bits(probabilities)), (expected[0], bits(expected[1])), text)

    def test_a_stream_outlives_its_model_handle_and_many_share_one_model(self):
        model = rnninfer.Model(self.stream_path)
        texts = [f"{'good ' * (i % 4)}the film {'bad ' * (i % 3)}{i}" for i in range(100)]
        expected = [bits(model.classify(t)[1]) for t in texts]
        streams = [model.stream() for _ in range(6)]
        model.close()
        failures = []

        def work(stream, offset):
            for i in range(len(texts)):
                j = (i + offset) % len(texts)
                stream.reset()
                for word in texts[j].split(" "):
                    stream.feed(word + " ")
                if bits(stream.probabilities()[1]) != expected[j]:
                    failures.append(j)

        threads = [threading.Thread(target=work, args=(s, 13 * k)) for k, s in enumerate(streams)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(failures, [])
        for stream in streams:
            stream.close()

    def test_explanations_give_the_texts_tokens_and_what_drove_the_label(self):
        with rnninfer.Model(self.path) as model:
            text = "The film was good, good — but the plot? Bad. Café 日本 good"
            tokens = model.explain(text, "pos")
            # Spans index the str by characters, in text order, and hold the token's text.
            self.assertEqual([t for t, _, _ in tokens][:6], ["The", "film", "was", "good", ",", "good"])
            for token, (start, end), _ in tokens:
                self.assertEqual(text[start:end], token)
            self.assertEqual([span for _, span, _ in tokens], sorted(span for _, span, _ in tokens))
            self.assertIn(("日本", (50, 52)), [(t, span) for t, span, _ in tokens])
            # bytes in, byte offsets out
            data = text.encode()
            for token, (start, end), _ in model.explain(data, 1):
                self.assertEqual(data[start:end], token)
            # The model learned "more good than bad": "good" pushes towards pos, "bad" away from it.
            scores = {}
            for i in range(40):
                line = " ".join(["good"] * (i % 3 + 1) + ["the", "film"] + ["bad"] * (i % 2 + 1))
                for token, _, score in model.explain(line, "pos"):
                    scores.setdefault(token, []).append(score)
            good, bad = (sum(scores[w]) / len(scores[w]) for w in ("good", "bad"))
            self.assertGreater(good, 0)
            self.assertLess(bad, 0)
            # For "neg" the signs turn: the scores are of the label asked for.
            self.assertLess(sum(s for t, _, s in model.explain("good good film", "neg") if t == "good"), 0)

    def test_models_that_cannot_stream_say_why_at_open(self):
        with rnninfer.Model(self.path) as model:
            with self.assertRaises(rnninfer.RNNInferError) as raised:
                model.stream()
            self.assertEqual(raised.exception.status, 6)
            self.assertIn("rnn_stream_open: this model cannot be streamed: the model is bidirectional", str(raised.exception))

    def test_many_threads_share_one_model(self):
        texts = [f"{'good ' * (i % 5)} film {'bad ' * (i % 3)} plot {i}" for i in range(200)]
        with rnninfer.Model(self.path) as model:
            expected = [bits(model.classify(t)[1]) for t in texts]
            failures = []

            def work(offset):
                for round in range(3):
                    for i in range(len(texts)):
                        j = (i + offset) % len(texts)
                        if bits(model.classify(texts[j])[1]) != expected[j]:
                            failures.append(j)

            threads = [threading.Thread(target=work, args=(7 * t,)) for t in range(8)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            self.assertEqual(failures, [])

    @unittest.skipUnless(STRESS, "RNNKIT_STRESS not set")
    def test_c_stress_threads_equal_single_threaded(self):
        texts = "\n".join(f"{'good ' * (i % 4)}the movie {'bad ' * (i % 3)}{i}" for i in range(300)) + "\n"
        for path in (self.path, self.stream_path):
            result = subprocess.run([STRESS, path, "8", "4"], input=texts, capture_output=True, text=True)
            self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
            self.assertIn("0 mismatches", result.stdout)

    @unittest.skipUnless(CLASSIFY, "RNNKIT_CLASSIFY not set")
    def test_c_example(self):
        out = subprocess.run([CLASSIFY, self.path, "good good film", "bad movie"], capture_output=True, text=True, check=True).stdout
        lines = out.splitlines()
        self.assertTrue(lines[0].startswith("pos\t") and lines[1].startswith("neg\t"), out)
        bad = subprocess.run([CLASSIFY, str(self.work / "absent.rnnk"), "x"], capture_output=True, text=True)
        self.assertEqual(bad.returncode, 1)
        self.assertIn("absent.rnnk", bad.stderr)


class GuestTests(TrainedModel):
    """ABI 3: a library that behaves as a guest in its host's process, and the calls a host needs to show and
    check what it loaded."""

    call = BindingTests.call

    def test_status_strings_name_every_status(self):
        names = [rnninfer.library.rnn_status_string(s).decode() for s in range(9)]
        self.assertEqual(names, ["ok", "invalid argument", "I/O error", "format error", "unsupported format version",
                                 "buffer too small", "unsupported", "not found", "unknown status"])
        self.assertEqual(rnninfer.library.rnn_status_string(-1), b"unknown status")

    def load(self, options):
        handle = ctypes.c_void_p()
        status, message = self.call("rnn_model_load_with_options", self.path.encode(),
                                    ctypes.byref(options) if options is not None else None, ctypes.byref(handle))
        if status == 0:
            self.addCleanup(rnninfer.library.rnn_model_free, handle)
        return status, message, handle

    def info(self, handle, size=ctypes.sizeof(rnninfer._Info)):
        info = rnninfer._Info(size=size, kernels=b"untouched")
        info.threads = info.multi_label = 12345
        self.assertEqual(self.call("rnn_model_get_info", handle, ctypes.byref(info)), (0, ""))
        return info

    def test_kernel_set_and_threads_are_chosen_through_the_api(self):
        expected = ", ".join(reversed(KERNEL_SETS))
        available = [name for name in KERNEL_SETS
                     if self.load(rnninfer._LoadOptions(ctypes.sizeof(rnninfer._LoadOptions), name.encode(), 0))[0]
                     == 0]
        self.assertIn("baseline", available)
        status, message, handle = self.load(None)
        self.assertEqual(status, 0)
        self.assertEqual((self.info(handle).kernels.decode(), self.info(handle).threads), (available[0], 1))
        for name in available:
            status, _, handle = self.load(rnninfer._LoadOptions(ctypes.sizeof(rnninfer._LoadOptions), name.encode(), 3))
            self.assertEqual((self.info(handle).kernels.decode(), self.info(handle).threads), (name, 3))
            with rnninfer.Model(self.path, kernels=name, threads=2) as model:
                self.assertEqual((model.metadata["kernels"], model.metadata["threads"]), (name, 2))
                self.assertEqual(model.labels[model.classify("good good film")[0]], "pos")
        status, message, _ = self.load(rnninfer._LoadOptions(ctypes.sizeof(rnninfer._LoadOptions), b"sse9", 1))
        self.assertEqual((status, message), (1, 'rnn_model_load_with_options: options->kernels: unknown kernel set '
                                                f'"sse9" (expected one of {expected})'))
        for missing in sorted(set(KERNEL_SETS) - set(available)):
            status, message, _ = self.load(rnninfer._LoadOptions(ctypes.sizeof(rnninfer._LoadOptions),
                                                                 missing.encode(), 1))
            self.assertEqual(status, 6)
            self.assertIn(f"kernel set {missing} is not available on this CPU", message)
        # A struct of an older header: only its size field; the rest are defaults.
        status, _, handle = self.load(rnninfer._LoadOptions(ctypes.sizeof(ctypes.c_size_t), b"sse9", 7))
        self.assertEqual((status, self.info(handle).threads), (0, 1))
        status, message, _ = self.load(rnninfer._LoadOptions(4, None, 1))
        self.assertEqual(status, 1)
        self.assertIn("options->size is 4", message)
        status, message, _ = self.load(rnninfer._LoadOptions(2 ** 64 - 1, None, 1))
        self.assertEqual(status, 0, message)
        with self.assertRaises(rnninfer.InvalidArgumentError):
            rnninfer.Model(self.path, kernels="sse9")

    def test_an_unknown_rnnkit_kernels_is_an_error_not_ignored(self):
        script = ("import rnninfer\ntry:\n    rnninfer.Model(%r)\nexcept rnninfer.InvalidArgumentError as e:\n"
                  "    print(e.message)\n" % self.path)
        result = subprocess.run(PYTHON + ["-c", script], capture_output=True, text=True,
                                env={**os.environ, "RNNKIT_KERNELS": "avx3"})
        self.assertEqual(result.stdout.strip(), 'rnn_model_load_with_options: RNNKIT_KERNELS: unknown kernel set '
                                                f'"avx3" (expected one of {", ".join(reversed(KERNEL_SETS))})')
        result = subprocess.run([str(BIN / "classify"), "--model", self.path], input="good\n", capture_output=True,
                                text=True, env={**os.environ, "RNNKIT_KERNELS": "avx3"})
        self.assertEqual(result.returncode, 1)
        self.assertIn('error: RNNKIT_KERNELS: unknown kernel set "avx3"', result.stderr)

    def test_info_writes_only_the_fields_the_callers_struct_has(self):
        status, _, handle = self.load(None)
        short = rnninfer._Info.threads.offset  # a header without threads, kernels and what came after them
        info = self.info(handle, size=short)
        self.assertEqual((info.size, info.threads, info.kernels, info.multi_label), (short, 12345, b"untouched", 12345))
        older = rnninfer._Info.multi_label.offset  # ABI 3 as it was before multi-label models
        info = self.info(handle, size=older)
        self.assertEqual((info.size, info.threads, info.multi_label), (older, 1, 12345))
        self.assertEqual((info.cell, info.embedding, info.hidden, info.labels), (1, 8, 12, 2))
        full = self.info(handle)
        self.assertEqual(full.size, ctypes.sizeof(rnninfer._Info))
        for size in (0, 7):
            info = rnninfer._Info(size=size)
            status, message = self.call("rnn_model_get_info", handle, ctypes.byref(info))
            self.assertEqual(status, 1)
            self.assertIn(f"info->size is {size}", message)

    def test_metadata_says_what_was_loaded(self):
        with rnninfer.Model(self.path) as model:
            self.assertEqual((model.metadata["padding"], model.metadata["truncation"], model.metadata["markers"]),
                             ("none", "tail", True))
            everything = model.file_metadata
            self.assertEqual(everything["training.tool"], f"rnnkit train {rnninfer.__version__}")
            self.assertEqual(json.loads(everything["labels"]), ["neg", "pos"])
            self.assertEqual(everything["architecture.hidden"], "12")
            self.assertEqual(everything["architecture.bidirectional"], "true")
            self.assertEqual(json.loads(everything["training.config"])["cell"], "lstm")
            self.assertIn("macroF1", json.loads(everything["training.metrics"])["evaluation"])
            self.assertEqual(len(json.loads(everything["tokenizer.vocabulary"])), model.metadata["vocabulary_size"])
            handle, length = model._handle, ctypes.c_size_t()
            self.assertEqual(self.call("rnn_model_metadata", handle, b"no.such.key", None, 0, ctypes.byref(length)),
                             (7, 'rnn_model_metadata: the model file has no metadata key "no.such.key"'))
            self.assertEqual(self.call("rnn_model_metadata", handle, None, None, 0, None)[0], 1)
            self.assertEqual(self.call("rnn_model_metadata", handle, b"sequence.padding", None, 0, ctypes.byref(length)),
                             (0, ""))
            self.assertEqual(length.value, 4)
            value = ctypes.create_string_buffer(4)
            self.assertEqual(self.call("rnn_model_metadata", handle, b"sequence.padding", value, 4, None)[0], 5)
            count = rnninfer.library.rnn_model_metadata_count(handle)
            self.assertEqual(count, len(everything))
            self.assertEqual(self.call("rnn_model_metadata_key", handle, count, None, 0, None)[0], 1)
            self.assertEqual(rnninfer.library.rnn_model_metadata_count(None), 0)

    def test_ids_classify_as_the_text_they_came_from(self):
        with rnninfer.Model(self.path) as model:
            for text in ("good film", "bad bad plot good", "", "zzz qqq"):
                best, probabilities = model.classify(text)
                ids_best, ids_probabilities = model.classify_ids(model.tokenize(text))
                self.assertEqual((ids_best, bits(ids_probabilities)), (best, bits(probabilities)))
            self.assertEqual(self.call("rnn_classify_ids", model._handle, None, 3, (ctypes.c_float * 2)(), 2, None),
                             (1, "rnn_classify_ids: ids is NULL with count 3 (NULL only with count 0)"))

    def test_close_while_other_threads_are_inside_calls(self):
        texts = ["good film " * 50, "bad plot " * 50] * 20
        for _ in range(5):
            model = rnninfer.Model(self.path, threads=2)
            errors, started = [], threading.Barrier(5)

            def work():
                started.wait()
                try:
                    while True:
                        model.classify_batch(texts)
                        model.explain("good film")
                except ValueError as error:
                    errors.append(str(error))

            threads = [threading.Thread(target=work) for _ in range(4)]
            for t in threads:
                t.start()
            started.wait()
            model.close()
            for t in threads:
                t.join()
            self.assertEqual(errors, ["the model is closed"] * 4)
            self.assertTrue(model.closed)

    def test_a_model_pickles_by_path_or_bytes(self):
        import pickle
        from concurrent.futures import ProcessPoolExecutor
        data = pathlib.Path(self.path).read_bytes()
        for model in (rnninfer.Model(self.path, threads=2), rnninfer.Model(data=data)):
            copy = pickle.loads(pickle.dumps(model))
            self.assertEqual(copy.labels, model.labels)
            self.assertEqual(copy.metadata, model.metadata)
            self.assertEqual(bits(copy.classify("good movie")[1]), bits(model.classify("good movie")[1]))
            with ProcessPoolExecutor(2) as pool:
                rows = list(pool.map(model.classify_batch, [["good", "bad"], ["plot"]]))
            self.assertEqual(bits(rows[0][1]), bits(model.classify("bad")[1]))

    @unittest.skipUnless(os.environ.get("RNNKIT_HOST_BLAS"), "RNNKIT_HOST_BLAS not set")
    def test_a_hosts_blas_threads_are_left_as_they_were(self):
        result = subprocess.run([os.environ["RNNKIT_HOST_BLAS"], self.path], capture_output=True, text=True)
        self.assertEqual((result.returncode, result.stdout), (0, "openblas threads: before 2, after 2\n"),
                         result.stderr)

    def test_the_package_refuses_a_library_of_another_abi(self):
        with tempfile.TemporaryDirectory() as work:
            source = pathlib.Path(work) / "old.c"
            source.write_text("unsigned rnn_abi_version(void) { return 2; }\n")
            library = pathlib.Path(work) / "librnninfer.so.2"
            subprocess.run(CC + ["-shared", "-fPIC", source, "-o", library], check=True)
            result = subprocess.run(PYTHON + ["-c", "import rnninfer"], capture_output=True, text=True,
                                    env={**os.environ, "RNNINFER_LIBRARY": str(library)})
            self.assertNotEqual(result.returncode, 0)
            self.assertIn(f"ImportError: {library} has librnninfer ABI 2, but this rnninfer package "
                          f"({rnninfer.__version__}) needs ABI 3", result.stderr)


class DeterminismTests(unittest.TestCase):
    """A model with large per-token tables: 6,000 distinct words, GRU hidden 128 (as IMDB's)."""

    @classmethod
    def setUpClass(cls):
        import random
        cls.work = pathlib.Path(tempfile.mkdtemp(prefix="rnninfer-determinism-"))
        rng = random.Random(3)
        for name, rows in (("train", 3000), ("test", 200)):
            with open(cls.work / f"{name}.csv", "w") as f:
                f.write("text,label\n")
                for _ in range(rows):
                    words = [rng.randrange(6000) for _ in range(rng.randint(5, 30))]
                    label = "odd" if sum(w % 2 for w in words) * 2 > len(words) else "even"
                    f.write(" ".join(f"w{w}" for w in words) + f",{label}\n")
        (cls.work / "texts.txt").write_text(
            "\n".join(" ".join(f"w{rng.randrange(6000)}" for _ in range(40)) for _ in range(100)) + "\n")
        run(BIN / "prep", "csv", cls.work / "train.csv", cls.work / "test.csv", "--text-column", "text",
            "--label-column", "label", "--out", cls.work / "shards", "--quiet")
        run(BIN / "train", "--shards", cls.work / "shards", "--epochs", "1", "--embed", "32", "--hidden", "128",
            "--out", cls.work / "run", "--quiet")
        cls.model = str(cls.work / "run" / "model.rnnk")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.work, ignore_errors=True)

    def test_the_same_file_gives_the_same_bits_in_every_load(self):
        """Loads 1…4, buffers at odd offsets and a model that cuts batches across threads give the first load's
        bits. (When the token tables went through OpenBLAS, its Haswell kernel summed a multi-threaded first
        load's tables differently; the library now computes them itself.)"""
        script = f"""
import ctypes, pathlib, struct, sys
import rnninfer
data = pathlib.Path({self.model!r}).read_bytes()
texts = pathlib.Path({str(self.work / "texts.txt")!r}).read_text().splitlines()
lib = rnninfer.library
def bits(handle):
    if isinstance(handle, list):
        return handle
    out = []
    for text in texts:
        p = (ctypes.c_float * 2)()
        assert lib.rnn_classify(handle, text.encode(), len(text), p, 2, None) == 0, lib.rnn_last_error()
        out += [struct.pack("<f", v) for v in p]
    return out
def load(offset=None):
    handle = ctypes.c_void_p()
    if offset is None:
        assert lib.rnn_model_load({self.model!r}.encode(), ctypes.byref(handle)) == 0
    elif offset == "threads":
        threaded = rnninfer.Model({self.model!r}, threads=3)
        batch = threaded.classify_batch(texts)
        return [struct.pack("<f", v) for row in batch for v in row]
    else:
        padded = ctypes.create_string_buffer(b"x" * offset + data)
        start = ctypes.c_void_p(ctypes.addressof(padded) + offset)
        assert lib.rnn_model_load_buffer(start, len(data), ctypes.byref(handle)) == 0
    return handle
first = load()
expected = bits(first)
for attempt in range(3):
    assert bits(load()) == expected, f"load {{attempt + 2}} differs"
for offset in (1, 3, 7, 64):
    assert bits(load(offset)) == expected, f"a buffer at offset {{offset}} differs"
assert bits(load("threads")) == expected, "a batch on 3 threads differs"
print("same bits")
"""
        result = subprocess.run(PYTHON + ["-c", script], capture_output=True, text=True)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn("same bits", result.stdout)


class PackageTests(TrainedModel):
    def test_the_package_carries_its_version_and_library(self):
        self.assertEqual(rnninfer.__version__, rnninfer.library_version())
        if os.environ.get("RNNKIT_INSTALLED"):
            package = pathlib.Path(rnninfer.__file__).resolve().parent
            self.assertNotEqual(package, ROOT / "Python" / "rnninfer", "the installed package, not the source tree")
            self.assertEqual(pathlib.Path(rnninfer.library_path).resolve().parent, package)
            self.assertTrue((package / "py.typed").exists())

    def test_probabilities_and_logits_are_float32_arrays(self):
        with rnninfer.Model(self.path) as model:
            best, probabilities = model.classify("good film")
            self.assertEqual((probabilities.dtype.name, probabilities.shape), ("float32", (2,)))
            logits = model.logits("good film")
            self.assertEqual((logits.dtype.name, logits.shape), ("float32", (2,)))
            self.assertEqual(int(logits.argmax()), best)
            # softmax(logits), computed in float64: the probabilities to float32 rounding.
            import numpy
            exp = numpy.exp(logits.astype(numpy.float64) - logits.max())
            numpy.testing.assert_allclose(exp / exp.sum(), probabilities, rtol=0, atol=2e-7)
            texts = ["good", "bad bad film", ""]
            batch = model.logits(texts)
            self.assertEqual(batch.shape, (3, 2))
            for text, row in zip(texts, batch):
                self.assertEqual(bits(row), bits(model.logits(text)))


class LibraryTests(unittest.TestCase):
    def test_library_is_self_contained_and_exports_only_the_c_abi(self):
        linked = subprocess.run(["readelf", "-d", rnninfer.library_path], capture_output=True, text=True,
                                check=True).stdout
        self.assertIn("(NEEDED)", linked)
        self.assertNotIn("libswift", linked)
        self.assertNotIn("Foundation", linked)
        exported = subprocess.run(["nm", "-D", "--defined-only", "--extern-only", rnninfer.library_path],
                                  capture_output=True, text=True, check=True).stdout.split("\n")
        names = [line.split()[-1] for line in exported if line.strip()]
        self.assertIn("rnn_classify", names)
        self.assertEqual([n for n in names if not n.startswith("rnn_")], [])


def expected_outputs(fixture):
    """(text, best, probabilities) per line of a fixture's .expected.tsv (Tools/fixtures/model-v1.sh)."""
    for line in pathlib.Path(str(fixture).removesuffix(".rnnk") + ".expected.tsv").read_text().splitlines():
        text, best, *probabilities = line.split("\t")
        yield text, int(best), list(map(float, probabilities))


class CommittedModelTests(unittest.TestCase):
    """Every released format version stays readable: the committed fixtures classify as when they were made."""

    def check_fixture(self, fixture, version):
        with rnninfer.Model(fixture) as model:
            self.assertEqual(model.metadata["format_version"], version)
            self.assertEqual(model.labels, ["neg", "pos"])
            for text, best, probabilities in expected_outputs(fixture):
                got_best, got = model.classify(text)
                self.assertEqual(got_best, best, text)
                for p, q in zip(got, probabilities):
                    self.assertAlmostEqual(p, q, delta=1e-5)

    def test_version_1_0_fixture(self):
        self.check_fixture(FIXTURE, "1.0")

    def test_version_1_1_int8_fixture_and_its_distance_to_float(self):
        """The 1.0 fixture through `train quantize`: int8 matrices, within 0.01 of the f32 model's probabilities."""
        self.check_fixture(INT8_FIXTURE, "1.1")
        for (_, _, float_p), (_, _, int8_p) in zip(expected_outputs(FIXTURE), expected_outputs(INT8_FIXTURE)):
            self.assertLess(max(abs(p - q) for p, q in zip(float_p, int8_p)), 0.01)
        self.assertLess(INT8_FIXTURE.stat().st_size, FIXTURE.stat().st_size)

    def test_quantize_measures_and_refuses_a_drop_beyond_the_limit(self):
        """A model made to lose to int8: its head tells "good" from "bad" by a weight 1/1000 of its row's
        largest, which rounds to 0 at a scale of max/127. `train quantize` measures the drop, writes nothing
        past --max-drop, writes with --force, and refuses a model already quantized."""
        work = pathlib.Path(tempfile.mkdtemp(prefix="rnninfer-quantize-"))
        try:
            for name in ("train", "test"):
                rows = ["text,label"] + [f"{word} {word},{label}" for word, label in (("good", "pos"), ("bad", "neg"))] * 20
                (work / f"{name}.csv").write_text("\n".join(rows) + "\n")
            run(BIN / "prep", "csv", work / "train.csv", work / "test.csv", "--text-column", "text", "--label-column",
                "label", "--out", work / "shards", "--quiet")
            vocabulary = (work / "shards" / "vocab.txt").read_text().split("\n")[:-1]
            # Hidden unit 1 follows the word (+1 for good, -1 for bad); unit 0 stays 0. The logits are
            # [0, 1.0·h0 + 0.001·h1] for (neg, pos): pos needs the tiny weight, and int8 makes it a tie (neg).
            embedding = [[1.0 if token == "good" else -1.0 if token == "bad" else 0.0] for token in vocabulary]
            tensors = {"embedding.weight": embedding, "rnn.weight_ih_l0": [[0.0], [5.0]],
                       "rnn.weight_hh_l0": [[0.0, 0.0], [0.0, 0.0]], "rnn.bias_ih_l0": [0.0, 0.0],
                       "rnn.bias_hh_l0": [0.0, 0.0], "fc.weight": [[0.0, 0.0], [1.0, 0.001]], "fc.bias": [0.0, 0.0]}
            header, data = {}, b""
            for name, value in tensors.items():
                rows = value if isinstance(value[0], list) else [value]
                flat = [x for row in rows for x in row]
                shape = [len(value), len(value[0])] if isinstance(value[0], list) else [len(value)]
                header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [len(data), len(data) + 4 * len(flat)]}
                data += struct.pack(f"<{len(flat)}f", *flat)
            encoded = json.dumps(header).encode()
            encoded += b" " * (-len(encoded) % 8)
            (work / "made.safetensors").write_bytes(struct.pack("<Q", len(encoded)) + encoded + data)
            model = work / "model.rnnk"
            run(BIN.parent / "release" / "convert", "import", work / "made.safetensors", "--word-vocabulary",
                work / "shards" / "vocab.txt", "--labels", "neg,pos", "--padding", "none", "--markers", "off",
                "--out", model)
            out = work / "int8.rnnk"
            refused = subprocess.run([str(BIN / "train"), "quantize", str(model), "--shards", str(work / "shards"),
                                      "--out", str(out)], capture_output=True, text=True)
            self.assertEqual(refused.returncode, 1, refused.stdout + refused.stderr)
            self.assertIn("int8 loses 50.00 accuracy points on test, more than --max-drop 0.50: not written",
                          refused.stderr)
            self.assertIn("accuracy                  100.00%     50.00%", refused.stdout)
            self.assertFalse(out.exists())
            forced = run(BIN / "train", "quantize", model, "--shards", work / "shards", "--out", out, "--force")
            self.assertIn("argmax agreement          50.00% (20 differ)", forced)
            with rnninfer.Model(out) as quantized:
                self.assertEqual(quantized.metadata["format_version"], "1.1")
                self.assertEqual([quantized.classify(text)[0] for text in ("good good", "bad bad")], [0, 0])
            twice = subprocess.run([str(BIN / "train"), "quantize", str(out), "--shards", str(work / "shards"),
                                    "--out", str(work / "twice.rnnk")], capture_output=True, text=True)
            self.assertEqual(twice.returncode, 1)
            self.assertIn("is already quantized", twice.stderr)
        finally:
            shutil.rmtree(work, ignore_errors=True)


class RealDataParityTests(unittest.TestCase):
    """On AG News: the runtime's probabilities equal the trainer's evaluation on every test text."""

    # Emulated, this model's 7,600 texts take ~15 minutes; test_aarch64 checks real data on smaller models.
    @unittest.skipIf(EMULATOR, "emulated: test_aarch64 compares real data with the x86-64 library")
    def test_agnews_runtime_equals_trainer_on_every_test_example(self):
        for required in ("agnews/train.csv", "agnews/test.csv", "bert-base-uncased/vocab.txt"):
            self.assertTrue((DATA / required).exists(), f"missing {DATA / required}: set RNNKIT_DATA")
        work = pathlib.Path(tempfile.mkdtemp(prefix="rnninfer-parity-"))
        try:
            env_data = {"RNNKIT_DATA": str(DATA)}
            subprocess.run([str(BIN / "prep"), "agnews", str(DATA / "agnews/train.csv"), str(DATA / "agnews/test.csv"),
                            "--out", str(work / "shards"), "--quiet"], check=True, capture_output=True, env={**os.environ, **env_data})
            run(BIN / "train", "--shards", work / "shards", "--epochs", "1", "--out", work / "run", "--quiet", "--padding", "none")
            run(BIN / "train", "eval", work / "run" / "model.rnnk", "--shards", work / "shards",
                "--predictions", work / "predictions.tsv")
            texts = parity.agnews_texts(DATA / "agnews/test.csv")
            self.assertEqual(len(texts), 7600)
            self.assertTrue(parity.check(str(work / "run" / "model.rnnk"), str(work / "predictions.tsv"), texts, CLASSIFY))
        finally:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    unittest.main()
