//! The trace of a denoiser's Jacobian, `tr ∇D(x, σ)`, for every row of a batch, from
//! central differences only (any [`Denoiser`], no autograd): exact along the `d` axes for
//! small `d`, or Hutchinson's estimator with Rademacher probes for large `d`. Used by SURE
//! and by the probability-flow ODE likelihood (the divergence of the ODE's drift).

use rand::Rng;
use samplers::rng::HostRng;
use samplers::{Batch, Denoiser};

use crate::error::{check_count, check_finite, check_len, check_positive};
use crate::MetricError;

/// Most rows handed to the denoiser in one call.
const MAX_ROWS_PER_CALL: usize = 8192;

/// How `tr ∇D` is estimated. The difference step is `h = rel_step · σ`, so one setting
/// serves every noise level (the denoiser varies on the scale σ).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum TraceEstimator {
    /// `Σ_j (D(x + h e_j) − D(x − h e_j))_j / (2h)`: exact up to `O(h²)`; `2d + 1` rows per point.
    FiniteDifference { rel_step: f64 },
    /// Hutchinson (1989): `(1/P) Σ_p v_pᵀ(D(x + h v_p) − D(x − h v_p))/(2h)` with Rademacher
    /// `v_p` (seeded); unbiased up to `O(h²)`; `2P + 1` rows per point.
    Hutchinson { probes: usize, rel_step: f64 },
}

impl TraceEstimator {
    fn validate(&self) -> Result<(), MetricError> {
        match *self {
            TraceEstimator::FiniteDifference { rel_step } => check_positive("rel_step", rel_step),
            TraceEstimator::Hutchinson { probes, rel_step } => {
                check_count("probes", probes)?;
                check_positive("rel_step", rel_step)
            }
        }
    }

    /// Directions `v_p` (rows of a `P × d` batch) and the normalisation `1/P` or 1.
    fn directions(&self, d: usize, rng: &mut HostRng) -> (Batch, f64) {
        match *self {
            TraceEstimator::FiniteDifference { .. } => {
                let mut e = Batch::zeros(d, d);
                (0..d).for_each(|j| e.row_mut(j)[j] = 1.0);
                (e, 1.0)
            }
            TraceEstimator::Hutchinson { probes, .. } => {
                let v = (0..probes * d)
                    .map(|_| if rng.random::<bool>() { 1.0 } else { -1.0 })
                    .collect();
                (
                    Batch::from_vec(probes, d, v).expect("P·d values"),
                    1.0 / probes as f64,
                )
            }
        }
    }

    /// Number of directions P (d for the coordinate axes).
    fn n_directions(&self, d: usize) -> usize {
        match *self {
            TraceEstimator::FiniteDifference { .. } => d,
            TraceEstimator::Hutchinson { probes, .. } => probes,
        }
    }

    fn rel_step(&self) -> f64 {
        match *self {
            TraceEstimator::FiniteDifference { rel_step }
            | TraceEstimator::Hutchinson { rel_step, .. } => rel_step,
        }
    }
}

/// `D(x, σ)` and `tr ∇D(x, σ)` for every row of `x`, estimated with `estimator` (Hutchinson
/// probes drawn from `rng`, fresh for every row). Points are grouped so each denoiser call
/// gets at most ~8192 rows: per point the row `x` itself, then `x ± h v_p`.
pub fn denoise_with_trace(
    denoiser: &dyn Denoiser,
    x: &Batch,
    sigma: f64,
    estimator: TraceEstimator,
    rng: &mut HostRng,
) -> Result<(Batch, Vec<f64>), MetricError> {
    let d = denoiser.dim();
    check_len("x.dim", x.dim(), d)?;
    check_finite("x", x.as_slice())?;
    check_positive("sigma", sigma)?;
    estimator.validate()?;
    let h = estimator.rel_step() * sigma;
    let mut denoised = Batch::zeros(x.n(), d);
    let mut traces = Vec::with_capacity(x.n());
    let rows_per_point = 1 + 2 * estimator.n_directions(d);
    let points_per_call = (MAX_ROWS_PER_CALL / rows_per_point).max(1);
    for start in (0..x.n()).step_by(points_per_call) {
        let end = (start + points_per_call).min(x.n());
        let dirs: Vec<(Batch, f64)> = (start..end).map(|_| estimator.directions(d, rng)).collect();
        let mut rows = Vec::with_capacity((end - start) * rows_per_point * d);
        for (i, (v, _)) in (start..end).zip(&dirs) {
            rows.extend_from_slice(x.row(i));
            for vp in v.rows() {
                rows.extend(x.row(i).iter().zip(vp).map(|(a, b)| a + h * b));
                rows.extend(x.row(i).iter().zip(vp).map(|(a, b)| a - h * b));
            }
        }
        let n_rows = rows.len() / d;
        let out = denoiser.denoise(&Batch::from_vec(n_rows, d, rows).expect("rows"), sigma);
        for (k, (v, norm)) in dirs.iter().enumerate() {
            let base = k * (1 + 2 * v.n());
            denoised.row_mut(start + k).copy_from_slice(out.row(base));
            let plus_minus = |p: usize| (out.row(base + 1 + 2 * p), out.row(base + 2 + 2 * p));
            traces.push(central_difference_trace(v, plus_minus, h, *norm));
        }
    }
    Ok((denoised, traces))
}

