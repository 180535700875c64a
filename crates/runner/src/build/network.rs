//! `[model] kind = "network"`: a burn network trained on the training split, cached as the
//! entry `results/cache/net-<hash>/` (see [`crate::build::cache`]): `model.bpk`, `ema.bpk`
//! and the loss curve (`loss_curve.parquet`). Training checkpoints into the entry's partial
//! directory, so an interrupted training resumes there. A training that diverges
//! (non-finite loss) completes the entry with `diverged.toml` instead, so a rerun reports
//! the divergence without training again.

use crate::build::cache::CacheEntry;
use crate::build::context::CellData;
use crate::config::{Experiment, NetworkSpec};
use crate::hash::content_hash;
use crate::table::{Table, Values};
use anyhow::{anyhow, Context, Result};
use indicatif::ProgressBar;
use models::denoiser::{Guidance, NetworkDenoiser};
use models::error::ModelError;
use models::net::Net;
use models::train::{fit, Checkpoints, Progress};
use samplers::rng::{derive_seed, seeded};
use std::path::Path;
use std::time::Instant;

/// The cache entry of a network: keyed by everything that determines its weights.
pub fn network_entry(
    e: &Experiment,
    spec: &NetworkSpec,
    data_key: &str,
    cache: &Path,
) -> Result<CacheEntry> {
    let mut key = toml::Table::new();
    key.insert("data".into(), data_key.into());
    key.insert("net".into(), toml::Value::try_from(&spec.net)?);
    key.insert(
        "parameterization".into(),
        toml::Value::try_from(spec.parameterization)?,
    );
    key.insert("objective".into(), toml::Value::try_from(&spec.objective)?);
    key.insert("train".into(), toml::Value::try_from(&spec.train)?);
    key.insert("conditional".into(), spec.conditional.into());
    key.insert("seed".into(), (e.experiment.seed as i64).into());
    if spec.seed != 0 {
        key.insert("train_seed".into(), (spec.seed as i64).into());
    }
    if spec.objective.needs_schedule() {
        key.insert("schedule".into(), toml::Value::try_from(&e.schedule)?);
    }
    key.insert("device".into(), spec.device.clone().into());
    Ok(CacheEntry::new(cache, format!("net-{}", content_hash(&key))).resumable())
}

/// What training a network needs besides its spec.
struct TrainingJob<'a> {
    e: &'a Experiment,
    spec: &'a NetworkSpec,
    data: &'a CellData,
    num_classes: Option<usize>,
    objective: &'a models::objectives::Objective,
    schedule: Option<&'a schedules::ddpm::DdpmSchedule>,
    init_seed: u64,
}

/// Trains the network of `spec` on the training split into its cache entry (or reuses
/// the entry; an interrupted training resumes from its checkpoints) and wraps its EMA
/// (or raw) weights as a denoiser.
pub fn trained_denoiser(
    e: &Experiment,
    spec: &NetworkSpec,
    data: &CellData,
    data_key: &str,
    cache: &Path,
) -> Result<NetworkDenoiser> {
    let entry = network_entry(e, spec, data_key, cache)?;
    let device = models::device::select(&spec.device)?;
    let num_classes = class_count(e, spec, data)?;
    let objective = spec
        .objective
        .resolve_levels(data.train.levels)
        .map_err(|err| anyhow!("model.objective ({}): {err}", spec.objective.name()))?;
    let schedule = objective_schedule(e, spec)?;
    let job = TrainingJob {
        e,
        spec,
        data,
        num_classes,
        objective: &objective,
        schedule: schedule.as_ref(),
        init_seed: derive_seed(e.experiment.seed, &seed_label("network/init", spec.seed)),
    };
    let dir = entry.get_or_build("the network", |partial| train_into(&job, partial))?;
    if let Some(diverged) = read_divergence(&dir) {
        return Err(anyhow!(diverged)).with_context(|| {
            format!(
                "training the network in {} (diverged; delete the directory to retry)",
                dir.display()
            )
        });
    }
    let weights = dir.join(if spec.use_ema { "ema.bpk" } else { "model.bpk" });
    let net = models::checkpoint::load(job.build_net(&device)?, &weights)?;
    tracing::info!("network {}", dir.display());
    let dim = data.train.images.dim();
    let mut denoiser = NetworkDenoiser::new(net, spec.parameterization, dim, device);
    if let (true, Some(schedule)) = (spec.objective.predicts_mean(), &schedule) {
        denoiser = denoiser.with_mean_prediction(schedule);
    }
    if let Some(k) = num_classes {
        let labels: Vec<u32> = (0..k as u32).collect();
        denoiser = denoiser.with_guidance(Guidance {
            labels,
            null_class: k as u32,
            weight: spec.guidance,
        });
    }
    Ok(denoiser)
}

