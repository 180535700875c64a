#!/usr/bin/env python3
"""Writes the fixtures that check the importer of diffusers `UNet2DModel` folders against diffusers.

Needs torch, numpy, diffusers and safetensors (not the product path: only this script uses
diffusers); no network access (the models are built from hand-written configs with random
weights, nothing is fetched from the HF hub):

    python3 -m venv /tmp/torch && /tmp/torch/bin/pip install torch numpy diffusers safetensors
    /tmp/torch/bin/python scripts/diffusers_fixtures.py

Every model gets random weights from torch.manual_seed, then every parameter is perturbed with
seeded noise (0.05·N(0,1) on 1-d tensors: GroupNorm weights/biases, which default to 1/0, and
all biases; 0.1/sqrt(fan_in)·N(0,1) on weight matrices and kernels) so that every tensor
matters in the output (with --check the script verifies that by perturbing each tensor in
turn; only the attention `to_k.bias` tensors cannot matter, softmax being shift-invariant).

Writes into crates/models/tests/fixtures/diffusers/:
  ddpm_small/           google/ddpm-cifar10-32's block structure at width [16, 32, 32, 32]
                        (the original's 1:2:2:2 ratio; [32, 64, 64, 64] would be 9 MB of f32),
                        sample_size 16, norm_num_groups 8, attention_head_dim None (1 head)
    config.json, diffusion_pytorch_model.safetensors   model.save_pretrained(safe_serialization)
    scheduler_config.json  DDPMScheduler: linear betas 1e-4..0.02 over 1000 steps, epsilon,
                           clip_sample, fixed_large
    input.npy       float32 3×3×16×16, seeded N(0,1)
    timesteps.npy   float32 [0, 537.25, 999] (passed to the model as a float tensor of shape 3)
    output.npy      float32 3×3×16×16 = model(input, timesteps).sample, float32
    ddim_z.npy      float32 2×3×16×16, seeded N(0,1): the initial x (init_noise_sigma = 1)
    ddim_timesteps.npy  int64 [900, 800, ..., 0]: DDIMScheduler(linear 1e-4..0.02, 1000 steps,
                        clip_sample False, set_alpha_to_one, steps_offset 0, "leading",
                        epsilon).set_timesteps(10)
    ddim_out.npy    float64 2×3×16×16: x after `eps = model(x, t).sample;
                    x = scheduler.step(eps, t, x, eta=0).prev_sample` over those timesteps,
                    run with model.double() and x in float64 (diffusers still computes the
                    sinusoidal timestep embedding in float32 and keeps alphas_cumprod in float32)
  three_level/          sample_size 8, 1 channel, [16, 32, 48], layers_per_block 1,
                        Down, Down, AttnDown / AttnUp, Up, Up, resnet_time_scale_shift
                        "scale_shift", flip_sin_to_cos, freq_shift 0, downsample_padding 1,
                        attention_head_dim 8, center_input_sample; no scheduler config
    config.json, diffusion_pytorch_model.safetensors, input.npy, timesteps.npy, output.npy
  three_level_fp16/     the same model saved with model.half(); output.npy is computed in
                        float32 with the fp16-rounded weights (model.half().float())
  ddpm_cifar10_32_config.json  google/ddpm-cifar10-32's UNet config, written by hand (the
                        script asserts it builds a model of 35,746,307 parameters)
  images16.npz          arr_0: 48 RGB 16×16 uint8 images (smooth coloured discs on gradients,
                        seeded): the data of experiments/pretrained_ddpm.toml's smoke profile
  README.md             this list and the diffusers / torch versions used
"""
import argparse
import copy
import json
import math
import pathlib
import shutil

import numpy as np
import torch

import diffusers
from diffusers import DDIMScheduler, DDPMScheduler, UNet2DModel

ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT = ROOT / "crates/models/tests/fixtures/diffusers"

TIMESTEPS = [0.0, 537.25, 999.0]

DDPM_CIFAR10_32 = {
    "_class_name": "UNet2DModel",
    "act_fn": "silu",
    "attention_head_dim": None,
    "block_out_channels": [128, 256, 256, 256],
    "center_input_sample": False,
    "down_block_types": ["DownBlock2D", "AttnDownBlock2D", "DownBlock2D", "DownBlock2D"],
    "downsample_padding": 0,
    "flip_sin_to_cos": False,
    "freq_shift": 1,
    "in_channels": 3,
    "layers_per_block": 2,
    "mid_block_scale_factor": 1,
    "norm_eps": 1e-06,
    "norm_num_groups": 32,
    "out_channels": 3,
    "sample_size": 32,
    "time_embedding_type": "positional",
    "up_block_types": ["UpBlock2D", "AttnUpBlock2D", "UpBlock2D", "UpBlock2D"],
}
DDPM_CIFAR10_32_PARAMS = 35_746_307

