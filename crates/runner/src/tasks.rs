//! What one cell computes, by `[experiment] task`.

use crate::build::context::{cell_data, cell_denoiser, teleport_gaussian, CellData};
use crate::build::features::FeatureNet;
use crate::build::inception::{self, InceptionReference};
use crate::build::network::TrainingSummary;
use crate::config::{Experiment, MetricName, SampleFormat, Task};
use crate::image_grid::{write_image_grid, Tile, TileScale};
use crate::plan::Cell;
use anyhow::{anyhow, bail, Result};
use metrics::frechet::frechet_distance_gaussians;
use metrics::moments::mean_and_covariance;
use metrics::sliced::sliced_wasserstein;
use models::inception::FidInception;
use samplers::rng::{derive_seed, seeded};
use samplers::{Batch, Denoiser, PfOdeSolution};
use std::path::{Path, PathBuf};
use std::sync::Arc;

mod jacobian;
mod likelihood;
mod memorization;
mod saved_samples;
mod score_agreement;
mod solver_error;

/// The measured values of a cell: named metric columns and the sampler's NFE, and for
/// tasks that measure a curve per cell (e.g. a spectrum), detail rows: the table then has
/// one row per detail row, each with the cell's parameters and metrics.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Measured {
    pub metrics: Vec<(String, f64)>,
    pub nfe: usize,
    pub rows: Vec<Vec<(String, f64)>>,
}

/// Columns that identify a detail row within its cell, by task (matched by `dlab check`
/// together with the swept keys).
pub fn row_key_columns(task: Task) -> &'static [&'static str] {
    match task {
        Task::Jacobian => &["k"],
        Task::Memorization => &["split"],
        _ => &[],
    }
}

/// Metric columns that hold a yes/no flag (1 or 0 in a cell record): boolean columns in
/// the table.
pub const FLAG_COLUMNS: &[&str] = &["diverged"];

/// The columns a cell of `e` measures, known before it runs: (metric columns, detail-row
/// columns), in the order the task writes them. `dlab run` checks `[check]` and
/// `[[plot]]` against them before any work.
pub fn output_columns(e: &Experiment) -> (Vec<String>, Vec<String>) {
    let own = |names: &[&str]| names.iter().map(|n| n.to_string()).collect::<Vec<_>>();
    match e.experiment.task {
        Task::SampleQuality => {
            let mut metrics = Vec::new();
            for name in &e.metrics.names {
                match name {
                    MetricName::NllBitsPerDim => metrics.extend(own(&likelihood::NLL_COLUMNS)),
                    MetricName::NllPfOde
                    | MetricName::NllExact
                    | MetricName::FinalLoss
                    | MetricName::Diverged => metrics.push(name.column().to_string()),
                    _ => {
                        metrics.push(name.column().to_string());
                        if e.metrics.sample_seeds > 1 {
                            metrics.push(format!("{}_std", name.column()));
                        }
                    }
                }
            }
            (metrics, vec![])
        }
        Task::ScoreAgreement => (own(&["sigma", "ev", "ev_std"]), vec![]),
        Task::Jacobian => {
            let mut metrics = own(&jacobian::SUMMARY_COLUMNS);
            if e.probe.reference.is_some() {
                metrics.push("mse_to_reference".into());
                if e.jacobian.subspace_dim > 0 {
                    metrics.extend(own(&["max_angle_deg", "max_angle_deg_std"]));
                }
            }
            (metrics, own(&jacobian::SPECTRUM_COLUMNS))
        }
        Task::Memorization => {
            let mut details = own(&["split", "memorized", "nn_cosine"]);
            details.extend(e.metrics.names.iter().map(|m| m.column().to_string()));
            (own(&["cosine", "cosine_std", "cosine_unpaired"]), details)
        }
    }
}

/// Where a cell writes files beside the table: drawings (e.g. eigenvector images, sample
/// grids) under `images/`, saved samples under `samples/`.
pub struct CellOutputs {
    pub images: PathBuf,
    pub samples: PathBuf,
}

impl CellOutputs {
    /// The subfolders of a run directory.
    pub fn in_run_dir(dir: &Path) -> Self {
        Self {
            images: dir.join("images"),
            samples: dir.join("samples"),
        }
    }
}

