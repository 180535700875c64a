//! Discrete-DDPM objectives in the EDM frame: step t (0-based, paper t + 1) has
//! σ_t = √((1 − ᾱ_t)/ᾱ_t) and x̂ = x0 + σ_t·ε = x_t/√ᾱ_t, so the DDPM ε is the EDM ε.

use burn::tensor::Tensor;
use rand::Rng;
use samplers::rng::HostRng;
use samplers::Batch;
use schedules::DdpmSchedule;

use super::model::{affine, column, noisy, row_lincomb, scale_rows, Model};
use crate::error::ModelError;
use crate::tensor::batch_to_tensor;
use crate::vlb::{vlb_loss_at, VlbMean};
use schedules::ReverseVariance;

/// n timesteps uniform in `start..T` (0-based), drawn on the host.
pub fn draw_timesteps(
    n: usize,
    start: usize,
    schedule: &DdpmSchedule,
    rng: &mut HostRng,
) -> Vec<usize> {
    (0..n)
        .map(|_| rng.random_range(start..schedule.num_timesteps()))
        .collect()
}

fn sigmas_at(schedule: &DdpmSchedule, t: &[usize]) -> Vec<f64> {
    t.iter().map(|&t| schedule.sigma(t)).collect()
}

/// The ε-prediction error ε̂ − ε with ε̂ = (x̂ − D)/σ_t, as `((1 − c_skip)/σ·x̂ − ε) − (c_out/σ)·F`
/// (coefficients in f64, so ε-parameterized nets give ε̂ = F exactly).
fn eps_residual(model: &Model, x_hat: &Batch, sigma: &[f64], eps: &Batch) -> Tensor<2> {
    let p = model.precond(sigma);
    let a: Vec<f64> = p
        .iter()
        .zip(sigma)
        .map(|(p, s)| (1.0 - p.c_skip) / s)
        .collect();
    let b: Vec<f64> = p.iter().zip(sigma).map(|(p, s)| -p.c_out / s).collect();
    let offset = row_lincomb(x_hat, &a, eps, &vec![-1.0; eps.n()]);
    affine(&offset, &b, model.output_at(x_hat, sigma), model.device)
}

/// L_simple at drawn t and ε: mean over the n·d elements of (ε − ε̂(x_t, t))² (Ho et al. 2020,
/// eq. 14 / Algorithm 1; mean over dimensions as `mean_flat` in hojonathanho/diffusion),
/// with ε̂ = (x̂ − D)/σ_t whatever the parameterization.
pub fn l_simple_at(
    model: &Model,
    x0: &Batch,
    schedule: &DdpmSchedule,
    t: &[usize],
    eps: &Batch,
) -> Tensor<1> {
    let sigma = sigmas_at(schedule, t);
    let x_hat = noisy(x0, &sigma, eps);
    eps_residual(model, &x_hat, &sigma, eps).square().mean()
}

/// L_simple with t uniform in 1…T (0-based 0…T−1) and ε ~ N(0, I) (Ho et al. 2020, eq. 14).
pub fn l_simple(
    model: &Model,
    x0: &Batch,
    schedule: &DdpmSchedule,
    rng: &mut HostRng,
) -> Tensor<1> {
    let t = draw_timesteps(x0.n(), 0, schedule, rng);
    let eps = Batch::standard_normal(x0.n(), x0.dim(), rng);
    l_simple_at(model, x0, schedule, &t, &eps)
}

/// (P1): λ(t) = ᾱ_{t−1}(1 − α_t)²/(2σ_q(t)²(1 − ᾱ_t)²) with σ_q(t)² = β̃_t, i.e. c0²/(2β̃_t) with
/// c0 the x0 coefficient of μ̃_t (Ho et al. 2020, eqs. 7–8, for a mean predicted through x0): the
/// weight that turns ‖x̂_θ − x0‖² into KL(q(x_{t−1}|x_t, x0) ‖ p_θ(x_{t−1}|x_t)) for Σ = β̃_t.
/// Infinite at 0-based t = 0 (β̃ = 0), which is why (P1)'s sum starts at paper t = 2.
pub fn p1_weight(schedule: &DdpmSchedule, t: usize) -> f64 {
    let (c0, _) = schedule.posterior_mean_coefs(t);
    c0 * c0 / (2.0 * schedule.posterior_variance(t))
}

/// x0-MSE at drawn t (0-based, each ≥ 1) and ε: mean over the n·d elements of
/// λ(t_i)·(D(x̂; σ_t) − x0)², with λ = (P1) when `weighted`, else 1 (Ho et al. 2020, §3.2).
pub fn x0_mse_at(
    model: &Model,
    x0: &Batch,
    schedule: &DdpmSchedule,
    t: &[usize],
    eps: &Batch,
    weighted: bool,
) -> Tensor<1> {
    assert!(
        !weighted || t.iter().all(|&t| t >= 1),
        "x0_mse_at: weighted (P1) needs 0-based t >= 1"
    );
    let sigma = sigmas_at(schedule, t);
    let x_hat = noisy(x0, &sigma, eps);
    let p = model.precond(&sigma);
    let c_skip: Vec<f64> = p.iter().map(|p| p.c_skip).collect();
    let c_out: Vec<f64> = p.iter().map(|p| p.c_out).collect();
    let offset = row_lincomb(&x_hat, &c_skip, x0, &vec![-1.0; x0.n()]);
    let residual = affine(
        &offset,
        &c_out,
        model.output_at(&x_hat, &sigma),
        model.device,
    );
    let lambda: Vec<f64> = t
        .iter()
        .map(|&t| {
            if weighted {
                p1_weight(schedule, t)
            } else {
                1.0
            }
        })
        .collect();
    (column(&lambda, model.device) * residual.square()).mean()
}

