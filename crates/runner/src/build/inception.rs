//! The FID Inception network (`models::inception`) as the runner uses it: where its weights
//! are, one loaded copy per process, and images → features or statistics in batches with a
//! progress bar and memory independent of the number of images.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use burn::tensor::Device;
use indicatif::ProgressBar;
use metrics::StreamingMoments;
use models::inception::{FidInception, DEFAULT_WEIGHTS, FEATURES};
use samplers::Batch;

use super::cache::CacheEntry;
use super::context::{data_key, CellData};
use super::memo::memo;
use crate::config::Experiment;
use crate::hash::content_hash;

/// Environment variable naming the weights file when `--inception` is not given.
pub const WEIGHTS_ENV: &str = "DLAB_INCEPTION";
/// Images per forward pass unless a command says otherwise (≈ 25 MB of activations each).
pub const DEFAULT_BATCH: usize = 32;

/// The weights file: `explicit` (a `--inception` flag), else `$DLAB_INCEPTION`, else
/// `data/fid-inception-v3.pt` under the current directory. An error says how to get it.
pub fn weights_path(explicit: Option<&Path>) -> Result<PathBuf> {
    let path = match (explicit, std::env::var_os(WEIGHTS_ENV)) {
        (Some(path), _) => path.to_path_buf(),
        (None, Some(env)) => PathBuf::from(env),
        (None, None) => PathBuf::from(DEFAULT_WEIGHTS),
    };
    if !path.is_file() {
        bail!(
            "FID Inception weights not found at {}: run scripts/fetch-inception.sh (it writes \
             {DEFAULT_WEIGHTS}), or pass --inception FILE / set {WEIGHTS_ENV}",
            path.display()
        );
    }
    Ok(path)
}

/// The network loaded from `path` on the CPU, once per process.
pub fn load(path: &Path) -> Result<Arc<FidInception>> {
    memo(format!("inception/{}", path.display()), || {
        Ok(FidInception::load(path, &Device::flex())?)
    })
}

/// Calls `each` with the features (rows × 2048, f64) of images `0..n`, `batch` at a time;
/// `read(range)` returns those images as `channels × height × width` values in [0, 1].
pub fn for_each_feature_batch(
    model: &FidInception,
    n: usize,
    [channels, height, width]: [usize; 3],
    batch: usize,
    label: &str,
    read: impl Fn(Range<usize>) -> Result<Vec<f32>>,
    mut each: impl FnMut(Batch) -> Result<()>,
) -> Result<()> {
    let bar = progress_bar(n as u64, label);
    for start in (0..n).step_by(batch.max(1)) {
        let range = start..(start + batch.max(1)).min(n);
        let rows = range.len();
        let images = read(range)?;
        let features = model.features(&images, rows, channels, height, width);
        let features = features.into_iter().map(f64::from).collect();
        each(Batch::from_vec(rows, FEATURES, features)?)?;
        bar.inc(rows as u64);
    }
    bar.finish_and_clear();
    Ok(())
}

/// Mean and covariance of the Inception features of images `0..n` (see
/// [`for_each_feature_batch`]); at least 2 images.
pub fn statistics(
    model: &FidInception,
    n: usize,
    shape: [usize; 3],
    batch: usize,
    label: &str,
    read: impl Fn(Range<usize>) -> Result<Vec<f32>>,
) -> Result<(Vec<f64>, Vec<f64>)> {
    if n < 2 {
        bail!("{label}: {n} image(s); FID statistics need at least 2");
    }
    let mut moments = StreamingMoments::new(FEATURES);
    for_each_feature_batch(model, n, shape, batch, label, read, |features| {
        moments.add(&features);
        Ok(())
    })
    .with_context(|| format!("Inception features of {label}"))?;
    Ok(moments.finish())
}

/// The reference set's Inception features and their moments.
pub struct InceptionReference {
    pub features: Batch,
    pub mean: Vec<f64>,
    pub cov: Vec<f64>,
}

/// The Inception features of the experiment's reference set (`[metrics] reference`), computed
/// once per data set and kept in the cache entry `inception-<hash>/features.npy` (N × 2048
/// float32); the key is the data's identity and the weights' SHA-1.
pub fn reference(e: &Experiment, data: &CellData, cache: &Path) -> Result<Arc<InceptionReference>> {
    let key = data_key(e);
    memo(format!("inception-reference/{key}"), || {
        let weights = weights_path(None)?;
        let model = load(&weights)?;
        let mut id = toml::Table::new();
        id.insert("data".into(), key.clone().into());
        id.insert("network".into(), models::inception::WEIGHTS_SHA1.into());
        let entry = CacheEntry::new(cache, format!("inception-{}", content_hash(&id)));
        let dir = entry.get_or_build("the reference set's Inception features", |partial| {
            let features =
                image_features(&model, &data.reference, data.train.shape, "reference set")?;
            write_features(&partial.join("features.npy"), &features)
        })?;
        let features = read_features(&dir.join("features.npy"))?;
        let (mean, cov) = metrics::mean_and_covariance(&features);
        Ok(InceptionReference {
            features,
            mean,
            cov,
        })
    })
}

/// Inception features (rows × 2048) of images in the data's coordinates [−1, 1], each row
/// one image of `shape` (`[channels, height, width]`, channels 1 or 3).
pub fn image_features(
    model: &FidInception,
    images: &Batch,
    shape: [usize; 3],
    label: &str,
) -> Result<Batch> {
    let size: usize = shape.iter().product();
    if size != images.dim() {
        bail!(
            "{label}: rows of {} values are not images of shape {shape:?}",
            images.dim()
        );
    }
    let unit: Vec<f32> = images
        .as_slice()
        .iter()
        .map(|&x| ((x + 1.0) / 2.0) as f32)
        .collect();
    let mut parts = Vec::new();
    for_each_feature_batch(
        model,
        images.n(),
        shape,
        DEFAULT_BATCH,
        label,
        |range| Ok(unit[range.start * size..range.end * size].to_vec()),
        |features| {
            parts.push(features);
            Ok(())
        },
    )?;
    Ok(Batch::concat(&parts)?)
}

fn read_features(path: &Path) -> Result<Batch> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let array = data::images::NpyArray::parse(path, &bytes)?;
    let (data::images::NpyValues::F32(values), &[n, FEATURES]) = (array.values, &array.shape[..])
    else {
        bail!(
            "{}: expected N × {FEATURES} float32 features",
            path.display()
        );
    };
    Ok(Batch::from_vec(
        n,
        FEATURES,
        values.into_iter().map(f64::from).collect(),
    )?)
}

fn write_features(path: &Path, features: &Batch) -> Result<()> {
    crate::files::write_atomically(path, |file| {
        use npyz::WriterBuilder;
        let mut writer = npyz::WriteOptions::<f32>::new()
            .default_dtype()
            .shape(&[features.n() as u64, features.dim() as u64])
            .writer(std::io::BufWriter::new(file))
            .begin_nd()?;
        writer.extend(features.as_slice().iter().map(|&v| v as f32))?;
        writer.finish()?;
        Ok(())
    })
}

fn progress_bar(total: u64, label: &str) -> ProgressBar {
    crate::progress::bar(
        total,
        label,
        "{prefix} [{bar:30}] {pos}/{len} images, {per_sec}, ETA {eta}",
    )
}
