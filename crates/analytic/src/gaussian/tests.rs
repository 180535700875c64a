use faer::linalg::solvers::DenseSolveCore;
use faer::{Mat, MatRef};
use samplers::rng::seeded;
use samplers::{Batch, Denoiser, PfOdeSolution};

use crate::test_support::{
    assert_posterior_cov_is_jacobian, assert_score_is_grad_log_density, max_diff,
};
use crate::{AnalyticError, Distribution, Gaussian};

fn full_rank() -> Gaussian {
    Gaussian::with_spectrum(
        vec![0.5, -1.0, 2.0, 0.0, 1.5],
        &[3.0, 2.0, 1.0, 0.5, 0.1],
        &mut seeded(1),
    )
    .unwrap()
}

fn low_rank() -> Gaussian {
    Gaussian::with_spectrum(
        vec![0.5, -1.0, 2.0, 0.0, 1.5],
        &[4.0, 1.0, 0.3],
        &mut seeded(2),
    )
    .unwrap()
}

/// (Σ + σ²I)⁻¹ by LU, for comparison.
fn direct_inverse(g: &Gaussian, sigma: f64) -> Mat<f64> {
    let d = g.dim();
    let cov = g.covariance();
    let a = Mat::from_fn(d, d, |i, j| {
        cov[i * d + j] + if i == j { sigma * sigma } else { 0.0 }
    });
    a.partial_piv_lu().inverse()
}

fn flat(m: &Mat<f64>) -> Vec<f64> {
    crate::linalg::to_row_major(m.as_ref())
}

#[test]
fn woodbury_equals_direct_inverse_full_and_low_rank() {
    for g in [full_rank(), low_rank()] {
        for sigma in [0.3, 1.0, 4.0] {
            let err = max_diff(
                &flat(&g.woodbury_inverse(sigma)),
                &flat(&direct_inverse(&g, sigma)),
            );
            assert!(err < 1e-10, "rank {} σ {sigma}: {err:e}", g.rank());
        }
    }
    // σ = 0, full rank: Σ⁻¹.
    let g = full_rank();
    assert!(
        max_diff(
            &flat(&g.woodbury_inverse(0.0)),
            &flat(&direct_inverse(&g, 0.0))
        ) < 1e-10
    );
}

#[test]
fn log_density_and_score_at_sigma_zero_match_hand_computation() {
    // Σ = [[2, .5], [.5, 1]]: det 1.75, Σ⁻¹ = [[1, −.5], [−.5, 2]]/1.75; x − μ = (1, −1).
    let g = Gaussian::from_covariance(vec![1.0, 2.0], &[2.0, 0.5, 0.5, 1.0], 0.0).unwrap();
    let x = Batch::from_vec(1, 2, vec![2.0, 1.0]).unwrap();
    let quad = 4.0 / 1.75;
    let expected = -0.5 * (2.0 * (2.0 * std::f64::consts::PI).ln() + 1.75_f64.ln() + quad);
    assert!((g.log_density(&x, 0.0)[0] - expected).abs() < 1e-12);
    let score = g.score(&x, 0.0);
    assert!(max_diff(score.as_slice(), &[-1.5 / 1.75, 2.5 / 1.75]) < 1e-12);
}

#[test]
fn rank_deficient_log_density_matches_hand_computation() {
    // λ = 2 along e1, nothing along e2: p_σ = N(0, diag(2 + σ², σ²)).
    let g = Gaussian::from_eigen(vec![0.0, 0.0], Mat::identity(2, 1), vec![2.0]).unwrap();
    let (x, sigma) = (Batch::from_vec(1, 2, vec![1.0, 0.3]).unwrap(), 0.5);
    let (v1, v2) = (2.25_f64, 0.25_f64);
    let expected =
        -0.5 * (2.0 * (2.0 * std::f64::consts::PI).ln() + (v1 * v2).ln() + 1.0 / v1 + 0.09 / v2);
    assert!((g.log_density(&x, sigma)[0] - expected).abs() < 1e-12);
}

