//! The Jacobian ∇D(x, σ) of a denoiser and its geometry: the denoiser's own Jacobian
//! (exact Cov[x0 | x]/σ² for a closed form, Kadkhodaie et al. 2024 §3.1; reverse-mode
//! autodiff for a network) with central finite differences as the checked fallback for any
//! [`Denoiser`], its symmetric eigen-basis and singular values (Kadkhodaie et al. 2024's
//! adaptive basis), effective dimension, the MoLRG "rank at 99% energy" (Wang et al. 2024)
//! and principal angles between subspaces.

use faer::{Mat, MatRef};
use samplers::{Batch, Denoiser};

use crate::error::{check_finite, check_len, check_positive};
use crate::linalg::{mul, sym_eigen, symmetrize, view};
use crate::MetricError;

/// Central-difference Jacobian `J_ij = ∂D_i/∂x_j ≈ (D(x + h e_j) − D(x − h e_j))_i / (2h)`,
/// `d × d` row-major, with all `2d` perturbed inputs in ONE batched denoiser call (rows
/// `x + h e_j`, `x − h e_j` for j = 0…d−1). Error `O(h²)` for a smooth denoiser.
/// (Kadkhodaie et al. 2024 build the same matrix row by row with autograd.)
pub fn finite_difference_jacobian(
    denoiser: &dyn Denoiser,
    x: &[f64],
    sigma: f64,
    h: f64,
) -> Result<Vec<f64>, MetricError> {
    let d = denoiser.dim();
    check_len("x", x.len(), d)?;
    check_finite("x", x)?;
    check_positive("sigma", sigma)?;
    check_positive("h", h)?;
    let mut probes = Batch::repeat_row(x, 2 * d);
    for j in 0..d {
        probes.row_mut(2 * j)[j] += h;
        probes.row_mut(2 * j + 1)[j] -= h;
    }
    let out = denoiser.denoise(&probes, sigma);
    let mut jac = vec![0.0; d * d];
    for j in 0..d {
        let (plus, minus) = (out.row(2 * j), out.row(2 * j + 1));
        for i in 0..d {
            jac[i * d + j] = (plus[i] - minus[i]) / (2.0 * h);
        }
    }
    Ok(jac)
}

/// How [`denoiser_jacobians`] obtains Jacobians.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JacobianMethod {
    /// The denoiser's own [`Denoiser::jacobians`] (exact for closed forms, reverse-mode
    /// autodiff for networks), finite differences where it has none.
    Auto,
    /// Central finite differences ([`finite_difference_jacobian`]) even where the denoiser
    /// has its own.
    FiniteDifference,
}

/// The Jacobians ∇ₓD(x, σ) at every row of `points`, `d × d` row-major, and whether they
/// are the denoiser's own (`true`) or central finite differences with step `h` (`false`).
pub fn denoiser_jacobians(
    denoiser: &dyn Denoiser,
    points: &Batch,
    sigma: f64,
    h: f64,
    method: JacobianMethod,
) -> Result<(Vec<Vec<f64>>, bool), MetricError> {
    let d = denoiser.dim();
    check_len("points' dimension", points.dim(), d)?;
    check_finite("points", points.as_slice())?;
    check_positive("sigma", sigma)?;
    if method == JacobianMethod::Auto {
        if let Some(jacobians) = denoiser.jacobians(points, sigma) {
            return Ok((jacobians, true));
        }
    }
    let jacobians = (0..points.n())
        .map(|i| finite_difference_jacobian(denoiser, points.row(i), sigma, h))
        .collect::<Result<_, _>>()?;
    Ok((jacobians, false))
}

/// Spectrum of a `d × d` Jacobian `J`.
#[derive(Clone, Debug)]
pub struct JacobianSpectrum {
    /// Eigenvalues of the symmetric part `(J + Jᵀ)/2`, descending.
    pub eigenvalues_sym: Vec<f64>,
    /// The matching eigenvectors of `(J + Jᵀ)/2` as columns (`d × top`), descending order.
    pub eigenvectors_sym: Mat<f64>,
    /// Singular values of `J`, descending.
    pub singular_values: Vec<f64>,
}

/// Eigen-decomposition of `(J + Jᵀ)/2` (faer self-adjoint eigen; the adaptive basis of
/// Kadkhodaie et al. 2024 §2, exact for the symmetric Jacobian of an optimal denoiser) and
/// singular values of `J` (faer SVD). Keeps the `top` leading eigenvectors.
pub fn jacobian_spectrum(
    jac: &[f64],
    d: usize,
    top: usize,
) -> Result<JacobianSpectrum, MetricError> {
    check_len("jacobian", jac.len(), d * d)?;
    check_finite("jacobian", jac)?;
    let j = view(jac, d, d);
    let (mut eigenvalues_sym, u) = sym_eigen(symmetrize(j).as_ref(), "(J + Jᵀ)/2")?;
    eigenvalues_sym.reverse();
    let top = top.min(d);
    let eigenvectors_sym = Mat::from_fn(d, top, |i, k| u[(i, d - 1 - k)]);
    let singular_values = j
        .singular_values()
        .map_err(|_| MetricError::EigenNoConvergence { name: "SVD of J" })?;
    Ok(JacobianSpectrum {
        eigenvalues_sym,
        eigenvectors_sym,
        singular_values,
    })
}

