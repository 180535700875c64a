//! Fréchet distance between Gaussians fitted to two sample sets (the FID formula), which is
//! also the exact squared 2-Wasserstein distance between those Gaussians.

use faer::Mat;
use samplers::Batch;

use crate::error::{check_finite, check_len};
use crate::linalg::{mul, sym_eigen, sym_eigenvalues, symmetrize, view};
use crate::{mean_and_covariance, MetricError};

/// Fréchet distance between `N(μ1, Σ1)` and `N(μ2, Σ2)` (Dowson & Landau 1982; the FID of
/// Heusel et al. 2017, pytorch-fid's `calculate_frechet_distance`):
///
/// `d² = ‖μ1 − μ2‖² + tr Σ1 + tr Σ2 − 2 tr((Σ1 Σ2)^{1/2})`.
///
/// `sigma1`, `sigma2` are `d × d` row-major, symmetrized before use. The trace term is
/// computed without a non-symmetric matrix square root: with `Σ1 = U Λ Uᵀ = B Bᵀ`,
/// `B = U Λ^{1/2}` (eigenvalues clamped at 0), `Σ1 Σ2 = B (Bᵀ Σ2)` has the nonzero
/// eigenvalues of the symmetric PSD `M = Bᵀ Σ2 B` (AB and BA share them), so
/// `tr((Σ1Σ2)^{1/2}) = Σ_k √max(λ_k(M), 0)` — the same `M` as `Σ1^{1/2} Σ2 Σ1^{1/2}` up to the
/// rotation `U`. This stays exact for singular covariances (fewer samples than dimensions),
/// where `sqrtm` of the product is ill-posed. The result is clamped at 0 against round-off.
/// Cost: two `d × d` eigen-decompositions (one without vectors) and two `d × d` products.
pub fn frechet_distance_gaussians(
    mu1: &[f64],
    sigma1: &[f64],
    mu2: &[f64],
    sigma2: &[f64],
) -> Result<f64, MetricError> {
    let d = mu1.len();
    check_len("mu2", mu2.len(), d)?;
    check_len("sigma1", sigma1.len(), d * d)?;
    check_len("sigma2", sigma2.len(), d * d)?;
    for (name, v) in [
        ("mu1", mu1),
        ("sigma1", sigma1),
        ("mu2", mu2),
        ("sigma2", sigma2),
    ] {
        check_finite(name, v)?;
    }
    let mean_term: f64 = mu1.iter().zip(mu2).map(|(a, b)| (a - b) * (a - b)).sum();
    let tr = |s: &[f64]| (0..d).map(|i| s[i * d + i]).sum::<f64>();
    let cross = trace_sqrt_product(sigma1, sigma2, d)?;
    Ok((mean_term + tr(sigma1) + tr(sigma2) - 2.0 * cross).max(0.0))
}

/// Exact squared 2-Wasserstein distance `W2²(N(μ1, Σ1), N(μ2, Σ2))` (Givens & Shortt 1984;
/// Olkin & Pukelsheim 1982). It is the same quantity as the Fréchet distance between the
/// two Gaussians (Dowson & Landau 1982), so this is [`frechet_distance_gaussians`] under
/// the name a transport reader looks for.
#[doc(alias = "w2")]
pub fn gaussian_w2_squared(
    mu1: &[f64],
    sigma1: &[f64],
    mu2: &[f64],
    sigma2: &[f64],
) -> Result<f64, MetricError> {
    frechet_distance_gaussians(mu1, sigma1, mu2, sigma2)
}

/// Fréchet distance between Gaussians fitted to two sample sets (sample means, unbiased
/// sample covariances via [`mean_and_covariance`]): FID when the rows are Inception
/// features. The sets may differ in size; each needs at least 2 samples.
#[doc(alias = "fid")]
pub fn frechet_distance(a: &Batch, b: &Batch) -> Result<f64, MetricError> {
    check_len("b.dim", b.dim(), a.dim())?;
    for (name, x) in [("a", a), ("b", b)] {
        if x.n() < 2 {
            return Err(MetricError::TooFewSamples {
                name,
                n: x.n(),
                needed: 2,
            });
        }
    }
    let (mu1, sigma1) = mean_and_covariance(a);
    let (mu2, sigma2) = mean_and_covariance(b);
    frechet_distance_gaussians(&mu1, &sigma1, &mu2, &sigma2)
}

/// `tr((Σ1 Σ2)^{1/2}) = Σ_k √max(λ_k(Bᵀ Σ2 B), 0)` with `B = U Λ^{1/2}`, `Σ1 = U Λ Uᵀ`.
fn trace_sqrt_product(sigma1: &[f64], sigma2: &[f64], d: usize) -> Result<f64, MetricError> {
    let s1 = symmetrize(view(sigma1, d, d));
    let s2 = symmetrize(view(sigma2, d, d));
    let (lambda1, u) = sym_eigen(s1.as_ref(), "sigma1")?;
    let b = Mat::from_fn(d, d, |i, k| u[(i, k)] * lambda1[k].max(0.0).sqrt());
    let m: Mat<f64> =
        symmetrize(mul(b.transpose(), mul(s2.as_ref(), b.as_ref()).as_ref()).as_ref());
    let lambda = sym_eigenvalues(m.as_ref(), "sigma1^1/2 sigma2 sigma1^1/2")?;
    Ok(lambda.iter().map(|l| l.max(0.0).sqrt()).sum())
}

#[cfg(test)]
mod tests {
    use super::*;
    use samplers::rng::seeded;

