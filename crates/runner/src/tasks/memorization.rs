//! `task = "memorization"`: the memorization → generalization transition of Kadkhodaie,
//! Guth, Simoncelli & Mallat (ICLR 2024, §2 and Fig. 2). Two denoisers with the
//! same `[model]` spec are trained on two disjoint halves S₀, S₁ (N images each) of the
//! data set and sample from the same noise with the deterministic `[sampler]`. At small N
//! each copies its own training images and the two disagree; at large N both generalize
//! and produce (nearly) the same image from the same noise.

use super::{mean_std, sample_metric, Measured};
use crate::build::context::{cell_data, data_key, denoiser_on, feature_net, CellData};
use crate::build::features::FeatureNet;
use crate::config::{Experiment, MetricName};
use crate::image_grid::{write_image_grid, Tile, TileScale};
use crate::plan::Cell;
use analytic::DeltaMixture;
use anyhow::{anyhow, bail, Result};
use data::Dataset;
use metrics::frechet::frechet_distance_gaussians;
use metrics::memorization::{cosine_similarity, memorized_fraction, nearest_neighbour_ratios};
use metrics::moments::mean_and_covariance;
use samplers::rng::{derive_seed, seeded};
use samplers::{Batch, Denoiser};
use std::path::Path;
use std::sync::Arc;

/// Two disjoint sets of `size` indices out of `0..n`: one permutation drawn from `seed`
/// (the indices sorted by a seeded hash of each), its even positions for half 0 and its odd positions for half 1. The halves of a
/// smaller N are therefore the first images of those of a larger N (nested training sets).
pub fn disjoint_halves(n: usize, size: usize, seed: u64) -> Result<[Vec<usize>; 2]> {
    if 2 * size > n {
        bail!("memorization.size = {size} needs 2·size = {} images but the data set has {n} (train and test splits together)", 2 * size);
    }
    let mut perm: Vec<usize> = (0..n).collect();
    perm.sort_by_cached_key(|i| derive_seed(seed, &i.to_string()));
    let half = |parity: usize| -> Vec<usize> {
        perm.iter()
            .skip(parity)
            .step_by(2)
            .take(size)
            .copied()
            .collect()
    };
    Ok([half(0), half(1)])
}

/// Maps images from the data's [−1, 1] scale to pixel intensities in [0, 1], where the
/// cosine similarity is taken (as on images in Kadkhodaie et al.: a black background then
/// adds nothing to the similarity of two images).
fn intensities(x: &Batch) -> Batch {
    x.map(|v| (v + 1.0) / 2.0)
}

/// The whole data set (the cell's train and test splits together, in that order).
fn whole_data_set(data: &CellData) -> Result<Dataset> {
    let train = &data.train;
    let Some(test) = &data.test else {
        bail!("task = \"memorization\" needs a real data set (data.kind = digits, mnist_csv, idx or cifar10)");
    };
    let images = Batch::concat(&[train.images.clone(), test.images.clone()])
        .map_err(|err| anyhow!("{err}"))?;
    let labels = match (&train.labels, &test.labels) {
        (Some(a), Some(b)) => Some([a.as_slice(), b.as_slice()].concat()),
        _ => None,
    };
    Dataset::new("whole", images, labels, train.shape, train.levels).map_err(|err| anyhow!("{err}"))
}

/// One half's trained denoiser: the `[model]` spec fitted to `half`, with its own seed
/// (network initialization and training noise differ between the halves), cached under a
/// key naming the data set, N and the half.
fn half_denoiser(
    e: &Experiment,
    half: &Dataset,
    which: usize,
    cache: &Path,
) -> Result<Arc<dyn Denoiser>> {
    let mut e_half = e.clone();
    e_half.experiment.seed = derive_seed(e.experiment.seed, &format!("memorization/half{which}"));
    let key = format!(
        "{}/memorization/size={}/half={which}/seed={}",
        data_key(e),
        e.memorization.size,
        e_half.experiment.seed
    );
    let data = CellData {
        train: half.clone(),
        test: None,
        synthetic: None,
        reference: half.images.clone(),
    };
    denoiser_on(&e_half, &data, &key, cache)
}

