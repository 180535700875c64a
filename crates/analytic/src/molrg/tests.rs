use faer::Mat;
use samplers::rng::seeded;
use samplers::{Batch, Denoiser};

use crate::linalg::mul;
use crate::test_support::{
    assert_posterior_cov_is_jacobian, assert_score_is_grad_log_density, max_diff,
};
use crate::{Distribution, Molrg};

fn line(angle: f64) -> Mat<f64> {
    Mat::from_fn(2, 1, |i, _| if i == 0 { angle.cos() } else { angle.sin() })
}

#[test]
fn denoiser_matches_quadrature_along_each_line() {
    // n = 2, two lines (not orthogonal), d_k = 1: x0 = t u_k, t ~ N(0, 1).
    let (a, b) = (0.3, 1.2);
    let molrg = Molrg::new(vec![line(a), line(b)], vec![0.4, 0.6]).unwrap();
    for (x, sigma) in [([0.5, 1.0], 0.4), ([1.5, -0.2], 1.0), ([-0.3, 0.2], 0.15)] {
        let (mut z, mut m) = (0.0, [0.0; 2]);
        for (pi, angle) in [(0.4, a), (0.6, b)] {
            let u = [f64::cos(angle), f64::sin(angle)];
            let h = 1e-3;
            for s in 0..=20_000 {
                let t = -10.0 + h * s as f64;
                let r2 = (t * u[0] - x[0]).powi(2) + (t * u[1] - x[1]).powi(2);
                let w = pi * (-0.5 * t * t - r2 / (2.0 * sigma * sigma)).exp() * h;
                z += w;
                m[0] += w * t * u[0];
                m[1] += w * t * u[1];
            }
        }
        let expected = [m[0] / z, m[1] / z];
        let d = molrg.denoise(&Batch::from_vec(1, 2, x.to_vec()).unwrap(), sigma);
        assert!(
            max_diff(d.as_slice(), &expected) < 1e-9,
            "{:?} vs {expected:?}",
            d.as_slice()
        );
    }
}

#[test]
fn denoiser_with_unequal_ranks_matches_the_gaussian_mixture() {
    // d_1 = 1, d_2 = 2 in n = 4: the (1 + 1/σ²)^{−d_k/2} factor matters.
    let u = Molrg::random(4, 1, 3, &mut seeded(20)).unwrap().bases()[0].clone();
    let bases = vec![
        u.as_ref().subcols(0, 1).to_owned(),
        u.as_ref().subcols(1, 2).to_owned(),
    ];
    let molrg = Molrg::new(bases, vec![0.5, 0.5]).unwrap();
    let x = Batch::standard_normal(5, 4, &mut seeded(21));
    for sigma in [0.2, 1.0, 3.0] {
        let err = molrg
            .denoise(&x, sigma)
            .max_abs_diff(&molrg.as_mixture().denoise(&x, sigma));
        assert!(err < 1e-12, "σ {sigma}: {err:e}");
    }
}

#[test]
fn random_bases_are_orthonormal_and_mutually_orthogonal() {
    let molrg = Molrg::random(48, 2, 7, &mut seeded(22)).unwrap();
    let (u0, u1) = (&molrg.bases()[0], &molrg.bases()[1]);
    assert_eq!((u0.nrows(), u0.ncols()), (48, 7));
    let cross = mul(u0.transpose(), u1.as_ref());
    assert!(crate::linalg::to_row_major(cross.as_ref())
        .iter()
        .all(|v| v.abs() < 1e-12));
    assert!(Molrg::random(10, 3, 4, &mut seeded(0))
        .unwrap_err()
        .to_string()
        .contains("12"));
}

#[test]
fn score_and_posterior_covariance_are_consistent() {
    let molrg = Molrg::random(6, 2, 2, &mut seeded(23)).unwrap();
    let x = Batch::standard_normal(3, 6, &mut seeded(24));
    for sigma in [0.3, 0.8, 2.0] {
        assert_score_is_grad_log_density(&molrg, &x, sigma, 1e-6);
        assert_posterior_cov_is_jacobian(&molrg, x.row(0), sigma, 1e-6);
    }
}

#[test]
fn samples_lie_in_the_subspaces() {
    let molrg = Molrg::random(8, 2, 3, &mut seeded(25)).unwrap();
    let x = molrg.sample(100, &mut seeded(26));
    // Each sample is fixed by one projector U_kU_kᵀ.
    let on_some = x.rows().all(|row| {
        molrg.bases().iter().any(|u| {
            let r = Batch::from_vec(1, 8, row.to_vec()).unwrap();
            let p = mul(
                mul(crate::linalg::view(&r), u.as_ref()).as_ref(),
                u.transpose(),
            );
            (0..8).all(|j| (p[(0, j)] - row[j]).abs() < 1e-12)
        })
    });
    assert!(on_some);
}
