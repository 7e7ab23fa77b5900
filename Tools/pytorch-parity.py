#!/usr/bin/env python3
"""PyTorch models trained on AG News, imported with `convert import`, against librnninfer.

  Tools/pytorch-parity.py [OUT]     (OUT default: exports/pytorch-parity)

For each configuration (GRU, LSTM, RNN; bidirectional; two layers; packed and post- or pre-padded
to 50 tokens) the notebooks' class (Tools/pytorch-reference.py) trains one epoch on
$RNNKIT_DATA/agnews/train.csv with ids from Hugging Face `tokenizers` (bert-base-uncased's
tokenizer.json), is saved with safetensors.torch.save_file, imported by `convert import` with the
same tokenizer.json, and both classify every text of agnews/test.csv. Prints the largest |Δp| and
argmax disagreements per configuration; exits 1 when |Δp| > 1e-5 or any argmax differs.
Needs torch, safetensors, tokenizers and librnninfer (Tools/build-runtime).
"""
import csv
import importlib.util
import json
import os
import subprocess
import sys

import torch
from safetensors.torch import save_file
from tokenizers import Tokenizer
from torch import nn

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", "Python"))
import rnninfer  # noqa: E402

spec = importlib.util.spec_from_file_location("reference", os.path.join(here, "pytorch-reference.py"))
reference = importlib.util.module_from_spec(spec)
spec.loader.exec_module(reference)

CONFIGS = [
    ("gru-packed", "gru", 1, False, "none"),
    ("lstm-packed", "lstm", 1, False, "none"),
    ("rnn-packed", "rnn", 1, False, "none"),
    ("gru-bidirectional-2-layers-packed", "gru", 2, True, "none"),
    ("lstm-bidirectional-post", "lstm", 1, True, "post"),
    ("gru-2-layers-pre", "gru", 2, False, "pre"),
    ("rnn-post", "rnn", 1, False, "post"),
]
MAX_LENGTH = 50
LABELS = ["World", "Sports", "Business", "Sci/Tech"]


def rows(path):
    with open(path, newline="", encoding="utf-8") as f:
        for row in csv.reader(f):
            if row and row[0].isdigit():
                yield int(row[0]) - 1, row[1] + " " + row[2]


def sequences(tokenizer, texts, padding):
    encoded = [tokenizer.encode(t).ids for t in texts]
    if padding == "none":
        return encoded
    # Markers kept, content cut at the end (truncation "tail"), as HF's truncation=True does.
    return [e if len(e) <= MAX_LENGTH else e[:MAX_LENGTH - 1] + [e[-1]] for e in encoded]


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "exports/pytorch-parity"
    torch.set_num_threads(1)
    data = os.environ.get("RNNKIT_DATA", "data")
    tokenizer_path = os.path.join(data, "bert-base-uncased", "tokenizer.json")
    tokenizer = Tokenizer.from_file(tokenizer_path)
    train = list(rows(os.path.join(data, "agnews", "train.csv")))
    test = list(rows(os.path.join(data, "agnews", "test.csv")))
    failed = False
    for name, cell, layers, bidirectional, padding in CONFIGS:
        torch.manual_seed(1)
        model = reference.Classifier(tokenizer.get_vocab_size(), 64, 64, 4, cell, layers, bidirectional)
        optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
        train_ids = sequences(tokenizer, [t for _, t in train], padding)
        order = torch.randperm(len(train)).tolist()
        for start in range(0, len(order), 64):
            chunk = order[start:start + 64]
            ids, lengths = reference.batch([train_ids[i] for i in chunk], MAX_LENGTH, padding)
            optimizer.zero_grad()
            logits = model(ids, lengths if padding == "none" else None)
            nn.functional.cross_entropy(logits, torch.tensor([train[i][0] for i in chunk])).backward()
            optimizer.step()
        model.eval()
        directory = os.path.join(out, name)
        os.makedirs(directory, exist_ok=True)
        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, os.path.join(directory, "model.safetensors"))
        settings = {"labels": LABELS, "padding": padding, "truncation": "tail", "markers": True}
        if padding != "none":
            settings["max_length"] = MAX_LENGTH
        with open(os.path.join(directory, "classifier.json"), "w") as f:
            json.dump(settings, f)
        subprocess.run(
            [os.path.join(here, "..", ".build", "release", "convert"), "import",
             os.path.join(directory, "model.safetensors"), "--tokenizer", tokenizer_path,
             "--classifier", os.path.join(directory, "classifier.json"), "--out", os.path.join(directory, "model.rnnk")],
            check=True, stdout=subprocess.DEVNULL)

        texts = [t for _, t in test]
        theirs = []
        test_ids = sequences(tokenizer, texts, padding)
        for start in range(0, len(texts), 256):
            theirs += reference.probabilities(model, test_ids[start:start + 256], MAX_LENGTH, padding)
        ours = list(rnninfer.Model(os.path.join(directory, "model.rnnk")).classify_batch(texts))
        worst = max(abs(a - b) for t, o in zip(theirs, ours) for a, b in zip(t, o))
        differ = sum(max(range(4), key=t.__getitem__) != max(range(4), key=o.__getitem__) for t, o in zip(theirs, ours))
        accuracy = sum(max(range(4), key=o.__getitem__) == label for o, (label, _) in zip(ours, test)) / len(test)
        print(f"{name:36s} {len(texts)} texts: max |Δp| {worst:.2e}, argmax differs on {differ} "
              f"(test accuracy {100 * accuracy:.2f} % after one epoch)", flush=True)
        failed |= worst > 1e-5 or differ > 0
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
