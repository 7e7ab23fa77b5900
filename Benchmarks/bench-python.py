#!/usr/bin/env python3
"""rnnkit from Python against the tools and the usual Python peers, on AG News, in one run (Tools/bench python).

    Benchmarks/bench-python.py DATA_DIR TOOLS_DIR THREADS EPOCHS

1. rnnkit.train on a DataFrame against `prep csv` + `train fit` on the same rows written as a CSV: the course
   notebook's setting (the `agnews` recipe: WordPiece, 50 tokens, embed/hidden 128, batch 64, Adam 1e-3), 10 %
   held out; training samples/s per epoch (each run's median), alternated over three rounds.
2. fastText's train_supervised (its defaults, 5 epochs, THREADS threads) on the same training rows.
3. PyTorch's notebook loop from Python: the same model (nn.Embedding → nn.GRU → nn.Linear on the last state),
   the same WordPiece ids (post-padded or cut to 50), Adam 1e-3, batch 64, EPOCHS epochs.
Each gives its training time and its accuracy and macro-F1 on the 7,600 test rows, scored once."""
import json
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

import numpy
import pandas
import rnnkit

data, tools, threads, epochs = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
classes = (data / "agnews" / "classes.txt").read_text().splitlines()


def news(name):
    frame = pandas.read_csv(data / "agnews" / name, header=None, names=["class", "title", "description"],
                            dtype={"title": str, "description": str})
    frame["text"] = frame["title"].fillna("") + " " + frame["description"].fillna("")
    frame["label"] = [classes[c - 1] for c in frame["class"]]
    return frame[["text", "label"]]


def macro_f1(truth, predicted, labels):
    scores = []
    for label in labels:
        tp = sum(t == label and p == label for t, p in zip(truth, predicted))
        fp = sum(t != label and p == label for t, p in zip(truth, predicted))
        fn = sum(t == label and p != label for t, p in zip(truth, predicted))
        scores.append(2 * tp / max(2 * tp + fp + fn, 1))
    return sum(scores) / len(scores)


def report(name, seconds, truth, predicted, note=""):
    accuracy = sum(t == p for t, p in zip(truth, predicted)) / len(truth)
    print(f"| {name} | {seconds:.1f} | {accuracy:.4f} | {macro_f1(truth, predicted, classes):.4f} | {note} |",
          flush=True)


train_frame, test_frame = news("train.csv"), news("test.csv")
truth = test_frame["label"].tolist()
settings = dict(validation=0.1, recipe="agnews", epochs=epochs, seed=1, threads=threads, progress=False)
print(f"AG News: {len(train_frame)} training rows (10 % held out), {len(test_frame)} test rows; {threads} threads, "
      f"{epochs} epochs\n")

# 1. In-process against the command line, alternated.
rates = {"rnnkit.train (DataFrame)": [], "prep csv + train fit": []}
with tempfile.TemporaryDirectory() as folder:
    folder = pathlib.Path(folder)
    train_frame.to_csv(folder / "rows.csv", index=False)
    recipe = pathlib.Path(rnnkit.__file__).parent / "recipes" / "agnews.json"  # the one rnnkit.train finds
    for round in range(3):
        started = time.time()
        model = rnnkit.train(rnnkit.Dataset.from_pandas(train_frame), **settings)
        python_seconds = time.time() - started
        rates["rnnkit.train (DataFrame)"].append(statistics.median(r["samplesPerSecond"] for r in model.history))
        started = time.time()
        subprocess.run([tools / "prep", "csv", "--train", folder / "rows.csv", "--text-column", "text",
                        "--label-column", "label", "--recipe", recipe, "--out", folder / "shards", "--force",
                        "--quiet"], check=True, stdout=subprocess.DEVNULL)
        subprocess.run([tools / "train", "--shards", folder / "shards", "--out", folder / "cli", "--recipe", recipe,
                        "--validation", "0.1", "--epochs", str(epochs), "--seed", "1", "--threads", str(threads),
                        "--quiet"], check=True, stdout=subprocess.DEVNULL)
        cli_seconds = time.time() - started
        history = [json.loads(l) for l in (folder / "cli" / "metrics.jsonl").read_text().splitlines()]
        rates["prep csv + train fit"].append(statistics.median(r["samplesPerSecond"] for r in history))
        print(f"round {round + 1}: rnnkit.train {python_seconds:.1f} s, {rates['rnnkit.train (DataFrame)'][-1]:.0f} "
              f"samples/s; prep + train {cli_seconds:.1f} s, {rates['prep csv + train fit'][-1]:.0f} samples/s")
