//! Discrete-time DDPM samplers: ancestral sampling (Ho et al. 2020, Algorithm 2) and
//! DDIM (Song, Meng & Ermon 2021, eq. 12). The state is x_t = √ᾱ_t·x0 + √(1 − ᾱ_t)·ε;
//! the denoiser is called in the EDM frame on x̂ = x_t/√ᾱ_t at σ_t = √((1 − ᾱ_t)/ᾱ_t).

use crate::{eps_from_denoised, Batch, Denoiser, Trace};
use rand::Rng;
use schedules::convert::sigma_from_alpha_bar;
use schedules::{ReverseVariance, StridedStep};
use serde::{Deserialize, Serialize};

/// The range the predicted x̂0 is clipped to before each DDPM / DDIM step, as in Ho et al.
/// 2020's sampler (`clip_denoised=True`: x̂0 ∈ [−1, 1], the data range) and diffusers'
/// `clip_sample`. Written `clip_x0 = [low, high]` in a `[sampler]` table.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct X0Clip {
    pub low: f64,
    pub high: f64,
}

impl Serialize for X0Clip {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        [self.low, self.high].serialize(serializer)
    }
}

/// Reads `[low, high]`; any other value is an error that names the key (serde's own message
/// for `[f64; 2]` would not, inside the internally tagged `[sampler]` table).
impl<'de> Deserialize<'de> for X0Clip {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ClipVisitor;
        impl<'de> serde::de::Visitor<'de> for ClipVisitor {
            type Value = X0Clip;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("clip_x0 = [low, high], two numbers")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<X0Clip, A::Error> {
                use serde::de::Error;
                let mut next = || {
                    seq.next_element::<f64>()
                        .map_err(|e| A::Error::custom(format!("clip_x0: {e}")))
                };
                let (low, high, extra) = (next()?, next()?, next()?);
                match (low, high, extra) {
                    (Some(low), Some(high), None) => Ok(X0Clip { low, high }),
                    (_, None, _) => Err(A::Error::invalid_length(low.map_or(0, |_| 1), &self)),
                    _ => Err(A::Error::invalid_length(3, &self)),
                }
            }
        }
        deserializer.deserialize_seq(ClipVisitor)
    }
}

impl X0Clip {
    /// Whether `low < high`, both finite.
    pub fn is_valid(&self) -> bool {
        self.low.is_finite() && self.high.is_finite() && self.low < self.high
    }

    /// Every coordinate of `x0` clamped to `[low, high]`.
    pub fn apply(&self, x0: &Batch) -> Batch {
        x0.map(|v| v.clamp(self.low, self.high))
    }
}

/// x̂0 = D(x_t/√ᾱ_t, σ_t): the denoiser's estimate of x0 from a VP state, clipped to `clip`
/// when given.
fn predict_x0(
    denoiser: &dyn Denoiser,
    x_t: &Batch,
    alpha_bar: f64,
    clip: Option<X0Clip>,
    trace: &mut Trace,
) -> Batch {
    let x_hat = x_t.scaled(1.0 / alpha_bar.sqrt());
    let x0 = trace.denoise(denoiser, &x_hat, sigma_from_alpha_bar(alpha_bar));
    match clip {
        Some(clip) => clip.apply(&x0),
        None => x0,
    }
}

/// Ancestral sampling (Ho et al. 2020, Algorithm 2), written with the predicted x0:
/// x_{t−1} = μ̃_t(x_t, x̂0) + √v_t·z, with v_t = β_t ("fixedlarge") or β̃_t
/// ("fixedsmall"), and no noise on the last step. `alpha_bars` holds ᾱ of the visited
/// timesteps in sampling order (decreasing t); between two visited timesteps the
/// effective β is 1 − ᾱ_t/ᾱ_prev, so strided grids (fewer steps than T) work as in
/// Nichol & Dhariwal 2021. `steps` comes from `DdpmSchedule::strided`. With `clip`, x̂0 is
/// clipped before it enters μ̃ (Ho et al.'s `clip_denoised`).
pub fn ancestral<R: Rng + ?Sized>(
    denoiser: &dyn Denoiser,
    x: Batch,
    steps: &[StridedStep],
    variance: ReverseVariance,
    clip: Option<X0Clip>,
    rng: &mut R,
    trace: &mut Trace,
) -> Batch {
    let mut x = x;
    trace.push(sigma_from_alpha_bar(steps[0].alpha_bar), &x);
    for (i, step) in steps.iter().enumerate() {
        let x0 = predict_x0(denoiser, &x, step.alpha_bar, clip, trace);
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
/// η = 0 is the deterministic sampler; η = 1 matches ancestral sampling's variance. With
/// `clip`, x̂0 is clipped and ε̂ recomputed from the clipped x̂0 (as diffusers' `DDIMScheduler`).
pub fn ddim<R: Rng + ?Sized>(
    denoiser: &dyn Denoiser,
    x: Batch,
    steps: &[StridedStep],
    eta: f64,
    clip: Option<X0Clip>,
    rng: &mut R,
    trace: &mut Trace,
) -> Batch {
    let mut x = x;
    trace.push(sigma_from_alpha_bar(steps[0].alpha_bar), &x);
    for step in steps {
        let (alpha_bar, alpha_bar_prev) = (step.alpha_bar, step.alpha_bar_prev);
        let x0 = predict_x0(denoiser, &x, alpha_bar, clip, trace);
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