    /// `x_ij = sin(0.9 (j+1) i + 0.3 j) + 0.1 cos(0.37 (i+1)(j+2))`; `set_a` of
    /// scripts/frechet_reference.py.
    fn set_a(n: usize, d: usize) -> Batch {
        let f = |i: f64, j: f64| {
            (0.9 * (j + 1.0) * i + 0.3 * j).sin() + 0.1 * (0.37 * (i + 1.0) * (j + 2.0)).cos()
        };
        formula_batch(n, d, f)
    }

    /// `y_ij = (1 + 0.1 j) cos(1.1 (j+1) i + 0.5 j) + 0.2 + 0.05 j`; `set_b` of
    /// scripts/frechet_reference.py.
    fn set_b(n: usize, d: usize) -> Batch {
        let f = |i: f64, j: f64| {
            (1.0 + 0.1 * j) * (1.1 * (j + 1.0) * i + 0.5 * j).cos() + 0.2 + 0.05 * j
        };
        formula_batch(n, d, f)
    }

    fn formula_batch(n: usize, d: usize, f: impl Fn(f64, f64) -> f64) -> Batch {
        let data = (0..n * d)
            .map(|k| f((k / d) as f64, (k % d) as f64))
            .collect();
        Batch::from_vec(n, d, data).unwrap()
    }

    fn assert_rel(got: f64, want: f64, tol: f64) {
        assert!(((got - want) / want).abs() < tol, "got {got}, want {want}");
    }

    /// Reference values: `python3 scripts/frechet_reference.py` (pytorch-fid formula with
    /// scipy.linalg.sqrtm; numpy 2.4.6, scipy 1.17.1).
    #[test]
    fn agrees_with_scipy_sqrtm_reference() {
        let cases = [
            (200, 200, 8, 2.610122091933833e+00), // well conditioned
            (10, 10, 16, 26.8345678971039),       // n < d: rank-9 covariances
            (300, 150, 5, 6.481926664662971e-01), // unequal sample counts
        ];
        for (na, nb, d, want) in cases {
            let fd = frechet_distance(&set_a(na, d), &set_b(nb, d)).unwrap();
            assert_rel(fd, want, 1e-6);
        }
    }

    #[test]
    fn isotropic_gaussians_closed_form() {
        // FD(N(0, a²I), N(0, b²I)) = d (a − b)²; plus a mean shift adds ‖μ1 − μ2‖².
        let (d, a, b) = (6, 0.5, 2.0);
        let eye = |s: f64| {
            (0..d * d)
                .map(|k| if k % (d + 1) == 0 { s * s } else { 0.0 })
                .collect::<Vec<_>>()
        };
        let (zero, shift) = (vec![0.0; d], vec![1.0; d]);
        let fd = frechet_distance_gaussians(&zero, &eye(a), &zero, &eye(b)).unwrap();
        assert_rel(fd, d as f64 * (a - b).powi(2), 1e-12);
        let w2 = gaussian_w2_squared(&zero, &eye(a), &shift, &eye(b)).unwrap();
        assert_rel(w2, d as f64 * ((a - b).powi(2) + 1.0), 1e-12);
    }

    #[test]
    fn commuting_diagonal_and_singular_covariances() {
        // diagonal Σ1 = diag(4, 0), Σ2 = diag(1, 9): Σ_k (√λ1k − √λ2k)² = (2−1)² + (0−3)² = 10
        let fd = frechet_distance_gaussians(
            &[0.0; 2],
            &[4.0, 0.0, 0.0, 0.0],
            &[0.0; 2],
            &[1.0, 0.0, 0.0, 9.0],
        );
        assert_rel(fd.unwrap(), 10.0, 1e-12);
    }

    #[test]
    fn sampled_isotropic_gaussians() {
        let (n, d, a, b) = (4000, 4, 1.0, 1.5);
        let x = Batch::standard_normal(n, d, &mut seeded(1));
        let fd = frechet_distance(
            &x.scaled(a),
            &Batch::standard_normal(n, d, &mut seeded(2)).scaled(b),
        )
        .unwrap();
        assert!((fd - d as f64 * (a - b).powi(2)).abs() < 0.05, "fd = {fd}");
        let same = frechet_distance(&x, &Batch::standard_normal(n, d, &mut seeded(3))).unwrap();
        assert!(same < 0.02, "same-law fd = {same}");
        assert!(frechet_distance(&x, &x).unwrap() < 1e-10);
    }

    #[test]
    fn errors_name_the_bad_input() {
        let x = Batch::zeros(5, 3);
        let err = frechet_distance(&x, &Batch::zeros(5, 4)).unwrap_err();
        assert_eq!(
            err,
            MetricError::DimensionMismatch {
                name: "b.dim",
                got: 4,
                expected: 3
            }
        );
        let err = frechet_distance(&x, &Batch::zeros(1, 3)).unwrap_err();
        assert_eq!(err.to_string(), "b has 1 samples, needs at least 2");
        let err =
            frechet_distance_gaussians(&[0.0; 2], &[1.0; 3], &[0.0; 2], &[1.0; 4]).unwrap_err();
        assert_eq!(err.to_string(), "sigma1 has size 3, expected 4");
        let err = frechet_distance_gaussians(&[0.0, f64::NAN], &[1.0; 4], &[0.0; 2], &[1.0; 4])
            .unwrap_err();
        assert_eq!(
            err,
            MetricError::NonFinite {
                name: "mu1",
                index: 1
            }
        );
    }
}
