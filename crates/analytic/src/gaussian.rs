//! The Gaussian N(μ, UΛUᵀ), full rank or rank r < d in one type, with its exact noisy
//! marginal N(μ, UΛUᵀ + σ²I) and the closed-form probability-flow ODE solution
//! (Wang & Vastola 2023, "The Hidden Linear Structure in Score-Based Models", arXiv:2311.10892).

use faer::linalg::matmul::matmul;
use faer::{Accum, Mat, MatRef};
use rand::Rng;
use samplers::rng::HostRng;
use samplers::{Batch, Denoiser, PfOdeSolution};

use crate::linalg::{
    add_row, centered, check_finite, check_orthonormal, mean_and_covariance, mul,
    random_orthonormal, symmetric_eigen, view, view_mut,
};
use crate::{AnalyticError, Distribution};

/// N(μ, Σ) with Σ = U diag(λ) Uᵀ, U a `d × r` matrix with orthonormal columns and λ > 0.
/// When r < d the distribution lives on the affine subspace μ + span(U).
#[derive(Clone, Debug)]
pub struct Gaussian {
    mean: Vec<f64>,
    basis: Mat<f64>,
    eigenvalues: Vec<f64>,
}

impl Gaussian {
    /// From mean μ (length d), orthonormal basis U (`d × r`) and eigenvalues λ (length r, > 0).
    pub fn from_eigen(
        mean: Vec<f64>,
        basis: Mat<f64>,
        eigenvalues: Vec<f64>,
    ) -> Result<Self, AnalyticError> {
        let d = mean.len();
        if d == 0 {
            return Err(AnalyticError::invalid(
                "mean",
                "[]",
                "dimension must be ≥ 1",
            ));
        }
        check_finite("mean", &mean)?;
        if basis.nrows() != d {
            return Err(AnalyticError::shape("basis rows", basis.nrows(), d));
        }
        if basis.ncols() != eigenvalues.len() {
            return Err(AnalyticError::shape(
                "eigenvalues",
                eigenvalues.len(),
                basis.ncols(),
            ));
        }
        if let Some((k, l)) = eigenvalues
            .iter()
            .enumerate()
            .find(|(_, l)| !l.is_finite() || **l <= 0.0)
        {
            return Err(AnalyticError::invalid(
                "eigenvalue",
                l,
                format!("eigenvalue {k} must be finite and > 0"),
            ));
        }
        check_orthonormal(basis.as_ref(), "basis")?;
        Ok(Self {
            mean,
            basis,
            eigenvalues,
        })
    }

    /// From mean μ and a row-major `d × d` covariance: eigen-decomposes it, drops eigenvalues
    /// ≤ `tol`, and rejects a non-symmetric matrix or one with an eigenvalue
    /// < −max(tol, 1e-12)·max|λ| (not positive semi-definite).
    pub fn from_covariance(mean: Vec<f64>, cov: &[f64], tol: f64) -> Result<Self, AnalyticError> {
        let d = mean.len();
        if d == 0 {
            return Err(AnalyticError::invalid(
                "mean",
                "[]",
                "dimension must be ≥ 1",
            ));
        }
        if cov.len() != d * d {
            return Err(AnalyticError::shape("covariance", cov.len(), d * d));
        }
        check_finite("covariance", cov)?;
        check_symmetric(cov, d, "covariance")?;
        let sigma = MatRef::from_row_major_slice(cov, d, d);
        Self::from_symmetric(mean, sigma, tol, "covariance")
    }

    /// Fitted to data: sample mean, unbiased sample covariance, eigenvalues ≤ `tol` dropped
    /// (the Gaussian fitted to the training set for the analytic teleport of Wang & Vastola 2023).
    pub fn from_data(data: &Batch, tol: f64) -> Result<Self, AnalyticError> {
        if data.n() < 2 {
            return Err(AnalyticError::invalid(
                "data rows",
                data.n(),
                "need at least 2 points",
            ));
        }
        check_finite("data", data.as_slice())?;
        let (mean, cov) = mean_and_covariance(data);
        Self::from_symmetric(mean, cov.as_ref(), tol, "data covariance")
    }

