#!/usr/bin/env python3
"""The course notebooks' classifier in PyTorch, for interop fixtures and checks.

  Tools/pytorch-reference.py make OUT --cell gru [--layers 2] [--bidirectional] [--padding none|pre|post]
                                      [--pooling last|max|mean|attention]
      builds the model (seeded), trains it a few steps on random ids so no weight keeps its
      initial pattern, writes OUT/model.safetensors (safetensors.torch.save_file of the state
      dict) and OUT/expected.json: id sequences and PyTorch's probabilities for each.
  Tools/pytorch-reference.py load DIR
      loads DIR/model.safetensors (as `convert export --to safetensors` writes it) into the
      class with load_state_dict(strict=True) and prints the probabilities of DIR/ids.json.

Packed models run through pack_padded_sequence and classify from each sequence's last
token; padded ones run over the padding, as the notebooks do. A pooling model pools the top
layer's outputs over the positions that hold a token (not padding id 0, within the length);
attention's query is the state-dict entry `attention.query` [hidden·directions]. Needs torch and safetensors
(pip install torch safetensors); only tests and fixtures use it, never the product.
"""
import argparse
import json
import os

import torch
from safetensors.torch import load_file, save_file
from torch import nn


class Attention(nn.Module):
    def __init__(self, width):
        super().__init__()
        self.query = nn.Parameter(torch.randn(width))


class Classifier(nn.Module):
    """Embedding → RNN/GRU/LSTM → the last hidden state (both directions) or a pooling → linear."""

    def __init__(self, vocab, embed, hidden, classes, cell="gru", layers=1, bidirectional=False, padding_idx=0,
                 pooling="last"):
        super().__init__()
        self.cell = cell
        self.embedding = nn.Embedding(vocab, embed, padding_idx=padding_idx)
        rnn = {"rnn": nn.RNN, "gru": nn.GRU, "lstm": nn.LSTM}[cell]
        setattr(self, cell, rnn(embed, hidden, layers, batch_first=True, bidirectional=bidirectional))
        width = hidden * (2 if bidirectional else 1)
        if pooling == "attention":
            self.attention = Attention(width)
        self.fc = nn.Linear(width, classes)
        self.bidirectional = bidirectional
        self.pooling = pooling
        self.padding_idx = padding_idx

    def forward(self, ids, lengths=None):
        x = self.embedding(ids)
        if lengths is not None:
            x = nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        y, h = getattr(self, self.cell)(x)
        if self.pooling == "last":
            if self.cell == "lstm":
                h = h[0]
            features = torch.cat((h[-2], h[-1]), dim=1) if self.bidirectional else h[-1]
            return self.fc(features)
        if lengths is not None:
            y, _ = nn.utils.rnn.pad_packed_sequence(y, batch_first=True, total_length=ids.shape[1])
        mask = ids != self.padding_idx
        if lengths is not None:
            mask &= torch.arange(ids.shape[1])[None, :] < lengths[:, None]
        has_tokens = mask.any(1, keepdim=True)
        if self.pooling == "max":
            features = y.masked_fill(~mask[:, :, None], float("-inf")).max(1).values
        elif self.pooling == "mean":
            features = (y * mask[:, :, None]).sum(1) / mask.sum(1, keepdim=True).clamp(min=1)
        else:
            scores = (y @ self.attention.query).masked_fill(~mask, float("-inf"))
            features = (torch.softmax(scores, 1)[:, :, None] * y).sum(1)
        return self.fc(torch.where(has_tokens, features, torch.zeros_like(features)))


def batch(sequences, max_length, padding):
    """Padded ids and lengths: post-padded for packing, pre/post to max_length otherwise."""
    width = max_length if padding != "none" else max(len(s) for s in sequences)
    rows = []
    for s in sequences:
        pads = [0] * (width - len(s))
        rows.append(pads + s if padding == "pre" else s + pads)
    return torch.tensor(rows), torch.tensor([len(s) for s in sequences])


def probabilities(model, sequences, max_length, padding):
    ids, lengths = batch(sequences, max_length, padding)
    with torch.no_grad():
        logits = model(ids, lengths if padding == "none" else None)
    return torch.softmax(logits.double(), dim=1).tolist()


def make(args):
    torch.manual_seed(args.seed)
    generator = torch.Generator().manual_seed(args.seed)
    model = Classifier(args.vocab, args.embed, args.hidden, args.classes, args.cell, args.layers, args.bidirectional,
                       pooling=args.pooling)
    # Sequences of ids 1..vocab-1 (0 is padding), lengths 1..max_length.
    def sample(count):
        lengths = torch.randint(1, args.max_length + 1, (count,), generator=generator).tolist()
        return [torch.randint(1, args.vocab, (n,), generator=generator).tolist() for n in lengths]

    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    for _ in range(5):
        sequences = sample(16)
        targets = torch.randint(0, args.classes, (16,), generator=generator)
        ids, lengths = batch(sequences, args.max_length, args.padding)
        optimizer.zero_grad()
        loss = nn.functional.cross_entropy(model(ids, lengths if args.padding == "none" else None), targets)
        loss.backward()
        optimizer.step()
    os.makedirs(args.out, exist_ok=True)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, os.path.join(args.out, "model.safetensors"))
    sequences = sample(24)
    expected = {
        "cell": args.cell, "layers": args.layers, "bidirectional": args.bidirectional, "padding": args.padding,
        "pooling": args.pooling,
        "max_length": args.max_length, "vocab": args.vocab, "classes": args.classes,
        "sequences": sequences, "probabilities": probabilities(model, sequences, args.max_length, args.padding),
    }
    with open(os.path.join(args.out, "expected.json"), "w") as f:
        json.dump(expected, f)


def load(args):
    state = load_file(os.path.join(args.dir, "model.safetensors"))
    with open(os.path.join(args.dir, "ids.json")) as f:
        request = json.load(f)
    vocab, embed = state["embedding.weight"].shape
    cell = next(k.split(".")[0] for k in state if k.endswith("weight_hh_l0"))
    hidden = state[f"{cell}.weight_hh_l0"].shape[1]
    layers = 1 + max(int(k.split("_l")[-1].split("_")[0]) for k in state if "_ih_l" in k)
    bidirectional = any(k.endswith("_reverse") for k in state)
    classes = state["fc.weight"].shape[0]
    pooling = request.get("pooling", "last")
    model = Classifier(vocab, embed, hidden, classes, cell, layers, bidirectional, pooling=pooling)
    model.load_state_dict(state, strict=True)
    print(json.dumps(probabilities(model, request["sequences"], request["max_length"], request["padding"])))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    m = commands.add_parser("make")
    m.add_argument("out")
    m.add_argument("--cell", choices=["rnn", "gru", "lstm"], default="gru")
    m.add_argument("--layers", type=int, default=1)
    m.add_argument("--bidirectional", action="store_true")
    m.add_argument("--padding", choices=["none", "pre", "post"], default="none")
    m.add_argument("--pooling", choices=["last", "max", "mean", "attention"], default="last")
    m.add_argument("--max-length", type=int, default=12)
    m.add_argument("--vocab", type=int, default=40)
    m.add_argument("--embed", type=int, default=6)
    m.add_argument("--hidden", type=int, default=5)
    m.add_argument("--classes", type=int, default=3)
    m.add_argument("--seed", type=int, default=1)
    l = commands.add_parser("load")
    l.add_argument("dir")
    args = parser.parse_args()
    make(args) if args.command == "make" else load(args)


if __name__ == "__main__":
    main()
