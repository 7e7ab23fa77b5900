#!/usr/bin/env python3
"""A synthetic corpus for Tools/bench prep-scale, as gzip'd JSON lines on stdout.

    Benchmarks/make-prep-corpus.py TARBALL COPIES | gzip -1 > train.jsonl.gz

The 50,000 labeled reviews of aclImdb_v1.tar.gz (train and test) are cut into sentences. Copy k
(0 ≤ k < COPIES) shuffles the sentences (seed k) and regroups them into as many reviews as the source
has, each taking the sentence count and label of a source review; copy 0 is the source text. So that
the vocabulary keeps growing with the size, as it does in real corpora, copy k > 0 spells one word
type in 50 differently (the space-separated word with the copy's number appended, "film" → "film7",
chosen by a CRC of word and copy): every copy brings new distinct words, and the exact top-K count
table grows with it. The output is the same on every run.
"""
import json
import random
import re
import sys
import tarfile
import zlib

SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def main():
    tarball, copies = sys.argv[1], int(sys.argv[2])
    reviews = []
    with tarfile.open(tarball) as archive:
        for member in archive:
            parts = member.name.split("/")
            if len(parts) == 4 and parts[1] in ("train", "test") and parts[2] in ("pos", "neg"):
                text = archive.extractfile(member).read().decode("utf-8")
                reviews.append((SENTENCE_END.split(text), parts[2]))
    sentences = [sentence for review, _ in reviews for sentence in review]
    words = {word for sentence in sentences for word in sentence.split(" ")}
    out = sys.stdout
    for copy in range(copies):
        order = sentences[:]
        respelled = {}
        if copy > 0:
            random.Random(copy).shuffle(order)
            suffix = str(copy)
            respelled = {w: w + suffix for w in words if zlib.crc32(f"{w}\t{copy}".encode()) % 50 == 0}
        get = respelled.get
        position = 0
        for review, label in reviews:
            text = " ".join(order[position:position + len(review)])
            position += len(review)
            if respelled:
                text = " ".join([get(word, word) for word in text.split(" ")])
            out.write(json.dumps({"text": text, "label": label}) + "\n")


if __name__ == "__main__":
    main()
