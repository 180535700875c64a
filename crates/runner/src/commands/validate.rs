//! `dlab validate FILE [--profile P] [--set …]`: every check `dlab run` makes before its
//! first cell — the configuration of every cell, the sizes that must fit the data, the
//! memory — and the plan: cells, networks and classifiers to train, samples per cell.

use crate::build::context::data_key;
use crate::build::network::network_entry;
use crate::commands::experiment::{options, ExperimentArgs};
use crate::config::{Experiment, ModelSpec, Task};
use crate::execute::{preflight::preflight, resolve, run_dir, Resolved};
use anyhow::Result;
use std::collections::BTreeMap;
use std::path::Path;

/// Prints the plan and returns true, or prints the first error and returns false.
pub fn validate(args: &ExperimentArgs, results: &Path) -> Result<bool> {
    let checked = options(args, results, None).and_then(|options| {
        let resolved = resolve(&args.file, &options)?;
        preflight(&resolved.file, &resolved.cells)?;
        Ok((options, resolved))
    });
    match checked {
        Ok((options, resolved)) => {
            print!(
                "{}",
                describe_plan(&resolved, &options.results, args.profile.as_deref())?
            );
            Ok(true)
        }
        Err(err) => {
            eprintln!("error: {err:#}");
            Ok(false)
        }
    }
}

/// The plan as text: the run directory, one line per cell, the networks (cached or to
/// train) and classifiers.
pub fn describe_plan(resolved: &Resolved, results: &Path, profile: Option<&str>) -> Result<String> {
    let Resolved {
        table,
        experiment,
        cells,
        ..
    } = resolved;
    let dir = run_dir(results, experiment, table, profile, None);
    let task = toml::Value::try_from(experiment.experiment.task)?;
    let mut out = format!(
        "{}: {} cells, task {}\nrun directory: {}\n",
        experiment.experiment.name,
        cells.len(),
        task.as_str().unwrap_or_default(),
        dir.display()
    );
    let cache = results.join("cache");
    let mut networks: BTreeMap<String, bool> = BTreeMap::new();
    let mut classifier = false;
    let mut inception = false;
    for cell in cells {
        let e = &cell.config;
        let params: Vec<String> = cell
            .params
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        out.push_str(&format!(
            "  cell {:>3}: {}, model {}{}\n",
            cell.index,
            workload(e),
            model_kind(&e.model),
            if params.is_empty() {
                String::new()
            } else {
                format!(", {}", params.join(" "))
            }
        ));
        for entry in cell_networks(e, &cache)? {
            networks.insert(entry.0, entry.1);
        }
        classifier |= e.metrics.names.iter().any(|m| m.needs_classifier());
        inception |= e.metrics.names.iter().any(|m| m.needs_inception());
    }
    for (dir, cached) in &networks {
        out.push_str(&format!(
            "network {dir}: {}\n",
            if *cached { "cached" } else { "to train" }
        ));
    }
    if experiment.experiment.task == Task::Memorization
        && matches!(experiment.model, ModelSpec::Network(_))
    {
        out.push_str(
            "networks: two per cell (the memorization halves), trained when the cell runs\n",
        );
    }
    if classifier {
        out.push_str("feature classifier: the digits classifier of the data set (cached after its first training)\n");
    }
    if inception {
        out.push_str("Inception features: the FID Inception-v3 network; the reference set's features are cached after the first run\n");
    }
    if let Some(format) = experiment.metrics.save_samples {
        out.push_str(&format!(
            "saved samples: every cell's samples as samples/<cell>.seed<j>{} in the run directory\n",
            match format {
                crate::config::SampleFormat::Png => "/ (one PNG per sample)".to_string(),
                other => format!(".{}", other.name()),
            }
        ));
    }
    Ok(out)
}

/// What a cell draws or probes.
fn workload(e: &Experiment) -> String {
    match e.experiment.task {
        Task::SampleQuality => format!(
            "{} samples × {} sample seeds",
            e.metrics.samples, e.metrics.sample_seeds
        ),
        Task::Memorization => format!("{} samples from each of 2 models", e.metrics.samples),
        Task::ScoreAgreement | Task::Jacobian => format!("{} probes", e.probe.points),
    }
}

fn model_kind(model: &ModelSpec) -> String {
    match model {
        ModelSpec::Network(spec) => format!("network ({})", spec.objective.name()),
        other => toml::Value::try_from(other)
            .ok()
            .and_then(|v| v.get("kind").and_then(|k| k.as_str()).map(str::to_string))
            .unwrap_or_default(),
    }
}

/// The network entries a cell uses (its model and `probe.reference`), with whether each
/// is in the cache already.
fn cell_networks(e: &Experiment, cache: &Path) -> Result<Vec<(String, bool)>> {
    if e.experiment.task == Task::Memorization {
        return Ok(vec![]);
    }
    let key = data_key(e);
    let mut out = Vec::new();
    for model in [Some(&e.model), e.probe.reference.as_ref()]
        .into_iter()
        .flatten()
    {
        if let ModelSpec::Network(spec) = model {
            let entry = network_entry(e, spec, &key, cache)?;
            out.push((entry.dir().display().to_string(), entry.is_complete()));
        }
    }
    Ok(out)
}
