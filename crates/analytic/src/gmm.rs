//! Gaussian mixture Σ_k π_k N(μ_k, Σ_k): its noisy marginal is Σ_k π_k N(μ_k, Σ_k + σ²I), so
//! the posterior is again a mixture whose components are the Gaussian posteriors.

use samplers::rng::HostRng;
use samplers::{Batch, Denoiser};

use crate::linalg::{categorical, check_weights, log_sum_exp, softmax_rows};
use crate::{AnalyticError, Distribution, Gaussian};

/// Σ_k π_k N(μ_k, Σ_k). Each component keeps its eigen-decomposition (a [`Gaussian`]), so a
/// new σ costs only matrix products.
#[derive(Clone, Debug)]
pub struct GaussianMixture {
    weights: Vec<f64>,
    components: Vec<Gaussian>,
}

impl GaussianMixture {
    /// From weights π (≥ 0, summing to 1 within 1e-9), means μ_k and row-major `d × d`
    /// covariances Σ_k (symmetric, PSD; eigenvalues ≤ 1e-12·max|Σ_k,ii| are dropped).
    pub fn new(
        weights: Vec<f64>,
        means: Vec<Vec<f64>>,
        covariances: Vec<Vec<f64>>,
    ) -> Result<Self, AnalyticError> {
        if covariances.len() != means.len() {
            return Err(AnalyticError::shape(
                "covariances",
                covariances.len(),
                means.len(),
            ));
        }
        let d = means.first().map_or(0, Vec::len);
        let components = means
            .into_iter()
            .zip(&covariances)
            .enumerate()
            .map(|(k, (mean, cov))| {
                if mean.len() != d {
                    return Err(AnalyticError::shape(format!("mean {k}"), mean.len(), d));
                }
                let scale = (0..d).fold(0.0_f64, |m, i| {
                    m.max(cov.get(i * d + i).map_or(0.0, |v| v.abs()))
                });
                Gaussian::from_covariance(mean, cov, 1e-12 * scale)
            })
            .collect::<Result<Vec<_>, _>>()?;
        Self::from_components(weights, components)
    }

    /// From weights π and already built components of one dimension.
    pub fn from_components(
        weights: Vec<f64>,
        components: Vec<Gaussian>,
    ) -> Result<Self, AnalyticError> {
        let weights = check_weights(&weights, components.len())?;
        let d = components[0].dim();
        if let Some((k, c)) = components.iter().enumerate().find(|(_, c)| c.dim() != d) {
            return Err(AnalyticError::shape(
                format!("component {k} dimension"),
                c.dim(),
                d,
            ));
        }
        Ok(Self {
            weights,
            components,
        })
    }

    /// The mixing weights π.
    pub fn weights(&self) -> &[f64] {
        &self.weights
    }

    /// The components N(μ_k, Σ_k).
    pub fn components(&self) -> &[Gaussian] {
        &self.components
    }

    /// K, the number of components.
    pub fn n_components(&self) -> usize {
        self.components.len()
    }

    /// log π_k + log N(x; μ_k, Σ_k + σ²I), `n × K` row-major.
    pub(crate) fn component_log_joint(&self, x: &Batch, sigma: f64) -> Vec<f64> {
        let k = self.n_components();
        let mut table = vec![0.0; x.n() * k];
        for (j, (c, pi)) in self.components.iter().zip(&self.weights).enumerate() {
            for (i, l) in c.log_density(x, sigma).into_iter().enumerate() {
                table[i * k + j] = pi.ln() + l;
            }
        }
        table
    }

    /// Responsibilities w_k(x) = π_k N(x; μ_k, Σ_k + σ²I) / Σ_j π_j N(x; μ_j, Σ_j + σ²I),
    /// computed by log-sum-exp; `n × K` row-major.
    pub fn responsibilities(&self, x: &Batch, sigma: f64) -> Vec<f64> {
        let mut w = self.component_log_joint(x, sigma);
        softmax_rows(&mut w, self.n_components());
        w
    }

