//! `[model] kind = "network"`: a burn network trained on the training split, cached under
//! `results/cache/net-<hash>/` with its checkpoints (an interrupted training resumes
//! there), its loss curve (`loss_curve.parquet`) and the configuration that made it.

use crate::config::{Experiment, NetworkSpec};
use crate::context::CellData;
use crate::plan::content_hash;
use crate::table::{Table, Values};
use anyhow::{anyhow, Context, Result};
use burn::module::Module;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use models::denoiser::{Guidance, NetworkDenoiser};
use models::net::Net;
use models::train::{fit, Checkpoints, Progress};
use samplers::rng::{derive_seed, seeded};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The cache directory of a network: keyed by everything that determines its weights.
pub fn network_dir(
    e: &Experiment,
    spec: &NetworkSpec,
    data_key: &str,
    cache: &Path,
) -> Result<PathBuf> {
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
    if spec.objective.needs_schedule() {
        key.insert("schedule".into(), toml::Value::try_from(&e.schedule)?);
    }
    key.insert("device".into(), spec.device.clone().into());
    Ok(cache.join(format!("net-{}", content_hash(&key))))
}

/// Trains the network of `spec` on the training split (or resumes / reuses a cached one)
/// and wraps its EMA (or raw) weights as a denoiser.
pub fn trained_denoiser(
    e: &Experiment,
    spec: &NetworkSpec,
    data: &CellData,
    data_key: &str,
    cache: &Path,
) -> Result<NetworkDenoiser> {
    let dir = network_dir(e, spec, data_key, cache)?;
    let device = models::device::select(&spec.device)?;
    let train = &data.train;
    let num_classes = spec
        .conditional
        .then(|| {
            train
                .labels
                .as_ref()
                .map(|l| l.iter().copied().max().unwrap_or(0) as usize + 1)
        })
        .flatten();
    if spec.conditional && num_classes.is_none() {
        return Err(anyhow!(
            "model.conditional = true needs labelled data; data.kind = {} has no labels",
            e.data.kind()
        ));
    }
    let init_seed = derive_seed(e.experiment.seed, "network/init");
    let build = |dev: &burn::tensor::Device| {
        spec.net
            .build(train.shape, num_classes, &mut seeded(init_seed), dev)
    };
    let final_path = dir.join(if spec.use_ema { "ema.bpk" } else { "model.bpk" });
    let done = std::fs::read_to_string(dir.join("state.toml"))
        .ok()
        .and_then(|s| s.parse::<toml::Table>().ok())
        .and_then(|t| t.get("step")?.as_integer())
        .is_some_and(|s| s as usize >= spec.train.steps);
    let net: Net = if done {
        tracing::info!("reusing trained network {}", dir.display());
        models::checkpoint::load(build(&device)?, &final_path)?
    } else {
        let schedule = if spec.objective.needs_schedule() {
            Some(e.schedule.ddpm_schedule().map_err(|err| {
                anyhow!(
                    "model.objective = {} needs a ddpm [schedule]: {err}",
                    spec.objective.name()
                )
            })?)
        } else {
            None
        };
        let train_device = device.clone().autodiff();
        let labels: Option<Vec<u32>> = if spec.conditional {
            train
                .labels
                .as_ref()
                .map(|l| l.iter().map(|&v| u32::from(v)).collect())
        } else {
            None
        };
        let objective = spec.objective.clone();
        let param = spec.parameterization;
        let loss = |net: &Net,
                    x0: &samplers::Batch,
                    l: Option<&[u32]>,
                    rng: &mut samplers::rng::HostRng| {
            objective.loss(net, &param, x0, l, schedule.as_ref(), rng, &train_device)
        };
        let bar = progress_bar(spec.train.steps as u64, &dir);
        let started = Instant::now();
        let trained = fit(
            build(&train_device)?,
            &train.images,
            labels.as_deref(),
            num_classes.map(|k| k as u32),
            &spec.train,
            &loss,
            derive_seed(e.experiment.seed, "network/train"),
            Some(Checkpoints { dir: &dir }),
            &mut |p: Progress| {
                bar.set_position(p.step as u64);
                bar.set_message(format!("loss {:.4}", p.loss));
            },
        )
        .with_context(|| format!("training the network in {}", dir.display()))?;
        bar.finish_and_clear();
        write_curve(&dir, &trained.curve)?;
        tracing::info!(
            "trained {} steps in {:.1}s into {}",
            spec.train.steps,
            started.elapsed().as_secs_f64(),
            dir.display()
        );
        let chosen = if spec.use_ema {
            trained.ema
        } else {
            trained.net
        };
        chosen.valid()
    };
    let mut denoiser = NetworkDenoiser::new(net, spec.parameterization, train.images.dim(), device);
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
    let bar = ProgressBar::new(total);
    if std::io::stderr().is_terminal() {
        bar.set_style(
            ProgressStyle::with_template(
                "training {prefix} [{bar:25}] {pos}/{len} steps, {per_sec}, {msg}, ETA {eta}",
            )
            .expect("template")
            .progress_chars("=> "),
        );
        bar.set_prefix(
            dir.file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("")
                .to_string(),
        );
    } else {
        bar.set_draw_target(ProgressDrawTarget::hidden());
    }
    bar
}
