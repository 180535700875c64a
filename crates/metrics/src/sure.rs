//! Stein's unbiased risk estimate (SURE; Stein 1981) of a denoiser's mean squared error from
//! noisy inputs alone, as used by Kadkhodaie et al. 2024 (§3.1),
//! next to the true MSE when the clean signals are known.

use samplers::rng::HostRng;
use samplers::{Batch, Denoiser};

use crate::divergence::{denoise_with_trace, TraceEstimator};
use crate::error::{check_count, check_finite, check_len, check_positive};
use crate::MetricError;

/// Per-sample means over a batch (squared errors summed over the `d` coordinates, not
/// averaged), with standard errors `std/√n`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SureReport {
    /// Mean SURE `‖y − D(y)‖² + 2σ² tr ∇D(y) − σ²d`.
    pub sure: f64,
    pub sure_std_err: f64,
    /// Mean true squared error `‖D(y) − x0‖²` (when `x0` is known).
    pub mse: Option<f64>,
    pub mse_std_err: Option<f64>,
    /// Mean `tr ∇D(y)`.
    pub mean_trace: f64,
}

/// One sample of SURE (Stein 1981; Kadkhodaie et al. 2024, §3.1):
/// `‖y − D(y)‖² + 2σ² tr ∇D(y) − σ²d`, whose expectation over `y = x0 + σε` is
/// `E‖D(y) − x0‖²`.
pub fn sure_term(residual_sq: f64, trace: f64, sigma: f64, d: usize) -> f64 {
    let s2 = sigma * sigma;
    residual_sq + 2.0 * s2 * trace - s2 * d as f64
}

/// SURE of `denoiser` at σ over noisy observations `y` (clean signals unknown); the Jacobian
/// trace from `estimator` (exact finite differences, or Hutchinson for large d).
pub fn sure_from_noisy(
    denoiser: &dyn Denoiser,
    y: &Batch,
    sigma: f64,
    estimator: TraceEstimator,
    rng: &mut HostRng,
) -> Result<SureReport, MetricError> {
    check_count("y rows", y.n())?;
    let (denoised, trace) = denoise_with_trace(denoiser, y, sigma, estimator, rng)?;
    let d = y.dim();
    let sure: Vec<f64> = (0..y.n())
        .map(|i| {
            sure_term(
                squared_distance(y.row(i), denoised.row(i)),
                trace[i],
                sigma,
                d,
            )
        })
        .collect();
    let (sure, sure_std_err) = mean_and_std_err(&sure);
    Ok(SureReport {
        sure,
        sure_std_err,
        mse: None,
        mse_std_err: None,
        mean_trace: trace.iter().sum::<f64>() / trace.len() as f64,
    })
}

/// SURE and the true MSE `E‖D(x0 + σε) − x0‖²` on the same noisy draws `y = x0 + σε`
/// (ε from `rng`, then the Hutchinson probes if any): SURE is an unbiased estimate of the
/// MSE for any weakly differentiable denoiser.
pub fn sure_and_mse(
    denoiser: &dyn Denoiser,
    x0: &Batch,
    sigma: f64,
    estimator: TraceEstimator,
    rng: &mut HostRng,
) -> Result<SureReport, MetricError> {
    check_len("x0.dim", x0.dim(), denoiser.dim())?;
    check_finite("x0", x0.as_slice())?;
    check_positive("sigma", sigma)?;
    let eps = Batch::standard_normal(x0.n(), x0.dim(), rng);
    let y = x0.lincomb(1.0, &eps, sigma);
    let report = sure_from_noisy(denoiser, &y, sigma, estimator, rng)?;
    let denoised = denoiser.denoise(&y, sigma);
    let mse: Vec<f64> = (0..x0.n())
        .map(|i| squared_distance(denoised.row(i), x0.row(i)))
        .collect();
    let (mse, mse_std_err) = mean_and_std_err(&mse);
    Ok(SureReport {
        mse: Some(mse),
        mse_std_err: Some(mse_std_err),
        ..report
    })
}

fn squared_distance(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

/// Sample mean and its standard error `s/√n` (unbiased `s`; 0 for n = 1).
pub(crate) fn mean_and_std_err(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    if v.len() < 2 {
        return (mean, 0.0);
    }
    let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, (var / n).sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;
    use analytic::{Distribution, Gaussian};
    use samplers::rng::seeded;

    #[test]
    fn sure_equals_true_mse_for_the_exact_gaussian_denoiser() {
        // MSE of the Gaussian denoiser: Σ_k λ_k σ²/(λ_k + σ²) (posterior covariance trace).
        let (lambda, sigma) = ([2.0, 1.0, 0.5, 0.1], 0.5);
        let s2 = sigma * sigma;
        let closed: f64 = lambda.iter().map(|l| l * s2 / (l + s2)).sum();
        let g =
            Gaussian::with_spectrum(vec![0.5, -0.5, 0.0, 1.0], &lambda, &mut seeded(5)).unwrap();
        let x0 = g.sample(4000, &mut seeded(6));
        let est = TraceEstimator::FiniteDifference { rel_step: 1e-3 };
        let r = sure_and_mse(&g, &x0, sigma, est, &mut seeded(7)).unwrap();
        let (mse, mse_se) = (r.mse.unwrap(), r.mse_std_err.unwrap());
        assert!((r.mean_trace - lambda.iter().map(|l| l / (l + s2)).sum::<f64>()).abs() < 1e-9);
        assert!(
            (r.sure - closed).abs() < 4.0 * r.sure_std_err,
            "{r:?} vs {closed}"
        );
        assert!((mse - closed).abs() < 4.0 * mse_se, "{r:?} vs {closed}");
        let se = (r.sure_std_err.powi(2) + mse_se.powi(2)).sqrt();
        assert!((r.sure - mse).abs() < 4.0 * se, "{r:?}");
        assert!(r.sure_std_err < 0.01 && mse_se < 0.01);
        // Hutchinson probes give the same estimate within sampling error
        let hutch = TraceEstimator::Hutchinson {
            probes: 4,
            rel_step: 1e-3,
        };
        let h = sure_and_mse(&g, &x0, sigma, hutch, &mut seeded(7)).unwrap();
        assert!(
            (h.sure - closed).abs() < 4.0 * h.sure_std_err,
            "{h:?} vs {closed}"
        );
    }

    #[test]
    fn sure_hand_value_of_the_identity_and_zero_denoisers() {
        // D(y) = y: residual 0, tr = d → SURE = σ²d (its true MSE). D = μ-free zero map
        // (Gaussian with variance 0 at mean 0): residual ‖y‖², tr = 0 → ‖y‖² − σ²d.
        let zero = Gaussian::isotropic(vec![0.0; 2], 0.0).unwrap();
        let y = Batch::from_vec(1, 2, vec![1.0, 2.0]).unwrap();
        let est = TraceEstimator::FiniteDifference { rel_step: 1e-3 };
        let r = sure_from_noisy(&zero, &y, 0.5, est, &mut seeded(0)).unwrap();
        assert!((r.sure - (5.0 - 0.25 * 2.0)).abs() < 1e-12);
        assert_eq!(sure_term(0.0, 3.0, 2.0, 3), 12.0);
    }
}