ours, theirs = (statistics.median(v) for v in rates.values())
print(f"\ntraining samples/s (median over rounds of each run's median epoch): rnnkit.train {ours:.0f}, train fit "
      f"{theirs:.0f}: in-process / command line = {ours / theirs:.3f} (goal: within 5 %)\n")

print("| trainer (from Python) | training s | test accuracy | test macro-F1 | note |")
print("|---|---|---|---|---|")
started = time.time()
model = rnnkit.train(rnnkit.Dataset.from_pandas(train_frame), **settings)
seconds = time.time() - started
report("rnnkit.train, agnews recipe (GRU 128, WordPiece 50)", seconds, truth, model.predict(test_frame["text"].tolist()),
       f"incl. prep; epoch {max(model.history, key=lambda r: r['evaluation']['macroF1'])['epoch']} kept by validation")

import fasttext  # noqa: E402 — only needed from here

with tempfile.NamedTemporaryFile("w", suffix=".txt") as file:
    for text, label in zip(train_frame["text"], train_frame["label"]):
        file.write(f"__label__{label.replace(' ', '_')} {' '.join(str(text).split())}\n")
    file.flush()
    started = time.time()
    classifier = fasttext.train_supervised(file.name, thread=threads, verbose=0, seed=1)
    seconds = time.time() - started
labels, _ = classifier.predict([" ".join(str(t).split()) for t in test_frame["text"]])
predicted = [label[0][len("__label__"):].replace("_", " ") for label in labels]
report(f"fastText train_supervised (defaults: {classifier.epoch} epochs, dim {classifier.dim})", seconds, truth,
       predicted, "all training rows, no validation")

import torch  # noqa: E402
from torch import nn  # noqa: E402

torch.set_num_threads(threads)
torch.manual_seed(1)
length = 50
vocabulary = model._runtime  # the model's own WordPiece ids, so the two read the same tokens


def ids(texts):
    rows = []
    for text in texts:
        row = vocabulary.tokenize(text)[:length]
        rows.append(row + [0] * (length - len(row)))
    return torch.tensor(rows)


x, y = ids(train_frame["text"]), torch.tensor([classes.index(l) for l in train_frame["label"]])
test_x = ids(test_frame["text"])
size = int(max(x.max(), test_x.max())) + 1


class Notebook(nn.Module):
    def __init__(self):
        super().__init__()
        self.embedding = nn.Embedding(size, 128, padding_idx=0)
        self.rnn = nn.GRU(128, 128, batch_first=True)
        self.head = nn.Linear(128, len(classes))

    def forward(self, batch):
        _, state = self.rnn(self.embedding(batch))
        return self.head(state[-1])


network = Notebook()
optimizer = torch.optim.Adam(network.parameters(), lr=1e-3)
loss = nn.CrossEntropyLoss()
started = time.time()
for epoch in range(epochs):
    order = torch.randperm(len(x))
    for start in range(0, len(x), 64):
        index = order[start:start + 64]
        optimizer.zero_grad()
        loss(network(x[index]), y[index]).backward()
        optimizer.step()
seconds = time.time() - started
with torch.no_grad():
    predicted = [classes[i] for i in torch.cat([network(test_x[s:s + 512]) for s in range(0, len(test_x), 512)])
                 .argmax(dim=1).tolist()]
report(f"PyTorch {torch.__version__} notebook loop (GRU 128, post-padded to 50)", seconds, truth, predicted,
       "all training rows, last epoch, tokens from the rnnkit model's WordPiece")