/// Runs the cell's task; costly artifacts are cached under `cache`.
pub fn run_cell(cell: &Cell, cache: &Path, outputs: &CellOutputs) -> Result<Measured> {
    let artifacts = &outputs.images;
    match cell.config.experiment.task {
        Task::SampleQuality => sample_quality(cell, cache, outputs),
        Task::ScoreAgreement => score_agreement::score_agreement(&cell.config, cache),
        Task::Jacobian => jacobian::jacobian_task(cell, cache, artifacts),
        Task::Memorization => memorization::memorization_task(cell, cache, artifacts),
    }
}

/// Draws `metrics.samples` samples per sample seed with `[sampler]` from the `[model]`
/// denoiser and compares them with the reference set; each metric is reported as the
/// mean over sample seeds and, with several seeds, `<name>_std`. The metrics that are not
/// about samples (the bound, the training's end) are measured once ([`likelihood`]). A
/// network whose training diverged is recorded, not an error: its metrics are NaN.
fn sample_quality(cell: &Cell, cache: &Path, outputs: &CellOutputs) -> Result<Measured> {
    let (e, cell_seed) = (&cell.config, cell.seed);
    let data = cell_data(e)?;
    let denoiser = denoiser_unless_diverged(e, &data, cache)?;
    let noise_root = if e.metrics.common_noise {
        derive_seed(e.experiment.seed, "common-noise")
    } else {
        cell_seed
    };
    let sample_names: Vec<MetricName> = e
        .metrics
        .names
        .iter()
        .copied()
        .filter(|m| m.is_sample_metric())
        .collect();
    let draws_samples = !sample_names.is_empty() || e.metrics.save_samples.is_some();
    let (per_seed, nfe) = match &denoiser {
        Some(d) if draws_samples => {
            let files = SampleFiles {
                grid: (e.metrics.sample_images > 0).then(|| {
                    outputs
                        .images
                        .join(format!("samples_{}.png", cell.file_label()))
                }),
                saved: e
                    .metrics
                    .save_samples
                    .map(|format| (outputs.samples.clone(), cell.file_label(), format)),
            };
            sample_metrics(
                e,
                &data,
                d.as_ref(),
                &sample_names,
                noise_root,
                cache,
                &files,
            )?
        }
        _ => (
            vec![vec![f64::NAN; e.metrics.sample_seeds]; sample_names.len()],
            0,
        ),
    };
    let cell_inputs = CellInputs {
        e,
        data: &data,
        denoiser: denoiser.as_deref(),
        noise_root,
    };
    let training = training_if_measured(e, cache)?;
    let metrics = metric_columns(&cell_inputs, training.as_ref(), &sample_names, &per_seed)?;
    Ok(Measured {
        metrics,
        nfe,
        rows: vec![],
    })
}

/// What a sample-quality cell measures with: its experiment, data, denoiser (none after
/// a recorded divergence) and the root seed of its sampling noise.
struct CellInputs<'a> {
    e: &'a Experiment,
    data: &'a CellData,
    denoiser: Option<&'a dyn Denoiser>,
    noise_root: u64,
}

/// The cell's `[model]` denoiser, or none when its training diverged (logged, not an error).
fn denoiser_unless_diverged(
    e: &Experiment,
    data: &CellData,
    cache: &Path,
) -> Result<Option<Arc<dyn Denoiser>>> {
    match cell_denoiser(e, data, cache) {
        Ok(d) => Ok(Some(d)),
        Err(err) if crate::build::network::is_divergence(&err) => {
            tracing::warn!("{err:#}; the cell's metrics are recorded as NaN");
            Ok(None)
        }
        Err(err) => Err(err),
    }
}

/// The training's summary when `final_loss` or `diverged` is among the metrics.
fn training_if_measured(e: &Experiment, cache: &Path) -> Result<Option<TrainingSummary>> {
    if e.metrics
        .names
        .iter()
        .any(|m| matches!(m, MetricName::FinalLoss | MetricName::Diverged))
    {
        Ok(Some(likelihood::cell_training(e, cache)?))
    } else {
        Ok(None)
    }
}

