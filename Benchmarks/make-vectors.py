#!/usr/bin/env python3
"""Skipgram word vectors for --pretrained-vectors, trained by fastText on text outside every test split.

  Benchmarks/make-vectors.py PREP ARTIFACTS OUT.vec DIM SOURCE...
      SOURCE: aclImdb_v1.tar.gz (its 50,000 unlabeled reviews, train/unsup) or a CSV whose
      columns after the first are text (AG News: title, description) — give a training file,
      never a test one. Each text is tokenized by PREP (`prep tokenize --artifacts ARTIFACTS
      --tokens --no-markers`, the tokenizer of a prepared dataset, so the vectors' words are
      spelled as that dataset's vocabulary spells them), then fastText's skipgram (dim DIM,
      5 epochs, minCount 3; $THREADS threads, default 1, which alone makes the file reproducible)
      writes OUT.vec with its header. Needs fasttext (pip install fasttext-wheel).
"""
import csv
import os
import subprocess
import sys
import tarfile
import tempfile

import fasttext


def texts(path):
    if path.endswith(".tar.gz"):
        with tarfile.open(path) as archive:
            for member in archive:
                parts = member.name.split("/")
                if member.isfile() and len(parts) == 4 and parts[1:3] == ["train", "unsup"]:
                    yield archive.extractfile(member).read().decode("utf-8")
    else:
        with open(path, newline="", encoding="utf-8") as f:
            for row in csv.reader(f):
                if row and row[0].isdigit():
                    yield " ".join(row[1:])


def main():
    prep, artifacts, out, dim, *sources = sys.argv[1:]
    with tempfile.NamedTemporaryFile("w", suffix=".txt", encoding="utf-8") as raw, \
            tempfile.NamedTemporaryFile("w", suffix=".txt", encoding="utf-8") as tokenized:
        count = 0
        for source in sources:
            for text in texts(source):
                raw.write(" ".join(text.split()) + "\n")
                count += 1
        raw.flush()
        subprocess.run([prep, "tokenize", "--artifacts", artifacts, "--tokens", "--no-markers", raw.name],
                       stdout=tokenized, check=True)
        tokenized.flush()
        model = fasttext.train_unsupervised(tokenized.name, model="skipgram", dim=int(dim), epoch=5, minCount=3,
                                            thread=int(os.environ.get("THREADS", "1")), verbose=0)
    words = model.get_words()
    with open(out, "w", encoding="utf-8") as f:
        f.write(f"{len(words)} {dim}\n")
        for word in words:
            f.write(word + " " + " ".join(f"{v:.6g}" for v in model.get_word_vector(word)) + "\n")
    print(f"{out}: {len(words)} words, dim {dim}, from {count} texts of {', '.join(sources)}")


if __name__ == "__main__":
    main()
