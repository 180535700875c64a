//! The checks that need a cell's data but no training or sampling, run for every cell
//! before the first cell starts: sizes that must fit the data (`memorization.size`,
//! `jacobian.subspace_dim`, `jacobian.eigenvector_images`), metrics that need synthetic
//! data (`nll_pf_ode`, `nll_exact`), Inception metrics and 8-bit saved samples that need
//! images, the Inception weights, and the memory a cell's buffers would take, against
//! the machine's.

use crate::build::context::cell_data;
use crate::config::{ExperimentFile, MetricName, Task};
use crate::plan::Cell;
use anyhow::{bail, Context, Result};

/// Fraction of the machine's memory one cell may plan to use.
const MEMORY_SHARE: f64 = 0.8;

/// Checks every cell (loading each distinct data set once, as the cells will).
pub fn preflight(file: &ExperimentFile, cells: &[Cell]) -> Result<()> {
    let memory = machine_memory_bytes();
    let inception = |cell: &Cell| {
        cell.config
            .metrics
            .names
            .iter()
            .any(|m| m.needs_inception())
    };
    if let Some(cell) = cells.iter().find(|c| inception(c)) {
        crate::build::inception::weights_path(None).with_context(|| {
            format!(
                "{}: fid_inception and kid_inception need the FID Inception network",
                file.locate_key("metrics.names", !cell.params.is_empty())
            )
        })?;
    }
    let mut imported = std::collections::BTreeSet::new();
    for cell in cells {
        let e = &cell.config;
        let data = cell_data(e).with_context(|| format!("cell {}: loading [data]", cell.index))?;
        let whole = data.train.len() + data.test.as_ref().map_or(0, |t| t.len());
        let dim = data.train.images.dim();
        let located = |key: &str| file.locate_key(key, !cell.params.is_empty());
        let synthetic = data.synthetic.is_some();
        if let Some((key, message)) = size_error(cell, whole, data.train.shape, synthetic) {
            bail!("{}: {message}", located(key));
        }
        crate::build::context::initial_noise(e, data.train.shape)
            .with_context(|| located("sampler.initial_noise"))?;
        if let crate::config::ModelSpec::Diffusers(spec) = &e.model {
            // Reads and checks every tensor against the data's image size, before any
            // cell; once per distinct model and data.
            let key = crate::build::context::model_key(e, &crate::build::context::data_key(e));
            if imported.insert(key) {
                crate::build::imported::diffusers_denoiser(e, spec, data.train.shape)
                    .with_context(|| located("model.path"))?;
            }
        }
        if let Some(total) = memory {
            if let Some((key, message)) = memory_error(cell, dim, total) {
                bail!("{}: {message}", located(key));
            }
        }
    }
    Ok(())
}

/// A size that the cell's data cannot satisfy: (key, message).
fn size_error(
    cell: &Cell,
    whole: usize,
    shape: [usize; 3],
    synthetic: bool,
) -> Option<(&'static str, String)> {
    let dim: usize = shape.iter().product();
    let e = &cell.config;
    let cell_name = format!("cell {}", cell.index);
    if e.experiment.task == Task::Memorization {
        let size = e.memorization.size;
        if size.saturating_mul(2) > whole {
            return Some(("memorization.size", format!(
                "memorization.size = {size} needs 2 × {size} images, the data set has {whole} ({cell_name})"
            )));
        }
    }
    let [channels, height, width] = shape;
    let images = matches!(channels, 1 | 3) && height >= 2 && width >= 2;
    if e.metrics.names.iter().any(|n| n.needs_inception()) && !images {
        return Some(("metrics.names", format!(
            "metrics.names: fid_inception and kid_inception need images of 1 or 3 channels; data.kind = {} has shape {:?} ({cell_name})",
            e.data.kind(),
            [channels, height, width]
        )));
    }
    if let Some(format) = e
        .metrics
        .save_samples
        .filter(|f| f.is_uint8_images() && !images)
    {
        return Some(("metrics.save_samples", format!(
            "metrics.save_samples = \"{}\" writes 8-bit images of 1 or 3 channels; data.kind = {} has shape {:?} (\"npy\" writes any samples) ({cell_name})",
            format.name(),
            e.data.kind(),
            [channels, height, width]
        )));
    }
    if !synthetic && e.metrics.names.contains(&MetricName::NllExact) {
        return Some(("metrics.names", format!(
            "metrics.names: nll_exact is the closed-form density of synthetic data; data.kind = {} is a data set of discrete images (nll_pf_ode measures them, dequantized) ({cell_name})",
            e.data.kind()
        )));
    }
    if e.experiment.task == Task::Jacobian {
        let j = &e.jacobian;
        if j.subspace_dim > dim {
            return Some((
                "jacobian.subspace_dim",
                format!(
                    "jacobian.subspace_dim = {} exceeds the data dimension {dim} ({cell_name})",
                    j.subspace_dim
                ),
            ));
        }
        if j.eigenvector_images > dim {
            return Some((
                "jacobian.eigenvector_images",
                format!(
                "jacobian.eigenvector_images = {} exceeds the data dimension {dim} ({cell_name})",
                j.eigenvector_images
            ),
            ));
        }
    }
    None
}

/// Bytes the largest buffers of a cell take, by the key that sizes them: the sampler's
/// state (samples, denoised, derivative, noise, and a copy: 6 × samples × d), the
/// reference set and its centred copy, and the Jacobians (3 × points × d × d).
fn memory_terms(cell: &Cell, dim: usize) -> Vec<(&'static str, usize, f64)> {
    let e = &cell.config;
    let d = dim as f64;
    let mut terms = vec![
        (
            "metrics.samples",
            e.metrics.samples,
            6.0 * e.metrics.samples as f64 * d * 8.0,
        ),
        (
            "metrics.reference_samples",
            e.metrics.reference_samples,
            2.0 * e.metrics.reference_samples as f64 * d * 8.0,
        ),
    ];
    if e.experiment.task == Task::Jacobian {
        terms.push((
            "probe.points",
            e.probe.points,
            3.0 * e.probe.points as f64 * d * d * 8.0,
        ));
    }
    terms
}

fn memory_error(cell: &Cell, dim: usize, total: u64) -> Option<(&'static str, String)> {
    let terms = memory_terms(cell, dim);
    let needed: f64 = terms.iter().map(|t| t.2).sum();
    if needed <= MEMORY_SHARE * total as f64 {
        return None;
    }
    let (key, value, bytes) = terms
        .into_iter()
        .max_by(|a, b| a.2.total_cmp(&b.2))
        .expect("at least one term");
    Some((key, format!(
        "{key} = {value}: cell {} would need about {} ({} of it for {key} at dimension {dim}), more than {:.0}% of this machine's {} of memory",
        cell.index,
        gib(needed),
        gib(bytes),
        MEMORY_SHARE * 100.0,
        gib(total as f64)
    )))
}

fn gib(bytes: f64) -> String {
    format!("{:.1} GiB", bytes / (1u64 << 30) as f64)
}

/// `MemTotal` of /proc/meminfo; None where it cannot be read (no check then).
pub fn machine_memory_bytes() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib.saturating_mul(1024))
}
