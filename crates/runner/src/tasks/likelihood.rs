//! What a `sample_quality` cell measures once rather than per sample seed: the DDPM
//! variational bound on the test split (`nll_bits_per_dim` and its terms; Ho, Jain &
//! Abbeel 2020, eq. 5 and Table 1) and how a network's training ended (`final_loss`,
//! `diverged`).

use crate::build::context::{data_key, CellData};
use crate::build::network::{training_summary, TrainingSummary};
use crate::config::{Experiment, MetricName, ModelSpec};
use anyhow::{anyhow, bail, Result};
use metrics::likelihood::{ddpm_vlb, VlbConfig};
use samplers::rng::{derive_seed, seeded};
use samplers::Denoiser;
use std::path::Path;

/// The bound's columns: the total and its prior, diffusion and decoder terms, in bits/dim.
pub const NLL_COLUMNS: [&str; 4] = [
    "nll_bits_per_dim",
    "nll_prior",
    "nll_diffusion",
    "nll_decoder",
];

/// The bound in bits/dim on the test split, averaged over its images: one fresh x_t per
/// image and t (or per t of a random subset of `metrics.nll_t_subset` diffusion terms,
/// weighted by (T − 1)/m), from `noise_root`. The decoder bins the data's gray levels
/// (`metrics.levels` or the data set's own); x̂0 is clipped to [−1, 1] as Ho et al. unless
/// the network predicts μ̃ itself.
pub fn nll_columns(
    e: &Experiment,
    data: &CellData,
    denoiser: &dyn Denoiser,
    noise_root: u64,
) -> Result<Vec<(String, f64)>> {
    let schedule = e
        .schedule
        .ddpm_schedule()
        .map_err(|err| anyhow!("metrics.names: nll_bits_per_dim needs a ddpm [schedule]: {err}"))?;
    let Some(test) = &data.test else {
        bail!(
            "metrics.names: nll_bits_per_dim is measured on the test split; data.kind = {} has none (synthetic data)",
            e.data.kind()
        )
    };
    let Some(levels) = e.metrics.levels.or(test.levels) else {
        bail!(
            "metrics.levels: data.kind = {} has no gray levels; nll_bits_per_dim needs discrete data or metrics.levels",
            e.data.kind()
        )
    };
    let predicts_mean =
        matches!(&e.model, ModelSpec::Network(spec) if spec.objective.predicts_mean());
    let config = VlbConfig {
        levels: levels as usize,
        variance: e.metrics.nll_variance,
        clip_denoised: e.metrics.nll_clip_denoised && !predicts_mean,
        t_subset: e.metrics.nll_t_subset,
    };
    let mut rng = seeded(derive_seed(noise_root, "nll"));
    let bound = ddpm_vlb(denoiser, &schedule, &test.images, &config, &mut rng)
        .map_err(|err| anyhow!("nll_bits_per_dim on the test split: {err}"))?;
    let (prior, diffusion, decoder, total) = bound.means();
    Ok(NLL_COLUMNS
        .iter()
        .zip([total, prior, diffusion, decoder])
        .map(|(name, value)| (name.to_string(), value))
        .collect())
}

/// The bound's columns, all NaN (no denoiser: its training diverged).
pub fn nan_nll_columns() -> Vec<(String, f64)> {
    NLL_COLUMNS
        .iter()
        .map(|name| (name.to_string(), f64::NAN))
        .collect()
}

/// How the cell's network trained; for other models no training: final loss NaN, not
/// diverged.
pub fn cell_training(e: &Experiment, cache: &Path) -> Result<TrainingSummary> {
    match &e.model {
        ModelSpec::Network(spec) => training_summary(e, spec, &data_key(e), cache),
        _ => Ok(TrainingSummary {
            final_loss: f64::NAN,
            diverged: false,
        }),
    }
}

/// The `final_loss` or `diverged` column (1 = diverged).
pub fn training_column(name: MetricName, summary: &TrainingSummary) -> (String, f64) {
    let value = match name {
        MetricName::FinalLoss => summary.final_loss,
        _ => f64::from(u8::from(summary.diverged)),
    };
    (name.column().to_string(), value)
}