    /// A Gaussian with the given eigenvalues (length r ≤ d) along a uniformly random
    /// orthonormal basis (polar factor of a Gaussian `d × r` matrix).
    pub fn with_spectrum<R: Rng + ?Sized>(
        mean: Vec<f64>,
        eigenvalues: &[f64],
        rng: &mut R,
    ) -> Result<Self, AnalyticError> {
        let basis = random_orthonormal(mean.len(), eigenvalues.len(), rng)?;
        Self::from_eigen(mean, basis, eigenvalues.to_vec())
    }

    /// N(μ, v·I); `variance = 0` gives the point mass at μ (rank 0).
    pub fn isotropic(mean: Vec<f64>, variance: f64) -> Result<Self, AnalyticError> {
        if !variance.is_finite() || variance < 0.0 {
            return Err(AnalyticError::invalid(
                "variance",
                variance,
                "must be finite and ≥ 0",
            ));
        }
        let d = mean.len();
        let r = if variance > 0.0 { d } else { 0 };
        Self::from_eigen(mean, Mat::identity(d, r), vec![variance; r])
    }

    /// Shared tail of the covariance constructors: eigen-decompose, check PSD, truncate.
    fn from_symmetric(
        mean: Vec<f64>,
        sigma: MatRef<'_, f64>,
        tol: f64,
        name: &str,
    ) -> Result<Self, AnalyticError> {
        if !tol.is_finite() || tol < 0.0 {
            return Err(AnalyticError::invalid("tol", tol, "must be finite and ≥ 0"));
        }
        let (values, vectors) = symmetric_eigen(sigma)?;
        let largest = values.iter().fold(0.0_f64, |m, v| m.max(v.abs()));
        let psd_tol = tol.max(1e-12) * largest;
        if let Some(&smallest) = values.last() {
            if smallest < -psd_tol {
                return Err(AnalyticError::NotPsd {
                    name: name.to_string(),
                    eigenvalue: smallest,
                    tol: psd_tol,
                    largest,
                });
            }
        }
        let r = values.iter().take_while(|&&v| v > tol).count();
        let basis = vectors.as_ref().subcols(0, r).to_owned();
        Self::from_eigen(mean, basis, values[..r].to_vec())
    }

    /// The mean μ.
    pub fn mean(&self) -> &[f64] {
        &self.mean
    }

