//! Feature extractors for sample-quality metrics. `digits-classifier`: the small CNN of
//! `models::classifier`, trained on the training split of a labelled image data set
//! (cached as the entry `results/cache/classifier-<hash>/`), its test accuracy reported and
//! required to reach 95 %; features are its penultimate layer. Metrics computed with these
//! features are named `*_classifier` — never plain "FID", which means Inception-v3.

use crate::build::cache::CacheEntry;
use crate::build::context::CellData;
use crate::hash::content_hash;
use anyhow::{bail, Context, Result};
use burn::tensor::Device;
use models::classifier::{accuracy, train_classifier, Classifier, ClassifierConfig};
use samplers::Batch;
use std::path::Path;

/// Minimum test accuracy for the classifier's features to be used.
pub const MIN_ACCURACY: f64 = 0.95;

/// A trained classifier used as a feature network.
pub struct FeatureNet {
    pub classifier: Classifier,
    pub test_accuracy: f64,
}

impl FeatureNet {
    /// Penultimate-layer features of `x` (rows = images), in chunks.
    pub fn features(&self, x: &Batch) -> Batch {
        let device = Device::flex();
        let parts: Vec<Batch> = (0..x.n())
            .step_by(2048)
            .map(|s| {
                let chunk = x.slice_rows(s, (s + 2048).min(x.n()));
                models::tensor::tensor_to_batch(
                    self.classifier
                        .features(models::tensor::batch_to_tensor(&chunk, &device)),
                )
            })
            .collect();
        Batch::concat(&parts).expect("equal feature widths")
    }
}

/// Trains (or loads) the digits classifier for `data`.
pub fn digits_classifier(
    data: &CellData,
    data_key: &str,
    seed: u64,
    cache: &Path,
) -> Result<FeatureNet> {
    let (Some(labels), Some(test)) = (&data.train.labels, &data.test) else {
        bail!("the digits-classifier features need labelled image data with a test split (data.kind = digits or mnist_csv)");
    };
    let test_labels = test.labels.as_ref().context("test split without labels")?;
    let num_classes = labels.iter().copied().max().unwrap_or(0) as usize + 1;
    let cfg = ClassifierConfig::new(data.train.shape, num_classes);
    let (steps, batch, lr) = (1500, 128, 2e-3);
    let recipe = format!(
        "cnn widths {:?} features {} steps {steps} batch {batch} lr {lr} seed {seed}",
        cfg.widths, cfg.features
    );
    let entry = classifier_entry(cache, data_key, recipe);
    let device = Device::flex();
    let dir = entry.get_or_build("the digits classifier", |partial| {
        let train_device = device.clone().autodiff();
        let images = &data.train.images;
        let (c, _) = train_classifier(images, labels, &cfg, steps, batch, lr, seed, &train_device)?;
        let test_accuracy = accuracy(&c, &test.images, test_labels)?;
        models::checkpoint::save(c, &partial.join("classifier.bpk"))?;
        let record = format!(
            "test_accuracy = {test_accuracy}\ntest_examples = {}\n",
            test.len()
        );
        crate::files::write_bytes_atomically(&partial.join("accuracy.toml"), record.as_bytes())
    })?;
    let classifier = models::checkpoint::load(
        cfg.init(&mut samplers::rng::seeded(seed), &device)?,
        &dir.join("classifier.bpk"),
    )?;
    let test_accuracy = read_accuracy(&dir.join("accuracy.toml"))?;
    if test_accuracy < MIN_ACCURACY {
        bail!("the {} classifier reached test accuracy {test_accuracy:.4} < {MIN_ACCURACY}; its features are not trusted ({})", data.train.name, dir.display());
    }
    tracing::info!(
        "{} classifier: test accuracy {test_accuracy:.4} ({})",
        data.train.name,
        dir.display()
    );
    Ok(FeatureNet {
        classifier,
        test_accuracy,
    })
}

/// The cache entry of the classifier trained on `data_key` with `recipe`.
fn classifier_entry(cache: &Path, data_key: &str, recipe: String) -> CacheEntry {
    let mut key = toml::Table::new();
    key.insert("data".into(), data_key.into());
    key.insert("recipe".into(), recipe.into());
    CacheEntry::new(cache, format!("classifier-{}", content_hash(&key)))
}

/// The test accuracy a classifier entry recorded.
fn read_accuracy(path: &Path) -> Result<f64> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    text.parse::<toml::Table>()
        .ok()
        .and_then(|t| t.get("test_accuracy")?.as_float())
        .with_context(|| format!("{} has no test_accuracy", path.display()))
}