/// The metric columns in `metrics.names` order: once-per-cell columns (bound, training)
/// and, for each sample metric, its per-seed values summarized.
fn metric_columns(
    cell: &CellInputs,
    training: Option<&TrainingSummary>,
    sample_names: &[MetricName],
    per_seed: &[Vec<f64>],
) -> Result<Vec<(String, f64)>> {
    let mut metrics = Vec::new();
    for name in &cell.e.metrics.names {
        match (name, cell.denoiser, training) {
            (MetricName::NllBitsPerDim, Some(d), _) => metrics.extend(likelihood::nll_columns(
                cell.e,
                cell.data,
                d,
                cell.noise_root,
            )?),
            (MetricName::NllBitsPerDim, None, _) => metrics.extend(likelihood::nan_nll_columns()),
            (MetricName::NllPfOde, Some(d), _) => metrics.push(likelihood::pf_ode_column(
                cell.e,
                cell.data,
                d,
                cell.noise_root,
            )?),
            (MetricName::NllPfOde, None, _) => metrics.push((name.column().into(), f64::NAN)),
            (MetricName::NllExact, _, _) => {
                metrics.push(likelihood::exact_column(cell.e, cell.data)?)
            }
            (MetricName::FinalLoss | MetricName::Diverged, _, Some(t)) => {
                metrics.push(likelihood::training_column(*name, t))
            }
            _ => {
                let k = sample_names
                    .iter()
                    .position(|m| m == name)
                    .expect("a sample metric");
                metrics.extend(per_seed_columns(*name, &per_seed[k]));
            }
        }
    }
    Ok(metrics)
}

/// A sample metric's columns from its per-seed values: the mean and, with several seeds,
/// `<name>_std`.
fn per_seed_columns(name: MetricName, values: &[f64]) -> Vec<(String, f64)> {
    let (mean, std) = mean_std(values);
    let mut columns = vec![(name.column().to_string(), mean)];
    if values.len() > 1 {
        columns.push((format!("{}_std", name.column()), std));
    }
    columns
}

/// The files a cell writes of its samples: the grid of seed 0's first
/// `metrics.sample_images`, and every seed's samples (folder, cell label, format).
struct SampleFiles {
    grid: Option<PathBuf>,
    saved: Option<(PathBuf, String, SampleFormat)>,
}

/// The sample metrics `names` per sample seed (`[k][seed]`) and the sampler's NFE; the
/// samples are also written to `files`.
fn sample_metrics(
    e: &Experiment,
    data: &CellData,
    denoiser: &dyn Denoiser,
    names: &[MetricName],
    noise_root: u64,
    cache: &Path,
    files: &SampleFiles,
) -> Result<(Vec<Vec<f64>>, usize)> {
    let teleport = teleport_gaussian(e, data)?;
    let initial = crate::build::context::initial_noise(e, data.train.shape)?;
    let reference = reference_stats(e, data, names, cache)?;
    let mut per_seed: Vec<Vec<f64>> = vec![Vec::new(); names.len()];
    let mut nfe = 0;
    for j in 0..e.metrics.sample_seeds {
        let solution = teleport.as_deref().map(|g| g as &dyn PfOdeSolution);
        let (samples, seed_nfe, z) =
            seed_samples(e, denoiser, solution, (noise_root, initial.as_ref()), j)?;
        nfe = seed_nfe;
        if let (0, Some(path)) = (j, &files.grid) {
            write_sample_grid(path, &samples, e.metrics.sample_images, data.train.shape)?;
        }
        if let Some((dir, label, format)) = &files.saved {
            let path = saved_samples::samples_path(dir, label, j, *format);
            saved_samples::write_samples(&path, *format, &samples, data.train.shape)?;
        }
        let endpoint = match names.iter().any(|n| n.needs_reference_endpoint()) {
            true => Some(solver_error::reference_endpoint(
                e,
                data,
                denoiser,
                &z,
                (noise_root, j),
            )?),
            false => None,
        };
        for (k, name) in names.iter().enumerate() {
            let value = match (name, &endpoint) {
                (MetricName::SolverError, Some(r)) if samples.is_finite() => {
                    solver_error::rms_difference(&samples, &r.endpoint)
                }
                (MetricName::SolverError, Some(_)) => f64::NAN,
                (MetricName::SolverReferenceError, Some(r)) => r.error,
                _ => metric_value(e, &reference, *name, &samples, noise_root, j)?,
            };
            per_seed[k].push(value);
        }
    }
    Ok((per_seed, nfe))
}

/// What samples are compared with: the reference set, its moments and, for classifier
/// metrics, the feature net with the reference's features and their moments.
struct ReferenceStats<'a> {
    reference: &'a Batch,
    mean: Vec<f64>,
    cov: Vec<f64>,
    classifier: Option<Arc<FeatureNet>>,
    features: Option<(Batch, Vec<f64>, Vec<f64>)>,
    /// The FID Inception network and the reference set's features, for `*_inception`.
    inception: Option<(Arc<FidInception>, Arc<InceptionReference>, [usize; 3])>,
}

