#!/usr/bin/env python3
"""PyTorch twin of `models::bench` (`dlab bench`): median training-step time on the CPU.

Same networks, batch, loss and optimizer as crates/models/src/bench.rs; prints the same
`name_ms: value` lines. A step = forward, MSE loss, backward, Adam step (zero_grad(set_to_none)
included in the Adam phase). Compare with burn in the same session, back to back, with the same
thread count:

    python3 scripts/bench_torch.py --threads 2
    cargo test -p models bench_report -- --ignored --nocapture

MLP (models::mlp::Mlp): h = W_in x + SiLU(W_emb phi(c)); 4 blocks h <- h + W2 SiLU(W1 SiLU(h));
F = W_out SiLU(h); phi = sinusoidal embedding [cos(c w_k), sin(c w_k)], w_k = 10000^(-k/half).
d = 64, width 512, emb 64, batch 256.

UNet (models::unet::UNet, UNetConfig::new(1, 8, 8)): 1x8x8 images, base 32, mults [1, 2], one
residual block per level, single-head self-attention at 4x4, GroupNorm(8), emb 64, batch 128.
"""
import argparse
import math
import statistics
import time

import torch
from torch import nn

DIM, WIDTH, DEPTH, EMB, BATCH = 64, 512, 4, 64, 256
UNET_BATCH = 128


def sinusoidal_embedding(c, emb_dim):
    half = emb_dim // 2
    k = torch.arange(half, dtype=torch.float32)
    omega = torch.pow(torch.tensor(10000.0), -k / half)
    angles = c[:, None] * omega[None, :]
    return torch.cat([angles.cos(), angles.sin()], dim=1)


class ResBlock(nn.Module):
    def __init__(self, width):
        super().__init__()
        self.lin1 = nn.Linear(width, width)
        self.lin2 = nn.Linear(width, width)

    def forward(self, h):
        return h + self.lin2(nn.functional.silu(self.lin1(nn.functional.silu(h))))


class Mlp(nn.Module):
    def __init__(self, dim, width, depth, emb_dim):
        super().__init__()
        self.emb_dim = emb_dim
        self.input = nn.Linear(dim, width)
        self.embed = nn.Linear(emb_dim, width)
        self.blocks = nn.ModuleList([ResBlock(width) for _ in range(depth)])
        self.output = nn.Linear(width, dim)

    def forward(self, x, c_noise):
        h = self.input(x) + nn.functional.silu(self.embed(sinusoidal_embedding(c_noise, self.emb_dim)))
        for block in self.blocks:
            h = block(h)
        return self.output(nn.functional.silu(h))


class UNetResBlock(nn.Module):
    """skip(x) + Conv2(SiLU(GN2(Conv1(SiLU(GN1(x))) + W_e e)))."""

    def __init__(self, c_in, c_out, emb_dim, groups):
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, c_in)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.emb_proj = nn.Linear(emb_dim, c_out)
        self.norm2 = nn.GroupNorm(groups, c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1)
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else None

    def forward(self, x, emb):
        silu = nn.functional.silu
        h = self.conv1(silu(self.norm1(x)))
        h = h + self.emb_proj(emb)[:, :, None, None]
        h = self.conv2(silu(self.norm2(h)))
        return (x if self.skip is None else self.skip(x)) + h


class SelfAttention(nn.Module):
    """x + W_o V softmax(Q^T K / sqrt(c))^T, Q, K, V = 1x1 convs of GN(x)."""

    def __init__(self, c, groups):
        super().__init__()
        self.norm = nn.GroupNorm(groups, c)
        self.q, self.k, self.v, self.proj = (nn.Conv2d(c, c, 1) for _ in range(4))

    def forward(self, x):
        n, c, h, w = x.shape
        hn = self.norm(x)
        q, k, v = (m(hn).reshape(n, c, h * w) for m in (self.q, self.k, self.v))
        a = torch.softmax(q.transpose(1, 2) @ k / math.sqrt(c), dim=2)
        out = (v @ a.transpose(1, 2)).reshape(n, c, h, w)
        return x + self.proj(out)