    /// The orthonormal basis U (`d × r`), columns sorted by non-increasing eigenvalue when
    /// built from a covariance.
    pub fn basis(&self) -> MatRef<'_, f64> {
        self.basis.as_ref()
    }

    /// The eigenvalues λ (length r).
    pub fn eigenvalues(&self) -> &[f64] {
        &self.eigenvalues
    }

    /// r, the number of retained eigenvalues.
    pub fn rank(&self) -> usize {
        self.eigenvalues.len()
    }

    /// d, the ambient dimension.
    pub fn dim(&self) -> usize {
        self.mean.len()
    }

    /// Σ = U diag(λ) Uᵀ, `d × d` row-major.
    pub fn covariance(&self) -> Vec<f64> {
        crate::linalg::to_row_major(self.basis_sandwich(&self.eigenvalues).as_ref())
    }

    /// Λ̃_σ = diag[λ_k/(λ_k + σ²)], the per-direction shrinkage (Wang & Vastola 2023).
    pub fn shrinkage(&self, sigma: f64) -> Vec<f64> {
        self.eigenvalues
            .iter()
            .map(|l| l / (l + sigma * sigma))
            .collect()
    }

    /// (Σ + σ²I)⁻¹ = (1/σ²)(I − U Λ̃_σ Uᵀ) by the Woodbury identity with U = A, ΛUᵀ/σ² = B
    /// (Gaussian score of Wang & Vastola 2023). At σ = 0 (full rank only) it is U diag(1/λ) Uᵀ.
    pub fn woodbury_inverse(&self, sigma: f64) -> Mat<f64> {
        if sigma == 0.0 {
            let inv: Vec<f64> = self.eigenvalues.iter().map(|l| 1.0 / l).collect();
            let m = self.basis_sandwich(&inv);
            if self.rank() < self.dim() {
                // Σ is singular: no inverse.
                return Mat::from_fn(self.dim(), self.dim(), |_, _| f64::NAN);
            }
            return m;
        }
        let s2 = sigma * sigma;
        let u_tilde = self.basis_sandwich(&self.shrinkage(sigma));
        Mat::from_fn(self.dim(), self.dim(), |i, j| {
            ((i == j) as u8 as f64 - u_tilde[(i, j)]) / s2
        })
    }

    /// Closed-form PF-ODE solution from x_T at σ_T to σ (Wang & Vastola 2023, Gaussian case):
    /// x(σ) = μ + (σ/σ_T)(I − UUᵀ)(x_T − μ) + Σ_k √((λ_k + σ²)/(λ_k + σ_T²)) u_k u_kᵀ(x_T − μ).
    /// The second term moves the off-subspace part when r < d. From σ_T = 0 that part has
    /// no unique continuation and is set to zero (it is zero on the support).
    pub fn pf_ode_solution(&self, x_t: &Batch, sigma_t: f64, sigma: f64) -> Batch {
        let off = if sigma == sigma_t {
            1.0
        } else if sigma_t == 0.0 {
            0.0
        } else {
            sigma / sigma_t
        };
        let on: Vec<f64> = self
            .eigenvalues
            .iter()
            .map(|l| ((l + sigma * sigma) / (l + sigma_t * sigma_t)).sqrt())
            .collect();
        self.affine_in_basis(x_t, off, &on)
    }

    /// μ + a(x − μ) + U diag(g − a) Uᵀ(x − μ) for every row: `a` scales the directions off
    /// span(U), `g_k` the direction u_k. One `n × d` by `d × r` product and one back.
    fn affine_in_basis(&self, x: &Batch, a: f64, g: &[f64]) -> Batch {
        let mut out = self.linear_in_basis(&centered(x, &self.mean), a, g);
        add_row(&mut out, &self.mean);
        out
    }

    /// a·R + U diag(g − a) UᵀR for centered rows R (the linear part of the above).
    fn linear_in_basis(&self, r: &Batch, a: f64, g: &[f64]) -> Batch {
        let mut c = mul(view(r), self.basis.as_ref());
        for (k, gk) in g.iter().enumerate() {
            c.as_mut().col_mut(k).iter_mut().for_each(|v| *v *= gk - a);
        }
        let mut out = r.scaled(a);
        matmul(
            view_mut(&mut out),
            Accum::Add,
            c.as_ref(),
            self.basis.transpose(),
            1.0,
            faer::get_global_parallelism(),
        );
        out
    }

    /// U diag(g) Uᵀ as a `d × d` matrix.
    fn basis_sandwich(&self, g: &[f64]) -> Mat<f64> {
        let scaled = Mat::from_fn(self.dim(), self.rank(), |i, k| self.basis[(i, k)] * g[k]);
        mul(scaled.as_ref(), self.basis.transpose())
    }

    /// Gaussian denoiser D(x, σ) = μ + U diag(λ/(λ + σ²)) Uᵀ(x − μ) (Wang & Vastola 2023).
    /// At σ = 0 it projects onto the support.
    pub fn gaussian_denoiser(&self, x: &Batch, sigma: f64) -> Batch {
        self.affine_in_basis(x, 0.0, &self.shrinkage(sigma))
    }

    /// log N(x; μ, Σ + σ²I) = −½[d log 2π + Σ_k log(λ_k + σ²) + (d − r) log σ²
    ///   + Σ_k c_k²/(λ_k + σ²) + ‖(I − UUᵀ)(x − μ)‖²/σ²], c = Uᵀ(x − μ).
    ///
    /// At σ = 0 with r < d the (d − r) off-subspace terms are dropped: the density on the
    /// support (w.r.t. r-dimensional Lebesgue measure) at the projection of x.
    pub fn gaussian_log_density(&self, x: &Batch, sigma: f64) -> Vec<f64> {
        let (d, r, s2) = (self.dim(), self.rank(), sigma * sigma);
        let res = centered(x, &self.mean);
        let c = mul(view(&res), self.basis.as_ref());
        let off_subspace = r < d && sigma > 0.0;
        let (dims, log_det) = match off_subspace {
            true => (d, (d - r) as f64 * s2.ln()),
            false => (r, 0.0),
        };
        let log_det = log_det + self.eigenvalues.iter().map(|l| (l + s2).ln()).sum::<f64>();
        let perp = off_subspace.then(|| self.linear_in_basis(&res, 1.0, &vec![0.0; r]));
        let norm = dims as f64 * (2.0 * std::f64::consts::PI).ln() + log_det;
        (0..x.n())
            .map(|i| {
                let on: f64 = (0..r)
                    .map(|k| c[(i, k)] * c[(i, k)] / (self.eigenvalues[k] + s2))
                    .sum();
                let off = perp
                    .as_ref()
                    .map_or(0.0, |p| p.row(i).iter().map(|v| v * v).sum::<f64>() / s2);
                -0.5 * (norm + on + off)
            })
            .collect()
    }
}

