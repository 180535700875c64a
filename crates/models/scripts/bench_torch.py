#!/usr/bin/env python3
"""PyTorch twin of `models::bench` (`dlab bench`): median training-step time on the CPU.

Same networks, batch, loss and optimizer as crates/models/src/bench.rs; prints the same
`name_ms: value` lines. A step = forward, MSE loss, backward, Adam step (zero_grad(set_to_none)
included in the Adam phase). Compare with burn in the same session, back to back, with the same
thread count:

    python3 crates/models/scripts/bench_torch.py --threads 2
    cargo test -p models bench_report -- --ignored --nocapture

MLP (models::mlp::Mlp): h = W_in x + SiLU(W_emb phi(c)); 4 blocks h <- h + W2 SiLU(W1 SiLU(h));
F = W_out SiLU(h); phi = sinusoidal embedding [cos(c w_k), sin(c w_k)], w_k = 10000^(-k/half).
d = 64, width 512, emb 64, batch 256.
"""
import argparse
import math
import statistics
import time

import torch
from torch import nn

DIM, WIDTH, DEPTH, EMB, BATCH = 64, 512, 4, 64, 256


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


def random_denoising_batch(n, dim, gen):
    """x0 ~ N(0, I), ln sigma ~ N(-1.2, 1.2), x = x0 + sigma eps, c_noise = ln(sigma)/4, target x0."""
    x0 = torch.randn(n, dim, generator=gen)
    eps = torch.randn(n, dim, generator=gen)
    log_sigma = -1.2 + 1.2 * torch.randn(n, generator=gen)
    x = x0 + log_sigma.exp()[:, None] * eps
    return x, log_sigma / 4.0, x0


def ms(t0, t1):
    return (t1 - t0) * 1e3


def mlp_bench(warmup, steps):
    gen = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    model = Mlp(DIM, WIDTH, DEPTH, EMB)
    x, c, target = random_denoising_batch(BATCH, DIM, gen)
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
        ("mlp_train_step_ms", statistics.median(total)),
        ("mlp_forward_ms", statistics.median(fwd)),
        ("mlp_backward_ms", statistics.median(bwd)),
        ("mlp_adam_ms", statistics.median(adam)),
    ]


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=1, help="torch.set_num_threads (match burn's)")
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--steps", type=int, default=30)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    lines = mlp_bench(args.warmup, args.steps)
    lines.append(("threads", float(torch.get_num_threads())))
    for name, value in lines:
        print(f"{name}: {value:.3f}")


if __name__ == "__main__":
    main()
