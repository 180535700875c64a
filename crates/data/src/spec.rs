//! [`DataSpec`]: how an experiment file names its data, e.g.
//! `data = { kind = "molrg", ambient_n = 48, k = 2, d = 7 }` or
//! `data = { kind = "mnist_csv", path = "data/mnist_5k.csv.gz" }`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use samplers::rng::{derive_seed, seeded};
use samplers::Denoiser;
use serde::{Deserialize, Serialize};

use crate::synthetic::{
    Checkerboard, ClosedForm, EightGaussians, Rings, SwissRoll, Synthetic, TwentyFiveGaussians,
    TwoMoons,
};
use crate::{DataError, Dataset, Result};

/// A data source: an embedded or on-disk data set, or a synthetic distribution.
/// Relative paths are resolved against the current directory.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum DataSpec {
    /// The embedded UCI 8×8 digits.
    Digits {},
    /// MNIST-5k gzipped CSV (`scripts/fetch-mnist5k.sh`); default `data/mnist_5k.csv.gz`.
    MnistCsv {
        #[serde(default = "default_mnist_path")]
        path: PathBuf,
    },
    /// MNIST / Fashion-MNIST IDX images and optional labels, raw or gzipped.
    Idx {
        images: PathBuf,
        #[serde(default)]
        labels: Option<PathBuf>,
    },
    /// CIFAR-10 binary batches, concatenated in order.
    Cifar10 { paths: Vec<PathBuf> },
    /// Images from other tools ([`crate::images::ImageSet`]): a folder of PNG/JPEG files
    /// (recursive, sorted by path), an `.npz` with `arr_0` or an `.npy`, N×H×W×C (C = 1
    /// or 3) or N×H×W, uint8 in {0, …, 255} or float in [0, 1]. uint8 levels u map to
    /// 2u/255 − 1 (256 levels), floats x to 2x − 1. `channels` (1 or 3) converts: 3
    /// repeats gray images, 1 keeps gray images stored as RGB and refuses color ones; by
    /// default arrays keep theirs and folders are 1 channel when every image is gray.
    Images {
        path: PathBuf,
        #[serde(default)]
        channels: Option<usize>,
    },
    /// N(mean, U diag(λ) Uᵀ), U random orthonormal `dim × r`. The spectrum λ (length r) is
    /// given by exactly one of `eigenvalues = [..]` or
    /// `power_law = { dim = 64, exponent = 1.0, scale = 1.0 }` (λ_k = scale·k^(−exponent),
    /// k = 1…power_law.dim; see [`PowerLaw`]). The ambient `dim` (≥ r) defaults to r,
    /// `mean` to zero.
    Gaussian {
        #[serde(default)]
        eigenvalues: Option<Vec<f64>>,
        #[serde(default)]
        power_law: Option<PowerLaw>,
        #[serde(default)]
        dim: Option<usize>,
        #[serde(default)]
        mean: Option<Vec<f64>>,
    },
    /// Σ_k w_k N(μ_k, Σ_k): `weights` default uniform; either isotropic `std` (default 1)
    /// or full row-major `covariances`.
    Gmm {
        means: Vec<Vec<f64>>,
        #[serde(default)]
        weights: Option<Vec<f64>>,
        #[serde(default)]
        std: Option<f64>,
        #[serde(default)]
        covariances: Option<Vec<Vec<f64>>>,
    },
    /// Σ_k w_k N(radius·u_k, std²·I) with u_k i.i.d. uniform on the unit sphere of R^dim,
    /// drawn from the construction seed; `weights` default uniform. Defaults `dim = 2`,
    /// `components = 8`, `radius = 4`, `std = 0.5`.
    RandomGmm {
        #[serde(default = "default_random_gmm_dim")]
        dim: usize,
        #[serde(default = "default_random_gmm_components")]
        components: usize,
        #[serde(default = "default_random_gmm_radius")]
        radius: f64,
        #[serde(default = "default_random_gmm_std")]
        std: f64,
        #[serde(default)]
        weights: Option<Vec<f64>>,
    },
    /// Mixture of low-rank Gaussians (Wang et al. 2024); defaults n = 48, K = 2, d = 7.
    Molrg {
        #[serde(default = "default_molrg_n")]
        ambient_n: usize,
        #[serde(default = "default_molrg_k")]
        k: usize,
        #[serde(default = "default_molrg_d")]
        d: usize,
    },
    /// Two moons, default `noise = 0.2`.
    Moons {
        #[serde(default = "default_moons_noise")]
        noise: f64,
    },
    /// 2-D Swiss roll, default `noise = 0.2`.
    SwissRoll {
        #[serde(default = "default_moons_noise")]
        noise: f64,
    },
    /// FFJORD checkerboard on [−4, 4]².
    Checkerboard {},
    /// Four concentric rings, default `noise = 0.08`.
    Rings {
        #[serde(default = "default_rings_noise")]
        noise: f64,
    },
    /// Eight Gaussians on a circle, defaults `radius = 2`, `std = 0.02`.
    #[serde(alias = "8gaussians")]
    EightGaussians {
        #[serde(default = "default_eight_radius")]
        radius: f64,
        #[serde(default = "default_eight_std")]
        std: f64,
    },
    /// 5×5 grid of Gaussians, defaults `spacing = 2`, `std = 0.05`.
    #[serde(alias = "25gaussians")]
    TwentyFiveGaussians {
        #[serde(default = "default_grid_spacing")]
        spacing: f64,
        #[serde(default = "default_grid_std")]
        std: f64,
    },
}