DDPM_SMALL = dict(
    sample_size=16, in_channels=3, out_channels=3,
    block_out_channels=[16, 32, 32, 32], layers_per_block=2,
    down_block_types=["DownBlock2D", "AttnDownBlock2D", "DownBlock2D", "DownBlock2D"],
    up_block_types=["UpBlock2D", "AttnUpBlock2D", "UpBlock2D", "UpBlock2D"],
    flip_sin_to_cos=False, freq_shift=1, downsample_padding=0, norm_num_groups=8, norm_eps=1e-6,
    act_fn="silu", attention_head_dim=None, center_input_sample=False,
    time_embedding_type="positional", resnet_time_scale_shift="default",
    mid_block_scale_factor=1, dropout=0.0,
)

THREE_LEVEL = dict(
    sample_size=8, in_channels=1, out_channels=1,
    block_out_channels=[16, 32, 48], layers_per_block=1,
    down_block_types=["DownBlock2D", "DownBlock2D", "AttnDownBlock2D"],
    up_block_types=["AttnUpBlock2D", "UpBlock2D", "UpBlock2D"],
    resnet_time_scale_shift="scale_shift", flip_sin_to_cos=True, freq_shift=0,
    downsample_padding=1, norm_num_groups=8, attention_head_dim=8, center_input_sample=True,
    time_embedding_type="positional", act_fn="silu", norm_eps=1e-6, dropout=0.0,
)


def build(config, seed):
    torch.manual_seed(seed)
    model = UNet2DModel(**config).eval()
    gen = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for p in model.parameters():
            if p.ndim == 1:
                scale = 0.05
            else:
                scale = 0.1 / math.sqrt(p[0].numel())
            p.add_(scale * torch.randn(p.shape, generator=gen, dtype=p.dtype))
    return model


def forward(model, x, t):
    with torch.no_grad():
        return model(x, t).sample


def check_every_tensor_matters(model, x, t):
    """Perturbs each parameter in turn; the output must move.

    Exempt: attention `to_k.bias`, which cannot change the output (it adds q·b_k to every
    score of a query row, and softmax ignores a per-row constant)."""
    base = forward(model, x, t)
    gen = torch.Generator().manual_seed(7)
    dead = []
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("to_k.bias"):
                continue
            saved = p.clone()
            p.add_(0.1 * torch.randn(p.shape, generator=gen, dtype=p.dtype))
            change = (forward(model, x, t) - base).abs().max().item()
            p.copy_(saved)
            if change < 1e-5:
                dead.append((name, change))
    assert not dead, f"tensors with no effect on the output: {dead}"


def write_io(model, folder, gen, shape):
    x = torch.randn(shape, generator=gen)
    t = torch.tensor(TIMESTEPS, dtype=torch.float32)
    y = forward(model, x, t)
    np.save(folder / "input.npy", x.numpy().astype("<f4"))
    np.save(folder / "timesteps.npy", t.numpy().astype("<f4"))
    np.save(folder / "output.npy", y.numpy().astype("<f4"))
    return x, t, y


def ddim(model, folder, gen):
    scheduler = DDIMScheduler(
        num_train_timesteps=1000, beta_schedule="linear", beta_start=1e-4, beta_end=0.02,
        clip_sample=False, set_alpha_to_one=True, steps_offset=0, timestep_spacing="leading",
        prediction_type="epsilon")
    scheduler.set_timesteps(10)
    assert scheduler.init_noise_sigma == 1.0
    z = torch.randn((2, 3, 16, 16), generator=gen)
    m64 = copy.deepcopy(model).double().eval()
    x = z.double()
    with torch.no_grad():
        for t in scheduler.timesteps:
            eps = m64(x, t).sample
            x = scheduler.step(eps, t, x, eta=0.0).prev_sample
    assert x.dtype == torch.float64
    np.save(folder / "ddim_z.npy", z.numpy().astype("<f4"))
    np.save(folder / "ddim_timesteps.npy", scheduler.timesteps.numpy().astype("<i8"))
    np.save(folder / "ddim_out.npy", x.numpy().astype("<f8"))
    return scheduler.timesteps.tolist()


