#!/usr/bin/env python3
"""How far apart the kernel sets' answers are: the same model and texts
classified with each instruction set this CPU runs (RNNKIT_KERNELS, one process
each, as the set is chosen once per process), compared with the widest.

    Benchmarks/kernel-agreement.py MODEL.rnnk TEXTS.txt

TEXTS has one text per line. Prints, per narrower set, the largest |Δp| over
every text and label, and on how many texts the predicted label differs.
"""
import os
import pathlib
import subprocess
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "Python"))


def sets_this_cpu_runs():
    flags = next(line for line in open("/proc/cpuinfo") if line.startswith("flags")).split()
    sets = ["baseline"]
    if {"avx2", "fma"} <= set(flags):
        sets.insert(0, "avx2")
    if {"avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512cd"} <= set(flags):
        sets.insert(0, "avx512")
    return sets


def classify(model, texts):
    import rnninfer
    with rnninfer.Model(model) as m, open(texts, "rb") as f:
        lines = f.read().splitlines()
        for first in range(0, len(lines), 256):
            for probabilities in m.classify_batch(lines[first:first + 256]):
                print(int(probabilities.argmax()), *(float(p).hex() for p in probabilities))


def main():
    if sys.argv[1] == "--classify":
        classify(sys.argv[2], sys.argv[3])
        return
    model, texts = sys.argv[1:3]
    answers = {}
    for name in sets_this_cpu_runs():
        output = subprocess.run(
            [sys.executable, __file__, "--classify", model, texts], env=dict(os.environ, RNNKIT_KERNELS=name),
            check=True, capture_output=True, text=True).stdout.splitlines()
        answers[name] = [(int(f[0]), [float.fromhex(p) for p in f[1:]]) for f in (line.split() for line in output)]
    widest, *others = list(answers)
    for name in others:
        pairs = list(zip(answers[widest], answers[name]))
        worst = max(abs(a - b) for (_, p), (_, q) in pairs for a, b in zip(p, q))
        flips = sum(a != b for (a, _), (b, _) in pairs)
        print(f"{name} against {widest}: max |Δp| {worst:.3g} over {len(pairs)} texts; "
              f"predicted label differs on {flips}")


if __name__ == "__main__":
    main()