/// A power-law spectrum λ_k = scale·k^(−exponent), k = 1…dim (the decay of natural-image
/// covariance spectra); `exponent` and `scale` default to 1.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PowerLaw {
    /// Number of eigenvalues r (the rank of the covariance).
    pub dim: usize,
    #[serde(default = "default_one")]
    pub exponent: f64,
    #[serde(default = "default_one")]
    pub scale: f64,
}

impl PowerLaw {
    /// λ_k = scale·k^(−exponent) for k = 1…dim, largest first when exponent > 0.
    pub fn eigenvalues(&self) -> Vec<f64> {
        (1..=self.dim)
            .map(|k| self.scale * (k as f64).powf(-self.exponent))
            .collect()
    }

    /// Checks `dim ≥ 1`, finite `exponent` and finite `scale > 0`; keys are `power_law.*`.
    fn validate(&self) -> Result<()> {
        if self.dim == 0 {
            return Err(DataError::invalid("power_law.dim", self.dim, "must be ≥ 1"));
        }
        if !self.exponent.is_finite() {
            return Err(DataError::invalid(
                "power_law.exponent",
                self.exponent,
                "must be finite",
            ));
        }
        if !(self.scale.is_finite() && self.scale > 0.0) {
            return Err(DataError::invalid(
                "power_law.scale",
                self.scale,
                "must be finite and > 0",
            ));
        }
        Ok(())
    }
}

fn default_one() -> f64 {
    1.0
}
fn default_random_gmm_dim() -> usize {
    2
}
fn default_random_gmm_components() -> usize {
    8
}
fn default_random_gmm_radius() -> f64 {
    4.0
}
fn default_random_gmm_std() -> f64 {
    0.5
}
fn default_mnist_path() -> PathBuf {
    PathBuf::from("data/mnist_5k.csv.gz")
}
fn default_molrg_n() -> usize {
    48
}
fn default_molrg_k() -> usize {
    2
}
fn default_molrg_d() -> usize {
    7
}
fn default_moons_noise() -> f64 {
    0.2
}
fn default_rings_noise() -> f64 {
    0.08
}
fn default_eight_radius() -> f64 {
    2.0
}
fn default_eight_std() -> f64 {
    0.02
}
fn default_grid_spacing() -> f64 {
    2.0
}
fn default_grid_std() -> f64 {
    0.05
}

/// A loaded data set, plus its generating distribution when it is synthetic.
#[derive(Clone)]
pub struct LoadedData {
    pub dataset: Dataset,
    pub synthetic: Option<Arc<dyn Synthetic>>,
}

impl LoadedData {
    /// The exact denoiser of the generating distribution, when there is one.
    pub fn exact_denoiser(&self) -> Option<Arc<dyn Denoiser>> {
        self.synthetic.as_ref().and_then(|s| s.exact_denoiser())
    }
}

