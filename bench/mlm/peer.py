"""bench/mlm peer: the pipeline's MLM training step (MlmTrainer.TrainStep) in PyTorch (Debian python3-torch + OpenBLAS).

Model as src/Pipeline.Training/Models/Text/TextEncoder.cs with its defaults: token + position + token-type embeddings,
pre-LN blocks (fused q/k/v Linear, softmax attention with an additive padding mask, attention dropout 0.1, exact GELU
feed-forward, residual dropout 0.1), final LayerNorm; MLM head dense -> GELU -> LayerNorm -> decoder tied to the word
embedding (+ bias), applied to the chosen positions only; BERT init N(0, 0.02). Masking as MaskingCollator: 15% of
non-special tokens, 80% [MASK] / 10% random / 10% unchanged. AdamW (wd 0.01, none on biases/LayerNorm), clip 1.0,
linear warmup, loss.item() every step. Synthetic full sequences "[CLS] 62 tokens [SEP]" (Zipf-like ids) as MlmBench.
Prints STEPS_PER_S <x>.
usage: peer.py <threads> <warmup> <timed> <batch> <seq> <vocab>
"""
import math, sys, time
import torch
import torch.nn as nn
import torch.nn.functional as F

threads, warmup, timed, batch, seq, vocab = map(int, sys.argv[1:7])
torch.set_num_threads(threads)
torch.set_num_interop_threads(1)
torch.manual_seed(1)
D, LAYERS, HEADS, FF, SPECIAL, MASK_ID = 128, 2, 4, 512, 5, 4


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.qkv, self.out = nn.Linear(D, 3 * D), nn.Linear(D, D)
        self.attention_norm, self.ff_norm = nn.LayerNorm(D, eps=1e-12), nn.LayerNorm(D, eps=1e-12)
        self.ff_in, self.ff_out = nn.Linear(D, FF), nn.Linear(FF, D)
        self.drop = nn.Dropout(0.1)

    def attention(self, x, mask):
        b, t, _ = x.shape
        q, k, v = self.qkv(x).view(b, t, 3, HEADS, D // HEADS).permute(2, 0, 3, 1, 4)
        scores = q @ k.transpose(-2, -1) / math.sqrt(D // HEADS) + mask
        probs = F.dropout(scores.softmax(-1), 0.1, self.training)
        return self.out((probs @ v).transpose(1, 2).reshape(b, t, D))

    def forward(self, x, mask):
        h = x + self.drop(self.attention(self.attention_norm(x), mask))
        return h + self.drop(self.ff_out(F.gelu(self.ff_in(self.ff_norm(h)))))


class Mlm(nn.Module):
    def __init__(self):
        super().__init__()
        self.word, self.pos, self.token_type = nn.Embedding(vocab, D), nn.Embedding(seq, D), nn.Embedding(2, D)
        self.drop = nn.Dropout(0.1)
        self.blocks = nn.ModuleList([Block() for _ in range(LAYERS)])
        self.final_norm = nn.LayerNorm(D, eps=1e-12)
        self.head_dense, self.head_norm = nn.Linear(D, D), nn.LayerNorm(D, eps=1e-12)
        self.decoder_bias = nn.Parameter(torch.zeros(vocab))
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Embedding)):
                nn.init.normal_(m.weight, 0, 0.02)
                if isinstance(m, nn.Linear):
                    nn.init.zeros_(m.bias)

    def forward(self, ids, attention, types, positions):
        mask = ((1.0 - attention.float()) * -1e9)[:, None, None, :]
        x = self.drop(self.word(ids) + self.pos(torch.arange(ids.shape[1])[None]) + self.token_type(types))
        for b in self.blocks:
            x = b(x, mask)
        chosen = self.final_norm(x).reshape(-1, D).index_select(0, positions)
        return F.linear(self.head_norm(F.gelu(self.head_dense(chosen))), self.word.weight, self.decoder_bias)


g = torch.Generator().manual_seed(7)
u = torch.rand(2000, seq - 2, generator=g, dtype=torch.float64)
body = (5 + ((u * math.log(vocab - 5)).exp() - 1).floor().clamp(max=vocab - 6)).long()
data = torch.cat([torch.full((2000, 1), 2), body, torch.full((2000, 1), 3)], 1)
order = torch.randperm(2000, generator=g)


def collate(ids):
    attention = torch.ones_like(ids)
    eligible = ids >= SPECIAL
    chosen = (torch.rand(ids.shape, generator=g) < 0.15) & eligible
    positions = chosen.view(-1).nonzero().squeeze(1)
    labels = ids.view(-1).index_select(0, positions)
    r = torch.rand(positions.shape[0], generator=g)
    inputs = ids.clone().view(-1)
    inputs[positions[r < 0.8]] = MASK_ID
    rnd = positions[(r >= 0.8) & (r < 0.9)]
    inputs[rnd] = torch.randint(SPECIAL, vocab, (rnd.shape[0],), generator=g)
    return inputs.view_as(ids), attention, positions, labels


model = Mlm()
decay = [p for p in model.parameters() if p.dim() >= 2]
no_decay = [p for p in model.parameters() if p.dim() < 2]
opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01}, {"params": no_decay, "weight_decay": 0.0}], lr=5e-4)
types = torch.zeros(batch, seq, dtype=torch.long)
cursor = 0
for step in range(1, warmup + timed + 1):
    if step == warmup + 1:
        start, cpu_start = time.perf_counter(), time.process_time()
    if cursor + batch > 2000:
        cursor = 0
    ids = data.index_select(0, order[cursor:cursor + batch])
    cursor += batch
    inputs, attention, positions, labels = collate(ids)
    for group in opt.param_groups:
        group["lr"] = 5e-4 * min(1.0, step / 10)
    loss = F.cross_entropy(model(inputs, attention, types, positions), labels)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    opt.zero_grad(set_to_none=False)
    last = loss.item()
elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu_start
print(f"STEPS_PER_S {timed / elapsed:.3f} threads={torch.get_num_threads()} cpu_s_per_step={cpu / timed:.4f} final_loss={last:.4f}")