/// Fails unless `a` (row-major `d × d`) is symmetric within 1e-9 relative to its largest entry.
fn check_symmetric(a: &[f64], d: usize, name: &str) -> Result<(), AnalyticError> {
    let scale = a.iter().fold(1e-300_f64, |m, v| m.max(v.abs()));
    for i in 0..d {
        for j in i + 1..d {
            let (x, y) = (a[i * d + j], a[j * d + i]);
            if (x - y).abs() > 1e-9 * scale {
                return Err(AnalyticError::NotSymmetric {
                    name: name.to_string(),
                    i,
                    j,
                    a: x,
                    b: y,
                });
            }
        }
    }
    Ok(())
}

impl Denoiser for Gaussian {
    fn dim(&self) -> usize {
        self.mean.len()
    }

    fn denoise(&self, x: &Batch, sigma: f64) -> Batch {
        self.gaussian_denoiser(x, sigma)
    }

    fn name(&self) -> String {
        format!("gaussian(d={}, rank={})", self.dim(), self.rank())
    }

    fn jacobians(&self, points: &Batch, sigma: f64) -> Option<Vec<Vec<f64>>> {
        Some(crate::exact_jacobians(self, points, sigma))
    }
}

impl Distribution for Gaussian {
    fn log_density(&self, x: &Batch, sigma: f64) -> Vec<f64> {
        self.gaussian_log_density(x, sigma)
    }

    /// −(Σ + σ²I)⁻¹(x − μ) (Wang & Vastola 2023, Gaussian score); valid at σ = 0 for full rank.
    fn score(&self, x: &Batch, sigma: f64) -> Batch {
        let s2 = sigma * sigma;
        let g: Vec<f64> = self.eigenvalues.iter().map(|l| -1.0 / (l + s2)).collect();
        let a = if self.rank() == self.dim() {
            0.0
        } else {
            -1.0 / s2
        };
        self.linear_in_basis(&centered(x, &self.mean), a, &g)
    }

    /// Cov[x0 | x] = U diag(λσ²/(λ + σ²)) Uᵀ, the same for every x.
    fn posterior_covariance(&self, _x: &[f64], sigma: f64) -> Vec<f64> {
        let s2 = sigma * sigma;
        let g: Vec<f64> = self.eigenvalues.iter().map(|l| l * s2 / (l + s2)).collect();
        crate::linalg::to_row_major(self.basis_sandwich(&g).as_ref())
    }

    /// x0 = μ + U diag(√λ) z, z ~ N(0, I_r).
    fn sample(&self, n: usize, rng: &mut HostRng) -> Batch {
        let z = Batch::standard_normal(n, self.rank(), rng);
        let sqrt_l: Vec<f64> = self.eigenvalues.iter().map(|l| l.sqrt()).collect();
        let scaled = Mat::from_fn(self.dim(), self.rank(), |i, k| {
            self.basis[(i, k)] * sqrt_l[k]
        });
        let mut out = Batch::zeros(n, self.dim());
        matmul(
            view_mut(&mut out),
            Accum::Replace,
            view(&z),
            scaled.transpose(),
            1.0,
            faer::get_global_parallelism(),
        );
        add_row(&mut out, &self.mean);
        out
    }
}

impl PfOdeSolution for Gaussian {
    fn transport(&self, x: &Batch, sigma_from: f64, sigma_to: f64) -> Batch {
        self.pf_ode_solution(x, sigma_from, sigma_to)
    }
}

#[cfg(test)]
mod tests;
