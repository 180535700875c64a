#!/usr/bin/env python3
"""Fixtures for the multistep solvers: diffusers' own schedulers driven by an exact ε-model.

The data are a Gaussian N(mu, diag(var)) in d = 4, so the ε-prediction E[ε | x_t] is exact
in closed form: in the EDM frame x = x_vp·sqrt(1 + σ²), D = mu + var/(var + σ²)·(x − mu)
and ε = (x − D)/σ, with σ the scheduler's own sigmas[step_index]. Each case runs one
diffusers scheduler loop (linear β 1e-4…0.02, T = 1000, leading spacing, final sigma 0)
from the same standard-normal latents in float64 (σ's included) and records its σ grid (the float32
values diffusers uses, as float64), the latents and the final sample.

Writes crates/analytic/tests/fixtures/solvers.json, read by
crates/analytic/tests/solver_fixtures.rs.

Usage (torch and diffusers installed; written with diffusers 0.42.1, torch 2.15):
    python scripts/solver_fixtures.py
"""

import json
import pathlib

import numpy as np
import torch
import diffusers
from diffusers import DPMSolverMultistepScheduler, UniPCMultistepScheduler

ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT = ROOT / "crates" / "analytic" / "tests" / "fixtures" / "solvers.json"

MEAN = np.array([1.0, -1.0, 0.5, 0.0])
VAR = np.array([2.0, 1.0, 0.5, 0.1])
N, D = 8, 4

COMMON = dict(
    num_train_timesteps=1000,
    beta_start=1e-4,
    beta_end=0.02,
    beta_schedule="linear",
    prediction_type="epsilon",
    timestep_spacing="leading",
    steps_offset=1,
)

ZERO = dict(final_sigmas_type="zero")
# diffusers refuses a final σ of 0 for noise prediction; its "sigma_min" ends the grid at the
# training grid's smallest σ. From 15 steps on, diffusers keeps the full order to the end
# (its lower_order_final applies below 15 steps only), as the solvers here do.
SIGMA_MIN = dict(final_sigmas_type="sigma_min")
CASES = [
    # name, scheduler class, extra config, inference steps
    ("dpmsolver++_2", DPMSolverMultistepScheduler, dict(algorithm_type="dpmsolver++", solver_order=2, **ZERO), 10),
    ("dpmsolver++_3", DPMSolverMultistepScheduler, dict(algorithm_type="dpmsolver++", solver_order=3, **ZERO), 20),
    ("dpmsolver_2", DPMSolverMultistepScheduler, dict(algorithm_type="dpmsolver", solver_order=2, **SIGMA_MIN), 16),
    ("dpmsolver_3", DPMSolverMultistepScheduler, dict(algorithm_type="dpmsolver", solver_order=3, **SIGMA_MIN), 20),
    ("unipc_bh2_2", UniPCMultistepScheduler, dict(solver_type="bh2", solver_order=2, **ZERO), 10),
    ("unipc_bh2_2_25", UniPCMultistepScheduler, dict(solver_type="bh2", solver_order=2, **ZERO), 25),
]


def exact_eps(x_vp: torch.Tensor, sigma: float) -> torch.Tensor:
    """E[ε | x_t] for the Gaussian data at EDM noise level σ, from the VP-frame sample."""
    mean = torch.tensor(MEAN, dtype=torch.float64)
    var = torch.tensor(VAR, dtype=torch.float64)
    x = x_vp * (1.0 + sigma * sigma) ** 0.5
    denoised = mean + var / (var + sigma * sigma) * (x - mean)
    return (x - denoised) / sigma


def run(scheduler, steps: int, latents: torch.Tensor) -> torch.Tensor:
    scheduler.set_timesteps(steps)
    # The same σ values, but the solver's arithmetic in float64 (diffusers keeps them in
    # float32, which moves the noise-prediction solver's result by ~5e-5: its first steps
    # subtract two terms of size σ_max).
    scheduler.sigmas = scheduler.sigmas.to(torch.float64)
    sample = latents * scheduler.init_noise_sigma
    for i, t in enumerate(scheduler.timesteps):
        sigma = float(scheduler.sigmas[i])
        eps = exact_eps(sample, sigma)
        sample = scheduler.step(eps, t, sample).prev_sample
    return sample


def main() -> None:
    rng = np.random.default_rng(20)
    latents = torch.tensor(rng.standard_normal((N, D)), dtype=torch.float64)
    cases = []
    for name, cls, extra, steps in CASES:
        scheduler = cls(**COMMON, **extra)
        final = run(scheduler, steps, latents)
        cases.append(
            dict(
                name=name,
                steps=steps,
                sigmas=[float(s) for s in scheduler.sigmas],
                timesteps=[int(t) for t in scheduler.timesteps],
                final=final.flatten().tolist(),
            )
        )
        print(f"{name}: {steps} steps, sigma_max {cases[-1]['sigmas'][0]:.4f}")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(
        json.dumps(
            dict(
                generator=f"scripts/solver_fixtures.py, diffusers {diffusers.__version__}, torch {torch.__version__}",
                mean=MEAN.tolist(),
                variance=VAR.tolist(),
                n=N,
                d=D,
                latents=latents.flatten().tolist(),
                cases=cases,
            ),
            indent=1,
        )
        + "\n"
    )
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
