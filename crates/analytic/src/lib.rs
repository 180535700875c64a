//! Closed-form data distributions: the workspace's ground truth.
//!
//! Every type here knows its noisy marginal p_σ = p0 ∗ N(0, σ²I) exactly (EDM frame,
//! x̂ = x0 + σε): the optimal denoiser D(x̂, σ) = E[x0 | x̂], the score
//! ∇log p_σ = (D − x̂)/σ² (Tweedie/Miyasawa; Karras et al. 2022, eq. 3), the posterior
//! covariance Cov[x0 | x̂] = σ²∇D (Kadkhodaie et al. 2024, §3.1), the log density and
//! exact samples. Samplers and metrics run on these types unchanged through
//! [`samplers::Denoiser`], so their errors can be measured against the truth.
//!
//! - [`Gaussian`]: full-rank or rank-r Gaussian, with the Woodbury inverse and the
//!   closed-form probability-flow ODE solution (Wang & Vastola 2023).
//! - [`GaussianMixture`]: mixture of Gaussians, with an EM fit.
//! - [`Molrg`]: mixture of low-rank Gaussians (MoLRG; Wang et al. 2024).
//! - [`DeltaMixture`]: the empirical distribution of a training set, whose exact
//!   denoiser memorizes.
//!
//! Linear algebra is `f64` throughout and uses `faer`.

mod delta;
mod em;
mod error;
mod gaussian;
mod gmm;
pub mod linalg;
mod molrg;
#[cfg(test)]
mod test_support;

pub use delta::DeltaMixture;
pub use error::AnalyticError;
pub use gaussian::Gaussian;
pub use gmm::GaussianMixture;
pub use molrg::Molrg;

use samplers::rng::HostRng;
use samplers::{score_from_denoised, Batch, Denoiser};

/// A data distribution p0 whose noisy marginals p_σ = p0 ∗ N(0, σ²I) are known in closed
/// form. `sigma = 0` is allowed where p0 itself has a density (e.g. a full-rank Gaussian).
pub trait Distribution: Denoiser {
    /// log p_σ(x) for every row of `x`.
    fn log_density(&self, x: &Batch, sigma: f64) -> Vec<f64>;

    /// ∇ₓ log p_σ(x) for every row; by default (D(x, σ) − x)/σ² (Tweedie; Karras et al.
    /// 2022, eq. 3).
    fn score(&self, x: &Batch, sigma: f64) -> Batch {
        score_from_denoised(x, &self.denoise(x, sigma), sigma)
    }

    /// Cov[x0 | x0 + σε = x] = σ²·∇ₓD(x, σ) (Kadkhodaie et al. 2024, §3.1), `d × d` row-major.
    fn posterior_covariance(&self, x: &[f64], sigma: f64) -> Vec<f64>;

    /// `n` exact samples of p0.
    fn sample(&self, n: usize, rng: &mut HostRng) -> Batch;
}

/// The exact Jacobian of the optimal denoiser at each row of `points`,
/// ∇ₓD(x, σ) = Cov[x0 | x]/σ² (Kadkhodaie et al. 2024, §3.1), `d × d` row-major; what
/// every closed form returns from [`Denoiser::jacobians`].
pub fn exact_jacobians<T: Distribution + ?Sized>(
    dist: &T,
    points: &Batch,
    sigma: f64,
) -> Vec<Vec<f64>> {
    let s2 = sigma * sigma;
    (0..points.n())
        .map(|i| {
            let mut cov = dist.posterior_covariance(points.row(i), sigma);
            cov.iter_mut().for_each(|c| *c /= s2);
            cov
        })
        .collect()
}
