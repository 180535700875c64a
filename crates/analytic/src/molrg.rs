//! Mixture of low-rank Gaussians (MoLRG; Wang et al. 2024, "Diffusion models learn low-dimensional
//! distributions via subspace clustering", arXiv:2409.02426; authors' code
//! huijieZH/Diffusion-Model-Generalizability): x0 = U_k a with probability π_k,
//! a ~ N(0, I_{d_k}), U_k orthonormal `n × d_k`.

use faer::Mat;
use rand::Rng;
use samplers::rng::HostRng;
use samplers::{Batch, Denoiser};

use crate::linalg::{check_orthonormal, check_weights, mul, softmax_rows, view, view_mut};
use crate::{AnalyticError, Distribution, Gaussian, GaussianMixture};

/// Σ_k π_k N(0, U_k U_kᵀ). The denoiser uses the paper's closed form; log density,
/// posterior covariance and sampling go through the equivalent [`GaussianMixture`].
#[derive(Clone, Debug)]
pub struct Molrg {
    bases: Vec<Mat<f64>>,
    weights: Vec<f64>,
    mixture: GaussianMixture,
}

impl Molrg {
    /// From orthonormal bases U_k (`n × d_k`, same n) and weights π (≥ 0, sum 1).
    pub fn new(bases: Vec<Mat<f64>>, weights: Vec<f64>) -> Result<Self, AnalyticError> {
        let weights = check_weights(&weights, bases.len())?;
        let n = bases[0].nrows();
        let mut components = Vec::with_capacity(bases.len());
        for (k, u) in bases.iter().enumerate() {
            if u.nrows() != n {
                return Err(AnalyticError::shape(
                    format!("basis {k} rows"),
                    u.nrows(),
                    n,
                ));
            }
            if u.ncols() == 0 {
                return Err(AnalyticError::invalid(
                    "basis columns",
                    0,
                    format!("basis {k} needs d_k ≥ 1"),
                ));
            }
            check_orthonormal(u.as_ref(), &format!("basis {k}"))?;
            components.push(Gaussian::from_eigen(
                vec![0.0; n],
                u.clone(),
                vec![1.0; u.ncols()],
            )?);
        }
        let mixture = GaussianMixture::from_components(weights.clone(), components)?;
        Ok(Self {
            bases,
            weights,
            mixture,
        })
    }

    /// The paper's data model: SVD of an `n × n` standard Gaussian matrix; class k uses the
    /// orthonormal columns [k·d, (k+1)·d) (mutually orthogonal subspaces); equal weights 1/K.
    pub fn random<R: Rng + ?Sized>(
        ambient_n: usize,
        k: usize,
        d: usize,
        rng: &mut R,
    ) -> Result<Self, AnalyticError> {
        if k == 0 || d == 0 {
            return Err(AnalyticError::invalid(
                "k·d",
                format!("{k}·{d}"),
                "need k ≥ 1 and d ≥ 1",
            ));
        }
        if k * d > ambient_n {
            return Err(AnalyticError::invalid(
                "k·d",
                k * d,
                format!("must be ≤ ambient_n = {ambient_n}"),
            ));
        }
        let g = Batch::standard_normal(ambient_n, ambient_n, rng);
        let svd = view(&g)
            .svd()
            .map_err(|_| AnalyticError::NoConvergence { what: "SVD" })?;
        let bases = (0..k)
            .map(|c| svd.U().subcols(c * d, d).to_owned())
            .collect();
        Self::new(bases, vec![1.0 / k as f64; k])
    }

    /// The bases U_k.
    pub fn bases(&self) -> &[Mat<f64>] {
        &self.bases
    }

    /// The weights π_k.
    pub fn weights(&self) -> &[f64] {
        &self.weights
    }

    /// The same distribution as a [`GaussianMixture`].
    pub fn as_mixture(&self) -> &GaussianMixture {
        &self.mixture
    }

