//! Small `f64` linear-algebra helpers shared by the distributions: batch ↔ faer views,
//! symmetric eigen-decomposition, random orthonormal bases, log-sum-exp. [`mul`] and
//! [`to_row_major`] are public for the `metrics` crate.

use faer::linalg::matmul::matmul;
use faer::{Accum, Mat, MatMut, MatRef, Side};
use rand::Rng;
use samplers::Batch;

use crate::AnalyticError;

/// A batch as an `n × d` faer view (no copy).
pub(crate) fn view(x: &Batch) -> MatRef<'_, f64> {
    MatRef::from_row_major_slice(x.as_slice(), x.n(), x.dim())
}

/// A batch as a mutable `n × d` faer view (no copy).
pub(crate) fn view_mut(x: &mut Batch) -> MatMut<'_, f64> {
    let (n, d) = (x.n(), x.dim());
    MatMut::from_row_major_slice_mut(x.as_mut_slice(), n, d)
}

/// `a · b` into a new matrix, with faer's global parallelism.
pub fn mul(a: MatRef<'_, f64>, b: MatRef<'_, f64>) -> Mat<f64> {
    let mut out = Mat::zeros(a.nrows(), b.ncols());
    matmul(
        out.as_mut(),
        Accum::Replace,
        a,
        b,
        1.0,
        faer::get_global_parallelism(),
    );
    out
}

/// A faer matrix as a row-major `Vec`.
pub fn to_row_major(m: MatRef<'_, f64>) -> Vec<f64> {
    (0..m.nrows())
        .flat_map(|i| (0..m.ncols()).map(move |j| m[(i, j)]))
        .collect()
}

/// Rows `x_i − μ`.
pub(crate) fn centered(x: &Batch, mu: &[f64]) -> Batch {
    let mut r = x.clone();
    for row in r.as_mut_slice().chunks_exact_mut(mu.len().max(1)) {
        row.iter_mut().zip(mu).for_each(|(v, m)| *v -= m);
    }
    r
}

/// Adds `μ` to every row in place.
pub(crate) fn add_row(x: &mut Batch, mu: &[f64]) {
    for row in x.as_mut_slice().chunks_exact_mut(mu.len().max(1)) {
        row.iter_mut().zip(mu).for_each(|(v, m)| *v += m);
    }
}

/// Sample mean and unbiased covariance `RᵀR/(n − 1)` of the rows of `x`, computed as one
/// matrix product (fast for 50 000 × 3072 data).
pub(crate) fn mean_and_covariance(x: &Batch) -> (Vec<f64>, Mat<f64>) {
    let mean = x.mean();
    let r = centered(x, &mean);
    let rv = view(&r);
    let gram = mul(rv.transpose(), rv);
    let denom = (x.n().max(2) - 1) as f64;
    // Symmetrize to remove round-off asymmetry of the product.
    let cov = Mat::from_fn(gram.nrows(), gram.ncols(), |i, j| {
        0.5 * (gram[(i, j)] + gram[(j, i)]) / denom
    });
    (mean, cov)
}

/// Eigen-decomposition of a symmetric matrix, eigenvalues in non-increasing order with
/// their eigenvectors as the columns of the returned matrix.
pub(crate) fn symmetric_eigen(a: MatRef<'_, f64>) -> Result<(Vec<f64>, Mat<f64>), AnalyticError> {
    let evd = a
        .self_adjoint_eigen(Side::Lower)
        .map_err(|_| AnalyticError::NoConvergence {
            what: "symmetric eigen-decomposition",
        })?;
    let s = evd.S().column_vector();
    let n = s.nrows();
    // faer sorts non-decreasing; reverse.
    let values = (0..n).rev().map(|i| s[i]).collect();
    let u = evd.U();
    let vectors = Mat::from_fn(a.nrows(), n, |i, j| u[(i, n - 1 - j)]);
    Ok((values, vectors))
}

