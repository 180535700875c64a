//! Small `f64` faer helpers: batch views, products and symmetric eigen-decomposition.

pub(crate) use analytic::linalg::{mul, to_row_major};
use faer::{Mat, MatRef, Side};

use crate::MetricError;

/// A row-major `n × d` slice as a faer view (no copy).
pub(crate) fn view(data: &[f64], n: usize, d: usize) -> MatRef<'_, f64> {
    MatRef::from_row_major_slice(data, n, d)
}

/// `(a + aᵀ)/2`, so round-off asymmetry never reaches the symmetric eigen-solver.
pub(crate) fn symmetrize(a: MatRef<'_, f64>) -> Mat<f64> {
    Mat::from_fn(a.nrows(), a.ncols(), |i, j| 0.5 * (a[(i, j)] + a[(j, i)]))
}

/// Eigenvalues (nondecreasing) and eigenvectors (columns of `U`) of a symmetric matrix.
pub(crate) fn sym_eigen(
    a: MatRef<'_, f64>,
    name: &'static str,
) -> Result<(Vec<f64>, Mat<f64>), MetricError> {
    let evd = a
        .self_adjoint_eigen(Side::Lower)
        .map_err(|_| MetricError::EigenNoConvergence { name })?;
    let lambda = evd.S().column_vector().iter().copied().collect();
    Ok((lambda, evd.U().to_owned()))
}

/// Eigenvalues (nondecreasing) of a symmetric matrix.
pub(crate) fn sym_eigenvalues(
    a: MatRef<'_, f64>,
    name: &'static str,
) -> Result<Vec<f64>, MetricError> {
    a.self_adjoint_eigenvalues(Side::Lower)
        .map_err(|_| MetricError::EigenNoConvergence { name })
}
