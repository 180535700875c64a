//! The variational bound of the discrete DDPM with fixed isotropic reverse variance
//! (Ho, Jain & Abbeel 2020, eq. 5; hojonathanho/diffusion `diffusion_utils_2.py`):
//!
//! L = KL(q(x_T|x0) ‖ N(0, I)) + Σ_{t≥2} KL(q(x_{t−1}|x_t, x0) ‖ p_θ(x_{t−1}|x_t)) − log p_θ(x0|x1).
//!
//! Indices are 0-based (t here = paper t − 1): term t ≥ 1 is the KL L_{t}, term 0 the decoder.
//! The network works in the EDM frame x̂ = x0 + σ_t·ε = x_t/√ᾱ_t. p_θ has variance
//! σ_t² = β_t ("fixed_large") or β̃_t ("fixed_small"), with the log-variances of the reference
//! code's likelihood ([`DdpmSchedule::likelihood_log_variance`]), and mean either
//! μ̃(x_t, x̂0 = D) (ε- and x0-prediction: μ_θ is determined by D) or the raw network output
//! (μ̃-prediction). Per-sample terms are in nats (summed over dimensions); losses in bits/dim.
//!
//! This is the training form of the bound: its KL and decoder are tensor (autodiff) forms
//! of the f64 formulas in `schedules::ddpm::bound`, tested against them; the decoder uses
//! Ho et al.'s tanh approximation of Φ, as their training code. The bound is evaluated
//! (bits/dim of a trained model) by `metrics::likelihood::ddpm_vlb`, on the same formulas.

use burn::tensor::Tensor;
use samplers::rng::HostRng;
use samplers::Batch;
use schedules::ddpm::bound::normal_kl;
use schedules::{DdpmSchedule, ReverseVariance};
use serde::{Deserialize, Serialize};

use crate::objectives::{column, draw_timesteps, noisy, row_lincomb, scale_rows, Model};
use crate::tensor::batch_to_tensor;

#[cfg(test)]
mod tests;

/// How the network gives the mean μ_θ of p_θ(x_{t−1}|x_t) (Ho et al. 2020, Table 2 rows).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VlbMean {
    /// μ_θ = μ̃(x_t, D) with D from the model's parameterization (ε-prediction; identical
    /// computation to `X0`, the name records the intent).
    Eps,
    /// μ_θ = μ̃(x_t, D) with D from the model's parameterization (x0-prediction).
    X0,
    /// μ̃-prediction: μ_θ = F(x_t, c_noise(σ_t)) directly, in units of x_{t−1}; the input is
    /// x_t = √ᾱ_t·x̂ (the VP scaling c_in = 1/√(1 + σ²)) whatever the parameterization.
    Mu,
}

/// KL(N(μ1, e^{lv1}) ‖ N(μ2, e^{lv2})) elementwise in nats:
/// ½(−1 + lv2 − lv1 + e^{lv1−lv2} + (μ1 − μ2)²e^{−lv2}) (hojonathanho/diffusion `normal_kl`).
/// Log-variances may be `[n, 1]` columns broadcasting over `[n, d]` means.
pub fn gaussian_kl(
    mean1: Tensor<2>,
    logvar1: Tensor<2>,
    mean2: Tensor<2>,
    logvar2: Tensor<2>,
) -> Tensor<2> {
    let var_terms = (logvar2.clone() - logvar1.clone()) + (logvar1 - logvar2.clone()).exp() - 1.0;
    ((mean1 - mean2).square() * logvar2.neg().exp() + var_terms).mul_scalar(0.5)
}

/// Φ(x) ≈ ½(1 + tanh(√(2/π)(x + 0.044715x³))), the standard normal CDF approximation of
/// hojonathanho/diffusion (`approx_std_normal_cdf`).
pub fn approx_std_normal_cdf(x: Tensor<2>) -> Tensor<2> {
    let inner = (x.clone() + x.powi_scalar(3).mul_scalar(0.044715))
        .mul_scalar((2.0 / std::f64::consts::PI).sqrt());
    (inner.tanh() + 1.0).mul_scalar(0.5)
}