/// Effective dimension `tr ∇D` (Kadkhodaie et al. 2024: the trace of the denoiser Jacobian
/// is the dimension of the adaptive subspace it projects on; for a projection onto a
/// k-dimensional subspace it is k).
pub fn effective_dimension(jac: &[f64], d: usize) -> Result<f64, MetricError> {
    check_len("jacobian", jac.len(), d * d)?;
    Ok((0..d).map(|i| jac[i * d + i]).sum())
}

/// Rank at an energy level (Wang et al. 2024, huijieZH/Diffusion-Model-Generalizability):
/// the smallest `r` with `√(Σ_{i≤r} s_i²) > energy · √(Σ_i s_i²)` for singular values `s`
/// sorted descending; 0 for an all-zero spectrum. The paper uses `energy = 0.99`.
pub fn rank_at_energy(singular_values: &[f64], energy: f64) -> usize {
    let total = singular_values.iter().map(|s| s * s).sum::<f64>().sqrt();
    if total == 0.0 {
        return 0;
    }
    let mut partial = 0.0;
    for (r, s) in singular_values.iter().enumerate() {
        partial += s * s;
        if partial.sqrt() > energy * total {
            return r + 1;
        }
    }
    singular_values.len()
}

/// Principal angles between span(A) and span(B) (Björck & Golub 1973): `θ_k = acos s_k`
/// with `s_k` the singular values of `AᵀB` (clamped to [0, 1]), ascending angles. `a` is
/// `d × k_a` and `b` is `d × k_b`, both with orthonormal columns (checked to 1e-8);
/// returns `min(k_a, k_b)` angles.
pub fn principal_angles(a: MatRef<'_, f64>, b: MatRef<'_, f64>) -> Result<Vec<f64>, MetricError> {
    check_len("b.nrows", b.nrows(), a.nrows())?;
    check_orthonormal(a, "a")?;
    check_orthonormal(b, "b")?;
    let s =
        mul(a.transpose(), b)
            .singular_values()
            .map_err(|_| MetricError::EigenNoConvergence {
                name: "SVD of AᵀB"
            })?;
    Ok(s.iter().map(|s| s.clamp(0.0, 1.0).acos()).collect())
}

