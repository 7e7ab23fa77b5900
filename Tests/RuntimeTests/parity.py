#!/usr/bin/env python3
"""Checks that librnninfer classifies every example exactly as the trainer evaluated it.

    train eval MODEL --shards DIR --predictions P.tsv
    Tests/RuntimeTests/parity.py --model MODEL --predictions P.tsv --agnews data/agnews/test.csv [--classify BIN]
    Tests/RuntimeTests/parity.py --model MODEL --predictions P.tsv --imdb data/aclImdb_v1.tar.gz [--classify BIN]

Texts are read from the raw files in the order prep stored them; they go through
the Python binding (classify_batch) and, with --classify, through the C example
(Examples/classify.c, one text per line on stdin). Exit status 1 on any
difference in argmax or a probability off by more than 1e-5.
"""
import argparse
import csv
import re
import subprocess
import sys
import tarfile

import rnninfer

TOLERANCE = 1e-5


def agnews_texts(path):
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    if rows and rows[0] == ["text", "label"]:
        return [row[0] for row in rows[1:]]
    return [row[1] + " " + row[2] for row in rows]


def imdb_texts(path, split="test"):
    pattern = re.compile(rf"^(\./)?aclImdb/{split}/(pos|neg)/(\d+)_(\d+)\.txt$")
    texts = []
    with tarfile.open(path, "r:gz") as archive:
        for member in archive:
            if member.isfile() and pattern.match(member.name):
                texts.append(archive.extractfile(member).read())
    return texts


def read_predictions(path):
    with open(path, encoding="utf-8") as f:
        lines = f.read().splitlines()[1:]
    return [(int(fields[2]), [float(p) for p in fields[3:]]) for fields in (line.split("\t") for line in lines)]


def compare(name, expected, actual):
    argmax_equal = sum(1 for (a, _), (b, _) in zip(expected, actual) if a == b)
    worst = max((abs(p - q) for (_, ps), (_, qs) in zip(expected, actual) for p, q in zip(ps, qs)), default=0.0)
    ok = len(expected) == len(actual) and argmax_equal == len(expected) and worst <= TOLERANCE
    print(f"{name}: {len(actual)} texts, argmax equal on {argmax_equal}/{len(expected)}, max |Δp| = {worst:.2e} "
          f"({'ok' if ok else 'MISMATCH'})")
    return ok


def check(model_path, predictions_path, texts, classify_binary=None):
    expected = read_predictions(predictions_path)
    if len(texts) != len(expected):
        print(f"{len(texts)} texts but {len(expected)} predictions", file=sys.stderr)
        return False
    with rnninfer.Model(model_path) as model:
        actual = []
        for start in range(0, len(texts), 256):
            rows = model.classify_batch(texts[start:start + 256])
            actual += [(int(row.argmax()), list(row)) for row in rows]
    ok = compare("python", expected, actual)
    if classify_binary:
        # One text per line: newlines inside a text are whitespace to both tokenizers.
        lines = b"\n".join((t if isinstance(t, bytes) else t.encode()).replace(b"\n", b" ").replace(b"\r", b" ")
                           for t in texts) + b"\n"
        result = subprocess.run([classify_binary, "--tsv", model_path], input=lines, capture_output=True, check=True)
        c_results = [(int(f[0]), [float(p) for p in f[1:]]) for f in (l.split("\t") for l in result.stdout.decode().splitlines())]
        ok = compare("C", expected, c_results) and ok
    return ok


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True)
    parser.add_argument("--predictions", required=True)
    parser.add_argument("--agnews")
    parser.add_argument("--imdb")
    parser.add_argument("--classify", help="the built C example")
    args = parser.parse_args()
    texts = agnews_texts(args.agnews) if args.agnews else imdb_texts(args.imdb)
    sys.exit(0 if check(args.model, args.predictions, texts, args.classify) else 1)


if __name__ == "__main__":
    main()
