#!/usr/bin/env python3
"""Prints what the rnninfer package on PYTHONPATH gives for a list of inputs, exactly.

    probabilities.py JOBS.json

JOBS is a list of {"model": path, "kernels": name, "texts": path} (one text per line) or
{"model": …, "kernels": …, "ids": [[id, …], …]}. Prints one JSON list per job: each input's best
index and its probabilities as float.hex, so that two libraries (test_aarch64.py runs this
natively and under emulation) can be compared bit for bit.
"""
import json
import sys

import rnninfer


def main():
    with open(sys.argv[1]) as f:
        jobs = json.load(f)
    for job in jobs:
        with rnninfer.Model(job["model"], kernels=job["kernels"]) as model:
            if "texts" in job:
                with open(job["texts"], "rb") as f:
                    texts = f.read().splitlines()
                rows = [row for start in range(0, len(texts), 256) for row in model.classify_batch(texts[start:start + 256])]
            else:
                rows = [model.classify_ids(ids)[1] for ids in job["ids"]]
            print(json.dumps([[int(row.argmax()), [float(p).hex() for p in row]] for row in rows]))


if __name__ == "__main__":
    main()
