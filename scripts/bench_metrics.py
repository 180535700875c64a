#!/usr/bin/env python3
"""Reference timings for the metric benchmarks of `dlab bench` (crates/runner/src/commands/bench.rs),
in numpy/scipy and PyTorch on the CPU; prints the same `name_ms: value` lines.

    python3 scripts/bench_metrics.py --threads 2

frechet_10k_2048_ms: Fréchet distance between two 10 000 × 2048 feature sets the way pytorch-fid
computes it (np.mean, np.cov, scipy.linalg.sqrtm of Σ1·Σ2, its trace), from the features.
frechet_10k_2048_eigh_ms: the same distance through symmetric eigen-decompositions in numpy
(√Σ1, then the eigenvalues of √Σ1 Σ2 √Σ1), the formula dlab uses.
mlp_jacobian_100_ms: the full 64 × 64 Jacobian of the benchmark MLP denoiser (scripts/bench_torch.py's
Mlp: d = 64, width 512, 4 residual blocks, EDM preconditioning) at 100 points, by
torch.func.vmap(jacrev(D)) (reverse mode, one batched pass).
Each is the median over repeats (the Jacobian's after one warm-up).
"""
import argparse
import os
import statistics
import sys
import time


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--repeats", type=int, default=3)
    return parser.parse_args()


ARGS = parse_args()
# BLAS thread counts must be set before numpy loads its BLAS.
for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = str(ARGS.threads)

import numpy as np  # noqa: E402
import scipy.linalg  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_torch import DEPTH, DIM, EMB, WIDTH, Mlp  # noqa: E402

N_FEATURES, FEATURE_DIM = 10_000, 2048
JACOBIAN_POINTS, SIGMA, SIGMA_DATA = 100, 0.5, 0.5


def median_ms(fn, repeats, warmup=True):
    if warmup:
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def feature_sets():
    """Two sets of correlated features (a random mixing of N(0, I)), the second shifted."""
    rng = np.random.default_rng(0)
    mix = rng.standard_normal((FEATURE_DIM, FEATURE_DIM)) / np.sqrt(FEATURE_DIM)
    a = rng.standard_normal((N_FEATURES, FEATURE_DIM)) @ mix
    b = rng.standard_normal((N_FEATURES, FEATURE_DIM)) @ mix + 0.1
    return a, b


def frechet_pytorch_fid(a, b):
    """pytorch-fid's calculate_frechet_distance on the two feature sets' moments."""
    mu1, mu2 = a.mean(axis=0), b.mean(axis=0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = scipy.linalg.sqrtm(s1.dot(s2))
    covmean = covmean.real
    diff = mu1 - mu2
    return diff.dot(diff) + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean)


def frechet_eigh(a, b):
    """tr √(√Σ1 Σ2 √Σ1) through two symmetric eigen-decompositions."""
    mu1, mu2 = a.mean(axis=0), b.mean(axis=0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    w, v = np.linalg.eigh(s1)
    root = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    inner = np.linalg.eigvalsh(root @ s2 @ root)
    diff = mu1 - mu2
    return diff.dot(diff) + np.trace(s1) + np.trace(s2) - 2 * np.sqrt(np.clip(inner, 0, None)).sum()


def edm_denoiser(model):
    """D(x, σ) = c_skip x + c_out F(c_in x, ln σ / 4) (Karras et al. 2022) for one point x."""
    norm = (SIGMA**2 + SIGMA_DATA**2) ** 0.5
    c_skip, c_out, c_in = SIGMA_DATA**2 / norm**2, SIGMA * SIGMA_DATA / norm, 1 / norm
    c_noise = torch.full((1,), float(np.log(SIGMA) / 4))

    def denoise(x):
        return c_skip * x + c_out * model((c_in * x)[None, :], c_noise)[0]

    return denoise


def main():
    torch.set_num_threads(ARGS.threads)
    a, b = feature_sets()
    fid = median_ms(lambda: frechet_pytorch_fid(a, b), ARGS.repeats, warmup=False)
    print(f"frechet_10k_2048_ms: {fid:.3f}")
    eigh = median_ms(lambda: frechet_eigh(a, b), ARGS.repeats, warmup=False)
    print(f"frechet_10k_2048_eigh_ms: {eigh:.3f}")
    torch.manual_seed(0)
    model = Mlp(DIM, WIDTH, DEPTH, EMB)
    points = torch.randn(JACOBIAN_POINTS, DIM)
    jacobians = torch.func.vmap(torch.func.jacrev(edm_denoiser(model)))
    jac_ms = median_ms(lambda: jacobians(points), max(ARGS.repeats, 5))
    print(f"mlp_jacobian_100_ms: {jac_ms:.3f}")
    print(f"threads: {ARGS.threads}")


if __name__ == "__main__":
    main()
