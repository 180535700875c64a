//! Sliced 2-Wasserstein distance between two sample sets (Rabin, Peyré, Delon & Bernot 2011;
//! Bonneel, Rabin, Peyré & Pfister 2015): the root mean, over random directions, of the
//! squared 1-D Wasserstein-2 distance between the projected sets.

use rayon::prelude::*;
use samplers::rng::HostRng;
use samplers::Batch;

use crate::error::{check_finite, check_len};
use crate::linalg::{mul, view};
use crate::MetricError;

/// Monte-Carlo sliced Wasserstein-2 distance
///
/// `SW2(a, b) = ( E_{u ~ Unif(S^{d−1})} W2²(u·a, u·b) )^{1/2}`,
///
/// estimated with `n_projections` directions `u_p = g_p / ‖g_p‖`, `g_p ~ N(0, I_d)` drawn
/// from `rng` (so a seed fixes the value). For each direction both sets are projected
/// (one `n × d · d × P` faer product per set) and sorted; the 1-D `W2²` between the two
/// empirical distributions is computed exactly from their quantile functions,
/// `W2² = ∫₀¹ (F_a⁻¹(q) − F_b⁻¹(q))² dq` (pairs of sorted values when `n_a = n_b`; for
/// unequal sizes the integral runs over the merged breakpoints `i/n_a`, `j/n_b`).
/// Returns the square root of the average over directions.
///
/// For `b = a + v` (a pure shift) every slice gives `W2² = (u·v)²`, so
/// `SW2 → ‖v‖ (E[(u·v̂)²])^{1/2} = ‖v‖/√d`. Cost `O(P (n d + n log n))`.
pub fn sliced_wasserstein(
    a: &Batch,
    b: &Batch,
    n_projections: usize,
    rng: &mut HostRng,
) -> Result<f64, MetricError> {
    let d = a.dim();
    check_len("b.dim", b.dim(), d)?;
    if d == 0 {
        return Err(MetricError::InvalidParameter {
            name: "a.dim",
            value: 0,
            reason: "must be ≥ 1",
        });
    }
    if n_projections == 0 {
        return Err(MetricError::InvalidParameter {
            name: "n_projections",
            value: 0,
            reason: "must be ≥ 1",
        });
    }
    for (name, x) in [("a", a), ("b", b)] {
        if x.n() == 0 {
            return Err(MetricError::TooFewSamples {
                name,
                n: 0,
                needed: 1,
            });
        }
        check_finite(name, x.as_slice())?;
    }
    let theta = random_unit_directions(n_projections, d, rng);
    let proj_a = sorted_projections(a, &theta);
    let proj_b = sorted_projections(b, &theta);
    let mean_sq: f64 = proj_a
        .par_iter()
        .zip(&proj_b)
        .map(|(pa, pb)| w2_squared_1d_sorted(pa, pb))
        .sum::<f64>()
        / n_projections as f64;
    Ok(mean_sq.sqrt())
}

/// `P` directions uniform on the unit sphere `S^{d−1}`: normalized standard normals.
fn random_unit_directions(p: usize, d: usize, rng: &mut HostRng) -> Batch {
    let mut theta = Batch::standard_normal(p, d, rng);
    for k in 0..p {
        let u = theta.row_mut(k);
        let norm = u.iter().map(|x| x * x).sum::<f64>().sqrt();
        u.iter_mut().for_each(|x| *x /= norm);
    }
    theta
}

/// For every direction `u_p` (rows of `theta`), the sorted values `u_p · x_i`.
fn sorted_projections(x: &Batch, theta: &Batch) -> Vec<Vec<f64>> {
    let (d, p) = (x.dim(), theta.n());
    let proj = mul(
        view(x.as_slice(), x.n(), d),
        view(theta.as_slice(), p, d).transpose(),
    );
    (0..p)
        .into_par_iter()
        .map(|k| {
            let mut col: Vec<f64> = proj.col(k).iter().copied().collect();
            col.sort_unstable_by(f64::total_cmp);
            col
        })
        .collect()
}