/// Runs the task for one cell (one N): cell columns `cosine` (mean over sample pairs of
/// the cosine similarity of the two models' samples from the same noise, on [0, 1]
/// intensities) and `cosine_std`; one detail row per `split` (0, 1) with `memorized` (the
/// fraction of that model's samples with d₁/d₂ < `threshold` against its own half),
/// `nn_cosine` (mean cosine similarity of a sample and its nearest training image) and
/// the `[metrics] names` of that model's samples against the `[metrics] reference`.
pub fn memorization_task(cell: &Cell, cache: &Path, artifacts: &Path) -> Result<Measured> {
    let e = &cell.config;
    let data = cell_data(e)?;
    let halves = training_halves(e, &data)?;
    let classifier = classifier_features(e, &data, cache)?;
    let (samples, nfe) = half_samples(e, &halves, cache)?;
    let metrics = cosine_columns(&samples)?;
    if e.memorization.images > 0 {
        write_samples(cell, &halves, &samples, artifacts)?;
    }
    let mut rows = Vec::new();
    for (which, (half, x)) in halves.iter().zip(&samples).enumerate() {
        let mut row = vec![("split".to_string(), which as f64)];
        let features = classifier.as_ref().map(|(net, r)| (net.as_ref(), r));
        row.extend(half_measures(e, half, x, &data.reference, features)?);
        rows.push(row);
    }
    Ok(Measured { metrics, nfe, rows })
}

/// The two disjoint training halves S₀, S₁ of N = `memorization.size` images each.
fn training_halves(e: &Experiment, data: &CellData) -> Result<[Dataset; 2]> {
    let whole = whole_data_set(data)?;
    let halves = disjoint_halves(
        whole.len(),
        e.memorization.size,
        derive_seed(e.experiment.seed, "memorization/halves"),
    )?;
    Ok(halves.map(|idx| whole.subset(&idx)))
}

/// The feature net and the reference set's features, when a metric needs the classifier.
fn classifier_features(
    e: &Experiment,
    data: &CellData,
    cache: &Path,
) -> Result<Option<(Arc<FeatureNet>, Batch)>> {
    if e.metrics.names.iter().any(|m| m.needs_classifier()) {
        let net = feature_net(e, data, cache)?;
        let ref_features = net.features(&data.reference);
        Ok(Some((net, ref_features)))
    } else {
        Ok(None)
    }
}

/// Each half's model's samples, all from the same noise, and the sampler's NFE; a model
/// with non-finite samples is an error.
fn half_samples(
    e: &Experiment,
    halves: &[Dataset; 2],
    cache: &Path,
) -> Result<(Vec<Batch>, usize)> {
    // The same noise for both models and for every N: the pairs differ only by the model.
    let noise_seed = derive_seed(e.experiment.seed, "memorization/noise");
    let mut samples = Vec::new();
    let mut nfe = 0;
    for (which, half) in halves.iter().enumerate() {
        let denoiser = half_denoiser(e, half, which, cache)?;
        let (x, trace) = samplers::sample(
            &e.sampler,
            &e.schedule,
            denoiser.as_ref(),
            None,
            e.metrics.samples,
            &mut seeded(noise_seed),
        )
        .map_err(|err| anyhow!("{err}"))?;
        if !x.is_finite() {
            bail!(
                "the network trained on half {which} (N = {}) produced non-finite samples",
                e.memorization.size
            );
        }
        nfe = trace.nfe;
        samples.push(x);
    }
    Ok((samples, nfe))
}

/// The cell columns `cosine`, `cosine_std` (paired samples) and `cosine_unpaired`.
fn cosine_columns(samples: &[Batch]) -> Result<Vec<(String, f64)>> {
    let (a, b) = (intensities(&samples[0]), intensities(&samples[1]));
    let (cosine, cosine_std) = mean_std(&cosine_similarity(&a, &b)?);
    // Chance level: the same two models, samples from different noise (pairs i, i + 1).
    let rotated: Vec<usize> = (0..b.n()).map(|i| (i + 1) % b.n()).collect();
    let (cosine_unpaired, _) = mean_std(&cosine_similarity(&a, &b.select_rows(&rotated))?);
    Ok(vec![
        ("cosine".into(), cosine),
        ("cosine_std".into(), cosine_std),
        ("cosine_unpaired".into(), cosine_unpaired),
    ])
}

