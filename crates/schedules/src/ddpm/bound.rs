//! The pieces of the DDPM variational bound (Ho, Jain & Abbeel 2020, eq. 5), in f64, one
//! coordinate at a time: the KL between Gaussians of the diffusion terms, the prior term and
//! the discretized Gaussian decoder (their code's `normal_kl`, `_prior_bpd` and
//! `discretized_gaussian_log_likelihood`). The one copy of these formulas: the evaluation of
//! the bound (`metrics::likelihood::ddpm_vlb`) is built on them, and the training losses of
//! `models::vlb` use them for their constants and test their tensor forms against them.

use std::f64::consts::SQRT_2;

/// Floor inside the decoder's logarithms (Ho et al.'s `1e-12` clamp).
const PROB_FLOOR: f64 = 1e-12;

/// Standard normal CDF `Φ(z) = ½ erfc(−z/√2)` (libm's erfc, accurate to the last bits in
/// both tails; Ho et al.'s code uses the tanh approximation ½(1 + tanh(√(2/π)(z + 0.044715z³)))).
pub fn normal_cdf(z: f64) -> f64 {
    0.5 * libm::erfc(-z / SQRT_2)
}

/// `Φ(b) − Φ(a)` for `a ≤ b`, from the tail where it does not cancel.
fn normal_interval(a: f64, b: f64) -> f64 {
    if a > 0.0 {
        0.5 * (libm::erfc(a / SQRT_2) - libm::erfc(b / SQRT_2))
    } else {
        0.5 * (libm::erfc(-b / SQRT_2) - libm::erfc(-a / SQRT_2))
    }
}

/// KL(N(μ1, e^{ℓ1}) ‖ N(μ2, e^{ℓ2})) in nats, one coordinate (Ho et al.'s `normal_kl`):
/// `½(−1 + ℓ2 − ℓ1 + e^{ℓ1 − ℓ2} + (μ1 − μ2)² e^{−ℓ2})`.
pub fn normal_kl(mean1: f64, logvar1: f64, mean2: f64, logvar2: f64) -> f64 {
    0.5 * (-1.0 + logvar2 - logvar1
        + (logvar1 - logvar2).exp()
        + (mean1 - mean2).powi(2) * (-logvar2).exp())
}

/// Prior term `KL(q(x_T|x0) ‖ N(0, I)) = Σ_i KL(N(√ᾱ_T x0_i, 1 − ᾱ_T) ‖ N(0, 1))` in nats
/// for one sample `x0` (Ho et al. 2020, eq. 5's L_T; their `_prior_bpd` before the
/// bits/dim scaling). Constant in the model.
pub fn prior_kl(x0: &[f64], alpha_bar_t: f64) -> f64 {
    let logvar = (1.0 - alpha_bar_t).ln();
    x0.iter()
        .map(|x| normal_kl(alpha_bar_t.sqrt() * x, logvar, 0.0, 0.0))
        .sum()
}

/// log-probability (nats) of the bin of `x` under N(mean, e^{2·log_scale}), one coordinate
/// (Ho et al. 2020 eq. 13, `discretized_gaussian_log_likelihood`): data on the grid of
/// `L` levels in [−1, 1], bins `[x − δ, x + δ]` with `δ = half_width = 1/(L − 1)`, the first
/// bin extended to −∞ (log Φ(upper)) and the last to +∞ (log(1 − Φ(lower))); every
/// probability floored at 1e-12.
pub fn discretized_gaussian_log_likelihood(
    x: f64,
    mean: f64,
    log_scale: f64,
    half_width: f64,
) -> f64 {
    let inv_stdv = (-log_scale).exp();
    let upper = inv_stdv * (x - mean + half_width);
    let lower = inv_stdv * (x - mean - half_width);
    let p = if x < -1.0 + half_width {
        normal_cdf(upper)
    } else if x > 1.0 - half_width {
        0.5 * libm::erfc(lower / SQRT_2)
    } else {
        normal_interval(lower, upper)
    };
    p.max(PROB_FLOOR).ln()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cdf_and_kl_hand_values() {
        // Φ(0.5) = 0.6914624612740131, Φ(1.96) = 0.9750021048517795, Φ(−8) = 6.22096057427178e-16
        assert!((normal_cdf(0.5) - 0.6914624612740131).abs() < 1e-15);
        assert!((normal_cdf(1.96) - 0.9750021048517795).abs() < 1e-15);
        assert!((normal_cdf(-8.0) / 6.22096057427178e-16 - 1.0).abs() < 1e-12);
        // KL(N(1, 1) ‖ N(0, 4)) = ½(ln 4 − 1 + ¼ + ¼) = ½(ln 4 − ½)
        let kl = normal_kl(1.0, 0.0, 0.0, 4f64.ln());
        assert!((kl - 0.5 * (4f64.ln() - 0.5)).abs() < 1e-15);
        assert_eq!(normal_kl(0.3, -2.0, 0.3, -2.0), 0.0);
    }

    #[test]
    fn decoder_bins_hand_values() {
        // L = 3 levels {−1, 0, 1}, δ = ½, N(0, 1): middle bin Φ(½) − Φ(−½); edge bins Φ(−½).
        let phi = 0.6914624612740131_f64;
        let mid = discretized_gaussian_log_likelihood(0.0, 0.0, 0.0, 0.5);
        assert!((mid - (2.0 * phi - 1.0).ln()).abs() < 1e-14);
        let first = discretized_gaussian_log_likelihood(-1.0, 0.0, 0.0, 0.5);
        let last = discretized_gaussian_log_likelihood(1.0, 0.0, 0.0, 0.5);
        assert!((first - (1.0 - phi).ln()).abs() < 1e-14);
        assert!((last - (1.0 - phi).ln()).abs() < 1e-14);
        // the three bins partition the line
        let total: f64 = [-1.0, 0.0, 1.0]
            .iter()
            .map(|&x| discretized_gaussian_log_likelihood(x, 0.2, -0.5, 0.5).exp())
            .sum();
        assert!((total - 1.0).abs() < 1e-14);
        // far tail: floored at 1e-12
        let floor = discretized_gaussian_log_likelihood(0.0, 0.9, -5.0, 0.5);
        assert!((floor - 1e-12f64.ln()).abs() < 1e-12);
        // upper-tail interval without cancellation: Φ(9) − Φ(8) ≈ 6.2209e-16 − 1.1286e-19
        let tail = normal_interval(8.0, 9.0);
        assert!((tail / (6.22096057427178e-16 - 1.12858840595384e-19) - 1.0).abs() < 1e-9);
    }
}
