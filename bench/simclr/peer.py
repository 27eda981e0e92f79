"""bench/simclr peer: the same SimCLR step as the pipeline's TorchSharp trainer, in PyTorch (Debian python3-torch).

Small CNN (conv3x3 no-bias -> BN -> ReLU -> maxpool2, 32 then 64 channels, global mean), projection head 64-128-64,
NT-Xent (t=0.5), AdamW (lr 1e-3, wd 0.01), grad-norm clip 1.0; views by batched RandomResizedCrop (scale 0.2-1,
affine_grid/grid_sample, reflection padding) + horizontal flip + brightness/contrast jitter (p 0.8, strength 0.8x0.8),
as Augmentations.Apply does for grey images. Prints IMAGES_PER_S <x>: source images per second over the timed steps.
usage: peer.py <idx images .gz> <threads> <warmup> <timed> <batch> <images to load>
"""
import gzip, math, struct, sys, time
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

path, threads, warmup, timed, batch, load = sys.argv[1], *map(int, sys.argv[2:7])
torch.set_num_threads(threads)
torch.set_num_interop_threads(1)
with gzip.open(path, "rb") as f:
    _, n, rows, cols = struct.unpack(">iiii", f.read(16))
    n = min(n, load)
    pixels = torch.from_numpy(np.frombuffer(f.read(n * rows * cols), dtype=np.uint8).copy()).reshape(n, 1, rows, cols)


class ConvBn(nn.Module):
    def __init__(self, i, o):
        super().__init__()
        self.conv = nn.Conv2d(i, o, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(o)

    def forward(self, x):
        return F.relu(self.bn(self.conv(x)))


class SmallCnn(nn.Module):
    def __init__(self):
        super().__init__()
        self.blocks = nn.ModuleList([ConvBn(1, 32), ConvBn(32, 64)])

    def forward(self, x):
        for b in self.blocks:
            x = F.max_pool2d(b(x), 2, 2)
        return x.mean((2, 3))


def augment(x, g):
    b = x.shape[0]
    u = torch.rand(b, 5, dtype=torch.float64, generator=g)
    scale = u[:, 0] * 0.8 + 0.2
    ratio = (u[:, 1] * (math.log(4 / 3) - math.log(3 / 4)) + math.log(3 / 4)).exp()
    w = (scale * ratio).sqrt().clamp_max(1.0)
    h = (scale / ratio).sqrt().clamp_max(1.0)
    cx = ((u[:, 2] * (1 - w)) + w / 2) * 2 - 1
    cy = ((u[:, 3] * (1 - h)) + h / 2) * 2 - 1
    flip = torch.where(u[:, 4] < 0.5, -1.0, 1.0).to(torch.float64)
    z = torch.zeros_like(w)
    theta = torch.stack([torch.stack([w * flip, z, cx], 1), torch.stack([z, h, cy], 1)], 1).to(x.dtype)
    x = F.grid_sample(x, F.affine_grid(theta, list(x.shape), align_corners=False), mode="bilinear", padding_mode="reflection", align_corners=False)
    u = torch.rand(b, 4, generator=g)
    apply = (torch.rand(b, generator=g) < 0.8).reshape(-1, 1, 1, 1)
    s = 0.8 * 0.8
    low = max(0.0, 1 - s)
    y = (x * (u[:, 0] * (1 + s - low) + low).reshape(-1, 1, 1, 1)).clamp(0, 1)
    c = (u[:, 1] * (1 + s - low) + low).reshape(-1, 1, 1, 1)
    y = (y * c + y.mean((1, 2, 3), keepdim=True) * (1 - c)).clamp(0, 1)
    return torch.where(apply, y, x)


def nt_xent(z1, z2, t):
    n = z1.shape[0]
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    logits = (z @ z.t() / t).masked_fill(torch.eye(2 * n, dtype=torch.bool), float("-inf"))
    targets = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)])
    return F.cross_entropy(logits, targets)


torch.manual_seed(1)
encoder = SmallCnn()
head = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 64))
params = list(encoder.parameters()) + list(head.parameters())
opt = torch.optim.AdamW(params, lr=1e-3, weight_decay=0.01)
mean, std = 0.286, 0.353
steps = warmup + timed
start = None
for step in range(steps):
    if step == warmup:
        start = time.perf_counter()
        cpu_start = time.process_time()
    order = torch.randperm(n, generator=torch.Generator().manual_seed(7919 + (step * batch) // n))
    idx = order[(step * batch) % n:][:batch]
    if idx.shape[0] < batch:
        idx = torch.cat([idx, order[: batch - idx.shape[0]]])
    images = pixels.index_select(0, idx).float() / 255.0
    g = torch.Generator().manual_seed(1_000_003 + step + 1)
    lr = 1e-3 * min(1.0, (step + 1) / 10) if step < 10 else 1e-3 * 0.5 * (1 + math.cos(math.pi * (step - 10) / max(1, steps - 10)))
    for group in opt.param_groups:
        group["lr"] = lr
    opt.zero_grad()
    views = (torch.cat([augment(images, g), augment(images, g)]) - mean) / std
    z = head(encoder(views))
    loss = nt_xent(z[:batch], z[batch:], 0.5)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(params, 1.0)
    opt.step()
elapsed = time.perf_counter() - start
cpu = time.process_time() - cpu_start
# CPU_IMAGES_PER_S: images per CPU-second of the whole process (all threads), the step's cost without the waiting a
# shared machine adds to wall time.
print(f"IMAGES_PER_S {timed * batch / elapsed:.1f} threads={torch.get_num_threads()} final_loss={loss.item():.4f} torch={torch.__version__} CPU_IMAGES_PER_S {timed * batch / cpu:.1f}")