#[test]
fn score_is_gradient_of_log_density() {
    let mut rng = seeded(3);
    for g in [full_rank(), low_rank()] {
        let x = Batch::standard_normal(3, 5, &mut rng).scaled(2.0);
        for sigma in [0.2, 1.0, 5.0] {
            assert_score_is_grad_log_density(&g, &x, sigma, 1e-7);
        }
    }
    // σ = 0 is allowed for a full-rank Gaussian.
    let g = full_rank();
    let x = Batch::standard_normal(2, 5, &mut rng);
    let fd = crate::test_support::fd_grad_log_density(&g, &x, 0.0, 1e-5);
    assert!(g.score(&x, 0.0).max_abs_diff(&fd) < 1e-6);
}

#[test]
fn posterior_covariance_is_sigma_squared_times_jacobian() {
    for g in [full_rank(), low_rank()] {
        for sigma in [0.3, 2.0] {
            assert_posterior_cov_is_jacobian(&g, &[0.1, 0.2, -0.3, 1.0, 2.0], sigma, 1e-7);
        }
    }
}

#[test]
fn denoiser_matches_closed_form_in_eigenbasis() {
    // Isotropic N(μ, v I): D = μ + v/(v + σ²)(x − μ).
    let g = Gaussian::isotropic(vec![1.0, -1.0, 0.0], 2.0).unwrap();
    let x = Batch::from_vec(1, 3, vec![3.0, 1.0, 1.0]).unwrap();
    let d = g.denoise(&x, 1.0);
    let k = 2.0 / 3.0;
    assert!(max_diff(d.as_slice(), &[1.0 + 2.0 * k, -1.0 + 2.0 * k, k]) < 1e-14);
}

#[test]
fn pf_ode_solution_is_identity_solves_the_ode_and_composes() {
    let mut rng = seeded(4);
    for g in [full_rank(), low_rank()] {
        let sigma_t = 10.0;
        let x_t = Batch::standard_normal(4, 5, &mut rng).scaled(sigma_t);
        // Identity at σ = σ_T.
        assert!(g.pf_ode_solution(&x_t, sigma_t, sigma_t).max_abs_diff(&x_t) < 1e-12);
        // dx/dσ = (x − D(x, σ))/σ along the solution.
        for sigma in [0.05, 0.7, 3.0] {
            let h = 1e-5 * sigma;
            let x = g.pf_ode_solution(&x_t, sigma_t, sigma);
            let dx = g.pf_ode_solution(&x_t, sigma_t, sigma + h).lincomb(
                1.0 / (2.0 * h),
                &g.pf_ode_solution(&x_t, sigma_t, sigma - h),
                -1.0 / (2.0 * h),
            );
            let slope = (&x - &g.denoise(&x, sigma)).scaled(1.0 / sigma);
            let err = dx.max_abs_diff(&slope);
            assert!(err < 1e-6, "rank {} σ {sigma}: {err:e}", g.rank());
        }
        // a → b → c equals a → c, through the PfOdeSolution trait.
        let two_hops = g.transport(&g.transport(&x_t, sigma_t, 2.0), 2.0, 0.3);
        assert!(two_hops.max_abs_diff(&g.transport(&x_t, sigma_t, 0.3)) < 1e-11);
    }
}

#[test]
fn pf_ode_solution_maps_noise_marginal_to_data_marginal() {
    // Transport of exact N(μ, Σ + σ_T² I) samples to σ = 0 gives N(μ, Σ) samples.
    let g = Gaussian::from_covariance(vec![1.0, -2.0], &[2.0, 0.6, 0.6, 0.5], 0.0).unwrap();
    let mut rng = seeded(5);
    let n = 20_000;
    let sigma_t = 3.0;
    let x_t = &g.sample(n, &mut rng) + &Batch::standard_normal(n, 2, &mut rng).scaled(sigma_t);
    let x0 = g.pf_ode_solution(&x_t, sigma_t, 0.0);
    let cov = x0.covariance();
    assert!(max_diff(&x0.mean(), &[1.0, -2.0]) < 0.05);
    assert!(max_diff(&cov, &[2.0, 0.6, 0.6, 0.5]) < 0.12, "{cov:?}");
}

