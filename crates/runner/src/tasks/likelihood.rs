//! What a `sample_quality` cell measures once rather than per sample seed: the DDPM
//! variational bound on the test split (`nll_bits_per_dim` and its terms; Ho, Jain &
//! Abbeel 2020, eq. 5 and Table 1), the PF-ODE and exact likelihoods of synthetic data
//! (`nll_pf_ode`, `nll_exact`) and how a network's training ended (`final_loss`,
//! `diverged`).

use crate::build::context::{data_key, CellData};
use crate::build::network::{training_summary, TrainingSummary};
use crate::config::{Experiment, MetricName, ModelSpec};
use anyhow::{anyhow, bail, Result};
use metrics::divergence::TraceEstimator;
use metrics::likelihood::{
    ddpm_vlb, exact_nll_bits_per_dim, pf_ode_likelihood, PfOdeLikelihood, Prior, VlbConfig,
};
use rand::Rng;
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

/// The points both likelihoods are measured on: the first `metrics.likelihood.points` rows
/// of the reference set, exact samples of synthetic data.
fn likelihood_points(e: &Experiment, data: &CellData) -> Result<samplers::Batch> {
    if data.synthetic.is_none() {
        bail!(
            "metrics.names: nll_exact is measured on synthetic data (continuous densities); data.kind = {} is a data set of discrete images",
            e.data.kind()
        );
    }
    let n = e.metrics.likelihood.points.min(data.reference.n());
    Ok(data.reference.slice_rows(0, n))
}

/// The points of `nll_pf_ode` and the constant that turns their density into bits/dim:
/// for synthetic data the reference points and 0; for discrete images the first
/// `metrics.likelihood.points` test images, each dequantized by uniform noise over its
/// gray-level bin (half-width δ = 1/(L − 1)), and log2(1/(2δ)) = log2((L − 1)/2), so that
/// the result bounds the discrete NLL: −log2 P(bin)/d ≤ E_u[−log2 p(x + u)]/d + log2((L − 1)/2)
/// (Jensen; Song et al. 2021, App. D.2, with data in [−1, 1]).
fn pf_ode_points(
    e: &Experiment,
    data: &CellData,
    rng: &mut samplers::rng::HostRng,
) -> Result<(samplers::Batch, f64)> {
    if data.synthetic.is_some() {
        return Ok((likelihood_points(e, data)?, 0.0));
    }
    let Some(test) = &data.test else {
        bail!(
            "metrics.names: nll_pf_ode on data.kind = {} is measured on the test split; there is none",
            e.data.kind()
        )
    };
    let Some(levels) = e.metrics.levels.or(test.levels) else {
        bail!(
            "metrics.levels: data.kind = {} has no gray levels; nll_pf_ode dequantizes discrete data and needs metrics.levels",
            e.data.kind()
        )
    };
    let half_width = 1.0 / (f64::from(levels) - 1.0);
    let n = e.metrics.likelihood.points.min(test.images.n());
    let points = test.images.slice_rows(0, n);
    let noise = samplers::Batch::from_vec(
        n,
        points.dim(),
        (0..n * points.dim())
            .map(|_| rng.random_range(-half_width..half_width))
            .collect(),
    )?;
    Ok((
        points.lincomb(1.0, &noise, 1.0),
        (1.0 / (2.0 * half_width)).log2(),
    ))
}

/// `nll_pf_ode`: the mean PF-ODE −log p_σmin in bits/dim (Song et al. 2021, §4.3), with
/// the exact trace (central differences) or Hutchinson probes, on the isotropic prior; on
/// discrete images of uniformly dequantized test images ([`pf_ode_points`]).
pub fn pf_ode_column(
    e: &Experiment,
    data: &CellData,
    denoiser: &dyn Denoiser,
    noise_root: u64,
) -> Result<(String, f64)> {
    let spec = &e.metrics.likelihood;
    let trace = match spec.probes {
        0 => TraceEstimator::FiniteDifference { rel_step: 1e-3 },
        probes => TraceEstimator::Hutchinson {
            probes,
            rel_step: 1e-3,
        },
    };
    let config = PfOdeLikelihood::new(spec.sigma_min, spec.sigma_max, spec.steps, trace)
        .map_err(|err| anyhow!("metrics.likelihood: {err}"))?;
    let mut rng = seeded(derive_seed(noise_root, "nll_pf_ode"));
    let (x, offset) = pf_ode_points(e, data, &mut rng)?;
    // The points are finite and the settings checked: an error here is the denoiser's
    // ODE leaving the finite numbers (e.g. a network far from the data), recorded as NaN.
    let value = match pf_ode_likelihood(denoiser, &x, &config, Prior::Isotropic, &mut rng) {
        Ok(nll) => mean(&nll.bits_per_dim) + offset,
        Err(err) => {
            tracing::warn!("nll_pf_ode: {err}; recorded as NaN");
            f64::NAN
        }
    };
    Ok(("nll_pf_ode".into(), value))
}

/// `nll_exact`: the mean exact −log p_σmin in bits/dim of the same points.
pub fn exact_column(e: &Experiment, data: &CellData) -> Result<(String, f64)> {
    let x = likelihood_points(e, data)?;
    let Some(dist) = data.synthetic.as_ref().and_then(|s| s.distribution()) else {
        bail!(
            "metrics.names: nll_exact needs a distribution with a closed-form density; data.kind = {} has none",
            e.data.kind()
        );
    };
    let bits = exact_nll_bits_per_dim(dist.as_ref(), &x, e.metrics.likelihood.sigma_min)
        .map_err(|err| anyhow!("nll_exact: {err}"))?;
    Ok(("nll_exact".into(), mean(&bits)))
}

fn mean(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / values.len() as f64
}