/// `memorized`, `nn_cosine` and the `[metrics] names` of one model's samples `x`.
fn half_measures(
    e: &Experiment,
    half: &Dataset,
    x: &Batch,
    reference: &Batch,
    classifier: Option<(&FeatureNet, &Batch)>,
) -> Result<Vec<(String, f64)>> {
    let training = DeltaMixture::new(half.images.clone())?;
    let neighbours = nearest_neighbour_ratios(x, &training)?;
    let nearest: Vec<usize> = neighbours.iter().map(|n| n.index).collect();
    let nn_cosines = cosine_similarity(
        &intensities(x),
        &intensities(&half.images.select_rows(&nearest)),
    )?;
    let mut out = vec![
        (
            "memorized".to_string(),
            memorized_fraction(&neighbours, e.memorization.threshold),
        ),
        ("nn_cosine".to_string(), mean_std(&nn_cosines).0),
    ];
    let (ref_mean, ref_cov) = mean_and_covariance(reference);
    let mut rng = seeded(derive_seed(e.experiment.seed, "memorization/metric"));
    for name in &e.metrics.names {
        let value = match (name, classifier) {
            (MetricName::FidClassifier, Some((c, r))) => {
                let (rm, rc) = mean_and_covariance(r);
                let (sm, sc) = mean_and_covariance(&c.features(x));
                frechet_distance_gaussians(&sm, &sc, &rm, &rc)?
            }
            (MetricName::KidClassifier, Some((c, r))) => {
                let f = c.features(x);
                let size = f.n().min(r.n()).min(1000);
                metrics::kid::kernel_inception_distance(&f, r, 10, size, &mut rng)?.mean
            }
            _ => sample_metric(
                *name,
                x,
                reference,
                (&ref_mean, &ref_cov),
                e.metrics.projections,
                &mut rng,
            )?,
        };
        out.push((name.column().to_string(), value));
    }
    Ok(out)
}

/// `<artifacts>/samples_<cell label>.png`: per column one noise draw; rows: model 0's
/// sample, its nearest image in S₀, model 1's sample, its nearest image in S₁.
fn write_samples(
    cell: &Cell,
    halves: &[Dataset; 2],
    samples: &[Batch],
    artifacts: &Path,
) -> Result<()> {
    let [channels, h, w] = halves[0].shape;
    if channels != 1 {
        bail!(
            "memorization.images needs single-channel images; the data has shape {:?}",
            halves[0].shape
        );
    }
    let count = cell.config.memorization.images.min(samples[0].n());
    let mut tiles = Vec::new();
    for (which, (half, x)) in halves.iter().zip(samples).enumerate() {
        let raw = x.slice_rows(0, count);
        let nn = nearest_neighbour_ratios(&raw, &DeltaMixture::new(half.images.clone())?)?;
        let x = intensities(&raw);
        for (i, row) in x.rows().enumerate() {
            tiles.push(Tile {
                caption: format!("S{which} sample {i}"),
                pixels: row.to_vec(),
            });
        }
        for n in &nn {
            tiles.push(Tile {
                caption: format!("S{which} d1/d2={:.2}", n.ratio),
                pixels: half
                    .images
                    .row(n.index)
                    .iter()
                    .map(|v| (v + 1.0) / 2.0)
                    .collect(),
            });
        }
    }
    write_image_grid(
        &artifacts.join(format!("samples_{}.png", cell.file_label())),
        &tiles,
        (h, w),
        count,
        TileScale::Gray {
            low: 0.0,
            high: 1.0,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn halves_are_disjoint_nested_and_deterministic() {
        let [a, b] = disjoint_halves(1797, 898, 7).unwrap();
        assert_eq!((a.len(), b.len()), (898, 898));
        let mut all: Vec<usize> = a.iter().chain(&b).copied().collect();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), 1796, "the halves overlap or repeat an index");
        assert!(all.iter().all(|&i| i < 1797));
        assert_eq!(
            disjoint_halves(1797, 898, 7).unwrap(),
            [a.clone(), b.clone()]
        );
        assert_ne!(disjoint_halves(1797, 898, 8).unwrap()[0], a);
        let [small_a, small_b] = disjoint_halves(1797, 10, 7).unwrap();
        assert_eq!((&small_a[..], &small_b[..]), (&a[..10], &b[..10]));
        let err = disjoint_halves(1797, 899, 7).unwrap_err().to_string();
        assert!(err.contains("memorization.size = 899"), "{err}");
    }

    #[test]
    fn intensities_map_the_data_range_to_unit() {
        let x = Batch::from_vec(1, 3, vec![-1.0, 0.0, 1.0]).unwrap();
        assert_eq!(intensities(&x).as_slice(), &[0.0, 0.5, 1.0]);
    }
}
