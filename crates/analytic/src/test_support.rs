//! Helpers shared by the crate's unit tests (each module's `tests` child): every closed
//! form is checked against finite differences, direct linear algebra, quadrature or hand
//! computations.

use samplers::{Batch, Denoiser};

use crate::Distribution;

/// Largest absolute entrywise difference.
pub(crate) fn max_diff(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len(), "lengths differ");
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
}

/// Central finite-difference gradient of x ↦ log p_σ(x) at every row of `x`, `n × d`.
pub(crate) fn fd_grad_log_density(dist: &dyn Distribution, x: &Batch, sigma: f64, h: f64) -> Batch {
    let (n, d) = (x.n(), x.dim());
    let mut shifted = Vec::with_capacity(2 * n * d * d);
    for i in 0..n {
        for j in 0..d {
            for s in [h, -h] {
                let mut row = x.row(i).to_vec();
                row[j] += s;
                shifted.extend(row);
            }
        }
    }
    let lp = dist.log_density(&Batch::from_vec(2 * n * d, d, shifted).unwrap(), sigma);
    let grad = (0..n * d)
        .map(|k| (lp[2 * k] - lp[2 * k + 1]) / (2.0 * h))
        .collect();
    Batch::from_vec(n, d, grad).unwrap()
}

/// Central finite-difference Jacobian ∂D_a/∂x_b of the denoiser at `x`, `d × d` row-major.
pub(crate) fn fd_jacobian(den: &dyn Denoiser, x: &[f64], sigma: f64, h: f64) -> Vec<f64> {
    let d = x.len();
    let mut shifted = Vec::with_capacity(2 * d * d);
    for b in 0..d {
        for s in [h, -h] {
            let mut row = x.to_vec();
            row[b] += s;
            shifted.extend(row);
        }
    }
    let out = den.denoise(&Batch::from_vec(2 * d, d, shifted).unwrap(), sigma);
    let mut jac = vec![0.0; d * d];
    for b in 0..d {
        for a in 0..d {
            jac[a * d + b] = (out.row(2 * b)[a] - out.row(2 * b + 1)[a]) / (2.0 * h);
        }
    }
    jac
}

/// Score (both the type's own and (D − x)/σ²) equals the finite-difference gradient of the
/// log density, within `tol` relative to the score's size.
pub(crate) fn assert_score_is_grad_log_density(
    dist: &dyn Distribution,
    x: &Batch,
    sigma: f64,
    tol: f64,
) {
    let fd = fd_grad_log_density(dist, x, sigma, 1e-5 * sigma.max(1e-2));
    let score = dist.score(x, sigma);
    let tweedie = samplers::score_from_denoised(x, &dist.denoise(x, sigma), sigma);
    let scale = score.as_slice().iter().fold(1.0_f64, |m, v| m.max(v.abs()));
    let (e1, e2) = (
        score.max_abs_diff(&fd) / scale,
        tweedie.max_abs_diff(&fd) / scale,
    );
    assert!(
        e1 < tol && e2 < tol,
        "score vs FD: {e1:e}, tweedie vs FD: {e2:e} (scale {scale})"
    );
}

/// Posterior covariance equals σ² times the finite-difference Jacobian of the denoiser.
pub(crate) fn assert_posterior_cov_is_jacobian(
    dist: &dyn Distribution,
    x: &[f64],
    sigma: f64,
    tol: f64,
) {
    let jac = fd_jacobian(dist, x, sigma, 1e-5 * sigma.max(1e-2));
    let expected: Vec<f64> = jac.iter().map(|j| sigma * sigma * j).collect();
    let cov = dist.posterior_covariance(x, sigma);
    let scale = cov.iter().fold(1e-3_f64, |m, v| m.max(v.abs()));
    let err = max_diff(&cov, &expected) / scale;
    assert!(
        err < tol,
        "posterior covariance vs σ²·∇D: relative error {err:e} (scale {scale})"
    );
    let d = x.len();
    let asym = (0..d * d)
        .map(|k| (cov[k] - cov[(k % d) * d + k / d]).abs())
        .fold(0.0, f64::max);
    assert!(
        asym < 1e-12 * scale.max(1.0),
        "posterior covariance not symmetric: {asym:e}"
    );
}
