//! Agreement between the scores of two denoisers at one noise level, as the explained
//! variance of Wang & Vastola 2023 ("The Hidden Linear Structure in Score-Based Models",
//! arXiv:2311.10892): how much of a reference score (e.g. a trained network's) a model score
//! (e.g. the Gaussian one) accounts for.

use samplers::rng::HostRng;
use samplers::{score_from_denoised, Batch, Denoiser};

use crate::error::{check_count, check_finite, check_len, check_positive};
use crate::MetricError;

/// Explained variance of one probe (Wang & Vastola 2023's tables):
/// `EV = 1 − ‖s − s_ref‖²/‖s_ref‖²`. 1 for identical scores, negative when `s` is farther
/// from `s_ref` than 0 is; `−∞`/NaN when `s_ref = 0`.
pub fn explained_variance(s: &[f64], s_ref: &[f64]) -> f64 {
    let err: f64 = s.iter().zip(s_ref).map(|(a, b)| (a - b) * (a - b)).sum();
    let norm: f64 = s_ref.iter().map(|b| b * b).sum();
    1.0 - err / norm
}

/// Per-probe explained variance of `model`'s score against `reference`'s at σ, both scores
/// `s = (D(x) − x)/σ²` (Tweedie; Karras et al. 2022, eq. 3), on probes `x = data_i + σ·ε_i`
/// (ε from `rng`, one probe per data row).
pub fn score_explained_variances(
    model: &dyn Denoiser,
    reference: &dyn Denoiser,
    data: &Batch,
    sigma: f64,
    rng: &mut HostRng,
) -> Result<Vec<f64>, MetricError> {
    check_len("reference.dim", reference.dim(), model.dim())?;
    check_len("data.dim", data.dim(), model.dim())?;
    check_count("data rows", data.n())?;
    check_finite("data", data.as_slice())?;
    check_positive("sigma", sigma)?;
    let eps = Batch::standard_normal(data.n(), data.dim(), rng);
    let x = data.lincomb(1.0, &eps, sigma);
    let s = score_from_denoised(&x, &model.denoise(&x, sigma), sigma);
    let s_ref = score_from_denoised(&x, &reference.denoise(&x, sigma), sigma);
    Ok((0..x.n())
        .map(|i| explained_variance(s.row(i), s_ref.row(i)))
        .collect())
}

/// Score agreement: the mean over probes of [`score_explained_variances`] (Wang & Vastola
/// 2023 average the per-probe EV over training images + σ·noise).
pub fn score_agreement(
    model: &dyn Denoiser,
    reference: &dyn Denoiser,
    data: &Batch,
    sigma: f64,
    rng: &mut HostRng,
) -> Result<f64, MetricError> {
    let ev = score_explained_variances(model, reference, data, sigma, rng)?;
    Ok(ev.iter().sum::<f64>() / ev.len() as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use analytic::{Distribution, Gaussian};
    use samplers::rng::seeded;

    #[test]
    fn hand_values() {
        assert_eq!(explained_variance(&[1.0, 0.0], &[2.0, 0.0]), 0.75);
        assert_eq!(explained_variance(&[0.0, 0.0], &[2.0, 1.0]), 0.0);
        // N(0, 3I) model vs N(0, I) reference: s = −x/(3 + σ²), s_ref = −x/(1 + σ²), so
        // EV = 1 − (1 − (1 + σ²)/(3 + σ²))² = 1 − (2/(3 + σ²))² at every probe: 0.75 at σ = 1.
        let model = Gaussian::isotropic(vec![0.0; 3], 3.0).unwrap();
        let reference = Gaussian::isotropic(vec![0.0; 3], 1.0).unwrap();
        let data = Batch::standard_normal(10, 3, &mut seeded(0));
        let ev = score_explained_variances(&model, &reference, &data, 1.0, &mut seeded(1)).unwrap();
        assert!(ev.iter().all(|e| (e - 0.75).abs() < 1e-12), "{ev:?}");
    }

    #[test]
    fn self_agreement_is_one_and_isotropic_agreement_grows_with_sigma() {
        let truth = Gaussian::with_spectrum(
            vec![0.2; 6],
            &[4.0, 2.0, 1.0, 0.3, 0.1, 0.02],
            &mut seeded(2),
        )
        .unwrap();
        let data = truth.sample(200, &mut seeded(3));
        let ev = |m: &dyn Denoiser, sigma: f64| {
            score_agreement(m, &truth, &data, sigma, &mut seeded(4)).unwrap()
        };
        assert_eq!(ev(&truth, 0.1), 1.0);
        // Wang & Vastola's "isotropic (mean-only)" model: the point mass at the mean,
        // s = −(x − μ)/σ²; negative EV at small σ, → 1 as σ ≫ the data scale.
        let iso = Gaussian::isotropic(vec![0.2; 6], 0.0).unwrap();
        let (small, mid, huge) = (ev(&iso, 0.1), ev(&iso, 2.0), ev(&iso, 1e3));
        assert!(small < 0.0, "{small}");
        assert!(
            small < mid && mid < huge && mid > 0.5,
            "{small} {mid} {huge}"
        );
        assert!(huge > 1.0 - 1e-9, "{huge}");
    }
}