/// A uniformly random `d × r` matrix with orthonormal columns: the polar factor `U Vᵀ` of the
/// thin SVD of a standard Gaussian `d × r` matrix (Haar-distributed on the Stiefel manifold).
pub(crate) fn random_orthonormal<R: Rng + ?Sized>(
    d: usize,
    r: usize,
    rng: &mut R,
) -> Result<Mat<f64>, AnalyticError> {
    if r > d {
        return Err(AnalyticError::invalid(
            "rank",
            r,
            format!("must be ≤ dimension {d}"),
        ));
    }
    if r == 0 {
        return Ok(Mat::zeros(d, 0));
    }
    let g = Batch::standard_normal(d, r, rng);
    let svd = view(&g)
        .thin_svd()
        .map_err(|_| AnalyticError::NoConvergence { what: "thin SVD" })?;
    Ok(mul(svd.U(), svd.V().transpose()))
}

/// Fails unless `u` has orthonormal columns (max |UᵀU − I| ≤ 1e-8).
pub(crate) fn check_orthonormal(u: MatRef<'_, f64>, name: &str) -> Result<(), AnalyticError> {
    let gram = mul(u.transpose(), u);
    let mut deviation = 0.0_f64;
    for i in 0..gram.nrows() {
        for j in 0..gram.ncols() {
            let target = if i == j { 1.0 } else { 0.0 };
            deviation = deviation.max((gram[(i, j)] - target).abs());
        }
    }
    if deviation.is_nan() || deviation > 1e-8 {
        return Err(AnalyticError::NotOrthonormal {
            name: name.to_string(),
            deviation,
        });
    }
    Ok(())
}

/// Fails when any entry of `values` is not finite, naming the first offender.
pub(crate) fn check_finite(name: &'static str, values: &[f64]) -> Result<(), AnalyticError> {
    match values.iter().position(|v| !v.is_finite()) {
        Some(i) => Err(AnalyticError::invalid(
            name,
            values[i],
            format!("entry {i} is not finite"),
        )),
        None => Ok(()),
    }
}

/// log Σ exp(aᵢ), stable; −∞ for an empty or all −∞ input.
pub(crate) fn log_sum_exp(a: &[f64]) -> f64 {
    let m = a.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if m == f64::NEG_INFINITY {
        return m;
    }
    m + a.iter().map(|v| (v - m).exp()).sum::<f64>().ln()
}

/// Softmax of each row of an `n × k` row-major table of logits, in place.
pub(crate) fn softmax_rows(logits: &mut [f64], k: usize) {
    for row in logits.chunks_exact_mut(k.max(1)) {
        let lse = log_sum_exp(row);
        row.iter_mut().for_each(|v| *v = (*v - lse).exp());
    }
}

/// Validates mixture weights: finite, ≥ 0, summing to 1 within 1e-9; returns them
/// renormalized to sum exactly to 1.
pub(crate) fn check_weights(
    weights: &[f64],
    expected_len: usize,
) -> Result<Vec<f64>, AnalyticError> {
    if weights.len() != expected_len || weights.is_empty() {
        return Err(AnalyticError::shape(
            "weights",
            weights.len(),
            expected_len.max(1),
        ));
    }
    if let Some((i, w)) = weights
        .iter()
        .enumerate()
        .find(|(_, w)| !w.is_finite() || **w < 0.0)
    {
        return Err(AnalyticError::invalid(
            "weight",
            w,
            format!("weight {i} must be finite and ≥ 0"),
        ));
    }
    let sum: f64 = weights.iter().sum();
    if (sum - 1.0).abs() > 1e-9 {
        return Err(AnalyticError::invalid(
            "sum of weights",
            sum,
            "must be 1 (within 1e-9)",
        ));
    }
    Ok(weights.iter().map(|w| w / sum).collect())
}

/// Index drawn with probability proportional to `weights` (all ≥ 0, positive sum).
pub(crate) fn categorical<R: Rng + ?Sized>(weights: &[f64], rng: &mut R) -> usize {
    let total: f64 = weights.iter().sum();
    let mut u = rng.random::<f64>() * total;
    for (i, w) in weights.iter().enumerate() {
        if u < *w {
            return i;
        }
        u -= w;
    }
    weights.iter().rposition(|w| *w > 0.0).unwrap_or(0)
}