class UNet(nn.Module):
    def __init__(self, channels=1, size=8, base=32, mults=(1, 2), groups=8, emb_dim=64):
        super().__init__()
        self.channels, self.size, self.emb_dim = channels, size, emb_dim
        self.emb1 = nn.Linear(emb_dim, emb_dim)
        self.emb2 = nn.Linear(emb_dim, emb_dim)
        self.conv_in = nn.Conv2d(channels, base, 3, padding=1)
        self.down, self.downsample = nn.ModuleList(), nn.ModuleList()
        ch, skips = base, []
        for level, m in enumerate(mults):
            self.down.append(UNetResBlock(ch, base * m, emb_dim, groups))
            ch = base * m
            skips.append(ch)
            if level + 1 < len(mults):
                self.downsample.append(nn.Conv2d(ch, ch, 3, stride=2, padding=1))
        self.mid1 = UNetResBlock(ch, ch, emb_dim, groups)
        self.attention = SelfAttention(ch, groups)
        self.mid2 = UNetResBlock(ch, ch, emb_dim, groups)
        self.up, self.upsample = nn.ModuleList(), nn.ModuleList()
        for level in reversed(range(len(mults))):
            out = base * mults[level]
            self.up.append(UNetResBlock(ch + skips[level], out, emb_dim, groups))
            ch = out
            if level > 0:
                self.upsample.append(nn.Conv2d(ch, ch, 3, padding=1))
        self.norm_out = nn.GroupNorm(groups, ch)
        self.conv_out = nn.Conv2d(ch, channels, 3, padding=1)

    def forward(self, x, c_noise):
        silu = nn.functional.silu
        n = x.shape[0]
        emb = silu(self.emb2(silu(self.emb1(sinusoidal_embedding(c_noise, self.emb_dim)))))
        h = self.conv_in(x.reshape(n, self.channels, self.size, self.size))
        skips = []
        for level, block in enumerate(self.down):
            h = block(h, emb)
            skips.append(h)
            if level < len(self.downsample):
                h = self.downsample[level](h)
        h = self.mid2(self.attention(self.mid1(h, emb)), emb)
        for i, block in enumerate(self.up):
            h = block(torch.cat([h, skips.pop()], dim=1), emb)
            if i < len(self.upsample):
                h = self.upsample[i](nn.functional.interpolate(h, scale_factor=2, mode="nearest"))
        return self.conv_out(silu(self.norm_out(h))).reshape(n, -1)


def random_denoising_batch(n, dim, gen):
    """x0 ~ N(0, I), ln sigma ~ N(-1.2, 1.2), x = x0 + sigma eps, c_noise = ln(sigma)/4, target x0."""
    x0 = torch.randn(n, dim, generator=gen)
    eps = torch.randn(n, dim, generator=gen)
    log_sigma = -1.2 + 1.2 * torch.randn(n, generator=gen)
    x = x0 + log_sigma.exp()[:, None] * eps
    return x, log_sigma / 4.0, x0


def ms(t0, t1):
    return (t1 - t0) * 1e3


def train_step_bench(prefix, model, batch, warmup, steps):
    """Median times of the step and its phases: forward + MSE, backward, Adam."""
    x, c, target = batch
    optim = torch.optim.Adam(model.parameters(), lr=1e-3)
    total, fwd, bwd, adam = [], [], [], []
    for i in range(warmup + steps):
        t0 = time.perf_counter()
        loss = ((model(x, c) - target) ** 2).mean()
        t1 = time.perf_counter()
        loss.backward()
        _ = loss.item()
        t2 = time.perf_counter()
        optim.step()
        optim.zero_grad(set_to_none=True)
        t3 = time.perf_counter()
        if i >= warmup:
            total.append(ms(t0, t3))
            fwd.append(ms(t0, t1))
            bwd.append(ms(t1, t2))
            adam.append(ms(t2, t3))
    return [
        (f"{prefix}_train_step_ms", statistics.median(total)),
        (f"{prefix}_forward_ms", statistics.median(fwd)),
        (f"{prefix}_backward_ms", statistics.median(bwd)),
        (f"{prefix}_adam_ms", statistics.median(adam)),
    ]


def mlp_bench(warmup, steps):
    gen = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    model = Mlp(DIM, WIDTH, DEPTH, EMB)
    return train_step_bench("mlp", model, random_denoising_batch(BATCH, DIM, gen), warmup, steps)


def unet_bench(warmup, steps):
    gen = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    model = UNet()
    batch = random_denoising_batch(UNET_BATCH, 64, gen)
    return train_step_bench("unet", model, batch, warmup, steps)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=1, help="torch.set_num_threads (match burn's)")
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--steps", type=int, default=30)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    lines = mlp_bench(args.warmup, args.steps) + unet_bench(args.warmup, args.steps)
    lines.append(("threads", float(torch.get_num_threads())))
    for name, value in lines:
        print(f"{name}: {value:.3f}")


if __name__ == "__main__":
    main()
