//! Synthetic data sets: seeded samplers of any size, with the exact denoiser when the
//! distribution has a closed form (Gaussians, mixtures, MoLRG, 8 and 25 Gaussians).

mod closed_form;
mod toys;

use std::sync::Arc;

use samplers::rng::HostRng;
use samplers::{Batch, Denoiser};

use crate::Dataset;

pub use closed_form::ClosedForm;
pub use toys::{Checkerboard, EightGaussians, Rings, SwissRoll, TwentyFiveGaussians, TwoMoons};

/// A distribution we can sample as often as we like, and whose exact denoiser
/// D(x, σ) = E[x0 | x0 + σε = x] we may know.
pub trait Synthetic: Send + Sync {
    /// Short name for logs and tables, e.g. `8gaussians`.
    fn name(&self) -> String;

    /// Dimension of one sample.
    fn dim(&self) -> usize;

    /// `n` i.i.d. samples, all randomness drawn from `rng`.
    fn sample(&self, n: usize, rng: &mut HostRng) -> Batch;

    /// The exact (Bayes-optimal) denoiser of this distribution, when it has a closed form.
    fn exact_denoiser(&self) -> Option<Arc<dyn Denoiser>>;

    /// The closed-form distribution (log density, score, posterior covariance), if any.
    fn distribution(&self) -> Option<Arc<dyn analytic::Distribution>> {
        None
    }

    /// The distribution itself when it is a single Gaussian (its closed-form PF-ODE
    /// solution then serves as an exact teleport).
    fn gaussian(&self) -> Option<Arc<analytic::Gaussian>> {
        None
    }

    /// `n` samples as a continuous [`Dataset`] of shape `[1, 1, dim]`.
    fn dataset(&self, n: usize, rng: &mut HostRng) -> Dataset {
        Dataset::from_vectors(self.name(), self.sample(n, rng))
    }
}

#[cfg(test)]
mod tests;
