//! Kernel Inception Distance (Bińkowski, Sutherland, Arbel & Gretton 2018, "Demystifying MMD
//! GANs"): the unbiased squared MMD with the cubic polynomial kernel, averaged over random
//! subsets (torch-fidelity's `kid_subset_size` / `kid_subsets`).

use faer::Mat;
use rand::seq::index;
use samplers::rng::HostRng;
use samplers::Batch;

use crate::error::{check_count, check_finite, check_len};
use crate::linalg::{mul, view};
use crate::MetricError;

/// KID over random subsets: mean and standard deviation (population, `ddof = 0`, as
/// torch-fidelity reports it) of the per-subset unbiased MMD².
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct KidEstimate {
    pub mean: f64,
    pub std: f64,
}

/// Cubic polynomial kernel `k(x, y) = (xᵀy/d + 1)³` (Bińkowski et al. 2018, §4, KID).
pub fn polynomial_kernel(x: &[f64], y: &[f64]) -> f64 {
    let d = x.len() as f64;
    let dot: f64 = x.iter().zip(y).map(|(a, b)| a * b).sum();
    (dot / d + 1.0).powi(3)
}

/// Gram matrix `K_ij = (a_iᵀb_j/d + 1)³` of [`polynomial_kernel`], one faer product.
fn polynomial_gram(a: &Batch, b: &Batch) -> Mat<f64> {
    let d = a.dim() as f64;
    let g = mul(
        view(a.as_slice(), a.n(), a.dim()),
        view(b.as_slice(), b.n(), b.dim()).transpose(),
    );
    Mat::from_fn(g.nrows(), g.ncols(), |i, j| (g[(i, j)] / d + 1.0).powi(3))
}

/// Unbiased MMD² estimator (Gretton et al. 2012, eq. 3; the statistic of KID):
///
/// `MMD²_u = 1/(m(m−1)) Σ_{i≠j} k(x_i, x_j) + 1/(n(n−1)) Σ_{i≠j} k(y_i, y_j)
///           − 2/(mn) Σ_{i,j} k(x_i, y_j)`
///
/// with the cubic [`polynomial_kernel`]. It can be slightly negative when the two sets
/// come from one distribution. Each set needs at least 2 rows.
pub fn mmd2_unbiased(x: &Batch, y: &Batch) -> Result<f64, MetricError> {
    check_len("y.dim", y.dim(), x.dim())?;
    check_count("x.dim", x.dim())?;
    for (name, s) in [("x", x), ("y", y)] {
        if s.n() < 2 {
            return Err(MetricError::TooFewSamples {
                name,
                n: s.n(),
                needed: 2,
            });
        }
        check_finite(name, s.as_slice())?;
    }
    let off_diagonal_mean = |k: &Mat<f64>| {
        let m = k.nrows();
        let total: f64 = (0..m)
            .flat_map(|i| (0..m).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| k[(i, j)])
            .sum();
        total / (m * (m - 1)) as f64
    };
    let k_xy = polynomial_gram(x, y);
    let cross: f64 =
        k_xy.col_iter().flat_map(|c| c.iter().copied()).sum::<f64>() / (x.n() * y.n()) as f64;
    Ok(
        off_diagonal_mean(&polynomial_gram(x, x)) + off_diagonal_mean(&polynomial_gram(y, y))
            - 2.0 * cross,
    )
}

/// Kernel Inception Distance (Bińkowski et al. 2018): [`mmd2_unbiased`] on `subsets` pairs
/// of random subsets, each `subset_size` rows drawn without replacement from `x` and from
/// `y` (torch-fidelity's procedure); returns the mean and the (population) std over subsets.
/// Rows are Inception features for KID proper; any feature space works.
pub fn kernel_inception_distance(
    x: &Batch,
    y: &Batch,
    subsets: usize,
    subset_size: usize,
    rng: &mut HostRng,
) -> Result<KidEstimate, MetricError> {
    check_count("subsets", subsets)?;
    if subset_size < 2 {
        return Err(MetricError::InvalidParameter {
            name: "subset_size",
            value: subset_size,
            reason: "must be ≥ 2",
        });
    }
    for (name, s) in [("x", x), ("y", y)] {
        if s.n() < subset_size {
            return Err(MetricError::TooFewSamples {
                name,
                n: s.n(),
                needed: subset_size,
            });
        }
    }
    let values = (0..subsets)
        .map(|_| {
            let ix = index::sample(rng, x.n(), subset_size).into_vec();
            let iy = index::sample(rng, y.n(), subset_size).into_vec();
            mmd2_unbiased(&x.select_rows(&ix), &y.select_rows(&iy))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mean = values.iter().sum::<f64>() / subsets as f64;
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / subsets as f64;
    Ok(KidEstimate {
        mean,
        std: var.sqrt(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use samplers::rng::seeded;

    #[test]
    fn hand_computed_one_dimensional_sets() {
        // d = 1, k(x, y) = (xy + 1)³. x = {0, 1}: k(0,1) = 1. y = {2, 3}: k(2,3) = 343.
        // cross: k(0,2) + k(0,3) + k(1,2) + k(1,3) = 1 + 1 + 27 + 64 = 93.
        // MMD² = 1 + 343 − 2·93/4 = 297.5.
        let x = Batch::from_vec(2, 1, vec![0.0, 1.0]).unwrap();
        let y = Batch::from_vec(2, 1, vec![2.0, 3.0]).unwrap();
        assert_eq!(polynomial_kernel(&[1.0], &[3.0]), 64.0);
        assert!((mmd2_unbiased(&x, &y).unwrap() - 297.5).abs() < 1e-12);
        let kid = kernel_inception_distance(&x, &y, 3, 2, &mut seeded(0)).unwrap();
        assert!((kid.mean - 297.5).abs() < 1e-12 && kid.std < 1e-12);
    }

    #[test]
    fn same_law_is_near_zero_and_a_shift_is_clearly_positive() {
        let mut rng = seeded(11);
        let x = Batch::standard_normal(600, 8, &mut rng);
        let y = Batch::standard_normal(600, 8, &mut rng);
        let shifted = y.map(|v| v + 0.5);
        let same = kernel_inception_distance(&x, &y, 20, 200, &mut seeded(1)).unwrap();
        let diff = kernel_inception_distance(&x, &shifted, 20, 200, &mut seeded(1)).unwrap();
        assert!(same.mean.abs() < 3.0 * same.std, "{same:?}");
        // Population value for a mean shift v (‖v‖² = 2, d = 8) is positive and the
        // estimate must be many stds away from 0.
        assert!(diff.mean > 10.0 * diff.std && diff.mean > 0.05, "{diff:?}");
    }

    #[test]
    fn rejects_bad_input() {
        let x = Batch::zeros(3, 2);
        assert!(kernel_inception_distance(&x, &x, 0, 2, &mut seeded(0)).is_err());
        assert!(kernel_inception_distance(&x, &x, 1, 4, &mut seeded(0)).is_err());
        assert!(mmd2_unbiased(&x, &Batch::zeros(3, 1)).is_err());
    }
}