impl DataSpec {
    /// The `kind` string of this spec, as written in experiment files.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Digits {} => "digits",
            Self::MnistCsv { .. } => "mnist_csv",
            Self::Idx { .. } => "idx",
            Self::Cifar10 { .. } => "cifar10",
            Self::Images { .. } => "images",
            Self::Gaussian { .. } => "gaussian",
            Self::Gmm { .. } => "gmm",
            Self::RandomGmm { .. } => "random_gmm",
            Self::Molrg { .. } => "molrg",
            Self::Moons { .. } => "moons",
            Self::SwissRoll { .. } => "swiss_roll",
            Self::Checkerboard {} => "checkerboard",
            Self::Rings { .. } => "rings",
            Self::EightGaussians { .. } => "eight_gaussians",
            Self::TwentyFiveGaussians { .. } => "twenty_five_gaussians",
        }
    }

    /// What identifies the contents of a user's image source in caches, without reading
    /// it: each file's path, size and modification time (`None` for other kinds, whose
    /// files are fixed data sets).
    pub fn source_fingerprint(&self) -> Result<Option<String>> {
        let Self::Images { path, .. } = self else {
            return Ok(None);
        };
        let mut files = Vec::new();
        if path.is_dir() {
            crate::images::collect_images(path, &mut files)?;
            files.sort();
        } else {
            files.push(path.clone());
        }
        let mut fingerprint = String::new();
        for file in &files {
            let meta = std::fs::metadata(file).map_err(|source| DataError::Io {
                path: file.clone(),
                source,
            })?;
            let modified = meta
                .modified()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_nanos());
            fingerprint.push_str(&format!("{} {} {modified}\n", file.display(), meta.len()));
        }
        Ok(Some(fingerprint))
    }

    /// Checks every parameter and that every named file exists, without reading data.
    /// Errors name the key (prefixed by the kind) and its value.
    pub fn validate(&self) -> Result<()> {
        self.validate_inner()
            .map_err(|e| prefix_key(self.kind(), e))
    }

    fn validate_inner(&self) -> Result<()> {
        match self {
            Self::MnistCsv { path } => require_file(path, crate::MNIST5K_HINT),
            Self::Idx { images, labels } => {
                require_file(images, "check the `images` path")?;
                labels
                    .iter()
                    .try_for_each(|l| require_file(l, "check the `labels` path"))
            }
            Self::Cifar10 { paths } if paths.is_empty() => Err(DataError::invalid(
                "paths",
                "[]",
                "must name at least one CIFAR-10 batch file",
            )),
            Self::Cifar10 { paths } => paths
                .iter()
                .try_for_each(|p| require_file(p, "check the `paths` entries")),
            Self::Images { path, channels } => validate_images(path, *channels),
            Self::Gaussian {
                eigenvalues,
                power_law,
                dim,
                mean,
            } => {
                let lambda = gaussian_spectrum(eigenvalues.as_deref(), power_law.as_ref())?;
                validate_gaussian(&lambda, *dim, mean.as_deref())
            }
            Self::Molrg { ambient_n, k, d } => validate_molrg(*ambient_n, *k, *d),
            Self::Digits {} => Ok(()),
            // Toys and mixtures are cheap to build: their constructors are the validation.
            _ => self.synthetic(0).map(|_| ()),
        }
    }

    /// The synthetic distribution this spec names (`None` for file or embedded data sets).
    /// Random constructions (Gaussian basis, MoLRG subspaces) are fixed by `seed`.
    pub fn synthetic(&self, seed: u64) -> Result<Option<Arc<dyn Synthetic>>> {
        let mut rng = seeded(derive_seed(seed, "data/construct"));
        let s: Arc<dyn Synthetic> = match self {
            Self::Digits {}
            | Self::MnistCsv { .. }
            | Self::Idx { .. }
            | Self::Cifar10 { .. }
            | Self::Images { .. } => return Ok(None),
            Self::Gaussian {
                eigenvalues,
                power_law,
                dim,
                mean,
            } => {
                let lambda = gaussian_spectrum(eigenvalues.as_deref(), power_law.as_ref())?;
                validate_gaussian(&lambda, *dim, mean.as_deref())?;
                let d = dim.unwrap_or(lambda.len());
                let mean = mean.clone().unwrap_or_else(|| vec![0.0; d]);
                Arc::new(ClosedForm::gaussian(mean, &lambda, &mut rng)?)
            }
            Self::RandomGmm {
                dim,
                components,
                radius,
                std,
                weights,
            } => {
                validate_random_gmm(*dim, *components, *radius, *std, weights.as_deref())?;
                Arc::new(ClosedForm::random_gmm(
                    *dim,
                    *components,
                    *radius,
                    *std,
                    weights.clone(),
                    &mut rng,
                )?)
            }
            Self::Gmm {
                means,
                weights,
                std,
                covariances,
            } => Arc::new(build_gmm(
                means,
                weights.as_deref(),
                *std,
                covariances.as_deref(),
            )?),
            Self::Molrg { ambient_n, k, d } => {
                validate_molrg(*ambient_n, *k, *d)?;
                Arc::new(ClosedForm::molrg(*ambient_n, *k, *d, &mut rng)?)
            }
            Self::Moons { noise } => Arc::new(TwoMoons::new(*noise)?),
            Self::SwissRoll { noise } => Arc::new(SwissRoll::new(*noise)?),
            Self::Checkerboard {} => Arc::new(Checkerboard),
            Self::Rings { noise } => Arc::new(Rings::new(*noise)?),
            Self::EightGaussians { radius, std } => Arc::new(EightGaussians::new(*radius, *std)?),
            Self::TwentyFiveGaussians { spacing, std } => {
                Arc::new(TwentyFiveGaussians::new(*spacing, *std)?)
            }
        };
        Ok(Some(s))
    }

    /// Loads the data set; synthetic kinds draw `n_synthetic` samples. `seed` fixes both the
    /// random construction (see [`DataSpec::synthetic`]) and the samples.
    pub fn load(&self, n_synthetic: usize, seed: u64) -> Result<LoadedData> {
        let dataset = match self {
            Self::Digits {} => crate::digits(),
            Self::MnistCsv { path } => crate::load_mnist_csv_gz(path)?,
            Self::Idx { images, labels } => crate::load_idx(images, labels.as_deref())?,
            Self::Cifar10 { paths } => crate::load_cifar10(paths)?,
            Self::Images { path, channels } => {
                validate_images(path, *channels).map_err(|e| prefix_key(self.kind(), e))?;
                let name = path
                    .file_stem()
                    .map_or_else(|| "images".into(), |s| s.to_string_lossy().into_owned());
                crate::images::ImageSet::open(path)?.to_dataset(&name, *channels)?
            }
            _ => {
                let synthetic = self
                    .synthetic(seed)
                    .map_err(|e| prefix_key(self.kind(), e))?
                    .expect("synthetic kind");
                let dataset =
                    synthetic.dataset(n_synthetic, &mut seeded(derive_seed(seed, "data/sample")));
                return Ok(LoadedData {
                    dataset,
                    synthetic: Some(synthetic),
                });
            }
        };
        Ok(LoadedData {
            dataset,
            synthetic: None,
        })
    }
}

