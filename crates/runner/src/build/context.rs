//! What a cell needs before it can sample: its data (train split, reference set), its
//! denoiser and its teleport Gaussian. Costly pieces are shared between the cells of a
//! run (in memory, [`memo`]) and between runs, experiments and processes (cache entries
//! `results/cache/<kind>-<hash>/`, [`CacheEntry`]), keyed by the configuration that
//! produced them.

use crate::build::cache::CacheEntry;
use crate::build::memo::memo;
use crate::config::{Experiment, ModelSpec, Reference, TeleportGaussian};
use crate::hash::content_hash;
use analytic::{DeltaMixture, Gaussian, GaussianMixture};
use anyhow::{anyhow, bail, Context, Result};
use data::synthetic::Synthetic;
use data::Dataset;
use samplers::rng::{derive_seed, seeded};
use samplers::{Batch, Denoiser};
use std::path::Path;
use std::sync::Arc;

/// The data of a cell.
pub struct CellData {
    pub train: Dataset,
    pub test: Option<Dataset>,
    pub synthetic: Option<Arc<dyn Synthetic>>,
    /// What samples are compared with (`[metrics] reference`).
    pub reference: Batch,
}

/// The identity of a cell's data (data, split, seed, reference) in the caches.
pub fn data_key(e: &Experiment) -> String {
    let mut t = toml::Table::new();
    t.insert(
        "data".into(),
        toml::Value::try_from(&e.data).expect("data serializes"),
    );
    // A user's image folder or array may change under the same path.
    if let Ok(Some(fingerprint)) = e.data.source_fingerprint() {
        t.insert("source".into(), toml::Value::String(fingerprint));
    }
    t.insert(
        "split".into(),
        toml::Value::try_from(&e.split).expect("split serializes"),
    );
    t.insert(
        "seed".into(),
        toml::Value::Integer(e.experiment.seed as i64),
    );
    t.insert(
        "reference".into(),
        toml::Value::try_from((e.metrics.reference, e.metrics.reference_samples))
            .expect("serializes"),
    );
    content_hash(&t)
}

/// Loads (once per run) the cell's data: synthetic data draws `split.train` training
/// points; real data is split with `split.test_fraction`. The data seed derives from the
/// experiment seed alone, so every cell sees the same data.
pub fn cell_data(e: &Experiment) -> Result<Arc<CellData>> {
    memo(format!("data/{}", data_key(e)), || {
        let seed = derive_seed(e.experiment.seed, "data");
        let loaded = e
            .data
            .load(e.split.train, seed)
            .map_err(|err| anyhow!("data: {err}"))?;
        let (train, test) = match loaded.synthetic {
            Some(_) => (loaded.dataset, None),
            None => {
                let (train, test) = loaded
                    .dataset
                    .split(e.split.test_fraction, derive_seed(seed, "split"))
                    .map_err(|err| anyhow!("split: {err}"))?;
                (train, Some(test))
            }
        };
        let reference = match (e.metrics.reference, &loaded.synthetic, &test) {
            (Reference::Auto | Reference::Exact, Some(s), _) => s.sample(e.metrics.reference_samples, &mut seeded(derive_seed(seed, "reference"))),
            (Reference::Exact, None, _) => bail!("metrics.reference = \"exact\" needs synthetic data; data.kind = {} is a fixed data set", e.data.kind()),
            (Reference::Auto | Reference::Train, _, _) => train.images.clone(),
            (Reference::Test, _, Some(test)) => test.images.clone(),
            (Reference::Test, _, None) => bail!("metrics.reference = \"test\" needs real data with a test split"),
        };
        Ok(CellData {
            train,
            test,
            synthetic: loaded.synthetic,
            reference,
        })
    })
}

/// The denoiser of `[model]`, built on the training split.
pub fn cell_denoiser(e: &Experiment, data: &CellData, cache: &Path) -> Result<Arc<dyn Denoiser>> {
    denoiser_on(e, data, &data_key(e), cache)
}

/// The in-memory cache key of `[model]` built on the data `data_key` identifies.
pub fn model_key(e: &Experiment, data_key: &str) -> String {
    format!(
        "model/{data_key}/{}",
        toml::to_string(&e.model).unwrap_or_default()
    )
}

/// The denoiser of `[model]` built on `data.train`, which `data_key` identifies (in the
/// in-memory and on-disk caches): the cell's own data ([`data_key`]) or data derived
/// from it, e.g. a subset, under a key of its own.
pub fn denoiser_on(
    e: &Experiment,
    data: &CellData,
    data_key: &str,
    cache: &Path,
) -> Result<Arc<dyn Denoiser>> {
    let train = &data.train.images;
    let model = memo(model_key(e, data_key), || -> Result<Arc<dyn Denoiser>> {
        Ok(match &e.model {
            ModelSpec::Exact => data.synthetic.as_ref().and_then(|s| s.exact_denoiser()).ok_or_else(|| {
                anyhow!("model.kind = \"exact\" needs synthetic data with a closed-form denoiser; data.kind = {} has none", e.data.kind())
            })?,
            ModelSpec::GaussianFit { tol } => Arc::new(Gaussian::from_data(train, *tol)?),
            ModelSpec::Isotropic => Arc::new(isotropic_fit(train)?),
            ModelSpec::Delta => Arc::new(DeltaMixture::new(train.clone())?),
            ModelSpec::GmmFit { components, iters, reg } => Arc::new(cached_gmm(e, data_key, train, *components, *iters, *reg, cache)?),
            ModelSpec::Network(spec) => Arc::new(crate::build::network::trained_denoiser(e, spec, data, data_key, cache)?),
            ModelSpec::Diffusers(spec) => Arc::new(crate::build::imported::diffusers_denoiser(e, spec, data.train.shape)?),
        })
    })?;
    Ok(model.as_ref().clone())
}