def tiny_images(rng, n, size=16):
    """n RGB size×size uint8 images: a coloured disc over a linear colour gradient."""
    ys, xs = np.mgrid[0:size, 0:size] / (size - 1)
    images = []
    for _ in range(n):
        a, b = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
        image = a * (1 - xs[..., None]) + b * ys[..., None] * 0.5 + 0.25 * b
        cy, cx, r = rng.uniform(0.2, 0.8), rng.uniform(0.2, 0.8), rng.uniform(0.15, 0.35)
        disc = ((ys - cy) ** 2 + (xs - cx) ** 2) < r * r
        image[disc] = rng.uniform(0, 255, 3)
        images.append(np.clip(image, 0, 255).astype(np.uint8))
    return np.stack(images)


def fresh(folder):
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    return folder


def readme(versions):
    doc = __doc__.split("Writes into ")[1]
    return (
        "# diffusers UNet2DModel fixtures\n\n"
        "Written by `scripts/diffusers_fixtures.py` (random weights, no download); "
        f"{versions}.\n\n"
        "All `.npy` files are little-endian, C order. `input`/`output` are N×C×H×W with N = 3; "
        "`timesteps.npy` is the float timestep of each batch element.\n\n"
        "```\n" + doc.split("\n", 1)[1].rstrip() + "\n```\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="also check that every tensor affects the output (minutes of CPU)")
    args = parser.parse_args()
    torch.set_num_threads(2)
    OUT.mkdir(parents=True, exist_ok=True)

    # 1, 4, 5: ddpm_small
    small = build(DDPM_SMALL, 1)
    folder = fresh(OUT / "ddpm_small")
    small.save_pretrained(folder, safe_serialization=True)
    DDPMScheduler(
        num_train_timesteps=1000, beta_schedule="linear", beta_start=0.0001, beta_end=0.02,
        prediction_type="epsilon", clip_sample=True, variance_type="fixed_large",
    ).save_config(folder)
    gen = torch.Generator().manual_seed(20261210)
    x, t, y = write_io(small, folder, gen, (3, 3, 16, 16))
    if args.check:
        check_every_tensor_matters(small, x, t)
    print(f"ddpm_small: {sum(p.numel() for p in small.parameters())} parameters, "
          f"|output| max {y.abs().max():.3f} std {y.std():.3f}")
    steps = ddim(small, folder, gen)
    print(f"ddim timesteps {steps}")

    # 2, 4: three_level
    three = build(THREE_LEVEL, 2)
    folder = fresh(OUT / "three_level")
    three.save_pretrained(folder, safe_serialization=True)
    gen = torch.Generator().manual_seed(20261211)
    x, t, y = write_io(three, folder, gen, (3, 1, 8, 8))
    if args.check:
        check_every_tensor_matters(three, x, t)
    print(f"three_level: {sum(p.numel() for p in three.parameters())} parameters, "
          f"|output| max {y.abs().max():.3f} std {y.std():.3f}")

    # 3: three_level_fp16 (same weights, rounded to fp16; same input)
    folder = fresh(OUT / "three_level_fp16")
    three.half().save_pretrained(folder, safe_serialization=True)
    rounded = three.float()  # .half() rounded the weights in place
    gen = torch.Generator().manual_seed(20261211)
    _, _, y16 = write_io(rounded, folder, gen, (3, 1, 8, 8))
    print(f"three_level_fp16: max |output − fp32 output| {(y16 - y).abs().max():.2e}")

    # 6: google/ddpm-cifar10-32's config
    path = OUT / "ddpm_cifar10_32_config.json"
    path.write_text(json.dumps(DDPM_CIFAR10_32, indent=2) + "\n")
    full = UNet2DModel.from_config(json.loads(path.read_text()))
    count = sum(p.numel() for p in full.parameters())
    print(f"ddpm-cifar10-32 config: {count:,} parameters")
    assert count == DDPM_CIFAR10_32_PARAMS, count
    del full

    # 8: a tiny image set for the smoke profile of experiments/pretrained_ddpm.toml
    np.savez(OUT / "images16.npz", arr_0=tiny_images(np.random.default_rng(16), 48))

    # 7: README
    versions = f"diffusers {diffusers.__version__}, torch {torch.__version__}, numpy {np.__version__}"
    (OUT / "README.md").write_text(readme(versions))
    print(f"wrote fixtures to {OUT} ({versions})")


if __name__ == "__main__":
    main()