/// Prefixes the parameter name of an `InvalidParameter` error with the spec's kind.
fn prefix_key(kind: &str, e: DataError) -> DataError {
    match e {
        DataError::InvalidParameter {
            name,
            value,
            requirement,
        } => DataError::InvalidParameter {
            name: format!("{kind}.{name}"),
            value,
            requirement,
        },
        other => other,
    }
}

fn require_file(path: &Path, hint: &str) -> Result<()> {
    if path.is_file() {
        Ok(())
    } else {
        Err(DataError::Missing {
            path: path.to_path_buf(),
            hint: hint.to_string(),
        })
    }
}

/// `path` exists (a folder or file; its contents are checked when read) and `channels`
/// is 1 or 3.
fn validate_images(path: &Path, channels: Option<usize>) -> Result<()> {
    if let Some(c) = channels.filter(|c| !matches!(c, 1 | 3)) {
        return Err(DataError::invalid("channels", c, "must be 1 or 3"));
    }
    if path.exists() {
        Ok(())
    } else {
        Err(DataError::Missing {
            path: path.to_path_buf(),
            hint: "check the `path`: a folder of PNG/JPEG images, an .npz with arr_0 or an .npy"
                .into(),
        })
    }
}

/// The Gaussian's spectrum from exactly one of `eigenvalues` and `power_law`.
fn gaussian_spectrum(
    eigenvalues: Option<&[f64]>,
    power_law: Option<&PowerLaw>,
) -> Result<Vec<f64>> {
    let exactly_one = |given: &str, verb: &str| DataError::InvalidParameter {
        name: "eigenvalues | power_law".into(),
        value: given.into(),
        requirement: format!(
            "{verb} given; exactly one of `eigenvalues` and `power_law` is required"
        ),
    };
    match (eigenvalues, power_law) {
        (Some(lambda), None) => Ok(lambda.to_vec()),
        (None, Some(p)) => p.validate().map(|()| p.eigenvalues()),
        (Some(_), Some(_)) => Err(exactly_one("both", "are")),
        (None, None) => Err(exactly_one("neither", "is")),
    }
}