#[test]
fn samples_have_the_right_mean_and_covariance() {
    let mean = vec![1.0, -2.0, 0.5];
    let g = Gaussian::with_spectrum(mean.clone(), &[4.0, 1.0, 0.25], &mut seeded(6)).unwrap();
    let n = 20_000;
    let x = g.sample(n, &mut seeded(7));
    let sigma = g.covariance();
    for (i, (m, mu)) in x.mean().iter().zip(&mean).enumerate() {
        assert!(
            (m - mu).abs() < 5.0 * (sigma[i * 3 + i] / n as f64).sqrt(),
            "mean {i}: {m} vs {mu}"
        );
    }
    let cov = x.covariance();
    for i in 0..3 {
        for j in 0..3 {
            let sd = ((sigma[i * 3 + i] * sigma[j * 3 + j] + sigma[i * 3 + j].powi(2)) / n as f64)
                .sqrt();
            assert!(
                (cov[i * 3 + j] - sigma[i * 3 + j]).abs() < 5.0 * sd,
                "cov {i}{j}"
            );
        }
    }
}

#[test]
fn from_data_recovers_sample_mean_and_covariance() {
    let data = Batch::standard_normal(50, 4, &mut seeded(8)).map(|v| 2.0 * v + 1.0);
    let g = Gaussian::from_data(&data, 0.0).unwrap();
    assert_eq!(g.rank(), 4);
    assert!(max_diff(g.mean(), &data.mean()) < 1e-14);
    assert!(max_diff(&g.covariance(), &data.covariance()) < 1e-12);
    // Eigenvalues sorted non-increasing, basis orthonormal.
    assert!(g.eigenvalues().windows(2).all(|w| w[0] >= w[1]));
}

#[test]
fn from_covariance_drops_small_eigenvalues() {
    // 3·u uᵀ with u = (1, 2, 2)/3: rank 1, eigenvalue 3.
    let u = [1.0 / 3.0, 2.0 / 3.0, 2.0 / 3.0];
    let cov: Vec<f64> = (0..9).map(|k| 3.0 * u[k / 3] * u[k % 3]).collect();
    let g = Gaussian::from_covariance(vec![0.0; 3], &cov, 1e-9).unwrap();
    assert_eq!(g.rank(), 1);
    assert!((g.eigenvalues()[0] - 3.0).abs() < 1e-12);
    let b: MatRef<'_, f64> = g.basis();
    assert!((b[(0, 0)] * b[(1, 0)] - 2.0 / 9.0).abs() < 1e-12);
}

#[test]
fn invalid_input_is_rejected_with_the_value_named() {
    let err = Gaussian::from_covariance(vec![0.0, 0.0], &[1.0, 2.0, 2.0, 1.0], 1e-9).unwrap_err();
    match &err {
        AnalyticError::NotPsd { eigenvalue, .. } => assert!((eigenvalue + 1.0).abs() < 1e-12),
        other => panic!("expected NotPsd, got {other}"),
    }
    assert!(err.to_string().contains("eigenvalue -1"), "{err}");

    let err = Gaussian::from_covariance(vec![0.0, 0.0], &[1.0, 0.5, 0.3, 1.0], 0.0).unwrap_err();
    assert!(
        err.to_string().contains("0.5") && err.to_string().contains("0.3"),
        "{err}"
    );

    let err = Gaussian::from_covariance(vec![0.0, 0.0], &[1.0, 0.0, 0.0], 0.0).unwrap_err();
    assert_eq!(
        err,
        AnalyticError::Shape {
            name: "covariance".into(),
            got: 3,
            expected: 4
        }
    );

    let err = Gaussian::from_eigen(vec![0.0, 0.0], Mat::identity(2, 1), vec![-1.0]).unwrap_err();
    assert!(err.to_string().contains("-1"), "{err}");

    let skew = Mat::from_fn(2, 1, |i, _| [1.0, 1.0][i]);
    let err = Gaussian::from_eigen(vec![0.0, 0.0], skew, vec![1.0]).unwrap_err();
    assert!(
        matches!(err, AnalyticError::NotOrthonormal { deviation, .. } if (deviation - 1.0).abs() < 1e-12)
    );

    let err = Gaussian::isotropic(vec![0.0], -2.0).unwrap_err();
    assert!(err.to_string().contains("variance = -2"), "{err}");
}
