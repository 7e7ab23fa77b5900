#!/usr/bin/env python3
"""Hugging Face tokenizers on the same texts as `rnnbench wordpiece`, one thread."""
import csv, pathlib, sys, time
from tokenizers import Tokenizer

data = pathlib.Path(sys.argv[1])
tokenizer = Tokenizer.from_file(str(data / "bert-base-uncased" / "tokenizer.json"))
texts = []
for split in ("train", "test"):
    with open(data / "agnews" / "hf" / f"{split}.csv", newline="", encoding="utf-8") as f:
        texts += [row["text"] for row in csv.DictReader(f)]
size = sum(len(t.encode()) for t in texts)
best_batch = best_loop = float("inf")
for _ in range(5):
    start = time.perf_counter()
    encodings = tokenizer.encode_batch(texts)
    best_batch = min(best_batch, time.perf_counter() - start)
    start = time.perf_counter()
    for t in texts:
        tokenizer.encode(t)
    best_loop = min(best_loop, time.perf_counter() - start)
tokens = sum(len(e.ids) for e in encodings)
for name, seconds in (("encode_batch", best_batch), ("encode loop ", best_loop)):
    print(f"HF tokenizers {name}: {len(texts)} texts, {tokens} tokens in {seconds:.3f} s: "
          f"{tokens / seconds / 1e6:.2f} M tokens/s, {size / seconds / 1e6:.1f} MB/s (best of 5, RAYON_NUM_THREADS=1)")
