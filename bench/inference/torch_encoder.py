"""PyTorch peer for bench/inference: builds the mini-BERT text encoder (d128, 2 pre-LN layers, 4 heads, FF 512,
masked-mean pooling; seeded random weights), exports it to ONNX with the pipeline's input/output names, and times
PyTorch eager on the same inputs the C# side uses.

usage: torch_encoder.py <outDir> <vocabSize> <threads> [<threads2> ...]
writes: <outDir>/encoder.onnx, <outDir>/torch.json ({"threads": {"1": {"b1": ms, "b32": ms}}, "expected_b1": [...]})
"""
import json
import math
import statistics
import sys
import time

import torch

out_dir, vocab = sys.argv[1], int(sys.argv[2])
thread_counts = [int(t) for t in sys.argv[3:]] or [1]
HIDDEN, LAYERS, HEADS, FF, POSITIONS, SEQ = 128, 2, 4, 512, 128, 64
torch.manual_seed(1234)


class Block(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.ln1 = torch.nn.LayerNorm(HIDDEN, eps=1e-12)
        self.qkv = torch.nn.Linear(HIDDEN, 3 * HIDDEN)
        self.out = torch.nn.Linear(HIDDEN, HIDDEN)
        self.ln2 = torch.nn.LayerNorm(HIDDEN, eps=1e-12)
        self.ff_in = torch.nn.Linear(HIDDEN, FF)
        self.ff_out = torch.nn.Linear(FF, HIDDEN)

    def forward(self, x, additive_mask):
        b, t, _ = x.shape
        qkv = self.qkv(self.ln1(x)).view(b, t, 3, HEADS, HIDDEN // HEADS).permute(2, 0, 3, 1, 4)
        scores = qkv[0] @ qkv[1].transpose(-1, -2) / math.sqrt(HIDDEN // HEADS) + additive_mask
        attended = (scores.softmax(-1) @ qkv[2]).transpose(1, 2).reshape(b, t, HIDDEN)
        x = x + self.out(attended)
        return x + self.ff_out(torch.nn.functional.gelu(self.ff_in(self.ln2(x))))


class Encoder(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.word = torch.nn.Embedding(vocab, HIDDEN)
        self.position = torch.nn.Embedding(POSITIONS, HIDDEN)
        self.token_type = torch.nn.Embedding(2, HIDDEN)
        for e in (self.word, self.position, self.token_type):
            torch.nn.init.normal_(e.weight, std=0.02)
        self.blocks = torch.nn.ModuleList([Block() for _ in range(LAYERS)])
        self.final = torch.nn.LayerNorm(HIDDEN, eps=1e-12)

    def forward(self, input_ids, attention_mask, token_type_ids):
        t = input_ids.shape[1]
        positions = torch.arange(t, device=input_ids.device).unsqueeze(0)
        x = self.word(input_ids) + self.position(positions) + self.token_type(token_type_ids)
        additive = (1.0 - attention_mask.float())[:, None, None, :] * -1e9
        for block in self.blocks:
            x = block(x, additive)
        x = self.final(x)
        m = attention_mask.float().unsqueeze(-1)
        return x, (x * m).sum(1) / m.sum(1).clamp_min(1e-9)


def inputs(batch):
    # The same deterministic ids as the C# bench: [CLS] body [SEP], all SEQ long.
    ids = torch.tensor([[2] + [5 + (b * 31 + j * 7) % (vocab - 5) for j in range(SEQ - 2)] + [3] for b in range(batch)], dtype=torch.int64)
    return ids, torch.ones_like(ids), torch.zeros_like(ids)


model = Encoder().eval()
with torch.no_grad():
    torch.onnx.export(
        model, inputs(2), f"{out_dir}/encoder.onnx", opset_version=17,
        input_names=["input_ids", "attention_mask", "token_type_ids"],
        output_names=["last_hidden_state", "sentence_embedding"],
        dynamic_axes={"input_ids": {0: "batch", 1: "sequence"}, "attention_mask": {0: "batch", 1: "sequence"},
                      "token_type_ids": {0: "batch", 1: "sequence"}, "last_hidden_state": {0: "batch", 1: "sequence"},
                      "sentence_embedding": {0: "batch"}})

result = {"threads": {}, "torch": torch.__version__}
with torch.no_grad():
    result["expected_b1"] = model(*inputs(1))[1][0].tolist()
    for threads in thread_counts:
        torch.set_num_threads(threads)
        timings = {}
        for batch in (1, 32):
            args = inputs(batch)
            for _ in range(5):
                model(*args)
            samples, start = [], time.perf_counter()
            while len(samples) < 10 or (time.perf_counter() - start < 3 and len(samples) < 1000):
                s = time.perf_counter()
                model(*args)
                samples.append((time.perf_counter() - s) * 1000)
            timings[f"b{batch}"] = statistics.median(samples)
        result["threads"][str(threads)] = timings
        print(f"pytorch eager threads={threads} seq={SEQ} b1={timings['b1']:.3f} ms b32={timings['b32']:.3f} ms (torch {torch.__version__})")

json.dump(result, open(f"{out_dir}/torch.json", "w"))