/// The reference set's moments and, when a metric of `names` needs the classifier, its features.
fn reference_stats<'a>(
    e: &Experiment,
    data: &'a CellData,
    names: &[MetricName],
    cache: &Path,
) -> Result<ReferenceStats<'a>> {
    let (mean, cov) = mean_and_covariance(&data.reference);
    let classifier = if names.iter().any(|m| m.needs_classifier()) {
        Some(crate::build::context::feature_net(e, data, cache)?)
    } else {
        None
    };
    let features = classifier.as_ref().map(|c| {
        let f = c.features(&data.reference);
        let (m, cov) = mean_and_covariance(&f);
        (f, m, cov)
    });
    let inception = if names.iter().any(|m| m.needs_inception()) {
        let model = inception::load(&inception::weights_path(None)?)?;
        let reference = inception::reference(e, data, cache)?;
        Some((model, reference, data.train.shape))
    } else {
        None
    };
    Ok(ReferenceStats {
        reference: &data.reference,
        mean,
        cov,
        classifier,
        features,
        inception,
    })
}

/// Sample seed `j`'s samples (noise from `samples/<j>` under `noise_root`, or from
/// `initial`, `[sampler] initial_noise`), the NFE and the standard-normal draw z of the
/// initial state.
fn seed_samples(
    e: &Experiment,
    denoiser: &dyn Denoiser,
    solution: Option<&dyn PfOdeSolution>,
    (noise_root, initial): (u64, Option<&Batch>),
    j: usize,
) -> Result<(Batch, usize, Batch)> {
    let mut rng = seeded(derive_seed(noise_root, &format!("samples/{j}")));
    e.sampler
        .validate(&e.schedule)
        .map_err(|err| anyhow!("{err}"))?;
    // z is the first draw of the stream, as in samplers::sample
    let z = match initial {
        Some(z) => z.clone(),
        None => Batch::standard_normal(e.metrics.samples, denoiser.dim(), &mut rng),
    };
    let (samples, trace) = samplers::sample_from_noise(
        &e.sampler,
        &e.schedule,
        denoiser,
        solution,
        z.clone(),
        &mut rng,
    )
    .map_err(|err| anyhow!("{err}"))?;
    Ok((samples, trace.nfe, z))
}

/// One metric of sample seed `j`'s samples (its randomness from `metric/<j>`); NaN, with
/// a warning, when the samples are not finite.
fn metric_value(
    e: &Experiment,
    reference: &ReferenceStats,
    name: MetricName,
    samples: &Batch,
    noise_root: u64,
    j: usize,
) -> Result<f64> {
    if !samples.is_finite() {
        tracing::warn!(
            "sampler {} produced non-finite samples; metrics recorded as NaN",
            e.sampler.kind()
        );
        return Ok(f64::NAN);
    }
    let mut metric_rng = seeded(derive_seed(noise_root, &format!("metric/{j}")));
    Ok(match (name, &reference.classifier, &reference.features) {
        (MetricName::FidClassifier, Some(c), Some((_, m, cov))) => {
            let (sm, scov) = mean_and_covariance(&c.features(samples));
            frechet_distance_gaussians(&sm, &scov, m, cov)?
        }
        (MetricName::KidClassifier, Some(c), Some((f, _, _))) => {
            let feats = c.features(samples);
            let size = feats.n().min(f.n()).min(1000);
            metrics::kid::kernel_inception_distance(&feats, f, 10, size, &mut metric_rng)?.mean
        }
        (MetricName::FidInception | MetricName::KidInception, _, _) => {
            let (model, inception_reference, shape) = reference
                .inception
                .as_ref()
                .expect("built for *_inception metrics");
            inception_metric(
                name,
                model,
                inception_reference,
                samples,
                *shape,
                &mut metric_rng,
            )?
        }
        _ => sample_metric(
            name,
            samples,
            reference.reference,
            (&reference.mean, &reference.cov),
            e.metrics.projections,
            &mut metric_rng,
        )?,
    })
}

/// `fid_inception` or `kid_inception` of `samples` (rows: images in [−1, 1] of `shape`)
/// against the reference set's Inception features.
pub fn inception_metric(
    name: MetricName,
    model: &FidInception,
    reference: &InceptionReference,
    samples: &Batch,
    shape: [usize; 3],
    rng: &mut samplers::rng::HostRng,
) -> Result<f64> {
    let features = inception::image_features(model, samples, shape, "samples")?;
    Ok(match name {
        MetricName::FidInception => {
            let (mean, cov) = mean_and_covariance(&features);
            frechet_distance_gaussians(&mean, &cov, &reference.mean, &reference.cov)?
        }
        MetricName::KidInception => {
            let size = features.n().min(reference.features.n()).min(1000);
            metrics::kid::kernel_inception_distance(&features, &reference.features, 10, size, rng)?
                .mean
        }
        other => bail!("{} is not an Inception metric", other.column()),
    })
}

