//! The one interface between samplers/metrics and whatever estimates E[x0 | x].

use crate::Batch;

/// A denoiser in the EDM frame (Karras et al. 2022, eq. 2–3; the posterior mean of Miyasawa
/// 1961): given x̂ = x0 + σ·ε for every row of `x`, returns D(x̂, σ) = E[x0 | x̂].
///
/// Closed-form distributions (crate `analytic`) and trained networks (crate `models`)
/// both implement it, so every sampler and metric runs unchanged on exact ground truth
/// or on a network. Processes with a scale s(t) ≠ 1 call it on x/s.
pub trait Denoiser: Send + Sync {
    /// Dimension of the vectors it denoises.
    fn dim(&self) -> usize;

    /// E[x0 | x0 + σ ε = x] for each row of `x` (σ > 0).
    fn denoise(&self, x: &Batch, sigma: f64) -> Batch;

    /// A short human-readable name, used in logs and tables.
    fn name(&self) -> String {
        "denoiser".to_string()
    }

    /// The Jacobians ∇ₓD(x, σ) at each row x of `points`, each `d × d` row-major
    /// (`J[i·d + j] = ∂D_i/∂x_j`), when this denoiser computes them itself: exactly for a
    /// closed form (Cov[x0 | x]/σ², Kadkhodaie et al. 2024, §3.1) or by reverse-mode autodiff
    /// for a network. `None` (the default) means it cannot; callers then use finite differences
    /// (`metrics::jacobian::denoiser_jacobians`).
    fn jacobians(&self, points: &Batch, sigma: f64) -> Option<Vec<Vec<f64>>> {
        let _ = (points, sigma);
        None
    }
}

impl<T: Denoiser + ?Sized> Denoiser for &T {
    fn dim(&self) -> usize {
        (**self).dim()
    }
    fn denoise(&self, x: &Batch, sigma: f64) -> Batch {
        (**self).denoise(x, sigma)
    }
    fn name(&self) -> String {
        (**self).name()
    }
    fn jacobians(&self, points: &Batch, sigma: f64) -> Option<Vec<Vec<f64>>> {
        (**self).jacobians(points, sigma)
    }
}

impl<T: Denoiser + ?Sized> Denoiser for Box<T> {
    fn dim(&self) -> usize {
        (**self).dim()
    }
    fn denoise(&self, x: &Batch, sigma: f64) -> Batch {
        (**self).denoise(x, sigma)
    }
    fn name(&self) -> String {
        (**self).name()
    }
    fn jacobians(&self, points: &Batch, sigma: f64) -> Option<Vec<Vec<f64>>> {
        (**self).jacobians(points, sigma)
    }
}

impl<T: Denoiser + ?Sized> Denoiser for std::sync::Arc<T> {
    fn dim(&self) -> usize {
        (**self).dim()
    }
    fn denoise(&self, x: &Batch, sigma: f64) -> Batch {
        (**self).denoise(x, sigma)
    }
    fn name(&self) -> String {
        (**self).name()
    }
    fn jacobians(&self, points: &Batch, sigma: f64) -> Option<Vec<Vec<f64>>> {
        (**self).jacobians(points, sigma)
    }
}

/// Score of the noisy marginal from a denoiser (Tweedie/Miyasawa; Karras et al. 2022, eq. 3):
/// ∇log p(x; σ) = (D(x, σ) − x)/σ².
pub fn score_from_denoised(x: &Batch, denoised: &Batch, sigma: f64) -> Batch {
    denoised.lincomb(1.0 / (sigma * sigma), x, -1.0 / (sigma * sigma))
}

/// Noise prediction from a denoiser: ε̂ = (x − D(x, σ))/σ (EDM frame).
pub fn eps_from_denoised(x: &Batch, denoised: &Batch, sigma: f64) -> Batch {
    x.lincomb(1.0 / sigma, denoised, -1.0 / sigma)
}

/// A closed-form solution of the probability-flow ODE dx/dσ = (x − D(x, σ))/σ, mapping
/// states at `sigma_from` to states at `sigma_to` (e.g. the Gaussian solution of
/// Wang & Vastola 2023). Used by the teleport start.
pub trait PfOdeSolution: Send + Sync {
    fn transport(&self, x: &Batch, sigma_from: f64, sigma_to: f64) -> Batch;
}