/// `Err(InvalidValue)` unless `max |UᵀU − I| ≤ 1e-8`.
fn check_orthonormal(u: MatRef<'_, f64>, name: &'static str) -> Result<(), MetricError> {
    let g = mul(u.transpose(), u);
    let k = g.nrows();
    let err = (0..k)
        .flat_map(|i| (0..k).map(move |j| (i, j)))
        .map(|(i, j)| (g[(i, j)] - if i == j { 1.0 } else { 0.0 }).abs())
        .fold(0.0, f64::max);
    if err <= 1e-8 {
        Ok(())
    } else {
        Err(MetricError::InvalidValue {
            name,
            value: err,
            reason: "columns must be orthonormal (value is max |UᵀU − I|)".to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use analytic::{Gaussian, GaussianMixture, Molrg};
    use samplers::rng::seeded;
    use std::f64::consts::FRAC_PI_2;

    #[test]
    fn gaussian_jacobian_eigenvalues_are_shrinkage_factors() {
        // D(x) = μ + U diag(λ/(λ+σ²)) Uᵀ(x − μ): J has eigenvalues λ_k/(λ_k + σ²) and 0
        // off the support (rank 3 in d = 5).
        let lambda = [4.0, 1.0, 0.25];
        let sigma = 0.5;
        let g = Gaussian::with_spectrum(vec![0.3; 5], &lambda, &mut seeded(1)).unwrap();
        let x = [0.1, -0.4, 2.0, 0.7, -1.1];
        let jac = finite_difference_jacobian(&g, &x, sigma, 1e-3).unwrap();
        let spec = jacobian_spectrum(&jac, 5, 3).unwrap();
        let expected = [0.8 / 0.85, 0.8, 0.5, 0.0, 0.0]; // 4/4.25, 1/1.25, 0.25/0.5
        for (a, b) in spec.eigenvalues_sym.iter().zip(expected) {
            assert!((a - b).abs() < 1e-9, "{:?}", spec.eigenvalues_sym);
        }
        for (a, b) in spec.singular_values.iter().zip(expected) {
            assert!((a - b).abs() < 1e-9, "{:?}", spec.singular_values);
        }
        let tr = effective_dimension(&jac, 5).unwrap();
        assert!((tr - (0.8 / 0.85 + 1.3)).abs() < 1e-9);
        // the leading eigenvectors span the Gaussian's support
        let angles = principal_angles(spec.eigenvectors_sym.as_ref(), g.basis()).unwrap();
        assert!(angles.iter().all(|a| a.abs() < 1e-6), "{angles:?}");
        let point = Batch::from_vec(1, 5, x.to_vec()).unwrap();
        let (exact, native) =
            denoiser_jacobians(&g, &point, sigma, 1e-3, JacobianMethod::Auto).unwrap();
        assert!(native);
        assert!(jac.iter().zip(&exact[0]).all(|(a, b)| (a - b).abs() < 1e-9));
        let (fd, native) =
            denoiser_jacobians(&g, &point, sigma, 1e-3, JacobianMethod::FiniteDifference).unwrap();
        assert!(!native && fd[0] == jac);
    }

    #[test]
    fn finite_differences_match_the_exact_mixture_jacobian() {
        let gmm = GaussianMixture::new(
            vec![0.3, 0.7],
            vec![vec![1.0, 0.0, -1.0], vec![-1.0, 0.5, 0.0]],
            vec![
                vec![1.0, 0.2, 0.0, 0.2, 0.5, 0.1, 0.0, 0.1, 0.3],
                vec![0.4, 0.0, 0.0, 0.0, 0.4, 0.0, 0.0, 0.0, 0.4],
            ],
        )
        .unwrap();
        let (x, sigma) = ([0.1, 0.3, -0.5], 0.7);
        let fd = finite_difference_jacobian(&gmm, &x, sigma, 1e-4).unwrap();
        let exact = gmm
            .jacobians(&Batch::from_vec(1, 3, x.to_vec()).unwrap(), sigma)
            .unwrap()
            .remove(0);
        let err = fd
            .iter()
            .zip(&exact)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        // a nonlinear denoiser: the Jacobian is far from the Gaussian one ...
        assert!(exact.iter().any(|v| v.abs() > 0.1));
        // ... and central differences agree to O(h²) + round-off/h
        assert!(err < 1e-7, "max error {err}");
    }

    #[test]
    fn molrg_jacobian_rank_is_the_class_dimension_at_small_sigma() {
        // n = 10, K = 2, d = 3: near a class-0 point at small σ, D ≈ U_0U_0ᵀx/(1 + σ²),
        // rank 3; at large σ both classes weigh ½, D ≈ (U_0U_0ᵀ + U_1U_1ᵀ)x/(2(1 + σ²)),
        // rank 6 (Wang et al. 2024).
        let molrg = Molrg::random(10, 2, 3, &mut seeded(4)).unwrap();
        let u0 = molrg.bases()[0].as_ref();
        let x: Vec<f64> = (0..10)
            .map(|i| u0[(i, 0)] - 0.5 * u0[(i, 1)] + 0.8 * u0[(i, 2)])
            .collect();
        let rank = |sigma: f64| {
            let jac = finite_difference_jacobian(&molrg, &x, sigma, 1e-5 * sigma).unwrap();
            rank_at_energy(
                &jacobian_spectrum(&jac, 10, 0).unwrap().singular_values,
                0.99,
            )
        };
        assert_eq!(rank(0.05), 3);
        assert_eq!(rank(20.0), 6);
    }

    #[test]
    fn rank_at_energy_hand_values() {
        // s = (3, 2, 1): cumulative √(9) = 3, √13 = 3.606, √14 = 3.742; 0.9·√14 = 3.367
        assert_eq!(rank_at_energy(&[3.0, 2.0, 1.0], 0.9), 2);
        assert_eq!(rank_at_energy(&[3.0, 2.0, 1.0], 0.99), 3);
        assert_eq!(rank_at_energy(&[3.0, 2.0, 1.0], 0.5), 1);
        assert_eq!(rank_at_energy(&[0.0, 0.0], 0.99), 0);
    }

    #[test]
    fn principal_angles_of_identical_orthogonal_and_tilted_subspaces() {
        let e = Mat::<f64>::identity(4, 4);
        let a = e.subcols(0, 2);
        let b = e.subcols(2, 2);
        let same = principal_angles(a, a).unwrap();
        assert!(same.iter().all(|t| t.abs() < 1e-7), "{same:?}");
        let orth = principal_angles(a, b).unwrap();
        assert!(
            orth.iter().all(|t| (t - FRAC_PI_2).abs() < 1e-12),
            "{orth:?}"
        );
        // span(e0) vs span(cos θ e0 + sin θ e1): one angle θ
        let theta = 0.3_f64;
        let tilted = Mat::from_fn(4, 1, |i, _| match i {
            0 => theta.cos(),
            1 => theta.sin(),
            _ => 0.0,
        });
        let angle = principal_angles(e.subcols(0, 1), tilted.as_ref()).unwrap();
        assert!((angle[0] - theta).abs() < 1e-12);
        // not orthonormal → error
        let bad = Mat::from_fn(4, 1, |_, _| 1.0);
        assert!(principal_angles(bad.as_ref(), bad.as_ref()).is_err());
    }
}