/// The first `count` samples as a gray-level grid (data range [−1, 1], black to white).
fn write_sample_grid(path: &Path, samples: &Batch, count: usize, shape: [usize; 3]) -> Result<()> {
    let [channels, h, w] = shape;
    if channels != 1 || h < 2 || w < 2 || h * w != samples.dim() {
        bail!(
            "metrics.sample_images = {count} needs single-channel image data; the data has shape {shape:?}"
        );
    }
    let tiles: Vec<Tile> = samples
        .rows()
        .take(count)
        .enumerate()
        .map(|(i, row)| Tile {
            caption: format!("{i}"),
            pixels: row.to_vec(),
        })
        .collect();
    let columns = (tiles.len() as f64).sqrt().ceil() as usize;
    let range = TileScale::Gray {
        low: -1.0,
        high: 1.0,
    };
    write_image_grid(path, &tiles, (h, w), columns, range)
}

fn sample_metric(
    name: MetricName,
    samples: &Batch,
    reference: &Batch,
    (ref_mean, ref_cov): (&[f64], &[f64]),
    projections: usize,
    rng: &mut samplers::rng::HostRng,
) -> Result<f64> {
    let (mean, cov) = mean_and_covariance(samples);
    Ok(match name {
        MetricName::FrechetToData | MetricName::FdPixels => {
            frechet_distance_gaussians(&mean, &cov, ref_mean, ref_cov)?
        }
        MetricName::FidClassifier
        | MetricName::KidClassifier
        | MetricName::FidInception
        | MetricName::KidInception => {
            unreachable!("feature metrics are computed with their features")
        }
        MetricName::NllBitsPerDim
        | MetricName::NllPfOde
        | MetricName::NllExact
        | MetricName::FinalLoss
        | MetricName::Diverged
        | MetricName::SolverError
        | MetricName::SolverReferenceError => {
            bail!(
                "metrics.names: `{}` is not a sample metric (only experiment.task = \"sample_quality\" measures it)",
                name.column()
            )
        }
        MetricName::SlicedWasserstein => sliced_wasserstein(samples, reference, projections, rng)?,
        MetricName::MeanErr => l2(&mean, ref_mean),
        MetricName::CovErr => l2(&cov, ref_cov) / l2(ref_cov, &vec![0.0; ref_cov.len()]),
    })
}

fn l2(a: &[f64], b: &[f64]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y) * (x - y))
        .sum::<f64>()
        .sqrt()
}

/// Mean and sample standard deviation (0 for a single value).
pub fn mean_std(values: &[f64]) -> (f64, f64) {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    if values.len() < 2 {
        return (mean, 0.0);
    }
    let var = values.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / (n - 1.0);
    (mean, var.sqrt())
}

/// Least-squares slope of −log(error) against log(nfe): the measured convergence order.
/// Points with a non-positive or non-finite error are left out; fewer than two points
/// give NaN.
pub fn convergence_order(points: &[(f64, f64)]) -> f64 {
    let pts: Vec<(f64, f64)> = points
        .iter()
        .filter(|(n, e)| *n > 0.0 && *e > 0.0 && e.is_finite())
        .map(|(n, e)| (n.ln(), -e.ln()))
        .collect();
    if pts.len() < 2 {
        return f64::NAN;
    }
    let k = pts.len() as f64;
    let (mx, my) = (
        pts.iter().map(|p| p.0).sum::<f64>() / k,
        pts.iter().map(|p| p.1).sum::<f64>() / k,
    );
    let sxy: f64 = pts.iter().map(|(x, y)| (x - mx) * (y - my)).sum();
    let sxx: f64 = pts.iter().map(|(x, _)| (x - mx) * (x - mx)).sum();
    if sxx == 0.0 {
        f64::NAN
    } else {
        sxy / sxx
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_of_a_power_law_is_its_exponent() {
        let pts: Vec<(f64, f64)> = [10.0, 20.0, 40.0, 80.0]
            .iter()
            .map(|&n: &f64| (n, 3.0 * n.powf(-2.0)))
            .collect();
        assert!((convergence_order(&pts) - 2.0).abs() < 1e-12);
        assert!(convergence_order(&pts[..1]).is_nan());
        assert_eq!(mean_std(&[1.0, 3.0]), (2.0, 2f64.sqrt()));
    }
}
