#!/usr/bin/env python3
"""PyTorch training the same classifier on the same examples, for Tools/bench train's same-run ratio.

    Benchmarks/bench-torch.py EXAMPLES CELL EMBED HIDDEN LENGTH PADDING THREADS VOCABULARY CLASSES

EXAMPLES is what `rnnbench train … EXAMPLES_OUT` wrote: a line per example,
its label then its token ids. The model is the course notebooks' own:
nn.Embedding → nn.GRU / nn.LSTM / nn.RNN → nn.Linear on the last hidden state,
cross-entropy, Adam 1e-3, batch 64, in the examples' order. PyTorch has no
packing in this formulation: every example is padded (pre or post, as PADDING
says; `none` pads before, so the last state is the text's) or cut to LENGTH
tokens, as the notebooks feed it. Prints the median samples/s of epochs 2–4,
as rnnbench times its own.
"""
import statistics
import sys
import time

import torch
from torch import nn


def main():
    path, cell, embed, hidden, length, padding, threads, vocabulary, classes = sys.argv[1:10]
    embed, hidden, length, threads = int(embed), int(hidden), int(length), int(threads)
    vocabulary, classes = int(vocabulary), int(classes)
    torch.set_num_threads(threads)
    torch.manual_seed(1)
    labels, rows = [], []
    for line in open(path):
        values = [int(v) for v in line.split()]
        ids = values[1:][:length]
        pad = [0] * (length - len(ids))
        labels.append(values[0])
        rows.append(ids + pad if padding == "post" else pad + ids)
    x, y = torch.tensor(rows), torch.tensor(labels)

    class Classifier(nn.Module):
        def __init__(self):
            super().__init__()
            self.embedding = nn.Embedding(vocabulary, embed, padding_idx=0)
            self.rnn = {"gru": nn.GRU, "lstm": nn.LSTM, "rnn": nn.RNN}[cell](embed, hidden, batch_first=True)
            self.head = nn.Linear(hidden, classes)

        def forward(self, ids):
            _, state = self.rnn(self.embedding(ids))
            return self.head((state[0] if cell == "lstm" else state)[-1])

    model = Classifier()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss = nn.CrossEntropyLoss()

    def epoch():
        start = time.perf_counter()
        for first in range(0, len(x), 64):
            optimizer.zero_grad()
            loss(model(x[first:first + 64]), y[first:first + 64]).backward()
            optimizer.step()
        return time.perf_counter() - start

    epoch()
    times = sorted(epoch() for _ in range(3))
    print(f"pytorch {torch.__version__}, {threads} threads: {len(x)} examples padded to {length}, "
          f"epochs of {times[0]:.2f} / {times[1]:.2f} / {times[2]:.2f} s: "
          f"median {len(x) / statistics.median(times):.0f} samples/s")


if __name__ == "__main__":
    main()
