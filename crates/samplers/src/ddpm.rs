//! Discrete-time DDPM samplers: ancestral sampling (Ho et al. 2020, Algorithm 2) and
//! DDIM (Song, Meng & Ermon 2021, eq. 12). The state is x_t = √ᾱ_t·x0 + √(1 − ᾱ_t)·ε;
//! the denoiser is called in the EDM frame on x̂ = x_t/√ᾱ_t at σ_t = √((1 − ᾱ_t)/ᾱ_t).

use crate::{eps_from_denoised, Batch, Denoiser, Trace};
use rand::Rng;
use schedules::convert::sigma_from_alpha_bar;
use schedules::{ReverseVariance, StridedStep};

/// x̂0 = D(x_t/√ᾱ_t, σ_t): the denoiser's estimate of x0 from a VP state.
fn predict_x0(denoiser: &dyn Denoiser, x_t: &Batch, alpha_bar: f64, trace: &mut Trace) -> Batch {
    let x_hat = x_t.scaled(1.0 / alpha_bar.sqrt());
    trace.denoise(denoiser, &x_hat, sigma_from_alpha_bar(alpha_bar))
}

/// Ancestral sampling (Ho et al. 2020, Algorithm 2), written with the predicted x0:
/// x_{t−1} = μ̃_t(x_t, x̂0) + √v_t·z, with v_t = β_t ("fixedlarge") or β̃_t
/// ("fixedsmall"), and no noise on the last step. `alpha_bars` holds ᾱ of the visited
/// timesteps in sampling order (decreasing t); between two visited timesteps the
/// effective β is 1 − ᾱ_t/ᾱ_prev, so strided grids (fewer steps than T) work as in
/// Nichol & Dhariwal 2021. `steps` comes from `DdpmSchedule::strided`.
pub fn ancestral<R: Rng + ?Sized>(
    denoiser: &dyn Denoiser,
    x: Batch,
    steps: &[StridedStep],
    variance: ReverseVariance,
    rng: &mut R,
    trace: &mut Trace,
) -> Batch {
    let mut x = x;
    trace.push(sigma_from_alpha_bar(steps[0].alpha_bar), &x);
    for (i, step) in steps.iter().enumerate() {
        let x0 = predict_x0(denoiser, &x, step.alpha_bar, trace);
        let (coef_x0, coef_xt) = step.posterior_mean_coefs();
        x = x0.lincomb(coef_x0, &x, coef_xt);
        if i + 1 < steps.len() {
            let z = Batch::standard_normal(x.n(), x.dim(), rng);
            x.axpy(reverse_variance(step, variance).sqrt(), &z);
        }
        trace.push(sigma_from_alpha_bar(step.alpha_bar_prev), &x);
    }
    x
}

/// The reverse-step variance: β of the (strided) step for "fixedlarge", the posterior
/// variance β̃ for "fixedsmall" (Ho et al. 2020 §3.2).
pub fn reverse_variance(step: &StridedStep, variance: ReverseVariance) -> f64 {
    match variance {
        ReverseVariance::FixedLarge => step.beta,
        ReverseVariance::FixedSmall => step.posterior_variance(),
    }
}

/// DDIM (Song, Meng & Ermon 2021, eq. 12): x_{prev} = √ᾱ_prev·x̂0 +
/// √(1 − ᾱ_prev − σ_η²)·ε̂ + σ_η·z with σ_η = η·√((1 − ᾱ_prev)/(1 − ᾱ_t))·√(1 − ᾱ_t/ᾱ_prev).
/// η = 0 is the deterministic sampler; η = 1 matches ancestral sampling's variance.
pub fn ddim<R: Rng + ?Sized>(
    denoiser: &dyn Denoiser,
    x: Batch,
    steps: &[StridedStep],
    eta: f64,
    rng: &mut R,
    trace: &mut Trace,
) -> Batch {
    let mut x = x;
    trace.push(sigma_from_alpha_bar(steps[0].alpha_bar), &x);
    for step in steps {
        let (alpha_bar, alpha_bar_prev) = (step.alpha_bar, step.alpha_bar_prev);
        let x0 = predict_x0(denoiser, &x, alpha_bar, trace);
        let eps = eps_from_denoised(
            &x.scaled(1.0 / alpha_bar.sqrt()),
            &x0,
            sigma_from_alpha_bar(alpha_bar),
        );
        let sigma_eta = ddim_sigma(eta, alpha_bar, alpha_bar_prev);
        let eps_coef = (1.0 - alpha_bar_prev - sigma_eta * sigma_eta)
            .max(0.0)
            .sqrt();
        x = x0.lincomb(alpha_bar_prev.sqrt(), &eps, eps_coef);
        if sigma_eta > 0.0 {
            x.axpy(sigma_eta, &Batch::standard_normal(x.n(), x.dim(), rng));
        }
        trace.push(sigma_from_alpha_bar(alpha_bar_prev), &x);
    }
    x
}

/// σ_η of DDIM (Song, Meng & Ermon 2021, eq. 16).
pub fn ddim_sigma(eta: f64, alpha_bar: f64, alpha_bar_prev: f64) -> f64 {
    eta * ((1.0 - alpha_bar_prev) / (1.0 - alpha_bar)).sqrt()
        * (1.0 - alpha_bar / alpha_bar_prev).sqrt()
}

/// The initial state x_T ~ N(0, I) of the VP samplers.
pub fn initial_noise<R: Rng + ?Sized>(n: usize, d: usize, rng: &mut R) -> Batch {
    Batch::standard_normal(n, d, rng)
}