    /// Projections U_kᵀx̂ for every row, one `n × d_k` matrix per class.
    fn projections(&self, x: &Batch) -> Vec<Mat<f64>> {
        self.bases
            .iter()
            .map(|u| mul(view(x), u.as_ref()))
            .collect()
    }

    /// Posterior class weights of the MoLRG optimal denoiser (Wang et al. 2024; the factor
    /// (1 + 1/σ²)^{−d_k/2} cancels when all d_k are equal):
    /// w_k ∝ π_k (1 + 1/σ²)^{−d_k/2} exp(‖U_kᵀx̂‖²/(2σ²(1 + σ²))), `n × K` row-major.
    fn class_weights(&self, proj: &[Mat<f64>], n: usize, sigma: f64) -> Vec<f64> {
        let (kk, s2) = (self.bases.len(), sigma * sigma);
        let mut w = vec![0.0; n * kk];
        for (k, p) in proj.iter().enumerate() {
            let prior = self.weights[k].ln() - 0.5 * p.ncols() as f64 * (1.0 + 1.0 / s2).ln();
            for i in 0..n {
                let norm2: f64 = (0..p.ncols()).map(|j| p[(i, j)] * p[(i, j)]).sum();
                w[i * kk + k] = prior + norm2 / (2.0 * s2 * (1.0 + s2));
            }
        }
        softmax_rows(&mut w, kk);
        w
    }

    /// Posterior class weights w_k(x̂), `n × K` row-major.
    pub fn responsibilities(&self, x: &Batch, sigma: f64) -> Vec<f64> {
        self.class_weights(&self.projections(x), x.n(), sigma)
    }

    /// MoLRG optimal denoiser E[x0 | x̂] = Σ_k w_k(x̂) U_k U_kᵀ x̂/(1 + σ²) (Wang et al. 2024).
    pub fn molrg_denoiser(&self, x: &Batch, sigma: f64) -> Batch {
        let proj = self.projections(x);
        let (n, kk) = (x.n(), self.bases.len());
        let w = self.class_weights(&proj, n, sigma);
        let mut out = Batch::zeros(n, x.dim());
        for (k, (p, u)) in proj.iter().zip(&self.bases).enumerate() {
            let scaled = Mat::from_fn(n, p.ncols(), |i, j| {
                p[(i, j)] * w[i * kk + k] / (1.0 + sigma * sigma)
            });
            faer::linalg::matmul::matmul(
                view_mut(&mut out),
                faer::Accum::Add,
                scaled.as_ref(),
                u.transpose(),
                1.0,
                faer::get_global_parallelism(),
            );
        }
        out
    }
}

impl Denoiser for Molrg {
    fn dim(&self) -> usize {
        self.bases[0].nrows()
    }

    fn denoise(&self, x: &Batch, sigma: f64) -> Batch {
        self.molrg_denoiser(x, sigma)
    }

    fn name(&self) -> String {
        format!("molrg(n={}, K={})", Denoiser::dim(self), self.bases.len())
    }

    fn jacobians(&self, points: &Batch, sigma: f64) -> Option<Vec<Vec<f64>>> {
        Some(crate::exact_jacobians(self, points, sigma))
    }
}

impl Distribution for Molrg {
    fn log_density(&self, x: &Batch, sigma: f64) -> Vec<f64> {
        self.mixture.log_density(x, sigma)
    }

    /// Σ_k w_k (C_k + m_k m_kᵀ) − m mᵀ with m_k = U_kU_kᵀx̂/(1 + σ²), C_k = σ²/(1 + σ²)·U_kU_kᵀ.
    fn posterior_covariance(&self, x: &[f64], sigma: f64) -> Vec<f64> {
        self.mixture.posterior_covariance(x, sigma)
    }

    fn sample(&self, n: usize, rng: &mut HostRng) -> Batch {
        self.mixture.sample(n, rng)
    }
}

#[cfg(test)]
mod tests;
