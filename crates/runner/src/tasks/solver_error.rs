//! `solver_error`: how far a deterministic PF-ODE solver's samples land from the exact
//! endpoint of the same initial noise, which separates the discretization error of a
//! sampler from the error of the denoiser (the denoiser is exact here).
//!
//! Every solver on the σ grid ends with the step x ← D(x, σ_min) to σ = 0, so the reference
//! is the same: the PF-ODE flow of σ_max·z down to σ_min, then D. For a Gaussian model the
//! flow is the closed form (Wang & Vastola 2023); otherwise it is solved by EDM's Heun
//! (Karras et al. 2022, Algorithm 1) on Karras grids of doubling size until two successive
//! endpoints agree to [`REFERENCE_TOLERANCE`], and that last difference is reported as
//! `solver_reference_error`.

use crate::build::context::{data_key, model_key, CellData};
use crate::build::memo::memo;
use crate::config::{Experiment, ModelSpec};
use analytic::Gaussian;
use anyhow::{anyhow, Result};
use samplers::{edm, Batch, Denoiser, Trace};
use schedules::karras_sigmas;
use std::sync::Arc;

/// The RMS change per coordinate at which the reference solve stops doubling its steps.
pub const REFERENCE_TOLERANCE: f64 = 1e-5;
/// Steps of the first and the largest reference grid.
const FIRST_STEPS: usize = 64;
const MAX_STEPS: usize = 4096;

/// The reference endpoints of one set of initial noise, and their own error.
pub struct ReferenceEndpoint {
    pub endpoint: Batch,
    pub error: f64,
}

/// The reference endpoints for the initial states σ_max·z of sample seed `j` (computed
/// once per model, noise and grid in a run; every solver cell of that model shares them).
pub fn reference_endpoint(
    e: &Experiment,
    data: &CellData,
    denoiser: &dyn Denoiser,
    z: &Batch,
    (noise_root, j): (u64, usize),
) -> Result<Arc<ReferenceEndpoint>> {
    let sigmas = e
        .schedule
        .sampling_sigmas()
        .map_err(|err| anyhow!("schedule: {err}"))?;
    let (sigma_max, sigma_min) = (sigmas[0], sigmas[sigmas.len() - 2]);
    let key = format!(
        "solver-reference/{}/{noise_root}/{j}/{}/{sigma_max}/{sigma_min}",
        model_key(e, &data_key(e)),
        z.n()
    );
    memo(key, || {
        let x = z.scaled(sigma_max);
        Ok(match closed_form_gaussian(e, data)? {
            Some(g) => {
                let at_min = g.pf_ode_solution(&x, sigma_max, sigma_min);
                ReferenceEndpoint {
                    endpoint: g.denoise(&at_min, sigma_min),
                    error: 0.0,
                }
            }
            None => adaptive_heun(denoiser, &x, sigma_max, sigma_min)?,
        })
    })
}

/// The model's Gaussian when its PF-ODE has the closed form: a Gaussian fitted to the data,
/// or the exact denoiser of Gaussian synthetic data.
fn closed_form_gaussian(e: &Experiment, data: &CellData) -> Result<Option<Arc<Gaussian>>> {
    Ok(match &e.model {
        ModelSpec::GaussianFit { tol } => {
            Some(Arc::new(Gaussian::from_data(&data.train.images, *tol)?))
        }
        ModelSpec::Exact => data.synthetic.as_ref().and_then(|s| s.gaussian()),
        _ => None,
    })
}

/// Heun on Karras grids (ρ = 7) from σ_max to σ_min and then 0, with 64, 128, … steps,
/// until two successive endpoints differ by less than [`REFERENCE_TOLERANCE`] (RMS per
/// coordinate) or the grid reaches 4096 steps.
fn adaptive_heun(
    denoiser: &dyn Denoiser,
    x: &Batch,
    sigma_max: f64,
    sigma_min: f64,
) -> Result<ReferenceEndpoint> {
    let solve = |steps: usize| -> Result<Batch> {
        let grid = karras_sigmas(sigma_min, sigma_max, 7.0, steps)?; // ends with 0
        Ok(edm::heun(denoiser, x.clone(), &grid, &mut Trace::new()))
    };
    let mut steps = FIRST_STEPS;
    let mut endpoint = solve(steps)?;
    loop {
        steps *= 2;
        let finer = solve(steps)?;
        let error = rms_difference(&finer, &endpoint);
        endpoint = finer;
        if error < REFERENCE_TOLERANCE || steps >= MAX_STEPS || !error.is_finite() {
            tracing::info!("solver_error reference: {steps} Heun steps, last change {error:.2e}");
            return Ok(ReferenceEndpoint { endpoint, error });
        }
    }
}

/// √(mean over samples and coordinates of (a − b)²).
pub fn rms_difference(a: &Batch, b: &Batch) -> f64 {
    let sum: f64 = a
        .as_slice()
        .iter()
        .zip(b.as_slice())
        .map(|(u, v)| (u - v) * (u - v))
        .sum();
    (sum / a.as_slice().len() as f64).sqrt()
}
