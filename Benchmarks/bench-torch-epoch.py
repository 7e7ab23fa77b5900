#!/usr/bin/env python3
"""PyTorch's notebook loop for Tools/bench epoch: one training epoch and the test evaluation, timed together.

    Benchmarks/bench-torch-epoch.py TRAIN TEST LENGTH THREADS VOCABULARY CLASSES

TRAIN and TEST are what `rnnbench examples` wrote (a line per example: label, then the ids the recipe feeds).
The model and loop are the IMDB assignment's: nn.Embedding(32) → nn.GRU(128) → nn.Linear on the last state,
cross-entropy, AdamW 2e-3 with weight decay 0.01, batch 64, every text pre-padded or cut to LENGTH tokens (the
notebook has no packing); then every test text classified in batches of 256 under torch.no_grad(). Prints the
seconds from the first batch to the last prediction (reading the files is not counted).
"""
import sys
import time

import torch
from torch import nn


def read(path, length):
    labels, rows = [], []
    for line in open(path):
        values = [int(v) for v in line.split()]
        ids = values[1:][-length:]  # keep the end, as pre-padding with tail truncation would not
        labels.append(values[0])
        rows.append([0] * (length - len(ids)) + ids)
    return torch.tensor(rows), torch.tensor(labels)


def main():
    train_path, test_path, length, threads, vocabulary, classes = sys.argv[1:7]
    length, threads, vocabulary, classes = int(length), int(threads), int(vocabulary), int(classes)
    torch.set_num_threads(threads)
    torch.manual_seed(1)
    x, y = read(train_path, length)
    test_x, test_y = read(test_path, length)

    class Classifier(nn.Module):
        def __init__(self):
            super().__init__()
            self.embedding = nn.Embedding(vocabulary, 32, padding_idx=0)
            self.rnn = nn.GRU(32, 128, batch_first=True)
            self.head = nn.Linear(128, classes)

        def forward(self, ids):
            _, state = self.rnn(self.embedding(ids))
            return self.head(state[-1])

    model = Classifier()
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=0.01)
    loss = nn.CrossEntropyLoss()
    start = time.perf_counter()
    order = torch.randperm(len(x))
    model.train()
    for first in range(0, len(x), 64):
        batch = order[first:first + 64]
        optimizer.zero_grad()
        loss(model(x[batch]), y[batch]).backward()
        optimizer.step()
    model.eval()
    correct = 0
    with torch.no_grad():
        for first in range(0, len(test_x), 256):
            correct += (model(test_x[first:first + 256]).argmax(1) == test_y[first:first + 256]).sum().item()
    seconds = time.perf_counter() - start
    print(f"pytorch {torch.__version__}, {threads} threads: {len(x)} training texts and {len(test_x)} test texts "
          f"padded to {length}: {seconds:.1f} s (test accuracy {100 * correct / len(test_x):.2f}%)")


if __name__ == "__main__":
    main()
