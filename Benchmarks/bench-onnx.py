#!/usr/bin/env python3
"""ONNX Runtime on the same GRU classifier, for Tools/bench infer's same-run ratio.

    Benchmarks/bench-onnx.py MODEL.rnnk TEXTS.txt [--length 256]

Reads the weights from our model file with this script's own parser of
Artifacts/model-format.md, builds embedding → GRU (linear_before_reset, PyTorch's
variant) → final state → linear → softmax as an ONNX graph, tokenizes the texts
with librnninfer, pads or cuts them to --length tokens (as the PyTorch export
would be fed) and times batch 1 and batch 256 on 1 and 2 threads. Before timing
anything it checks that the graph, given each text's length, classifies 256 texts
as librnninfer does (same argmax, probabilities within 1e-4), and stops if not.
"""
import argparse
import pathlib
import statistics
import struct
import sys
import time

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "Python"))
import rnninfer  # noqa: E402


def read_model(path):
    data = pathlib.Path(path).read_bytes()
    assert data[:8] == b"RNNKMODL", "not an rnnkit model"
    (_major, _minor, _header, _size, meta_offset, meta_size, table_offset, tensor_count, meta_count,
     data_offset) = struct.unpack_from("<HHIQQQQIIQ", data, 8)
    def string(offset):
        (length,) = struct.unpack_from("<I", data, offset)
        return data[offset + 4:offset + 4 + length].decode(), offset + 4 + length
    metadata, offset = {}, meta_offset
    for _ in range(meta_count):
        key, offset = string(offset)
        kind = data[offset]
        offset += 1
        if kind in (1, 2):
            metadata[key] = struct.unpack_from("<q" if kind == 1 else "<d", data, offset)[0]
            offset += 8
        elif kind == 3:
            metadata[key], offset = string(offset)
        elif kind == 4:
            (count,) = struct.unpack_from("<I", data, offset)
            offset += 4
            for _ in range(count):
                _, offset = string(offset)
        else:
            metadata[key] = bool(data[offset])
            offset += 1
    tensors, offset = {}, table_offset
    for _ in range(tensor_count):
        name, offset = string(offset)
        rank = data[offset + 1]
        offset += 4
        shape = struct.unpack_from(f"<{rank}Q", data, offset)
        offset += 8 * rank
        start, size = struct.unpack_from("<QQ", data, offset)
        offset += 16
        tensors[name] = np.frombuffer(data, np.float32, size // 4, data_offset + start).reshape(shape)
    return metadata, tensors


def onnx_graph(metadata, t, lengths=False):
    assert metadata["architecture.cell"] == "gru" and metadata["architecture.layers"] == 1 and not metadata["architecture.bidirectional"]
    H = metadata["architecture.hidden"]
    def zrh(w):  # PyTorch's r, z, n blocks → ONNX's z, r, h
        r, z, n = np.split(w, 3, axis=0)
        return np.concatenate([z, r, n], axis=0)
    W = zrh(t["l0.w_ih"])[None]
    R = zrh(t["l0.w_hh"])[None]
    B = np.concatenate([zrh(t["l0.b_ih"]), zrh(t["l0.b_hh"])])[None]
    initializers = [numpy_helper.from_array(np.ascontiguousarray(a), n) for n, a in
                    (("embedding", t["embedding"]), ("W", W), ("R", R), ("B", B),
                     ("head_w", t["head.weight"]), ("head_b", t["head.bias"]))]
    nodes = [
        helper.make_node("Gather", ["embedding", "ids"], ["embedded"]),            # [batch, time, E]
        helper.make_node("Transpose", ["embedded"], ["time_major"], perm=[1, 0, 2]),
        helper.make_node("GRU", ["time_major", "W", "R", "B"] + (["lengths"] if lengths else []), ["", "h"], hidden_size=H,
                         linear_before_reset=1),
        helper.make_node("Squeeze", ["h", "axis0"], ["final"]),
        helper.make_node("Gemm", ["final", "head_w", "head_b"], ["logits"], transB=1),
        helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1),
    ]
    initializers.append(numpy_helper.from_array(np.array([0], np.int64), "axis0"))
    inputs = [helper.make_tensor_value_info("ids", TensorProto.INT64, ["batch", "time"])]
    if lengths:
        inputs.append(helper.make_tensor_value_info("lengths", TensorProto.INT32, ["batch"]))
    graph = helper.make_graph(nodes, "rnnkit_gru", inputs,
                              [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", metadata["architecture.classes"]])],
                              initializers)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


def assert_agreement(model_path, metadata, tensors, lines):
    """ONNX Runtime, given each text's length, classifies as librnninfer does: the graph and the weights
    read here are the model's, so the timings below compare the same computation."""
    session = ort.InferenceSession(onnx_graph(metadata, tensors, lengths=True).SerializeToString(),
                                   providers=["CPUExecutionProvider"])
    with rnninfer.Model(model_path) as ours:
        texts = lines[:256]
        ids = [ours.tokenize(text) for text in texts]
        expected = np.array([ours.classify(text)[1] for text in texts], np.float32)
    width = max(1, max(len(row) for row in ids))
    padded = np.zeros((len(ids), width), np.int64)
    for i, row in enumerate(ids):
        padded[i, :len(row)] = row
    lengths = np.array([len(row) for row in ids], np.int32)
    (actual,) = session.run(None, {"ids": padded, "lengths": lengths})
    worst = float(np.abs(actual - expected).max())
    agree = int((actual.argmax(1) == expected.argmax(1)).sum())
    print(f"agreement with librnninfer on {len(texts)} texts: argmax {agree}/{len(texts)}, max |Δp| = {worst:.2e}")
    if agree != len(texts) or worst > 1e-4:
        sys.exit("bench-onnx: ONNX Runtime and librnninfer disagree; the timings would compare different computations")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("model")
    parser.add_argument("texts")
    parser.add_argument("--length", type=int, default=256)
    args = parser.parse_args()
    metadata, tensors = read_model(args.model)
    model = onnx_graph(metadata, tensors).SerializeToString()
    lines = pathlib.Path(args.texts).read_text(encoding="utf-8", errors="replace").splitlines()
    assert_agreement(args.model, metadata, tensors, lines)
    with rnninfer.Model(args.model) as ours:
        ids = [ours.tokenize(line)[:args.length] for line in lines]
        tokenize_start = time.perf_counter()
        for line in lines[:2000]:
            ours.tokenize(line)
        tokenize_ms = (time.perf_counter() - tokenize_start) / min(len(lines), 2000) * 1e3
    padded = np.zeros((len(ids), args.length), np.int64)
    for i, row in enumerate(ids):
        padded[i, :len(row)] = row
    print(f"onnxruntime {ort.__version__}, GRU padded to {args.length} tokens; tokenization (librnninfer via Python) "
          f"adds {tokenize_ms:.3f} ms per text")
    for threads in (1, 2):
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
        single = min(len(ids), 2000)
        for i in range(50):
            session.run(None, {"ids": padded[i:i + 1]})
        latencies = []
        for i in range(single):
            start = time.perf_counter()
            session.run(None, {"ids": padded[i:i + 1]})
            latencies.append(time.perf_counter() - start)
        latencies.sort()
        start = time.perf_counter()
        for i in range(0, len(ids), 256):
            session.run(None, {"ids": padded[i:i + 256]})
        batch = len(ids) / (time.perf_counter() - start)
        print(f"onnxruntime {threads} thread{'s' if threads > 1 else ''}: batch 1 median {statistics.median(latencies) * 1e3:.3f} ms, "
              f"p99 {latencies[int(len(latencies) * 0.99)] * 1e3:.3f} ms, {single / sum(latencies):.0f} texts/s (model only); "
              f"batch 256 {batch:.0f} texts/s")


if __name__ == "__main__":
    main()
