//! Synthetic sets backed by a closed-form `analytic` distribution: Gaussian with a given
//! spectrum, Gaussian mixture (given or with random means on a sphere), and the mixture of
//! low-rank Gaussians (MoLRG).

use std::sync::Arc;

use analytic::{Distribution, Gaussian, GaussianMixture, Molrg};
use rand::Rng;
use rand_distr::StandardNormal;
use samplers::rng::HostRng;
use samplers::{Batch, Denoiser};

use super::Synthetic;
use crate::Result;

/// A named closed-form distribution: samples are exact, and so is its denoiser.
#[derive(Clone, Debug)]
pub struct ClosedForm<D> {
    name: String,
    dist: Arc<D>,
}

impl<D: Distribution + 'static> ClosedForm<D> {
    /// Wraps any `analytic` distribution under `name`.
    pub fn new(name: impl Into<String>, dist: D) -> Self {
        Self {
            name: name.into(),
            dist: Arc::new(dist),
        }
    }

    /// The distribution itself (log density, score, posterior covariance, …).
    pub fn analytic(&self) -> &Arc<D> {
        &self.dist
    }
}

impl ClosedForm<Gaussian> {
    /// N(mean, U diag(eigenvalues) Uᵀ) with U a uniformly random orthonormal `d × r` basis
    /// drawn from `rng` (r = number of eigenvalues ≤ d = mean.len()).
    pub fn gaussian(mean: Vec<f64>, eigenvalues: &[f64], rng: &mut HostRng) -> Result<Self> {
        Ok(Self::new(
            "gaussian",
            Gaussian::with_spectrum(mean, eigenvalues, rng)?,
        ))
    }
}

impl ClosedForm<GaussianMixture> {
    /// Σ_k w_k N(μ_k, Σ_k); `covariances[k]` is `d × d` row-major.
    pub fn gmm(
        weights: Vec<f64>,
        means: Vec<Vec<f64>>,
        covariances: Vec<Vec<f64>>,
    ) -> Result<Self> {
        Ok(Self::new(
            "gmm",
            GaussianMixture::new(weights, means, covariances)?,
        ))
    }
}

impl ClosedForm<GaussianMixture> {
    /// Σ_k w_k N(radius·u_k, std²·I_dim) with u_k = g_k/‖g_k‖, g_k ~ N(0, I_dim) i.i.d.
    /// (uniform on the unit sphere, Muller 1959), drawn from `rng` in component order;
    /// `weights` default uniform.
    pub fn random_gmm(
        dim: usize,
        components: usize,
        radius: f64,
        std: f64,
        weights: Option<Vec<f64>>,
        rng: &mut HostRng,
    ) -> Result<Self> {
        let weights = weights.unwrap_or_else(|| vec![1.0 / components as f64; components]);
        let gaussians = (0..components)
            .map(|_| {
                let mu = random_unit_vector(dim, rng).into_iter().map(|u| radius * u);
                Gaussian::isotropic(mu.collect(), std * std)
            })
            .collect::<std::result::Result<Vec<_>, _>>()?;
        Ok(Self::new(
            "random_gmm",
            GaussianMixture::from_components(weights, gaussians)?,
        ))
    }
}

/// u = g/‖g‖ with g ~ N(0, I_dim): uniform on the unit sphere S^{dim−1} (Muller 1959).
/// Redraws g in the (probability-zero) event ‖g‖ = 0.
fn random_unit_vector(dim: usize, rng: &mut HostRng) -> Vec<f64> {
    loop {
        let g: Vec<f64> = (0..dim).map(|_| rng.sample(StandardNormal)).collect();
        let norm = g.iter().map(|x| x * x).sum::<f64>().sqrt();
        if norm > 0.0 {
            return g.into_iter().map(|x| x / norm).collect();
        }
    }
}

impl ClosedForm<Molrg> {
    /// MoLRG of Wang et al. 2024: K classes on mutually orthogonal d-dimensional subspaces
    /// of R^n from the SVD of a standard Gaussian n×n matrix, x0 = U_k a, a ~ N(0, I_d).
    pub fn molrg(ambient_n: usize, k: usize, d: usize, rng: &mut HostRng) -> Result<Self> {
        Ok(Self::new("molrg", Molrg::random(ambient_n, k, d, rng)?))
    }
}

impl<D: Distribution + 'static> Synthetic for ClosedForm<D> {
    fn name(&self) -> String {
        self.name.clone()
    }
    fn dim(&self) -> usize {
        self.dist.dim()
    }
    fn sample(&self, n: usize, rng: &mut HostRng) -> Batch {
        Distribution::sample(self.dist.as_ref(), n, rng)
    }
    fn exact_denoiser(&self) -> Option<Arc<dyn Denoiser>> {
        Some(self.dist.clone())
    }
    fn distribution(&self) -> Option<Arc<dyn Distribution>> {
        Some(self.dist.clone())
    }
    fn gaussian(&self) -> Option<Arc<Gaussian>> {
        (&self.dist as &dyn std::any::Any)
            .downcast_ref::<Arc<Gaussian>>()
            .cloned()
    }
}