    /// E[x0 | x] = Σ_k w_k(x)[μ_k + Σ_k(Σ_k + σ²I)⁻¹(x − μ_k)].
    pub fn mixture_denoiser(&self, x: &Batch, sigma: f64) -> Batch {
        let k = self.n_components();
        let w = self.responsibilities(x, sigma);
        let mut out = Batch::zeros(x.n(), x.dim());
        for (j, c) in self.components.iter().enumerate() {
            let m = c.denoise(x, sigma);
            for i in 0..x.n() {
                let wij = w[i * k + j];
                out.row_mut(i)
                    .iter_mut()
                    .zip(m.row(i))
                    .for_each(|(o, v)| *o += wij * v);
            }
        }
        out
    }
}

/// Law of total covariance for a posterior mixture with weights w_k, means m_k and
/// covariances C_k: Σ_k w_k (C_k + m_k m_kᵀ) − m mᵀ, written as Σ_k w_k (C_k + (m_k − m)(m_k − m)ᵀ)
/// for round-off. Row-major `d × d`.
pub(crate) fn mixture_covariance(
    w: &[f64],
    means: &[Vec<f64>],
    covs: &[Vec<f64>],
    d: usize,
) -> Vec<f64> {
    let mut m = vec![0.0; d];
    for (wk, mk) in w.iter().zip(means) {
        m.iter_mut().zip(mk).for_each(|(a, b)| *a += wk * b);
    }
    let mut out = vec![0.0; d * d];
    for ((wk, mk), ck) in w.iter().zip(means).zip(covs) {
        for a in 0..d {
            let da = mk[a] - m[a];
            for b in 0..d {
                out[a * d + b] += wk * (ck[a * d + b] + da * (mk[b] - m[b]));
            }
        }
    }
    out
}

impl Denoiser for GaussianMixture {
    fn dim(&self) -> usize {
        self.components[0].dim()
    }

    fn denoise(&self, x: &Batch, sigma: f64) -> Batch {
        self.mixture_denoiser(x, sigma)
    }

    fn name(&self) -> String {
        format!("gmm(K={}, d={})", self.n_components(), Denoiser::dim(self))
    }

    fn jacobians(&self, points: &Batch, sigma: f64) -> Option<Vec<Vec<f64>>> {
        Some(crate::exact_jacobians(self, points, sigma))
    }
}

impl Distribution for GaussianMixture {
    /// log Σ_k π_k N(x; μ_k, Σ_k + σ²I).
    fn log_density(&self, x: &Batch, sigma: f64) -> Vec<f64> {
        let table = self.component_log_joint(x, sigma);
        table
            .chunks_exact(self.n_components())
            .map(log_sum_exp)
            .collect()
    }

    fn posterior_covariance(&self, x: &[f64], sigma: f64) -> Vec<f64> {
        let xb = Batch::from_vec(1, x.len(), x.to_vec()).expect("one row");
        let w = self.responsibilities(&xb, sigma);
        let means: Vec<Vec<f64>> = self
            .components
            .iter()
            .map(|c| c.denoise(&xb, sigma).into_vec())
            .collect();
        let covs: Vec<Vec<f64>> = self
            .components
            .iter()
            .map(|c| c.posterior_covariance(x, sigma))
            .collect();
        mixture_covariance(&w, &means, &covs, x.len())
    }

    /// Component k ~ π, then x0 ~ N(μ_k, Σ_k).
    fn sample(&self, n: usize, rng: &mut HostRng) -> Batch {
        let labels: Vec<usize> = (0..n).map(|_| categorical(&self.weights, rng)).collect();
        let mut out = Batch::zeros(n, Denoiser::dim(self));
        for (k, c) in self.components.iter().enumerate() {
            let rows: Vec<usize> = (0..n).filter(|&i| labels[i] == k).collect();
            let draws = c.sample(rows.len(), rng);
            for (j, &i) in rows.iter().enumerate() {
                out.row_mut(i).copy_from_slice(draws.row(j));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests;
