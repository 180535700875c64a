#!/usr/bin/env python3
"""Reference Fréchet distances for the tests in crates/metrics/src/frechet.rs.

Regenerates the deterministic, formula-based sample sets used by those tests (no RNG is
shared between Rust and Python) and evaluates the pytorch-fid formula
(`calculate_frechet_distance`, Heusel et al. 2017) with `scipy.linalg.sqrtm`:

    FD = |mu1 - mu2|^2 + tr(S1) + tr(S2) - 2 tr((S1 S2)^{1/2})

Usage: python3 scripts/frechet_reference.py   (needs numpy and scipy)
"""
import warnings

import numpy as np
from scipy import linalg


def set_a(n, d):
    """x_ij = sin(0.9 (j+1) i + 0.3 j) + 0.1 cos(0.37 (i+1)(j+2))."""
    i = np.arange(n, dtype=np.float64)[:, None]
    j = np.arange(d, dtype=np.float64)[None, :]
    return np.sin(0.9 * (j + 1.0) * i + 0.3 * j) + 0.1 * np.cos(0.37 * (i + 1.0) * (j + 2.0))


def set_b(n, d):
    """y_ij = (1 + 0.1 j) cos(1.1 (j+1) i + 0.5 j) + 0.2 + 0.05 j."""
    i = np.arange(n, dtype=np.float64)[:, None]
    j = np.arange(d, dtype=np.float64)[None, :]
    return (1.0 + 0.1 * j) * np.cos(1.1 * (j + 1.0) * i + 0.5 * j) + 0.2 + 0.05 * j


def calculate_frechet_distance(mu1, sigma1, mu2, sigma2, eps=1e-6):
    """The pytorch-fid implementation (mseitzer/pytorch-fid, fid_score.py)."""
    diff = mu1 - mu2
    with warnings.catch_warnings():  # `disp` is deprecated in SciPy >= 1.16
        warnings.simplefilter("ignore", DeprecationWarning)
        covmean, _ = linalg.sqrtm(sigma1.dot(sigma2), disp=False)
    if not np.isfinite(covmean).all():
        offset = np.eye(sigma1.shape[0]) * eps
        covmean = linalg.sqrtm((sigma1 + offset).dot(sigma2 + offset))
    if np.iscomplexobj(covmean):
        covmean = covmean.real
    return diff.dot(diff) + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean)


def eigen_trace_sqrt(sigma1, sigma2):
    """tr((S1 S2)^{1/2}) through symmetric eigen-decompositions (the Rust method)."""
    w, u = np.linalg.eigh(sigma1)
    s = (u * np.sqrt(np.clip(w, 0, None))) @ u.T
    m = s @ sigma2 @ s
    return np.sqrt(np.clip(np.linalg.eigvalsh((m + m.T) / 2), 0, None)).sum()


def stats(x):
    return x.mean(axis=0), np.cov(x, rowvar=False)


for name, (na, nb, d) in {"well_conditioned_200x8": (200, 200, 8),
                          "singular_10x16": (10, 10, 16),
                          "unequal_n_300_150x5": (300, 150, 5)}.items():
    mu1, s1 = stats(set_a(na, d))
    mu2, s2 = stats(set_b(nb, d))
    fd = calculate_frechet_distance(mu1, s1, mu2, s2)
    diff = mu1 - mu2
    fd_eig = diff.dot(diff) + np.trace(s1) + np.trace(s2) - 2 * eigen_trace_sqrt(s1, s2)
    print(f"{name}: scipy sqrtm FD = {fd:.15e}   eigen FD = {fd_eig:.15e}   "
          f"rank S1 = {np.linalg.matrix_rank(s1)}")
