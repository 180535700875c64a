//! `task = "score_agreement"`: how much of a reference denoiser's score (a trained network)
//! another denoiser accounts for at one noise level — Wang & Vastola 2023's explained-variance
//! comparison of learned and Gaussian scores ("The Hidden Linear Structure in Score-Based
//! Models", arXiv:2311.10892).

use super::Measured;
use crate::build::context::{cell_data, cell_denoiser};
use crate::config::Experiment;
use anyhow::{anyhow, Context, Result};
use metrics::score_agreement::score_explained_variances;
use samplers::rng::{derive_seed, seeded};
use std::path::Path;

/// Columns: `sigma`, `ev` (mean over probes of EV = 1 − ‖s − s_ref‖²/‖s_ref‖²) and
/// `ev_std` (its spread over probes). Probes are `probe.points` data points of
/// `probe.split` plus σ·noise; the noise is common to every cell at the same σ, so the
/// denoisers are compared on the same probes.
pub fn score_agreement(e: &Experiment, cache: &Path) -> Result<Measured> {
    let data = cell_data(e)?;
    let sigma = probe_sigma(e)?;
    let model = cell_denoiser(e, &data, cache)?;
    let mut reference_experiment = e.clone();
    reference_experiment.model = e
        .probe
        .reference
        .clone()
        .context("probe.reference is required (checked when the file is read)")?;
    let reference =
        cell_denoiser(&reference_experiment, &data, cache).context("probe.reference")?;
    let points = super::jacobian::probe_points(e, &data)?;
    let mut rng = seeded(derive_seed(
        e.experiment.seed,
        &format!("probe-noise/{sigma:e}"),
    ));
    let ev =
        score_explained_variances(model.as_ref(), reference.as_ref(), &points, sigma, &mut rng)?;
    let (mean, std) = super::mean_std(&ev);
    Ok(Measured {
        metrics: vec![
            ("sigma".into(), sigma),
            ("ev".into(), mean),
            ("ev_std".into(), std),
        ],
        nfe: 0,
        rows: vec![],
    })
}

/// `probe.sigma`, or σ_i of the `[schedule]` sampling grid for `probe.step = i`.
pub fn probe_sigma(e: &Experiment) -> Result<f64> {
    match (e.probe.sigma, e.probe.step) {
        (Some(sigma), _) => Ok(sigma),
        (None, Some(step)) => {
            let sigmas = e
                .schedule
                .sampling_sigmas()
                .map_err(|err| anyhow!("schedule: {err}"))?;
            sigmas.get(step).copied().with_context(|| {
                format!(
                    "probe.step = {step} is outside the grid of {} σ values",
                    sigmas.len()
                )
            })
        }
        (None, None) => Err(anyhow!("give probe.sigma or probe.step")),
    }
}