/// The number of classes of a conditional network (None for an unconditional one); an
/// error when the data has no labels.
fn class_count(e: &Experiment, spec: &NetworkSpec, data: &CellData) -> Result<Option<usize>> {
    if !spec.conditional {
        return Ok(None);
    }
    let Some(labels) = data.train.labels.as_ref() else {
        return Err(anyhow!(
            "model.conditional = true needs labelled data; data.kind = {} has no labels",
            e.data.kind()
        ));
    };
    Ok(Some(labels.iter().copied().max().unwrap_or(0) as usize + 1))
}

/// The DDPM schedule of an objective that needs one (L_simple, L_vlb, …), else None.
fn objective_schedule(
    e: &Experiment,
    spec: &NetworkSpec,
) -> Result<Option<schedules::ddpm::DdpmSchedule>> {
    if !spec.objective.needs_schedule() {
        return Ok(None);
    }
    let schedule = e.schedule.ddpm_schedule().map_err(|err| {
        anyhow!(
            "model.objective = {} needs a ddpm [schedule]: {err}",
            spec.objective.name()
        )
    })?;
    Ok(Some(schedule))
}

impl TrainingJob<'_> {
    fn build_net(&self, device: &burn::tensor::Device) -> Result<Net> {
        Ok(self.spec.net.build(
            self.data.train.shape,
            self.num_classes,
            &mut seeded(self.init_seed),
            device,
        )?)
    }
}

/// Trains into `dir` (checkpoints there, resumed when present), then leaves `model.bpk`,
/// `ema.bpk` and `loss_curve.parquet` — or `diverged.toml` for a non-finite loss.
fn train_into(job: &TrainingJob, dir: &Path) -> Result<()> {
    let (e, spec, train) = (job.e, job.spec, &job.data.train);
    let train_device = models::device::select(&spec.device)?.autodiff();
    let labels: Option<Vec<u32>> = if spec.conditional {
        train
            .labels
            .as_ref()
            .map(|l| l.iter().map(|&v| u32::from(v)).collect())
    } else {
        None
    };
    let param = spec.parameterization;
    let loss =
        |net: &Net, x0: &samplers::Batch, l: Option<&[u32]>, rng: &mut samplers::rng::HostRng| {
            job.objective
                .loss(net, &param, x0, l, job.schedule, rng, &train_device)
        };
    let bar = progress_bar(spec.train.steps as u64, dir);
    let started = Instant::now();
    let trained = fit(
        job.build_net(&train_device)?,
        &train.images,
        labels.as_deref(),
        job.num_classes.map(|k| k as u32),
        &spec.train,
        &loss,
        derive_seed(e.experiment.seed, &seed_label("network/train", spec.seed)),
        Some(Checkpoints { dir }),
        &mut |p: Progress| {
            bar.set_position(p.step as u64);
            bar.set_message(format!("loss {:.4}", p.loss));
        },
    );
    bar.finish_and_clear();
    let trained = match trained {
        Err(err @ ModelError::Diverged { .. }) => {
            tracing::warn!("training diverged: {err}");
            models::train::remove_checkpoints(dir)?;
            return write_divergence(dir, &err);
        }
        other => other?,
    };
    models::checkpoint::save(trained.net, &dir.join("model.bpk"))?;
    models::checkpoint::save(trained.ema, &dir.join("ema.bpk"))?;
    write_curve(dir, &trained.curve)?;
    models::train::remove_checkpoints(dir)?;
    tracing::info!(
        "trained {} steps in {:.1}s",
        spec.train.steps,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// The seed label of a network's init or training draws: `network/init` for training
/// seed 0 (as before training seeds existed), `network/init/<seed>` otherwise.
fn seed_label(base: &str, seed: u64) -> String {
    if seed == 0 {
        base.to_string()
    } else {
        format!("{base}/{seed}")
    }
}

/// Records a diverged training in `<dir>/diverged.toml` (step, loss, last finite loss).
fn write_divergence(dir: &Path, err: &ModelError) -> Result<()> {
    let ModelError::Diverged {
        step,
        loss,
        last_finite,
    } = *err
    else {
        return Ok(());
    };
    let text = format!(
        "step = {step}\nloss = {}\nlast_finite = {}\n",
        toml_float(loss),
        toml_float(last_finite)
    );
    crate::files::write_bytes_atomically(&dir.join("diverged.toml"), text.as_bytes())
}

/// A float as TOML writes it (nan, inf, -inf included).
fn toml_float(v: f64) -> String {
    toml::Value::Float(v).to_string()
}

/// The divergence recorded in `dir`, if any.
fn read_divergence(dir: &Path) -> Option<ModelError> {
    let t: toml::Table = std::fs::read_to_string(dir.join("diverged.toml"))
        .ok()?
        .parse()
        .ok()?;
    Some(ModelError::Diverged {
        step: t.get("step")?.as_integer()? as usize,
        loss: t.get("loss")?.as_float()?,
        last_finite: t.get("last_finite")?.as_float()?,
    })
}

/// Whether `err` (anywhere in its chain) is a diverged training.
pub fn is_divergence(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        matches!(
            e.downcast_ref::<ModelError>(),
            Some(ModelError::Diverged { .. })
        )
    })
}