/// log p(x) under a Gaussian N(mean, e^{2·log_scale}) discretized to `levels` gray levels on
/// [−1, 1]: log(Φ(z₊) − Φ(z₋)) with bin half-width 1/(L − 1), the first bin log Φ(z₊), the
/// last log(1 − Φ(z₋)), each clamped at 1e-12 (Ho et al. 2020 §3.3;
/// `discretized_gaussian_log_likelihood`). A value is in the first (last) bin when it lies below
/// −1 + 1/(L − 1) (above 1 − 1/(L − 1)); for L = 256 this matches the reference's ±0.999.
pub fn discretized_gaussian_log_likelihood(
    x: Tensor<2>,
    mean: Tensor<2>,
    log_scale: Tensor<2>,
    levels: u32,
) -> Tensor<2> {
    let half = 1.0 / (f64::from(levels) - 1.0);
    let inv_std = log_scale.neg().exp();
    let centered = x.clone() - mean;
    let cdf_plus = approx_std_normal_cdf((centered.clone() + half) * inv_std.clone());
    let cdf_min = approx_std_normal_cdf((centered - half) * inv_std);
    let log_cdf_plus = cdf_plus.clone().clamp_min(1e-12).log();
    let log_one_minus_cdf_min = (cdf_min.clone().neg() + 1.0).clamp_min(1e-12).log();
    let log_delta = (cdf_plus - cdf_min).clamp_min(1e-12).log();
    log_delta
        .mask_where(x.clone().lower_elem(-1.0 + half), log_cdf_plus)
        .mask_where(x.greater_elem(1.0 - half), log_one_minus_cdf_min)
}

/// Per-t weights w_t with L_t = w_t·‖ε − ε̂‖² + d·C_t for ε-prediction:
/// w_t = β_t²/(2σ_t²α_t(1 − ᾱ_t)) (Ho et al. 2020, eq. 12), σ_t² from the likelihood
/// log-variance ([`vlb_constant`] gives C_t). Entry 0 is the decoder step, where the bound
/// uses the discretized decoder instead of this Gaussian form.
pub fn vlb_weights(schedule: &DdpmSchedule, variance: ReverseVariance) -> Vec<f64> {
    let kind = variance;
    (0..schedule.num_timesteps())
        .map(|t| {
            let var = schedule.likelihood_log_variance(t, kind).exp();
            schedule.beta(t).powi(2)
                / (2.0 * var * schedule.alpha(t) * (1.0 - schedule.alpha_bar(t)))
        })
        .collect()
}

/// Per-t weights for x0-prediction: L_t = w_t·‖x̂0 − x0‖² + d·C_t with w_t = c0²/(2σ_t²),
/// c0 = √ᾱ_{t−1}β_t/(1 − ᾱ_t) the posterior x0 coefficient (Ho et al. 2020, eqs. 7–8).
pub fn vlb_weights_x0(schedule: &DdpmSchedule, variance: ReverseVariance) -> Vec<f64> {
    let kind = variance;
    (0..schedule.num_timesteps())
        .map(|t| {
            let (c0, _) = schedule.posterior_mean_coefs(t);
            c0 * c0 / (2.0 * schedule.likelihood_log_variance(t, kind).exp())
        })
        .collect()
}

/// C_t = ½(−1 + ln σ_t² − ln β̃_t + β̃_t/σ_t²), the per-dimension KL from the variance mismatch
/// alone (0 for fixed_small), for 0-based t ≥ 1.
pub fn vlb_constant(schedule: &DdpmSchedule, variance: ReverseVariance, t: usize) -> f64 {
    let lv_p = schedule.likelihood_log_variance(t, variance);
    normal_kl(0.0, schedule.posterior_variance(t).ln(), 0.0, lv_p)
}