fn validate_gaussian(eigenvalues: &[f64], dim: Option<usize>, mean: Option<&[f64]>) -> Result<()> {
    if eigenvalues.is_empty() {
        return Err(DataError::invalid(
            "eigenvalues",
            eigenvalues,
            "must not be empty",
        ));
    }
    if let Some(bad) = eigenvalues.iter().find(|v| !(v.is_finite() && **v >= 0.0)) {
        return Err(DataError::invalid(
            "eigenvalues",
            bad,
            "entries must be finite and ≥ 0",
        ));
    }
    let d = dim.unwrap_or(eigenvalues.len());
    if d < eigenvalues.len() {
        return Err(DataError::invalid(
            "dim",
            d,
            &format!("must be ≥ the number of eigenvalues {}", eigenvalues.len()),
        ));
    }
    match mean {
        Some(m) if m.len() != d => Err(DataError::invalid(
            "mean.len()",
            m.len(),
            &format!("must equal dim = {d}"),
        )),
        _ => Ok(()),
    }
}

fn validate_random_gmm(
    dim: usize,
    components: usize,
    radius: f64,
    std: f64,
    weights: Option<&[f64]>,
) -> Result<()> {
    if dim == 0 {
        return Err(DataError::invalid("dim", dim, "must be ≥ 1"));
    }
    if components == 0 {
        return Err(DataError::invalid("components", components, "must be ≥ 1"));
    }
    if !(radius.is_finite() && radius >= 0.0) {
        return Err(DataError::invalid(
            "radius",
            radius,
            "must be finite and ≥ 0",
        ));
    }
    if !(std.is_finite() && std > 0.0) {
        return Err(DataError::invalid("std", std, "must be finite and > 0"));
    }
    match weights {
        Some(w) if w.len() != components => Err(DataError::invalid(
            "weights.len()",
            w.len(),
            &format!("must equal components = {components}"),
        )),
        _ => Ok(()),
    }
}

fn validate_molrg(ambient_n: usize, k: usize, d: usize) -> Result<()> {
    if k == 0 {
        return Err(DataError::invalid("k", k, "must be ≥ 1"));
    }
    if d == 0 {
        return Err(DataError::invalid("d", d, "must be ≥ 1"));
    }
    if k * d > ambient_n {
        return Err(DataError::invalid(
            "ambient_n",
            ambient_n,
            &format!("must be ≥ k·d = {} (mutually orthogonal subspaces)", k * d),
        ));
    }
    Ok(())
}

fn build_gmm(
    means: &[Vec<f64>],
    weights: Option<&[f64]>,
    std: Option<f64>,
    covariances: Option<&[Vec<f64>]>,
) -> Result<ClosedForm<analytic::GaussianMixture>> {
    let k = means.len();
    if k == 0 {
        return Err(DataError::invalid(
            "means",
            "[]",
            "must name at least one component",
        ));
    }
    let d = means[0].len();
    let weights = weights.map_or_else(|| vec![1.0 / k as f64; k], <[f64]>::to_vec);
    let covariances = match (std, covariances) {
        (Some(s), Some(_)) => {
            return Err(DataError::invalid(
                "std",
                s,
                "must not be given together with `covariances`",
            ))
        }
        (_, Some(c)) => c.to_vec(),
        (s, None) => {
            let s = s.unwrap_or(1.0);
            if !(s.is_finite() && s > 0.0) {
                return Err(DataError::invalid("std", s, "must be finite and > 0"));
            }
            let iso: Vec<f64> = (0..d * d)
                .map(|i| if i % (d + 1) == 0 { s * s } else { 0.0 })
                .collect();
            vec![iso; k]
        }
    };
    ClosedForm::gmm(weights, means.to_vec(), covariances)
}

#[cfg(test)]
mod tests;
