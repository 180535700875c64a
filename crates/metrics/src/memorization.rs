//! Memorization and reproducibility of generated samples: nearest-neighbour distance ratios
//! against the training set (a sample is a copy when its nearest training point is much
//! closer than the second nearest) and the cosine similarity of two models' samples drawn
//! from the same noise (Kadkhodaie et al. 2024's generalization test).

use analytic::DeltaMixture;
use samplers::Batch;

use crate::error::{check_finite, check_len};
use crate::MetricError;

/// Ratio threshold below which a sample counts as memorized: `d1/d2 < 1/3` (the criterion
/// of the MoLRG study, Wang et al. 2024, and of Kadkhodaie et al. 2024's memorization plots,
/// after Yoon et al. 2023).
pub const MEMORIZATION_RATIO: f64 = 1.0 / 3.0;

/// One generated sample against the training set.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct NearestNeighbours {
    /// Index of the nearest training point.
    pub index: usize,
    /// Euclidean distance to it.
    pub d1: f64,
    /// Distance to the second nearest (+∞ for a one-point training set).
    pub d2: f64,
    /// `d1/d2`; 0 when `d1 = 0` (an exact copy), 0 when `d2 = ∞`.
    pub ratio: f64,
}

/// Nearest-neighbour distance ratio `d1/d2` of every generated row against the training
/// points (exact search, [`DeltaMixture::nearest`]).
pub fn nearest_neighbour_ratios(
    generated: &Batch,
    training: &DeltaMixture,
) -> Result<Vec<NearestNeighbours>, MetricError> {
    check_len("generated.dim", generated.dim(), training.points().dim())?;
    check_finite("generated", generated.as_slice())?;
    Ok(training
        .nearest(generated)
        .into_iter()
        .map(|(index, d1, d2)| NearestNeighbours {
            index,
            d1,
            d2,
            ratio: distance_ratio(d1, d2),
        })
        .collect())
}

/// `d1/d2`, with 0 for an exact copy (`d1 = 0`, even when `d2 = 0` too) and for `d2 = ∞`.
pub fn distance_ratio(d1: f64, d2: f64) -> f64 {
    if d1 == 0.0 {
        0.0
    } else {
        d1 / d2
    }
}

/// Fraction of samples with `ratio < threshold` (use [`MEMORIZATION_RATIO`]); 0 for none.
pub fn memorized_fraction(neighbours: &[NearestNeighbours], threshold: f64) -> f64 {
    if neighbours.is_empty() {
        return 0.0;
    }
    let hits = neighbours.iter().filter(|n| n.ratio < threshold).count();
    hits as f64 / neighbours.len() as f64
}

/// Row-wise cosine similarity `a_iᵀb_i/(‖a_i‖‖b_i‖)` of two batches of equal shape (two
/// models' samples from the same noise; Kadkhodaie et al. 2024 §2). 0 where a row is zero.
pub fn cosine_similarity(a: &Batch, b: &Batch) -> Result<Vec<f64>, MetricError> {
    check_len("b.dim", b.dim(), a.dim())?;
    check_len("b rows", b.n(), a.n())?;
    check_finite("a", a.as_slice())?;
    check_finite("b", b.as_slice())?;
    Ok(a.rows()
        .zip(b.rows())
        .map(|(x, y)| {
            let dot: f64 = x.iter().zip(y).map(|(p, q)| p * q).sum();
            let norms = x.iter().map(|p| p * p).sum::<f64>().sqrt()
                * y.iter().map(|q| q * q).sum::<f64>().sqrt();
            if norms == 0.0 {
                0.0
            } else {
                dot / norms
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratios_and_memorized_fraction_on_hand_made_points() {
        // training points on a line: 0, 1, 10 (d = 1)
        let train =
            DeltaMixture::new(Batch::from_vec(3, 1, vec![0.0, 1.0, 10.0]).unwrap()).unwrap();
        // 0.1: d1 = 0.1 (→0), d2 = 0.9 → 1/9. 0.5: 0.5/0.5 = 1. 9: 1/8. 1: exact copy → 0.
        let gen = Batch::from_vec(4, 1, vec![0.1, 0.5, 9.0, 1.0]).unwrap();
        let nn = nearest_neighbour_ratios(&gen, &train).unwrap();
        let expected = [(0, 0.1, 0.9), (0, 0.5, 0.5), (2, 1.0, 8.0), (1, 0.0, 1.0)];
        for (n, (i, d1, d2)) in nn.iter().zip(expected) {
            assert!(
                (n.d1 - d1).abs() < 1e-12 && (n.d2 - d2).abs() < 1e-12,
                "{n:?}"
            );
            assert!(n.index == i || d1 == d2, "{n:?}");
        }
        let ratios: Vec<f64> = nn.iter().map(|n| n.ratio).collect();
        for (r, e) in ratios.iter().zip([1.0 / 9.0, 1.0, 0.125, 0.0]) {
            assert!((r - e).abs() < 1e-12, "{ratios:?}");
        }
        assert_eq!(memorized_fraction(&nn, MEMORIZATION_RATIO), 0.75);
        assert_eq!(memorized_fraction(&nn, 0.1), 0.25);
        assert_eq!(distance_ratio(2.0, f64::INFINITY), 0.0);
    }

    #[test]
    fn cosine_similarity_hand_values() {
        let a = Batch::from_vec(3, 2, vec![1.0, 0.0, 1.0, 1.0, 0.0, 0.0]).unwrap();
        let b = Batch::from_vec(3, 2, vec![2.0, 0.0, -1.0, 0.0, 1.0, 1.0]).unwrap();
        let c = cosine_similarity(&a, &b).unwrap();
        assert!((c[0] - 1.0).abs() < 1e-15);
        assert!((c[1] + std::f64::consts::FRAC_1_SQRT_2).abs() < 1e-15);
        assert_eq!(c[2], 0.0);
        assert!(cosine_similarity(&a, &Batch::zeros(2, 2)).is_err());
    }
}