/// `[sampler] initial_noise`: the given standard-normal draw of the initial state, checked
/// against `metrics.samples` rows of data of `shape` (N×C×H×W, or N×d with d = C·H·W).
pub fn initial_noise(e: &Experiment, shape: [usize; 3]) -> Result<Option<Batch>> {
    let Some(path) = &e.sampler.initial_noise else {
        return Ok(None);
    };
    let bytes = std::fs::read(path)
        .with_context(|| format!("sampler.initial_noise = {}: cannot read it", path.display()))?;
    let array = data::images::NpyArray::parse(path, &bytes)?;
    let values: Vec<f64> = match array.values {
        data::images::NpyValues::F32(v) => v.into_iter().map(f64::from).collect(),
        data::images::NpyValues::F64(v) => v,
        data::images::NpyValues::U8(_) => {
            bail!(
                "sampler.initial_noise = {}: must hold float32 or float64 values, not uint8",
                path.display()
            )
        }
    };
    let d: usize = shape.iter().product();
    let n = e.metrics.samples;
    let fits = array.shape == [n, d] || array.shape == [n, shape[0], shape[1], shape[2]];
    if !fits {
        bail!(
            "sampler.initial_noise = {}: shape {:?}, expected {n}×{d} or {n}×{}×{}×{} (metrics.samples × the data's shape)",
            path.display(),
            array.shape,
            shape[0],
            shape[1],
            shape[2]
        );
    }
    if let Some(bad) = values.iter().find(|v| !v.is_finite()) {
        bail!("sampler.initial_noise = {}: holds {bad}", path.display());
    }
    Ok(Some(Batch::from_vec(n, d, values)?))
}

/// The Gaussian with the training mean and isotropic variance tr(Σ)/d.
fn isotropic_fit(train: &Batch) -> Result<Gaussian> {
    let fitted = Gaussian::from_data(train, 0.0)?;
    let variance = fitted.eigenvalues().iter().sum::<f64>() / train.dim() as f64;
    Ok(Gaussian::isotropic(fitted.mean().to_vec(), variance)?)
}

/// The Gaussian whose PF-ODE solution teleports over skipped steps.
pub fn teleport_gaussian(e: &Experiment, data: &CellData) -> Result<Option<Arc<Gaussian>>> {
    if e.sampler.skip() == 0 {
        return Ok(None);
    }
    match e.teleport.gaussian {
        TeleportGaussian::Exact => data.synthetic.as_ref().and_then(|s| s.gaussian()).map(Some).ok_or_else(|| {
            anyhow!("teleport.gaussian = \"exact\" needs Gaussian data; data.kind = {} is not a single Gaussian", e.data.kind())
        }),
        TeleportGaussian::Fitted => {
            let key = format!("teleport/{}/{}", data_key(e), e.teleport.tol);
            Ok(Some(memo(key, || Ok(Gaussian::from_data(&data.train.images, e.teleport.tol)?))?))
        }
    }
}

/// EM fit of a Gaussian mixture, cached as the entry `<cache>/gmm-<hash>/gmm.toml`.
fn cached_gmm(
    e: &Experiment,
    data_key: &str,
    train: &Batch,
    components: usize,
    iters: usize,
    reg: f64,
    cache: &Path,
) -> Result<GaussianMixture> {
    let name = format!(
        "gmm-{}",
        content_hash(&toml::from_str(&format!(
            "key = \"{data_key}\"\nk = {components}\niters = {iters}\nreg = {reg}"
        ))?)
    );
    let dir = CacheEntry::new(cache, name).get_or_build("the GMM fit", |partial| {
        let gmm = GaussianMixture::fit_em(
            train,
            components,
            iters,
            reg,
            &mut seeded(derive_seed(e.experiment.seed, "gmm-fit")),
        )?;
        write_gmm(&gmm, &partial.join("gmm.toml"))
    })?;
    read_gmm(&dir.join("gmm.toml"))
}

fn write_gmm(gmm: &GaussianMixture, path: &Path) -> Result<()> {
    let mut t = toml::Table::new();
    t.insert("weights".into(), toml::Value::try_from(gmm.weights())?);
    let means: Vec<Vec<f64>> = gmm.components().iter().map(|c| c.mean().to_vec()).collect();
    let covariances: Vec<Vec<f64>> = gmm.components().iter().map(|c| c.covariance()).collect();
    t.insert("means".into(), toml::Value::try_from(means)?);
    t.insert("covariances".into(), toml::Value::try_from(covariances)?);
    let text = toml::to_string(&t)?;
    crate::files::write_bytes_atomically(path, text.as_bytes())
}

fn read_gmm(path: &Path) -> Result<GaussianMixture> {
    #[derive(serde::Deserialize)]
    struct Stored {
        weights: Vec<f64>,
        means: Vec<Vec<f64>>,
        covariances: Vec<Vec<f64>>,
    }
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let s: Stored =
        toml::from_str(&text).with_context(|| format!("{} is not a stored GMM", path.display()))?;
    Ok(GaussianMixture::new(s.weights, s.means, s.covariances)?)
}

/// The digits-classifier feature network for this experiment's data (once per run).
pub fn feature_net(
    e: &Experiment,
    data: &CellData,
    cache: &Path,
) -> Result<Arc<crate::build::features::FeatureNet>> {
    let key = data_key(e);
    memo(format!("features/{key}"), || {
        crate::build::features::digits_classifier(
            data,
            &key,
            derive_seed(e.experiment.seed, "classifier"),
            cache,
        )
    })
}
