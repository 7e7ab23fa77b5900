#!/usr/bin/env python3
"""ONNX Runtime against librnninfer on real texts, for a model and its ONNX export.

  Tools/onnx-parity.py MODEL.rnnk MODEL.onnx TEXTS
      TEXTS: a text file, one text per line, or aclImdb_v1.tar.gz (its 25,000 test
      reviews), or an AG News CSV (class, title, description: "title description").
Both read the ids librnninfer's tokenizer gives (rnn_tokenize): the ONNX graph starts
at ids. Prints the largest |Δp| and the texts whose argmax differs; exits 1 when
|Δp| > 1e-5 or any argmax differs. Needs onnxruntime and numpy, and librnninfer
(Tools/build-runtime; the Python package in Python/).
"""
import csv
import os
import sys
import tarfile

import numpy as np
import onnxruntime as ort

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Python"))
import rnninfer  # noqa: E402


def texts(path):
    if path.endswith(".tar.gz"):
        with tarfile.open(path) as archive:
            for member in archive:
                parts = member.name.split("/")
                if member.isfile() and len(parts) == 4 and parts[1] == "test" and parts[2] in ("pos", "neg"):
                    yield archive.extractfile(member).read().decode("utf-8")
    elif path.endswith(".csv"):
        with open(path, newline="", encoding="utf-8") as f:
            for row in csv.reader(f):
                if row and row[0].isdigit():
                    yield row[1] + " " + row[2]
    else:
        with open(path, encoding="utf-8") as f:
            for line in f:
                yield line.rstrip("\n")


def main():
    model_path, onnx_path, texts_path = sys.argv[1:4]
    model = rnninfer.Model(model_path)
    options = ort.SessionOptions()
    options.intra_op_num_threads = os.cpu_count()
    session = ort.InferenceSession(onnx_path, options, providers=["CPUExecutionProvider"])
    packed = "lengths" in [i.name for i in session.get_inputs()]
    worst, differ, count, batch = 0.0, 0, 0, []

    def run(batch):
        nonlocal worst, differ, count
        ids = [model.tokenize(t) for t in batch]
        ours = model.classify_batch(batch).astype(np.float64)
        width = max(len(s) for s in ids)
        feeds = {"ids": np.array([s + [0] * (width - len(s)) for s in ids], dtype=np.int64)}
        if packed:
            feeds["lengths"] = np.array([len(s) for s in ids], dtype=np.int64)
        theirs = session.run(["probabilities"], feeds)[0].astype(np.float64)
        worst = max(worst, float(np.abs(theirs - ours).max()))
        differ += int((theirs.argmax(1) != ours.argmax(1)).sum())
        count += len(batch)

    # Texts of similar length together keep ONNX Runtime's padded batches small.
    for text in sorted(texts(texts_path), key=len):
        batch.append(text)
        if len(batch) == 128:
            run(batch)
            batch = []
    if batch:
        run(batch)
    print(f"{count} texts: max |Δp| {worst:.2e}, argmax differs on {differ}")
    sys.exit(1 if worst > 1e-5 or differ else 0)


if __name__ == "__main__":
    main()