/// Curve points averaged into the final loss.
pub const FINAL_LOSS_POINTS: usize = 10;

/// A final loss this many times the lowest of the curve (when that is > 0) counts as an
/// exploded training.
pub const EXPLODED_FACTOR: f64 = 1e3;

/// How a network's training ended.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TrainingSummary {
    /// Mean of the last [`FINAL_LOSS_POINTS`] points of the loss curve (every
    /// `train.log_every` steps); NaN when training diverged.
    pub final_loss: f64,
    /// Non-finite loss, or a final loss above [`EXPLODED_FACTOR`] × the lowest.
    pub diverged: bool,
}

/// The [`TrainingSummary`] of the network of `spec` in the cache (after
/// [`trained_denoiser`] trained it or found its divergence).
pub fn training_summary(
    e: &Experiment,
    spec: &NetworkSpec,
    data_key: &str,
    cache: &Path,
) -> Result<TrainingSummary> {
    let entry = network_entry(e, spec, data_key, cache)?;
    if !entry.is_complete() {
        anyhow::bail!("the network {} is not trained", entry.dir().display());
    }
    let dir = entry.dir();
    if read_divergence(&dir).is_some() {
        return Ok(TrainingSummary {
            final_loss: f64::NAN,
            diverged: true,
        });
    }
    let path = dir.join("loss_curve.parquet");
    let curve = Table::read_parquet(&path)
        .with_context(|| format!("reading the loss curve {}", path.display()))?;
    let loss = match curve.columns.iter().find(|(n, _)| n == "loss") {
        Some((_, Values::F64(v))) => v.clone(),
        _ => anyhow::bail!("{} has no loss column", path.display()),
    };
    Ok(summarize_curve(&loss))
}

/// Final loss and explosion of a loss curve (see [`TrainingSummary`]).
pub fn summarize_curve(loss: &[f64]) -> TrainingSummary {
    let tail = &loss[loss.len().saturating_sub(FINAL_LOSS_POINTS)..];
    let final_loss = tail.iter().sum::<f64>() / tail.len() as f64;
    let lowest = loss.iter().copied().fold(f64::INFINITY, f64::min);
    TrainingSummary {
        final_loss,
        diverged: !final_loss.is_finite()
            || (lowest > 0.0 && final_loss > EXPLODED_FACTOR * lowest),
    }
}

fn write_curve(dir: &Path, curve: &[models::train::CurvePoint]) -> Result<()> {
    let mut t = Table::default();
    t.push(
        "step",
        Values::I64(curve.iter().map(|p| p.step as i64).collect()),
    )?;
    t.push("loss", Values::F64(curve.iter().map(|p| p.loss).collect()))?;
    t.push("lr", Values::F64(curve.iter().map(|p| p.lr).collect()))?;
    t.write_parquet(&dir.join("loss_curve.parquet"))
}

fn progress_bar(total: u64, dir: &Path) -> ProgressBar {
    let name = dir.file_name().and_then(|n| n.to_str()).unwrap_or("");
    crate::progress::bar(
        total,
        name,
        "training {prefix} [{bar:25}] {pos}/{len} steps, {per_sec}, {msg}, ETA {eta}",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn final_loss_is_the_mean_of_the_last_points_and_explosions_count_as_divergence() {
        let mut curve: Vec<f64> = (0..30).map(|i| 100.0 / f64::from(i + 1)).collect();
        let tail: f64 = curve[20..].iter().sum::<f64>() / 10.0;
        let s = summarize_curve(&curve);
        assert!((s.final_loss - tail).abs() < 1e-12 && !s.diverged);
        // Ten last points at 1e4 × the lowest (100/30): exploded.
        curve.extend(std::iter::repeat_n(1e4 * 100.0 / 30.0, 10));
        assert!(summarize_curve(&curve).diverged);
        // A short curve averages what it has; a loss that can be negative never "explodes".
        assert_eq!(summarize_curve(&[2.0, 4.0]).final_loss, 3.0);
        assert!(!summarize_curve(&[-1.0, 5000.0]).diverged);
    }

    #[test]
    fn seed_zero_keeps_the_historical_labels() {
        assert_eq!(seed_label("network/init", 0), "network/init");
        assert_eq!(seed_label("network/init", 2), "network/init/2");
    }
}