/// `norm · Σ_p v_pᵀ(D(x + h v_p) − D(x − h v_p))/(2h)`: the coordinate-axis trace
/// (`v_p = e_p`, norm 1) or Hutchinson's estimator (Rademacher `v_p`, norm `1/P`;
/// Hutchinson 1989), each quadratic form `v ᵀ∇D v` by a central difference.
fn central_difference_trace<'a>(
    v: &Batch,
    plus_minus: impl Fn(usize) -> (&'a [f64], &'a [f64]),
    h: f64,
    norm: f64,
) -> f64 {
    let sum: f64 = v
        .rows()
        .enumerate()
        .map(|(p, vp)| {
            let (plus, minus) = plus_minus(p);
            vp.iter()
                .zip(plus.iter().zip(minus))
                .map(|(v, (a, b))| v * (a - b))
                .sum::<f64>()
                / (2.0 * h)
        })
        .sum();
    norm * sum
}

#[cfg(test)]
mod tests {
    use super::*;
    use analytic::Gaussian;
    use faer::Mat;
    use samplers::rng::seeded;

    #[test]
    fn exact_and_hutchinson_traces_of_a_gaussian_denoiser() {
        // tr ∇D = Σ_k λ_k/(λ_k + σ²) for the Gaussian denoiser, at every x.
        let (lambda, sigma) = ([2.0, 1.0, 0.5, 0.1], 0.5);
        let expected: f64 = lambda.iter().map(|l| l / (l + sigma * sigma)).sum();
        let g = Gaussian::with_spectrum(vec![0.0; 4], &lambda, &mut seeded(2)).unwrap();
        let x = Batch::standard_normal(5, 4, &mut seeded(3));
        let exact = TraceEstimator::FiniteDifference { rel_step: 1e-3 };
        let (den, tr) = denoise_with_trace(&g, &x, sigma, exact, &mut seeded(0)).unwrap();
        assert!(den.max_abs_diff(&g.denoise(&x, sigma)) < 1e-14);
        assert!(tr.iter().all(|t| (t - expected).abs() < 1e-9), "{tr:?}");
        // Hutchinson: for a diagonal Jacobian Rademacher probes are exact (v_i² = 1) ...
        let diag =
            Gaussian::from_eigen(vec![0.0; 4], Mat::identity(4, 4), lambda.to_vec()).unwrap();
        let hutch = TraceEstimator::Hutchinson {
            probes: 1,
            rel_step: 1e-3,
        };
        let (_, tr) = denoise_with_trace(&diag, &x, sigma, hutch, &mut seeded(0)).unwrap();
        assert!(tr.iter().all(|t| (t - expected).abs() < 1e-9), "{tr:?}");
        // ... and for a rotated one it is unbiased: the mean over 2000 probes is close.
        let many = TraceEstimator::Hutchinson {
            probes: 2000,
            rel_step: 1e-3,
        };
        let (_, tr) = denoise_with_trace(&g, &x, sigma, many, &mut seeded(0)).unwrap();
        assert!(
            tr.iter().all(|t| (t - expected).abs() < 0.05),
            "{tr:?} vs {expected}"
        );
    }

    #[test]
    fn rejects_bad_settings() {
        let g = Gaussian::isotropic(vec![0.0; 2], 1.0).unwrap();
        let x = Batch::zeros(1, 2);
        let bad = TraceEstimator::Hutchinson {
            probes: 0,
            rel_step: 1e-3,
        };
        assert!(denoise_with_trace(&g, &x, 1.0, bad, &mut seeded(0)).is_err());
        let ok = TraceEstimator::FiniteDifference { rel_step: 1e-3 };
        assert!(denoise_with_trace(&g, &x, 0.0, ok, &mut seeded(0)).is_err());
        assert!(denoise_with_trace(&g, &Batch::zeros(1, 3), 1.0, ok, &mut seeded(0)).is_err());
    }
}
