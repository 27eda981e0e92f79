"""PyTorch eager peer for bench/onnx: the same encoder (weights read from encoder.onnx), same inputs, same threads.

usage: torch_peer.py <outDir> <threads>   (outDir as written by OnnxBench)
"""
import math
import statistics
import sys
import time

import numpy as np
import onnx
import torch
from onnx import numpy_helper

out_dir, threads = sys.argv[1], int(sys.argv[2])
torch.set_num_threads(threads)
model = onnx.load(f"{out_dir}/encoder.onnx")
W = {t.name: torch.from_numpy(numpy_helper.to_array(t).copy()) for t in model.graph.initializer}
meta = {p.key: p.value for p in model.metadata_props}
hidden = int(meta["hidden"])
heads = 4  # TextEncoderConfig default, as OnnxBench exports
pre_ln = "final_norm.weight" in W
layers = len({k.split(".")[1] for k in W if k.startswith("blocks.")})
eps = 1e-12


def ln(x, name):
    return torch.nn.functional.layer_norm(x, (hidden,), W[name + ".weight"], W[name + ".bias"], eps)


def linear(x, name):  # weights are stored [in, out] for MatMul
    return x @ W[name + ".weight"] + W[name + ".bias"]


def attention(x, mask, p):
    b, t, _ = x.shape
    qkv = linear(x, p + ".qkv").view(b, t, 3, heads, hidden // heads).permute(2, 0, 3, 1, 4)
    scores = qkv[0] @ qkv[1].transpose(-1, -2) / math.sqrt(hidden // heads) + mask
    return linear((scores.softmax(-1) @ qkv[2]).transpose(1, 2).reshape(b, t, hidden), p + ".output")


def ff(x, p):
    return linear(torch.nn.functional.gelu(linear(x, p + ".ff_in")), p + ".ff_out")


def encode(ids, mask, types):
    add_mask = (1.0 - mask.float())[:, None, None, :] * -1e9
    t = ids.shape[1]
    x = W["embeddings.word_embeddings.weight"][ids] + W["embeddings.position_embeddings.weight"][:t] + W["embeddings.token_type_embeddings.weight"][types]
    if not pre_ln:
        x = ln(x, "embeddings.layer_norm")
    for i in range(layers):
        p = f"blocks.{i}"
        if pre_ln:
            x = x + attention(ln(x, p + ".attention_norm"), add_mask, p + ".attention")
            x = x + ff(ln(x, p + ".ff_norm"), p)
        else:
            x = ln(x + attention(x, add_mask, p + ".attention"), p + ".attention_norm")
            x = ln(x + ff(x, p), p + ".ff_norm")
    if pre_ln:
        x = ln(x, "final_norm")
    m = mask.float().unsqueeze(-1)
    return x, (x * m).sum(1) / m.sum(1).clamp_min(1e-9)


for b in (1, 32):
    rows = [np.array(line.split(), dtype=np.int64) for line in open(f"{out_dir}/inputs-b{b}.txt")]
    ids, mask, types = (torch.from_numpy(r.reshape(b, -1)) for r in rows)
    expected = np.array(open(f"{out_dir}/expected-b{b}.txt").read().split(), dtype=np.float32).reshape(b, hidden)
    with torch.no_grad():
        _, pooled = encode(ids, mask, types)
        diff = float(np.abs(pooled.numpy() - expected).max())
        for _ in range(5):
            encode(ids, mask, types)
        samples = []
        start = time.perf_counter()
        while len(samples) < 10 or (time.perf_counter() - start < 3 and len(samples) < 500):
            s = time.perf_counter()
            encode(ids, mask, types)
            samples.append((time.perf_counter() - s) * 1000)
    print(f"pytorch threads={threads} batch={b} seq={ids.shape[1]} pytorch_ms={statistics.median(samples):.3f} max_abs_diff_vs_torchsharp={diff:.3g} torch={torch.__version__}")