/// x0-MSE with t uniform in paper 2…T (0-based 1…T−1: (P1) is defined only where β̃_t > 0,
/// so its sum starts at t = 2) — (P1) of [`p1_weight`], unweighted when `weighted` is false.
/// Errors when T < 2.
pub fn x0_mse(
    model: &Model,
    x0: &Batch,
    schedule: &DdpmSchedule,
    weighted: bool,
    rng: &mut HostRng,
) -> Result<Tensor<1>, ModelError> {
    if schedule.num_timesteps() < 2 {
        return Err(ModelError::invalid(
            "timesteps",
            schedule.num_timesteps(),
            ">= 2 for objective x0_mse",
        ));
    }
    let t = draw_timesteps(x0.n(), 1, schedule, rng);
    let eps = Batch::standard_normal(x0.n(), x0.dim(), rng);
    Ok(x0_mse_at(model, x0, schedule, &t, &eps, weighted))
}

/// μ_θ(x_t, t) of a μ̃-predicting network: its raw output F(x_t, c_noise(σ_t)) in units of
/// x_{t−1}, on the VP-scaled input x_t = √ᾱ_t·x̂ whatever the parameterization (Ho et al.
/// 2020 §3.2, "predict μ̃_t directly"; hojonathanho/diffusion `model_mean_type = 'xprev'`).
pub fn predicted_mean(model: &Model, x_t: &Batch, sigma: &[f64]) -> Tensor<2> {
    let c_noise: Vec<f64> = sigma.iter().map(|&s| crate::precond::c_noise(s)).collect();
    model.raw(x_t, &c_noise)
}

/// μ̃-MSE at drawn t (0-based) and ε: the mean over the n·d elements of
/// (μ̃_t(x_t, x0) − μ_θ(x_t, t))², μ̃_t = c0·x0 + c_t·x_t the posterior mean of
/// q(x_{t−1}|x_t, x0) (Ho et al. 2020 eq. 7; Table 2's unweighted "‖μ̃ − μ̃_θ‖²" row).
pub fn mu_mse_at(
    model: &Model,
    x0: &Batch,
    schedule: &DdpmSchedule,
    t: &[usize],
    eps: &Batch,
) -> Tensor<1> {
    let sigma = sigmas_at(schedule, t);
    let s: Vec<f64> = t.iter().map(|&t| schedule.s(t)).collect();
    let x_t = scale_rows(&noisy(x0, &sigma, eps), &s);
    let (c0, ct): (Vec<f64>, Vec<f64>) =
        t.iter().map(|&t| schedule.posterior_mean_coefs(t)).unzip();
    let mu_q = row_lincomb(x0, &c0, &x_t, &ct);
    (batch_to_tensor(&mu_q, model.device) - predicted_mean(model, &x_t, &sigma))
        .square()
        .mean()
}

/// μ̃-MSE with t uniform in 1…T (0-based 0…T−1) and ε ~ N(0, I) (Ho et al. 2020, Table 2).
pub fn mu_mse(model: &Model, x0: &Batch, schedule: &DdpmSchedule, rng: &mut HostRng) -> Tensor<1> {
    let t = draw_timesteps(x0.n(), 0, schedule, rng);
    let eps = Batch::standard_normal(x0.n(), x0.dim(), rng);
    mu_mse_at(model, x0, schedule, &t, &eps)
}

/// L_hybrid = L_simple + λ·L_vlb at one drawn (t, ε) shared by both terms (Nichol & Dhariwal
/// 2021, §3.1, λ = 0.001), with L_vlb = [`vlb_loss_at`] (T·L_t in bits/dim, μ_θ from D).
///
/// Nichol & Dhariwal stop the gradient of the mean inside L_vlb so that it trains only their
/// learned Σ_θ. Σ is fixed here, so that stop-gradient would remove L_vlb's gradient entirely;
/// it is not applied and L_vlb also trains the mean.
#[allow(clippy::too_many_arguments)]
pub fn hybrid_at(
    model: &Model,
    x0: &Batch,
    schedule: &DdpmSchedule,
    t: &[usize],
    eps: &Batch,
    lambda: f64,
    variance: ReverseVariance,
    levels: u32,
) -> Tensor<1> {
    let simple = l_simple_at(model, x0, schedule, t, eps);
    let vlb = vlb_loss_at(model, VlbMean::Eps, x0, schedule, variance, levels, t, eps);
    simple + vlb.mul_scalar(lambda)
}

/// L_hybrid with t uniform in 1…T and ε ~ N(0, I) (Nichol & Dhariwal 2021, §3.1).
pub fn hybrid(
    model: &Model,
    x0: &Batch,
    schedule: &DdpmSchedule,
    lambda: f64,
    variance: ReverseVariance,
    levels: u32,
    rng: &mut HostRng,
) -> Tensor<1> {
    let t = draw_timesteps(x0.n(), 0, schedule, rng);
    let eps = Batch::standard_normal(x0.n(), x0.dim(), rng);
    hybrid_at(model, x0, schedule, &t, &eps, lambda, variance, levels)
}