/// Exact `W2² = ∫₀¹ (F_a⁻¹(q) − F_b⁻¹(q))² dq` between two 1-D empirical distributions
/// given their sorted samples. Both quantile functions are step functions (`F_a⁻¹ = a_i` on
/// `[i/n_a, (i+1)/n_a)`), so the integral is a sum over the merged breakpoints, kept in
/// integer units of `1/(n_a n_b)` (`a`'s steps end at `(i+1) n_b`, `b`'s at `(j+1) n_a`).
fn w2_squared_1d_sorted(a: &[f64], b: &[f64]) -> f64 {
    let (n_a, n_b) = (a.len(), b.len());
    let (mut i, mut j, mut t, mut sum) = (0, 0, 0, 0.0);
    while i < n_a && j < n_b {
        let (end_a, end_b) = ((i + 1) * n_b, (j + 1) * n_a);
        let end = end_a.min(end_b);
        sum += (end - t) as f64 * (a[i] - b[j]).powi(2);
        t = end;
        i += usize::from(end == end_a);
        j += usize::from(end == end_b);
    }
    sum / (n_a * n_b) as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use samplers::rng::seeded;

    #[test]
    fn zero_against_itself_and_seeded_determinism() {
        let x = Batch::standard_normal(300, 5, &mut seeded(11));
        assert_eq!(sliced_wasserstein(&x, &x, 64, &mut seeded(1)).unwrap(), 0.0);
        let y = Batch::standard_normal(200, 5, &mut seeded(12));
        let s1 = sliced_wasserstein(&x, &y, 64, &mut seeded(5)).unwrap();
        let s2 = sliced_wasserstein(&x, &y, 64, &mut seeded(5)).unwrap();
        let s3 = sliced_wasserstein(&x, &y, 64, &mut seeded(6)).unwrap();
        assert_eq!(s1, s2);
        assert_ne!(s1, s3);
        assert!(s1 > 0.0 && s1 < 0.5, "two N(0, I) samples: {s1}");
    }

    #[test]
    fn pure_shift_gives_norm_over_sqrt_d() {
        // SW2(x, x + v) → ‖v‖/√d; relative Monte-Carlo sd ≈ 1/√(2P) per direction count.
        let (n, d) = (100, 4);
        let x = Batch::standard_normal(n, d, &mut seeded(21));
        let v = [3.0, -1.0, 2.0, 0.5];
        let mut y = x.clone();
        (0..n).for_each(|i| y.row_mut(i).iter_mut().zip(&v).for_each(|(y, v)| *y += v));
        let norm_v = v.iter().map(|x| x * x).sum::<f64>().sqrt();
        let sw = sliced_wasserstein(&x, &y, 4000, &mut seeded(22)).unwrap();
        let want = norm_v / (d as f64).sqrt();
        assert!(((sw - want) / want).abs() < 0.03, "sw = {sw}, want {want}");
    }

    #[test]
    fn one_dimension_equals_exact_w2() {
        // d = 1: every direction is ±1 and W2 is reflection invariant, so SW2 = W2.
        // {0, 1, 2, 3} vs {1, 3}: quantiles on quarters 0,1,2,3 vs 1,1,3,3 → W2² = (1+0+1+0)/4.
        // {0, 1, 2, 3} vs {0, 4}: 0,1,2,3 vs 0,0,4,4 → W2² = (0+1+4+1)/4 = 1.5.
        let a = Batch::from_vec(4, 1, vec![3.0, 0.0, 2.0, 1.0]).unwrap();
        let b = Batch::from_vec(2, 1, vec![3.0, 1.0]).unwrap();
        let c = Batch::from_vec(2, 1, vec![4.0, 0.0]).unwrap();
        let sw = |x: &Batch, y: &Batch| sliced_wasserstein(x, y, 5, &mut seeded(0)).unwrap();
        assert!((sw(&a, &b) - 0.5_f64.sqrt()).abs() < 1e-15);
        assert!((sw(&a, &c) - 1.5_f64.sqrt()).abs() < 1e-15);
        assert!((sw(&c, &a) - 1.5_f64.sqrt()).abs() < 1e-15);
    }

    #[test]
    fn unequal_sizes_with_coprime_counts() {
        // {0, 3} (steps at 1/2) vs {0, 1, 2} (steps at 1/3): on [0,1/3) 0−0, [1/3,1/2) 0−1,
        // [1/2,2/3) 3−1, [2/3,1) 3−2 → W2² = 1/6 + 4/6 + 1/3 = 7/6.
        let a = Batch::from_vec(2, 1, vec![0.0, 3.0]).unwrap();
        let b = Batch::from_vec(3, 1, vec![2.0, 0.0, 1.0]).unwrap();
        let sw = sliced_wasserstein(&a, &b, 2, &mut seeded(4)).unwrap();
        assert!((sw - (7.0_f64 / 6.0).sqrt()).abs() < 1e-14, "{sw}");
    }

    #[test]
    fn errors_name_the_bad_input() {
        let x = Batch::zeros(3, 2);
        let err = sliced_wasserstein(&x, &Batch::zeros(3, 1), 8, &mut seeded(0)).unwrap_err();
        assert_eq!(
            err,
            MetricError::DimensionMismatch {
                name: "b.dim",
                got: 1,
                expected: 2
            }
        );
        let err = sliced_wasserstein(&x, &x, 0, &mut seeded(0)).unwrap_err();
        assert_eq!(err.to_string(), "n_projections = 0 is invalid: must be ≥ 1");
        let err = sliced_wasserstein(&Batch::zeros(0, 2), &x, 8, &mut seeded(0)).unwrap_err();
        assert_eq!(
            err,
            MetricError::TooFewSamples {
                name: "a",
                n: 0,
                needed: 1
            }
        );
    }
}
