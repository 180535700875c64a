use samplers::rng::seeded;
use samplers::{Batch, Denoiser};

use crate::test_support::{
    assert_posterior_cov_is_jacobian, assert_score_is_grad_log_density, max_diff,
};
use crate::{AnalyticError, Distribution, GaussianMixture};

fn three_components() -> GaussianMixture {
    GaussianMixture::new(
        vec![0.2, 0.5, 0.3],
        vec![vec![-2.0, 0.0], vec![1.5, 1.0], vec![0.5, -2.0]],
        vec![
            vec![0.5, 0.2, 0.2, 0.4],
            vec![0.3, -0.1, -0.1, 0.6],
            vec![1.0, 0.0, 0.0, 0.2],
        ],
    )
    .unwrap()
}

/// Brute-force posterior on a fine d = 2 grid: returns (E[x0 | x], log p_σ(x)) from
/// ∫ x0 p0(x0) N(x; x0, σ²I) dx0 / ∫ p0(x0) N(x; x0, σ²I) dx0.
pub(crate) fn grid_posterior(
    p0: &dyn Distribution,
    x: &[f64],
    sigma: f64,
    half: f64,
    m: usize,
) -> (Vec<f64>, f64) {
    let h = 2.0 * half / (m - 1) as f64;
    let grid: Vec<f64> = (0..m * m)
        .flat_map(|k| [-half + h * (k / m) as f64, -half + h * (k % m) as f64])
        .collect();
    let grid = Batch::from_vec(m * m, 2, grid).unwrap();
    let lp0 = p0.log_density(&grid, 0.0);
    let (mut z, mut mx, mut my) = (0.0, 0.0, 0.0);
    for (row, l) in grid.rows().zip(lp0) {
        let r2 = (row[0] - x[0]).powi(2) + (row[1] - x[1]).powi(2);
        let w = (l - r2 / (2.0 * sigma * sigma)).exp()
            / (2.0 * std::f64::consts::PI * sigma * sigma)
            * h
            * h;
        z += w;
        mx += w * row[0];
        my += w * row[1];
    }
    (vec![mx / z, my / z], z.ln())
}

#[test]
fn denoiser_and_log_density_match_grid_quadrature() {
    let gmm = three_components();
    for (x, sigma) in [([0.3, -0.4], 0.5), ([-1.0, 1.0], 1.0), ([2.0, -1.5], 0.3)] {
        let (mean, log_z) = grid_posterior(&gmm, &x, sigma, 9.0, 601);
        let xb = Batch::from_vec(1, 2, x.to_vec()).unwrap();
        let d = gmm.denoise(&xb, sigma);
        assert!(
            max_diff(d.as_slice(), &mean) < 1e-8,
            "x {x:?} σ {sigma}: {:?} vs {mean:?}",
            d.as_slice()
        );
        assert!((gmm.log_density(&xb, sigma)[0] - log_z).abs() < 1e-8);
    }
}

#[test]
fn score_is_gradient_of_log_density() {
    let gmm = three_components();
    let x = Batch::standard_normal(4, 2, &mut seeded(10)).scaled(2.0);
    for sigma in [0.1, 0.6, 3.0] {
        assert_score_is_grad_log_density(&gmm, &x, sigma, 1e-6);
    }
}

#[test]
fn posterior_covariance_is_sigma_squared_times_jacobian() {
    let gmm = three_components();
    for (x, sigma) in [([0.3, -0.4], 0.5), ([-1.0, 1.0], 1.5), ([0.0, 0.0], 0.2)] {
        assert_posterior_cov_is_jacobian(&gmm, &x, sigma, 1e-6);
    }
}

#[test]
fn posterior_covariance_matches_grid_quadrature() {
    // Cov[x0|x]_{00} = E[x0²|x] − E[x0|x]², by quadrature of the first coordinate.
    let gmm = three_components();
    let (x, sigma) = ([0.3, -0.4], 0.8);
    let (mean, _) = grid_posterior(&gmm, &x, sigma, 9.0, 601);
    // E[x0²] via the same quadrature on the squared coordinate: reuse by shifting.
    let m = 601;
    let h = 18.0 / (m - 1) as f64;
    let grid: Vec<f64> = (0..m * m)
        .flat_map(|k| [-9.0 + h * (k / m) as f64, -9.0 + h * (k % m) as f64])
        .collect();
    let grid = Batch::from_vec(m * m, 2, grid).unwrap();
    let lp0 = gmm.log_density(&grid, 0.0);
    let (mut z, mut s) = (0.0, 0.0);
    for (row, l) in grid.rows().zip(lp0) {
        let w =
            (l - ((row[0] - x[0]).powi(2) + (row[1] - x[1]).powi(2)) / (2.0 * sigma * sigma)).exp();
        z += w;
        s += w * (row[0] - mean[0]).powi(2);
    }
    let cov = gmm.posterior_covariance(&x, sigma);
    assert!((cov[0] - s / z).abs() < 1e-8, "{} vs {}", cov[0], s / z);
}

#[test]
fn sample_proportions_follow_the_weights() {
    let gmm = GaussianMixture::new(
        vec![0.25, 0.75],
        vec![vec![-100.0], vec![100.0]],
        vec![vec![1.0], vec![1.0]],
    )
    .unwrap();
    let n = 10_000;
    let x = gmm.sample(n, &mut seeded(11));
    let frac = x.as_slice().iter().filter(|v| **v > 0.0).count() as f64 / n as f64;
    assert!(
        (frac - 0.75).abs() < 5.0 * (0.75 * 0.25 / n as f64).sqrt(),
        "{frac}"
    );
}

#[test]
fn invalid_input_is_rejected_with_the_value_named() {
    let cov = || vec![vec![1.0], vec![1.0]];
    let err = GaussianMixture::new(vec![-0.5, 1.5], vec![vec![0.0], vec![1.0]], cov()).unwrap_err();
    assert!(err.to_string().contains("-0.5"), "{err}");
    let err = GaussianMixture::new(vec![0.5, 0.6], vec![vec![0.0], vec![1.0]], cov()).unwrap_err();
    assert!(err.to_string().contains("1.1"), "{err}");
    let err =
        GaussianMixture::new(vec![0.5, 0.5], vec![vec![0.0], vec![1.0, 2.0]], cov()).unwrap_err();
    assert!(
        matches!(
            err,
            AnalyticError::Shape {
                got: 2,
                expected: 1,
                ..
            }
        ),
        "{err}"
    );
    let err = GaussianMixture::new(
        vec![0.5, 0.5],
        vec![vec![0.0], vec![1.0]],
        vec![vec![1.0], vec![-3.0]],
    );
    assert!(err.unwrap_err().to_string().contains("-3"));
}
