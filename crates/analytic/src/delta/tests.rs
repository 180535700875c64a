use samplers::rng::seeded;
use samplers::{Batch, Denoiser};

use crate::test_support::{assert_posterior_cov_is_jacobian, assert_score_is_grad_log_density};
use crate::{DeltaMixture, Distribution};

/// Per-point reference: softmax of −‖x − x_i‖²/(2σ²), log-mean of N(x; x_i, σ²I).
fn naive(points: &Batch, x: &[f64], sigma: f64) -> (Vec<f64>, f64) {
    let d = x.len();
    let logits: Vec<f64> = points
        .rows()
        .map(|p| {
            -p.iter().zip(x).map(|(a, b)| (a - b) * (a - b)).sum::<f64>() / (2.0 * sigma * sigma)
        })
        .collect();
    let mx = logits.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let w: Vec<f64> = logits.iter().map(|l| (l - mx).exp()).collect();
    let z: f64 = w.iter().sum();
    let mut mean = vec![0.0; d];
    for (wi, p) in w.iter().zip(points.rows()) {
        mean.iter_mut().zip(p).for_each(|(m, v)| *m += wi / z * v);
    }
    let log_p = mx + z.ln()
        - (points.n() as f64).ln()
        - 0.5 * d as f64 * (2.0 * std::f64::consts::PI * sigma * sigma).ln();
    (mean, log_p)
}

#[test]
fn chunked_streaming_equals_naive_per_point_computation() {
    // N and batch size not multiples of the chunk sizes, several chunks each.
    let points = Batch::standard_normal(2_500, 7, &mut seeded(30));
    let delta = DeltaMixture::new(points.clone()).unwrap();
    let x = Batch::standard_normal(70, 7, &mut seeded(31)).scaled(1.3);
    for sigma in [0.3, 2.0] {
        let d = delta.denoise(&x, sigma);
        let lp = delta.log_density(&x, sigma);
        for (i, lp_i) in lp.iter().enumerate() {
            let (mean, log_p) = naive(&points, x.row(i), sigma);
            let err = d
                .row(i)
                .iter()
                .zip(&mean)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f64::max);
            assert!(err < 1e-10, "row {i} σ {sigma}: {err:e}");
            assert!(
                (lp_i - log_p).abs() < 1e-9 * log_p.abs().max(1.0),
                "row {i}: {lp_i} vs {log_p}"
            );
        }
    }
}

#[test]
fn denoiser_returns_the_nearest_point_as_sigma_goes_to_zero() {
    let points = Batch::standard_normal(300, 5, &mut seeded(32));
    let delta = DeltaMixture::new(points.clone()).unwrap();
    let x = Batch::standard_normal(40, 5, &mut seeded(33));
    let nearest = delta.nearest(&x);
    let d = delta.denoise(&x, 1e-3);
    for (i, (k, d0, d1)) in nearest.iter().enumerate() {
        // Unless the two nearest are nearly tied, the weight of the runner-up is
        // exp(−(d1² − d0²)/(2σ²)) ≈ 0.
        if d1 * d1 - d0 * d0 > 1e-4 {
            let err = d
                .row(i)
                .iter()
                .zip(points.row(*k))
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f64::max);
            assert!(err < 1e-12, "row {i}: {err:e}");
        }
    }
    // σ = 0 returns exactly the nearest points.
    let idx: Vec<usize> = nearest.iter().map(|t| t.0).collect();
    assert_eq!(delta.denoise(&x, 0.0), points.select_rows(&idx));
}

#[test]
fn nearest_matches_brute_force() {
    let points = Batch::standard_normal(1_500, 6, &mut seeded(34));
    let delta = DeltaMixture::new(points.clone()).unwrap();
    let x = Batch::standard_normal(45, 6, &mut seeded(35));
    for (row, (k, d0, d1)) in x.rows().zip(delta.nearest(&x)) {
        let mut dist: Vec<(f64, usize)> = points
            .rows()
            .enumerate()
            .map(|(i, p)| {
                (
                    p.iter()
                        .zip(row)
                        .map(|(a, b)| (a - b) * (a - b))
                        .sum::<f64>()
                        .sqrt(),
                    i,
                )
            })
            .collect();
        dist.sort_by(|a, b| a.0.total_cmp(&b.0));
        assert_eq!(k, dist[0].1);
        assert!((d0 - dist[0].0).abs() < 1e-12 && (d1 - dist[1].0).abs() < 1e-12);
    }
    // A training point is its own nearest neighbour at distance 0.
    let own = delta.nearest(&points.slice_rows(10, 11))[0];
    assert_eq!((own.0, own.1), (10, 0.0));
    let single = DeltaMixture::new(points.slice_rows(0, 1)).unwrap();
    assert_eq!(single.nearest(&x)[0].2, f64::INFINITY);
}

#[test]
fn score_and_posterior_covariance_are_consistent() {
    let points = Batch::standard_normal(5, 3, &mut seeded(36));
    let delta = DeltaMixture::new(points).unwrap();
    let x = Batch::standard_normal(4, 3, &mut seeded(37));
    for sigma in [0.4, 0.7, 2.0] {
        assert_score_is_grad_log_density(&delta, &x, sigma, 1e-6);
        assert_posterior_cov_is_jacobian(&delta, x.row(1), sigma, 1e-6);
    }
}

#[test]
fn posterior_covariance_of_two_points_matches_hand_computation() {
    // Points ±e1, x on the bisector: w = ½ each, Cov = e1 e1ᵀ.
    let delta =
        DeltaMixture::new(Batch::from_vec(2, 2, vec![1.0, 0.0, -1.0, 0.0]).unwrap()).unwrap();
    let cov = delta.posterior_covariance(&[0.0, 0.7], 0.5);
    assert!(crate::test_support::max_diff(&cov, &[1.0, 0.0, 0.0, 0.0]) < 1e-14);
}

#[test]
fn samples_are_training_points() {
    let points = Batch::standard_normal(10, 3, &mut seeded(38));
    let delta = DeltaMixture::new(points.clone()).unwrap();
    let s = delta.sample(200, &mut seeded(39));
    assert!(s.rows().all(|r| points.rows().any(|p| p == r)));
    assert!(DeltaMixture::new(Batch::zeros(0, 3)).is_err());
}