/// Per-row bound terms in nats (summed over dimensions) at drawn 0-based t_i and ε:
/// KL(q(x_{t−1}|x_t, x0) ‖ p_θ(x_{t−1}|x_t)) for t_i ≥ 1, −log p_θ(x0|x_1) (discretized, `levels`
/// gray levels) for t_i = 0 (Ho et al. 2020 eq. 5; `_vb_terms_bpd`). Returns `[n]`.
#[allow(clippy::too_many_arguments)]
pub fn vlb_terms_at(
    model: &Model,
    mean: VlbMean,
    x0: &Batch,
    schedule: &DdpmSchedule,
    variance: ReverseVariance,
    levels: u32,
    t: &[usize],
    eps: &Batch,
) -> Tensor<1> {
    let n = x0.n();
    let dev = model.device;
    let kind = variance;
    let sigma: Vec<f64> = t.iter().map(|&t| schedule.sigma(t)).collect();
    let s: Vec<f64> = t.iter().map(|&t| schedule.s(t)).collect();
    let coefs: Vec<(f64, f64)> = t
        .iter()
        .map(|&t| schedule.posterior_mean_coefs(t))
        .collect();
    let lv_p: Vec<f64> = t
        .iter()
        .map(|&t| schedule.likelihood_log_variance(t, kind))
        .collect();
    // log β̃_t; the decoder rows (β̃ = 0) get a finite placeholder, their KL is masked out.
    let lv_q: Vec<f64> = t
        .iter()
        .zip(&lv_p)
        .map(|(&t, &lv)| {
            if t == 0 {
                lv
            } else {
                schedule.posterior_variance(t).ln()
            }
        })
        .collect();
    let x_hat = noisy(x0, &sigma, eps);
    let x_t = scale_rows(&x_hat, &s);
    let c0: Vec<f64> = coefs.iter().map(|c| c.0).collect();
    let ct: Vec<f64> = coefs.iter().map(|c| c.1).collect();
    let mu_q = row_lincomb(x0, &c0, &x_t, &ct);
    let mu_theta = match mean {
        VlbMean::Eps | VlbMean::X0 => {
            // μ_θ = c0·D + ct·x_t = (c0·c_skip·x̂ + ct·x_t) + c0·c_out·F
            let p = model.precond(&sigma);
            let a: Vec<f64> = p.iter().zip(&c0).map(|(p, c0)| c0 * p.c_skip).collect();
            let b: Vec<f64> = p.iter().zip(&c0).map(|(p, c0)| c0 * p.c_out).collect();
            let offset = row_lincomb(&x_hat, &a, &x_t, &ct);
            batch_to_tensor(&offset, dev) + column(&b, dev) * model.output_at(&x_hat, &sigma)
        }
        VlbMean::Mu => crate::objectives::predicted_mean(model, &x_t, &sigma),
    };
    let kl = gaussian_kl(
        batch_to_tensor(&mu_q, dev),
        column(&lv_q, dev),
        mu_theta.clone(),
        column(&lv_p, dev),
    );
    let half_lv: Vec<f64> = lv_p.iter().map(|lv| 0.5 * lv).collect();
    let nll = discretized_gaussian_log_likelihood(
        batch_to_tensor(x0, dev),
        mu_theta,
        column(&half_lv, dev),
        levels,
    )
    .neg();
    let is_decoder: Vec<f64> = t.iter().map(|&t| if t == 0 { 1.0 } else { 0.0 }).collect();
    let m = column(&is_decoder, dev);
    let per_elem = kl * (m.clone().neg() + 1.0) + nll * m;
    per_elem.sum_dim(1).reshape([n])
}

/// The sampled bound T·L_t in bits per dimension, averaged over the batch, at drawn t and ε:
/// with t uniform in 0…T−1 this is an unbiased estimate of Σ_t L_t (all terms but the prior)
/// in bits/dim (Ho et al. 2020 eq. 5; Nichol & Dhariwal 2021 eq. 16's L_vlb).
#[allow(clippy::too_many_arguments)]
pub fn vlb_loss_at(
    model: &Model,
    mean: VlbMean,
    x0: &Batch,
    schedule: &DdpmSchedule,
    variance: ReverseVariance,
    levels: u32,
    t: &[usize],
    eps: &Batch,
) -> Tensor<1> {
    let scale = schedule.num_timesteps() as f64 / (x0.dim() as f64 * std::f64::consts::LN_2);
    vlb_terms_at(model, mean, x0, schedule, variance, levels, t, eps)
        .mean()
        .mul_scalar(scale)
}

/// [`vlb_loss_at`] with t uniform in 1…T (0-based 0…T−1) and ε ~ N(0, I) drawn from `rng`.
pub fn vlb_loss(
    model: &Model,
    mean: VlbMean,
    x0: &Batch,
    schedule: &DdpmSchedule,
    variance: ReverseVariance,
    levels: u32,
    rng: &mut HostRng,
) -> Tensor<1> {
    let t = draw_timesteps(x0.n(), 0, schedule, rng);
    let eps = Batch::standard_normal(x0.n(), x0.dim(), rng);
    vlb_loss_at(model, mean, x0, schedule, variance, levels, &t, &eps)
}
