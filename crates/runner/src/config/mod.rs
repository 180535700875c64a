//! Experiment files: one TOML file describes a whole experiment. This module reads it,
//! applies a `[profile.NAME]` and `--set` overrides, and checks every key strictly before
//! any work starts. Errors name the file, the line, the key and what is allowed.

pub mod plot;
pub mod sweep;
pub mod tasks;

use crate::overrides::apply_all;
use anyhow::{bail, Context, Result};
use data::DataSpec;
use plot::PlotSpec;
use samplers::SamplerSpec;
use schedules::ScheduleSpec;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use toml::{Table, Value};

/// A fully resolved experiment: the file's tables after profile and overrides.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Experiment {
    pub experiment: Meta,
    pub data: DataSpec,
    #[serde(default)]
    pub split: SplitSpec,
    #[serde(default)]
    pub model: ModelSpec,
    #[serde(default)]
    pub teleport: TeleportSpec,
    #[serde(default)]
    pub schedule: ScheduleSpec,
    #[serde(default = "default_sampler")]
    pub sampler: SamplerTable,
    #[serde(default)]
    pub metrics: MetricsSpec,
    #[serde(default)]
    pub probe: ProbeSpec,
    #[serde(default)]
    pub jacobian: tasks::JacobianSpec,
    #[serde(default)]
    pub memorization: tasks::MemorizationSpec,
    #[serde(default)]
    pub sweep: Table,
    #[serde(default)]
    pub plot: Vec<PlotSpec>,
    #[serde(default)]
    pub check: BTreeMap<String, Tolerance>,
    #[serde(default)]
    pub run: RunSpec,
}

fn default_sampler() -> SamplerTable {
    SamplerTable {
        spec: SamplerSpec::Heun { skip: 0 },
        initial_noise: None,
    }
}

/// `[sampler]`: the sampler (`kind` and its keys, [`SamplerSpec`]) and, optionally, the
/// noise it starts from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SamplerTable {
    #[serde(flatten)]
    pub spec: SamplerSpec,
    /// `initial_noise = "FILE.npy"`: the standard-normal draw z of the initial state,
    /// N×C×H×W (image data) or N×d, float32 or float64, N = `metrics.samples`; so a run
    /// starts from exactly the noise a PyTorch run used (σ_max·z for EDM samplers, z for
    /// DDPM/DDIM). One sample seed only (`sample_quality`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial_noise: Option<std::path::PathBuf>,
}

impl std::ops::Deref for SamplerTable {
    type Target = SamplerSpec;

    fn deref(&self) -> &SamplerSpec {
        &self.spec
    }
}

/// `[experiment]`: identity and seed.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Meta {
    /// Name of the experiment; results go to `results/runs/<name>/`.
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Root seed: every cell's seed derives from it and the cell's parameters.
    #[serde(default)]
    pub seed: u64,
    /// What a cell computes.
    #[serde(default)]
    pub task: Task,
}

/// The computation each cell performs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Task {
    /// Draw samples with `[sampler]` from the `[model]` denoiser and compare them with
    /// reference data (`[metrics]`).
    #[default]
    SampleQuality,
    /// Explained variance of the `[model]` denoiser's score against the `[probe] reference`
    /// denoiser's at one σ, on probes = data points + σ·noise (Wang & Vastola 2023).
    ScoreAgreement,
    /// The Jacobian of the `[model]` denoiser at one σ on probes: spectrum, effective
    /// dimension, rank, SURE vs MSE, and agreement with `[probe] reference` (`[jacobian]`).
    Jacobian,
    /// Two `[model]` denoisers trained on disjoint halves of `[memorization] size` images
    /// each, sampled from the same noise: their agreement and memorization (Kadkhodaie
    /// et al. 2024).
    Memorization,
}

/// `[split]`: which data the model is fitted on.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SplitSpec {
    /// Training points drawn from a synthetic distribution.
    #[serde(default = "default_train")]
    pub train: usize,
    /// Fraction of a real data set held out as the test split.
    #[serde(default = "default_test_fraction")]
    pub test_fraction: f64,
}

fn default_train() -> usize {
    2000
}
fn default_test_fraction() -> f64 {
    0.2
}

impl Default for SplitSpec {
    fn default() -> Self {
        Self {
            train: default_train(),
            test_fraction: default_test_fraction(),
        }
    }
}

/// `[model]`: the denoiser the sampler calls.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum ModelSpec {
    /// The exact denoiser of a synthetic distribution (ground truth).
    #[default]
    Exact,
    /// The Gaussian fitted to the training split (mean, full covariance; eigenvalues ≤ tol dropped).
    GaussianFit {
        #[serde(default = "default_tol")]
        tol: f64,
    },
    /// A Gaussian with the training mean and isotropic variance (the "mean-only" model).
    Isotropic,
    /// A Gaussian mixture fitted to the training split by EM (cached).
    GmmFit {
        components: usize,
        #[serde(default = "default_em_iters")]
        iters: usize,
        #[serde(default = "default_em_reg")]
        reg: f64,
    },
    /// The empirical (delta-mixture) denoiser of the training split: it memorizes.
    Delta,
    /// A burn network trained on the training split (cached; see [`NetworkSpec`]).
    Network(Box<NetworkSpec>),
    /// A diffusers `UNet2DModel` folder trained elsewhere (see [`DiffusersSpec`]).
    Diffusers(Box<DiffusersSpec>),
}

/// `[model] kind = "diffusers"`: a `UNet2DModel` folder (`config.json`,
/// `diffusion_pytorch_model.safetensors`, optionally `scheduler_config.json`) as a denoiser
/// in the EDM frame ([`models::diffusers`]). Its DDPM schedule comes from
/// `scheduler_config.json`, else from a `kind = "ddpm"` `[schedule]`; a σ between the
/// schedule's levels is evaluated at the real-valued t interpolated in log σ.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiffusersSpec {
    /// The model folder.
    pub path: std::path::PathBuf,
    /// What the network predicts: `eps`, `x0` or `v`; default the scheduler config's
    /// `prediction_type`.
    #[serde(default)]
    pub parameterization: Option<ImportedParameterization>,
    /// `cpu` (burn Flex) or `cuda` (build with `--features cuda`).
    #[serde(default = "default_device")]
    pub device: String,
    /// Images per forward pass (bounds memory).
    #[serde(default = "default_import_batch")]
    pub batch: usize,
}

fn default_import_batch() -> usize {
    64
}

/// The prediction target of an imported network (diffusers' `prediction_type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ImportedParameterization {
    /// `epsilon`.
    Eps,
    /// `sample`.
    X0,
    /// `v_prediction`.
    V,
}

impl ImportedParameterization {
    pub fn parameterization(self) -> models::precond::Parameterization {
        match self {
            ImportedParameterization::Eps => models::precond::Parameterization::Eps,
            ImportedParameterization::X0 => models::precond::Parameterization::X0,
            ImportedParameterization::V => models::precond::Parameterization::V,
        }
    }
}

/// `[model] kind = "network"`: architecture, parameterization, objective and training.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkSpec {
    /// `[model.net]`: `arch = "mlp"` (width, depth, emb_dim) or `"unet"` (base, mults, …).
    #[serde(default = "default_net")]
    pub net: models::net::NetConfig,
    /// `[model.parameterization]`: `kind = "edm"` (sigma_data), `eps`, `x0`, `v`, `score`.
    #[serde(default)]
    pub parameterization: models::precond::Parameterization,
    /// `[model.objective]`: `kind = "edm"`, `l_simple`, `vlb`, `hybrid`, `x0_mse`, `ncsn`, `implicit_sm`.
    #[serde(default = "default_objective")]
    pub objective: models::objectives::Objective,
    /// `[model.train]`: steps, batch_size, lr, warmup, optimizer, weight_decay, grad_clip, ema_decay, …
    #[serde(default)]
    pub train: models::train::TrainConfig,
    /// Sample with the EMA weights (true) or the last iterate.
    #[serde(default = "yes")]
    pub use_ema: bool,
    /// `cpu` (burn Flex) or `cuda` (build with `--features cuda`).
    #[serde(default = "default_device")]
    pub device: String,
    /// Condition on the data's class labels (label dropout from `train.label_dropout`).
    #[serde(default)]
    pub conditional: bool,
    /// Classifier-free guidance weight w when conditional (1 = plain conditional).
    #[serde(default = "one_f64")]
    pub guidance: f64,
    /// Training seed: the initial weights and the minibatch/noise draws derive from the
    /// experiment seed and this (0: from the experiment seed alone), so sweeping it trains
    /// independent networks on the same data split.
    #[serde(default)]
    pub seed: u64,
}

fn default_net() -> models::net::NetConfig {
    toml::from_str("arch = \"mlp\"").expect("default network config")
}
fn default_objective() -> models::objectives::Objective {
    toml::from_str("kind = \"edm\"").expect("default objective")
}
fn yes() -> bool {
    true
}
fn default_device() -> String {
    "cpu".into()
}
fn one_f64() -> f64 {
    1.0
}

fn default_tol() -> f64 {
    1e-6
}
fn default_em_iters() -> usize {
    100
}
fn default_em_reg() -> f64 {
    1e-3
}

/// `[teleport]`: the Gaussian whose closed-form PF-ODE solution replaces skipped steps.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TeleportSpec {
    /// `fitted` (mean and covariance of the training split, as Wang & Vastola) or
    /// `exact` (the data distribution itself, when it is Gaussian).
    #[serde(default)]
    pub gaussian: TeleportGaussian,
    /// Eigenvalues of the fitted covariance ≤ tol are dropped.
    #[serde(default = "default_tol")]
    pub tol: f64,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TeleportGaussian {
    #[default]
    Fitted,
    Exact,
}

impl Default for TeleportSpec {
    fn default() -> Self {
        Self {
            gaussian: TeleportGaussian::Fitted,
            tol: default_tol(),
        }
    }
}

/// `[metrics]`: what each cell measures.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsSpec {
    /// Samples drawn per sample seed.
    #[serde(default = "default_samples")]
    pub samples: usize,
    /// Independent sample seeds per cell; metrics report their mean and `<name>_std`.
    #[serde(default = "one")]
    pub sample_seeds: usize,
    /// Share the sampling noise across cells (common random numbers): differences between
    /// cells are then due to their parameters, not to the noise.
    #[serde(default)]
    pub common_noise: bool,
    /// The data the samples are compared with.
    #[serde(default)]
    pub reference: Reference,
    /// Size of the exact reference sample (`reference = "exact"`).
    #[serde(default = "default_reference_samples")]
    pub reference_samples: usize,
    /// Metrics to compute, by name.
    #[serde(default = "default_metric_names")]
    pub names: Vec<MetricName>,
    /// Random directions of the sliced Wasserstein distance.
    #[serde(default = "default_projections")]
    pub projections: usize,
    /// A swept key (e.g. `schedule.steps`): add `order_<metric>` columns, the slope of
    /// −log(metric) against log(nfe) over the cells that differ only in that key.
    #[serde(default)]
    pub convergence_over: Option<String>,
    /// A swept key (e.g. `sampler.skip`): add `<metric>_rel` columns, each metric divided by
    /// its value at the key's first swept value in the cells that differ only in that key
    /// (e.g. FD(K)/FD(K = 0), to compare shapes with published curves).
    #[serde(default)]
    pub relative_over: Option<String>,
    /// Gray levels of the data for the discretized decoder of `nll_bits_per_dim`
    /// (default: the data set's own, 17 for the digits and 256 for MNIST).
    #[serde(default)]
    pub levels: Option<u32>,
    /// `nll_bits_per_dim`: evaluate this many of the T − 1 diffusion terms, drawn at random
    /// and weighted by (T − 1)/m (an unbiased estimate); default all of them.
    #[serde(default)]
    pub nll_t_subset: Option<usize>,
    /// `nll_bits_per_dim`: the reverse variance of the model's p(x_{t−1}|x_t).
    #[serde(default = "default_nll_variance")]
    pub nll_variance: schedules::ReverseVariance,
    /// `nll_bits_per_dim`: clip x̂0 to [−1, 1] before the posterior mean, as Ho et al.
    /// (μ̃-predicting networks are never clipped: their mean is their output).
    #[serde(default = "yes")]
    pub nll_clip_denoised: bool,
    /// Write the first this-many samples of the first sample seed, in gray levels, to
    /// `images/samples_<cell>.png` (single-channel image data; 0: none).
    #[serde(default)]
    pub sample_images: usize,
    /// How `nll_pf_ode` and `nll_exact` are measured.
    #[serde(default)]
    pub likelihood: LikelihoodSpec,
    /// Write every sample seed's samples into the run directory, as
    /// `samples/<cell>.seed<j>.npz`, `.npy` or a folder `samples/<cell>.seed<j>/` of PNGs
    /// (see [`SampleFormat`]); none by default. `sample_quality` only.
    #[serde(default)]
    pub save_samples: Option<SampleFormat>,
}

/// `[metrics] save_samples`: the file format of written samples.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SampleFormat {
    /// `arr_0`, N×H×W×C uint8: the ADM/EDM reference-batch format their evaluators read.
    Npz,
    /// One PNG per sample (gray or RGB), `000000.png` onwards: for folder-based evaluators.
    Png,
    /// float32 N×C×H×W (N×d for vectors), the samples as the model drew them, unrounded:
    /// for exact comparisons with another framework's run.
    Npy,
}

impl SampleFormat {
    /// The name as written in experiment files.
    pub fn name(self) -> &'static str {
        match self {
            SampleFormat::Npz => "npz",
            SampleFormat::Png => "png",
            SampleFormat::Npy => "npy",
        }
    }

    /// Whether the format holds 8-bit images (and so needs image data).
    pub fn is_uint8_images(self) -> bool {
        matches!(self, SampleFormat::Npz | SampleFormat::Png)
    }
}

/// `[metrics.likelihood]`: the points, noise range and solver of the likelihood metrics.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LikelihoodSpec {
    /// The first this-many points of the reference set (exact samples of synthetic data),
    /// or of the test split, dequantized (`nll_pf_ode` on discrete images).
    #[serde(default = "default_likelihood_points")]
    pub points: usize,
    /// Both metrics are −log p_σ at this σ (the PF-ODE starts there).
    #[serde(default = "default_likelihood_sigma_min")]
    pub sigma_min: f64,
    /// Where the PF-ODE ends, on the isotropic prior N(0, σ_max² I).
    #[serde(default = "default_likelihood_sigma_max")]
    pub sigma_max: f64,
    /// Heun steps on the geometric σ grid.
    #[serde(default = "default_likelihood_steps")]
    pub steps: usize,
    /// Hutchinson probes for tr ∇D; 0: the exact trace by central finite differences.
    #[serde(default)]
    pub probes: usize,
}

fn default_likelihood_points() -> usize {
    200
}
fn default_likelihood_sigma_min() -> f64 {
    1e-3
}
fn default_likelihood_sigma_max() -> f64 {
    80.0
}
fn default_likelihood_steps() -> usize {
    200
}

impl Default for LikelihoodSpec {
    fn default() -> Self {
        toml::from_str("").expect("defaults deserialize")
    }
}

impl LikelihoodSpec {
    /// Counts ≥ 1 and 0 < σ_min < σ_max, finite.
    fn validate(&self) -> Result<(), KeyError> {
        for (key, value) in [("points", self.points), ("steps", self.steps)] {
            if value == 0 {
                let key = format!("metrics.likelihood.{key}");
                return Err(KeyError::new(&key, format!("{key} = 0 must be ≥ 1")));
            }
        }
        let (low, high) = (self.sigma_min, self.sigma_max);
        if !(low > 0.0 && low < high && high.is_finite()) {
            return Err(KeyError::new(
                "metrics.likelihood.sigma_min",
                format!("metrics.likelihood.sigma_min = {low} and sigma_max = {high} must satisfy 0 < sigma_min < sigma_max < ∞"),
            ));
        }
        Ok(())
    }
}

fn default_nll_variance() -> schedules::ReverseVariance {
    schedules::ReverseVariance::FixedLarge
}

fn one() -> usize {
    1
}
fn default_samples() -> usize {
    1000
}
fn default_reference_samples() -> usize {
    10000
}
fn default_projections() -> usize {
    256
}
fn default_metric_names() -> Vec<MetricName> {
    vec![
        MetricName::FrechetToData,
        MetricName::MeanErr,
        MetricName::CovErr,
    ]
}

impl Default for MetricsSpec {
    fn default() -> Self {
        toml::from_str("").expect("defaults deserialize")
    }
}

/// Reference data for sample metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reference {
    /// Fresh exact samples for synthetic data, the training split for real data.
    #[default]
    Auto,
    Exact,
    Train,
    Test,
}

/// A sample metric.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MetricName {
    /// Fréchet distance between the samples and the reference, in data coordinates.
    FrechetToData,
    /// Sliced 2-Wasserstein distance to the reference.
    SlicedWasserstein,
    /// ‖mean(samples) − mean(reference)‖.
    MeanErr,
    /// ‖Cov(samples) − Cov(reference)‖_F / ‖Cov(reference)‖_F.
    CovErr,
    /// Fréchet distance on raw pixels (the same computation as `frechet_to_data`, named
    /// for image data).
    FdPixels,
    /// Fréchet distance on the digits classifier's penultimate features (not Inception:
    /// not comparable with published FID numbers).
    FidClassifier,
    /// KID (unbiased MMD², cubic kernel) on the digits classifier's features.
    KidClassifier,
    /// FID (Heusel et al. 2017) on Inception-v3 pool3 features, the network and
    /// preprocessing of EDM's `fid.py` (`models::inception`): samples mapped from [−1, 1]
    /// to [0, 1] and resized to 299×299. Comparable in kind with published FIDs, but biased
    /// upward at small N (the number of samples). Needs image data and the weights
    /// (scripts/fetch-inception.sh).
    FidInception,
    /// KID (Bińkowski et al. 2018; unbiased MMD², cubic kernel) on the same Inception features.
    KidInception,
    /// The DDPM variational bound on the NLL of the test split in bits/dim, with the
    /// discretized decoder for the data's gray levels (Ho et al. 2020 eq. 5 and Table 1);
    /// also writes its terms `nll_prior`, `nll_diffusion`, `nll_decoder`. Needs a ddpm
    /// `[schedule]`.
    NllBitsPerDim,
    /// The PF-ODE likelihood (Song et al. 2021, §4.3 and App. D.2): −log p_σmin of the
    /// reference points in bits/dim, from the denoiser alone (`[metrics.likelihood]`); on
    /// discrete images, of uniformly dequantized test images plus log2((L − 1)/2), a bound
    /// on the discrete NLL comparable with `nll_bits_per_dim`.
    NllPfOde,
    /// The exact −log p_σmin of the same points under the synthetic data's distribution,
    /// in bits/dim: the ground truth for `nll_pf_ode`.
    NllExact,
    /// The solver's own error: the RMS per coordinate of x − x_ref over the samples, where
    /// x_ref is the exact PF-ODE endpoint of the same initial noise (closed form for a
    /// Gaussian model, else an adaptive reference solve; both to σ_min, then D). Needs a
    /// deterministic sampler on the σ grid.
    SolverError,
    /// The reference endpoint's own error for `solver_error`: 0 for the closed form, else
    /// the RMS change of the reference solve's last step doubling.
    SolverReferenceError,
    /// A network model's training loss at the end: the mean of the last points of its loss
    /// curve (NaN for other models and for a training that diverged).
    FinalLoss,
    /// 1 when the network's training diverged (a non-finite loss: no network, every other
    /// metric NaN) or exploded (final loss far above its lowest); 0 otherwise.
    Diverged,
}

impl MetricName {
    pub fn column(self) -> &'static str {
        match self {
            MetricName::FrechetToData => "frechet_to_data",
            MetricName::SlicedWasserstein => "sliced_wasserstein",
            MetricName::MeanErr => "mean_err",
            MetricName::CovErr => "cov_err",
            MetricName::FdPixels => "fd_pixels",
            MetricName::FidClassifier => "fid_classifier",
            MetricName::KidClassifier => "kid_classifier",
            MetricName::FidInception => "fid_inception",
            MetricName::KidInception => "kid_inception",
            MetricName::NllBitsPerDim => "nll_bits_per_dim",
            MetricName::NllPfOde => "nll_pf_ode",
            MetricName::NllExact => "nll_exact",
            MetricName::SolverError => "solver_error",
            MetricName::SolverReferenceError => "solver_reference_error",
            MetricName::FinalLoss => "final_loss",
            MetricName::Diverged => "diverged",
        }
    }

    /// Whether the metric compares drawn samples with the reference (once per sample seed);
    /// the others are measured once per cell.
    pub fn is_sample_metric(self) -> bool {
        !matches!(
            self,
            MetricName::NllBitsPerDim
                | MetricName::NllPfOde
                | MetricName::NllExact
                | MetricName::FinalLoss
                | MetricName::Diverged
        )
    }

    /// Whether the metric needs the classifier feature network.
    pub fn needs_classifier(self) -> bool {
        matches!(self, MetricName::FidClassifier | MetricName::KidClassifier)
    }

    /// Whether the metric compares the samples with the reference PF-ODE endpoints of
    /// their own initial noise.
    pub fn needs_reference_endpoint(self) -> bool {
        matches!(
            self,
            MetricName::SolverError | MetricName::SolverReferenceError
        )
    }

    /// Whether the metric needs the FID Inception network.
    pub fn needs_inception(self) -> bool {
        matches!(self, MetricName::FidInception | MetricName::KidInception)
    }
}

/// `[probe]`: where denoisers are examined (tasks other than sampling): at which noise
/// level, on which points, against which reference denoiser.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbeSpec {
    /// The noise level σ; or give `step`.
    #[serde(default)]
    pub sigma: Option<f64>,
    /// Index i of σ_i in the `[schedule]` grid (0 = σ_max), instead of `sigma`.
    #[serde(default)]
    pub step: Option<usize>,
    /// Number of data points the probes are centred on (the first ones of a shuffled split).
    #[serde(default = "default_probe_points")]
    pub points: usize,
    /// The split the probe points come from.
    #[serde(default)]
    pub split: ProbeSplit,
    /// The denoiser the `[model]` denoiser is compared with (e.g. a trained network).
    #[serde(default)]
    pub reference: Option<ModelSpec>,
}

fn default_probe_points() -> usize {
    1000
}

impl Default for ProbeSpec {
    fn default() -> Self {
        toml::from_str("").expect("defaults deserialize")
    }
}

/// The split probe points are drawn from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProbeSplit {
    #[default]
    Train,
    Test,
    /// The `[metrics] reference` set: fresh exact samples for synthetic data.
    Reference,
}

/// `[check]`: a column passes when |new − baseline| ≤ abs + rel·|baseline|.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tolerance {
    #[serde(default)]
    pub abs: f64,
    #[serde(default)]
    pub rel: f64,
}

/// `[run]`: execution limits.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunSpec {
    /// Cells run at once (0: as many as threads, within the memory budget).
    #[serde(default)]
    pub max_parallel: usize,
    /// Memory the concurrently running cells may use, in MiB.
    #[serde(default = "default_memory")]
    pub memory_mib: usize,
}

fn default_memory() -> usize {
    4096
}

impl Default for RunSpec {
    fn default() -> Self {
        Self {
            max_parallel: 0,
            memory_mib: default_memory(),
        }
    }
}

/// An experiment file as read from disk, before resolution.
#[derive(Clone, Debug)]
pub struct ExperimentFile {
    pub path: PathBuf,
    pub text: String,
    /// The file's tables without `[profile.*]`.
    pub base: Table,
    /// `[profile.NAME]` tables.
    pub profiles: BTreeMap<String, Table>,
    /// The profile and `--set` assignments of the last [`ExperimentFile::resolve_table`]:
    /// where an error's value came from.
    pub active_profile: Option<String>,
    pub overrides: Vec<String>,
}

impl ExperimentFile {
    pub fn read(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read experiment file {}", path.display()))?;
        Self::parse(path, text)
    }

    /// Parses the text of an experiment file (named `path` in errors).
    pub fn parse(path: &Path, text: String) -> Result<Self> {
        let mut base: Table = toml::from_str(&text).map_err(|e| {
            anyhow::anyhow!("{}: {}", path.display(), describe_toml_error(&text, &e))
        })?;
        let profiles = match base.remove("profile") {
            None => BTreeMap::new(),
            Some(Value::Table(t)) => t
                .into_iter()
                .map(|(name, v)| match v {
                    Value::Table(t) => {
                        validate_plain_name(&format!("profile.{name:?}"), &name).map_err(|e| {
                            anyhow::anyhow!(
                                "{}: {} (it names the run directory)",
                                path.display(),
                                e.message
                            )
                        })?;
                        Ok((name, t))
                    }
                    _ => bail!("{}: profile.{name} must be a table", path.display()),
                })
                .collect::<Result<_>>()?,
            Some(_) => bail!(
                "{}: `profile` must be a table of [profile.NAME] tables",
                path.display()
            ),
        };
        Ok(Self {
            path: path.to_path_buf(),
            text,
            base,
            profiles,
            active_profile: None,
            overrides: Vec::new(),
        })
    }

    /// A file whose tables are already resolved (e.g. a run manifest's `[config]`).
    pub fn from_resolved(path: &Path, table: Table) -> Self {
        Self {
            path: path.to_path_buf(),
            text: String::new(),
            base: table,
            profiles: BTreeMap::new(),
            active_profile: None,
            overrides: Vec::new(),
        }
    }

    /// The resolved configuration table: base, then the profile's keys (merged deeply,
    /// a profile's `sweep` replaces the base sweep's lists key by key), then `--set`.
    pub fn resolve_table(&mut self, profile: Option<&str>, overrides: &[String]) -> Result<Table> {
        self.active_profile = profile.map(str::to_string);
        self.overrides = overrides.to_vec();
        let mut table = self.base.clone();
        if let Some(name) = profile {
            let Some(p) = self.profiles.get(name) else {
                let known: Vec<&str> = self.profiles.keys().map(String::as_str).collect();
                bail!(
                    "{}: no [profile.{name}] (profiles here: {})",
                    self.path.display(),
                    if known.is_empty() {
                        "none".into()
                    } else {
                        known.join(", ")
                    }
                );
            };
            merge(&mut table, p);
        }
        apply_all(&mut table, overrides)?;
        move_sampler_steps(&mut table)?;
        Ok(table)
    }

    /// Resolves and checks the experiment; every error names the file, line and key.
    pub fn resolve(&mut self, profile: Option<&str>, overrides: &[String]) -> Result<Experiment> {
        let table = self.resolve_table(profile, overrides)?;
        self.resolve_from_table(table)
    }

    /// Parses and checks a resolved table; errors are located in this file.
    pub fn resolve_from_table(&self, table: Table) -> Result<Experiment> {
        self.check_table(table, false)
    }

    /// Parses and checks the table of one sweep cell: errors point at the sweep's line.
    pub fn resolve_cell_table(&self, table: Table) -> Result<Experiment> {
        self.check_table(table, true)
    }

    fn check_table(&self, table: Table, swept: bool) -> Result<Experiment> {
        let experiment = parse_experiment(table).map_err(|e| self.locate(e, swept))?;
        validate(&experiment).map_err(|e| self.locate(e, swept))?;
        Ok(experiment)
    }

    /// Where the value of `key` came from: `file: --set k=v`, or `file:line` (see
    /// [`ExperimentFile::locate`]), or the file alone.
    pub fn locate_key(&self, key: &str, swept: bool) -> String {
        let err = self.locate(KeyError::new(key, ""), swept).to_string();
        err.trim_end_matches(": ").to_string()
    }

    /// Prefixes an error with where its key's value came from: `--set`, or `file:line`
    /// of the key in the active profile's sweep or the base sweep (for a sweep cell), in
    /// the active profile, or in the base tables; the file alone when not found.
    fn locate(&self, err: KeyError, swept: bool) -> anyhow::Error {
        let file = self.path.display();
        let Some(key) = err.key.as_deref() else {
            return anyhow::anyhow!("{file}: {}", err.message);
        };
        if let Some(set) = self.override_of(key) {
            return anyhow::anyhow!("{file}: --set {set}: {}", err.message);
        }
        let profile = self.active_profile.as_deref();
        let mut candidates = Vec::new();
        if swept {
            candidates.extend(profile.map(|p| format!("profile.{p}.sweep.{key}")));
            candidates.push(format!("sweep.{key}"));
        }
        candidates.extend(profile.map(|p| format!("profile.{p}.{key}")));
        candidates.push(key.to_string());
        match candidates.iter().find_map(|k| find_key_line(&self.text, k)) {
            Some(line) => anyhow::anyhow!("{file}:{line}: {}", err.message),
            None => anyhow::anyhow!("{file}: {}", err.message),
        }
    }

    /// The `--set` assignment that set `key` or a table above or below it.
    fn override_of(&self, key: &str) -> Option<&str> {
        self.overrides.iter().map(String::as_str).rev().find(|set| {
            let target = set.split_once('=').map_or(*set, |(k, _)| k).trim();
            target == key
                || key.starts_with(&format!("{target}."))
                || target.starts_with(&format!("{key}."))
        })
    }
}

/// `sampler.steps` is accepted as another name for `schedule.steps` (the number of
/// sampling steps lives with the noise grid); giving both with different values is an error.
fn move_sampler_steps(table: &mut Table) -> Result<()> {
    let Some(steps) = table
        .get_mut("sampler")
        .and_then(Value::as_table_mut)
        .and_then(|s| s.remove("steps"))
    else {
        return Ok(());
    };
    let schedule = table
        .entry("schedule")
        .or_insert_with(|| Value::Table(Table::new()));
    let Value::Table(schedule) = schedule else {
        bail!("schedule must be a table")
    };
    if let Some(existing) = schedule.get("steps").filter(|v| **v != steps) {
        bail!("sampler.steps = {steps} and schedule.steps = {existing} disagree (sampler.steps is another name for schedule.steps)");
    }
    if !schedule.contains_key("kind") {
        schedule.insert("kind".into(), Value::String("edm".into()));
    }
    schedule.insert("steps".into(), steps);
    Ok(())
}

/// Deep merge of `over` into `base`: tables merge, other values replace — except a table
/// whose `kind` changes, which replaces the old one (the keys of one kind mean nothing to
/// another, e.g. a profile's `data = { kind = "images", path = … }` over `kind = "cifar10"`).
pub fn merge(base: &mut Table, over: &Table) {
    for (k, v) in over {
        match (base.get_mut(k), v) {
            (Some(Value::Table(b)), Value::Table(o))
                if o.get("kind").is_none_or(|kind| b.get("kind") == Some(kind)) =>
            {
                merge(b, o)
            }
            _ => {
                base.insert(k.clone(), v.clone());
            }
        }
    }
}

/// An error about a configuration key.
#[derive(Debug)]
pub struct KeyError {
    /// The dotted key, e.g. `sampler.skip`, when known.
    pub key: Option<String>,
    pub message: String,
}

impl KeyError {
    pub fn new(key: &str, message: impl Into<String>) -> Self {
        Self {
            key: Some(key.to_string()),
            message: message.into(),
        }
    }
}

/// The `kind` a table has when it names none (as when only `schedule.steps` is swept).
const DEFAULT_KINDS: [(&str, &str); 3] =
    [("schedule", "edm"), ("sampler", "heun"), ("model", "exact")];

/// Deserializes table by table so an error can name its table.
fn parse_experiment(mut table: Table) -> Result<Experiment, KeyError> {
    for (name, kind) in DEFAULT_KINDS {
        if let Some(Value::Table(t)) = table.get_mut(name) {
            t.entry("kind")
                .or_insert_with(|| Value::String(kind.into()));
        }
    }
    refuse_unknown_tables(&table)?;
    for name in ["experiment", "data"] {
        if !table.contains_key(name) {
            return Err(KeyError {
                key: None,
                message: format!("missing table [{name}]"),
            });
        }
    }
    refuse_keys_of_plain_models(&table)?;
    // Parse each table alone first: its error then names the table (and the key).
    for (name, value) in &table {
        if let Err(err) = parse_table(name, value) {
            let key = error_key(name, value, &err);
            let shown = lookup(&table, &key)
                .filter(|_| key.contains('.'))
                .map_or_else(String::new, |v| format!("{key} = {v}: "));
            let message = err.message;
            return Err(KeyError::new(&key, format!("[{name}]: {shown}{message}")));
        }
    }
    Value::Table(table)
        .try_into::<Experiment>()
        .map_err(|e| KeyError {
            key: None,
            message: e.message().to_string(),
        })
}

/// The top-level tables of an experiment (besides `[profile.*]`).
const TABLES: [&str; 15] = [
    "experiment",
    "data",
    "split",
    "model",
    "teleport",
    "schedule",
    "sampler",
    "metrics",
    "probe",
    "jacobian",
    "memorization",
    "sweep",
    "plot",
    "check",
    "run",
];

/// A table that is not one of [`TABLES`]: an error naming its first key and value.
fn refuse_unknown_tables(table: &Table) -> Result<(), KeyError> {
    for (key, value) in table {
        if !TABLES.contains(&key.as_str()) {
            let shown = find_path(value, &mut |_, v| !v.is_table())
                .and_then(|path| {
                    let full = format!("{key}.{path}");
                    lookup(table, &full).map(|v| format!("{full} = {v}: "))
                })
                .unwrap_or_default();
            return Err(KeyError::new(
                key,
                format!(
                    "{shown}unknown table `{key}`; allowed: {}, profile",
                    TABLES.join(", ")
                ),
            ));
        }
    }
    Ok(())
}

/// The model kinds without parameters: serde accepts (and drops) any key beside their
/// `kind`, so they are refused here, in `[model]` and in `probe.reference`.
fn refuse_keys_of_plain_models(table: &Table) -> Result<(), KeyError> {
    const PLAIN: [&str; 3] = ["exact", "isotropic", "delta"];
    let model_tables = [
        ("model", table.get("model")),
        (
            "probe.reference",
            table
                .get("probe")
                .and_then(Value::as_table)
                .and_then(|p| p.get("reference")),
        ),
    ];
    for (prefix, value) in model_tables {
        let Some(t) = value.and_then(Value::as_table) else {
            continue;
        };
        let Some(kind) = t.get("kind").and_then(Value::as_str) else {
            continue;
        };
        if let Some(extra) = t
            .keys()
            .find(|k| k.as_str() != "kind")
            .filter(|_| PLAIN.contains(&kind))
        {
            let key = format!("{prefix}.{extra}");
            return Err(KeyError::new(
                &key,
                format!(
                    "{key} = {}: {prefix}.kind = \"{kind}\" takes no other key",
                    t[extra]
                ),
            ));
        }
    }
    Ok(())
}

/// Names that become directories (`experiment.name`) must be plain: letters, digits,
/// `.`, `_` and `-`, not starting with `.`.
fn validate_plain_name(key: &str, name: &str) -> Result<(), KeyError> {
    let plain = !name.is_empty()
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
    if plain {
        return Ok(());
    }
    Err(KeyError::new(
        key,
        format!("{key} = {name:?} must be a plain name (letters, digits, '.', '_', '-'; not starting with '.'): it names a directory"),
    ))
}

/// Training keys of every network in the experiment, checked before any training.
fn validate_networks(e: &Experiment) -> Result<(), KeyError> {
    let networks = [
        ("model", Some(&e.model)),
        ("probe.reference", e.probe.reference.as_ref()),
    ];
    for (prefix, model) in networks {
        let Some(ModelSpec::Network(spec)) = model else {
            continue;
        };
        spec.train.validate().map_err(|err| {
            let key = match &err {
                models::error::ModelError::Invalid { key, .. } => format!("{prefix}.{key}"),
                _ => format!("{prefix}.train"),
            };
            KeyError::new(&key, format!("{prefix}.{err}"))
        })?;
        if !(spec.guidance.is_finite()) {
            let key = format!("{prefix}.guidance");
            return Err(KeyError::new(
                &key,
                format!("{key} = {} must be finite", spec.guidance),
            ));
        }
    }
    Ok(())
}

/// The value at a dotted key `a.b.c` of a table, if present.
fn lookup<'a>(table: &'a Table, key: &str) -> Option<&'a Value> {
    let mut parts = key.split('.');
    let mut value = table.get(parts.next()?)?;
    for part in parts {
        value = value.as_table()?.get(part)?;
    }
    Some(value)
}

/// The dotted key a serde error on table `name` is about: the path serde_path_to_error
/// tracked (list indices dropped: `names[0]` is the key `names`), or, where serde buffered
/// the table and lost the path (the tagged `kind` tables), the deepest key without which
/// the table parses; the table itself when neither finds one.
fn error_key(name: &str, value: &Value, err: &TableError) -> String {
    let tracked: Vec<&str> = err
        .path
        .split('.')
        .map(|segment| segment.split('[').next().unwrap_or(segment))
        .filter(|segment| !segment.is_empty() && *segment != "?")
        .collect();
    let path = (!tracked.is_empty())
        .then(|| tracked.join("."))
        .or_else(|| culprit_path(name, value, ""));
    let path = path.map(|p| inside_table(name, value, p));
    path.map_or_else(|| name.to_string(), |path| format!("{name}.{path}"))
}

/// The tag fields of the schema's internally tagged tables (`kind = "…"`, `arch = "…"`).
const TAG_KEYS: [&str; 2] = ["kind", "arch"];

/// A path that ends at a table (serde reads a tagged table whole, so the tracked path stops
/// there) goes on to the deepest key below it without which the table parses, else to the
/// table's tag (an unknown variant); any other path is kept.
fn inside_table(name: &str, value: &Value, path: String) -> String {
    let Some(table) = lookup_path(value, &path).and_then(Value::as_table) else {
        return path;
    };
    if let Some(deeper) = culprit_path(name, value, &format!("{path}.")) {
        return deeper;
    }
    match TAG_KEYS.iter().find(|k| table.contains_key(**k)) {
        Some(tag) => format!("{path}.{tag}"),
        None => path,
    }
}

/// The value at a dotted path below `value`.
fn lookup_path<'a>(value: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.')
        .try_fold(value, |at, part| at.as_table()?.get(part))
}

/// The dotted path (below `value`) of the first key, depth first, for which `hit` holds.
fn find_path(value: &Value, hit: &mut dyn FnMut(&str, &Value) -> bool) -> Option<String> {
    let table = value.as_table()?;
    for (k, v) in table {
        if hit(k, v) {
            return Some(k.clone());
        }
        if let Some(below) = find_path(v, hit) {
            return Some(format!("{k}.{below}"));
        }
    }
    None
}

/// Every dotted key path of a table, tables included, deepest first.
fn key_paths(value: &Value, prefix: &[String], out: &mut Vec<Vec<String>>) {
    let Some(table) = value.as_table() else {
        return;
    };
    for (k, v) in table {
        let mut path = prefix.to_vec();
        path.push(k.clone());
        key_paths(v, &path, out);
        out.push(path);
    }
}

/// `value` without the key at `path`.
fn without(value: &Value, path: &[String]) -> Value {
    let mut value = value.clone();
    let mut at = &mut value;
    for (i, k) in path.iter().enumerate() {
        let Some(t) = at.as_table_mut() else { break };
        if i + 1 == path.len() {
            t.remove(k);
            break;
        }
        match t.get_mut(k) {
            Some(next) => at = next,
            None => break,
        }
    }
    value
}

/// The deepest key of table `name` starting with `prefix` without which the table parses.
fn culprit_path(name: &str, value: &Value, prefix: &str) -> Option<String> {
    let mut paths = Vec::new();
    key_paths(value, &[], &mut paths);
    paths.sort_by_key(|p| std::cmp::Reverse(p.len()));
    paths
        .into_iter()
        .filter(|p| p.join(".").starts_with(prefix))
        .find(|p| parse_table(name, &without(value, p)).is_ok())
        .map(|p| p.join("."))
}

/// Why a top-level table does not deserialize: serde's message and the path of the
/// offending key inside the table (`train.lr`), as serde_path_to_error tracked it.
struct TableError {
    path: String,
    message: String,
}

/// `[sampler]`: its `initial_noise` (a path) apart, the rest as a [`SamplerSpec`], so that
/// serde's errors keep naming the spec's keys.
fn check_sampler(value: &Value) -> Result<(), TableError> {
    let mut spec = value.clone();
    if let Value::Table(table) = &mut spec {
        match table.remove("initial_noise") {
            None | Some(Value::String(_)) => {}
            Some(other) => {
                return Err(TableError {
                    path: "initial_noise".into(),
                    message: format!("must be the path of an .npy file, not {other}"),
                })
            }
        }
    }
    serde_path_to_error::deserialize::<_, SamplerSpec>(spec)
        .map(drop)
        .map_err(|e| TableError {
            path: e.path().to_string(),
            message: e.into_inner().message().to_string(),
        })
}

/// Deserializes one top-level table into its type, tracking the path of a failure.
fn parse_table(name: &str, value: &Value) -> Result<(), TableError> {
    fn check<T: serde::de::DeserializeOwned>(value: &Value) -> Result<(), TableError> {
        serde_path_to_error::deserialize::<_, T>(value.clone())
            .map(drop)
            .map_err(|e| TableError {
                path: e.path().to_string(),
                message: e.into_inner().message().to_string(),
            })
    }
    match name {
        "experiment" => check::<Meta>(value),
        "data" => check::<DataSpec>(value),
        "split" => check::<SplitSpec>(value),
        "model" => check::<ModelSpec>(value),
        "teleport" => check::<TeleportSpec>(value),
        "schedule" => check::<ScheduleSpec>(value),
        "sampler" => check_sampler(value),
        "metrics" => check::<MetricsSpec>(value),
        "probe" => check::<ProbeSpec>(value),
        "jacobian" => check::<tasks::JacobianSpec>(value),
        "memorization" => check::<tasks::MemorizationSpec>(value),
        "plot" => check::<Vec<PlotSpec>>(value),
        "check" => check::<BTreeMap<String, Tolerance>>(value),
        "run" => check::<RunSpec>(value),
        _ => Ok(()),
    }
}

/// The metrics measured once per cell: only in `sample_quality`; the bound needs a ddpm
/// schedule and a subset inside 1..=T−1.
fn validate_cell_metrics(e: &Experiment) -> Result<(), KeyError> {
    let m = &e.metrics;
    if let Some(name) = m.names.iter().find(|n| !n.is_sample_metric()) {
        if e.experiment.task != Task::SampleQuality {
            return Err(KeyError::new(
                "metrics.names",
                format!(
                    "metrics.names: `{}` is measured only by experiment.task = \"sample_quality\", not {:?}",
                    name.column(),
                    e.experiment.task
                ),
            ));
        }
    }
    if let Some(name) = m.names.iter().find(|n| n.needs_inception()) {
        if e.experiment.task == Task::Memorization {
            return Err(KeyError::new(
                "metrics.names",
                format!(
                    "metrics.names: `{}` is not measured by experiment.task = \"memorization\" (use fid_classifier there, or write the samples and run dlab fid)",
                    name.column()
                ),
            ));
        }
    }
    if let Some(name) = m.names.iter().find(|n| n.needs_reference_endpoint()) {
        if !e.sampler.solves_the_pf_ode() || e.experiment.task != Task::SampleQuality {
            return Err(KeyError::new(
                "metrics.names",
                format!(
                    "metrics.names: `{}` measures a deterministic solver of the PF-ODE on the σ grid (sampler.kind = euler, heun, dpmpp_2m, dpmpp_2s, dpmpp_3m, dpm_solver, unipc or deis, experiment.task = \"sample_quality\"); got sampler.kind = \"{}\"",
                    name.column(),
                    e.sampler.kind()
                ),
            ));
        }
    }
    if let Some(path) = &e.sampler.initial_noise {
        let problem = if e.experiment.task != Task::SampleQuality {
            Some(format!(
                "is used by experiment.task = \"sample_quality\" only, not {:?}",
                e.experiment.task
            ))
        } else if m.sample_seeds != 1 {
            Some(format!(
                "fixes the noise, so metrics.sample_seeds = {} must be 1",
                m.sample_seeds
            ))
        } else if !path.is_file() {
            Some("is not a file (an .npy of N×C×H×W or N×d standard-normal values)".to_string())
        } else {
            None
        };
        if let Some(problem) = problem {
            return Err(KeyError::new(
                "sampler.initial_noise",
                format!(
                    "sampler.initial_noise = {:?} {problem}",
                    path.display().to_string()
                ),
            ));
        }
    }
    if m.save_samples.is_some() && e.experiment.task != Task::SampleQuality {
        return Err(KeyError::new(
            "metrics.save_samples",
            format!(
                "metrics.save_samples: only experiment.task = \"sample_quality\" draws samples to save, not {:?}",
                e.experiment.task
            ),
        ));
    }
    if let Some(levels) = m.levels.filter(|&l| l < 2) {
        return Err(KeyError::new(
            "metrics.levels",
            format!("metrics.levels = {levels} must be ≥ 2 (gray levels of the data)"),
        ));
    }
    if m.names.contains(&MetricName::NllPfOde) || m.names.contains(&MetricName::NllExact) {
        m.likelihood.validate()?;
    }
    if !m.names.contains(&MetricName::NllBitsPerDim) {
        return Ok(());
    }
    let schedule = e.schedule.ddpm_schedule().map_err(|_| {
        KeyError::new(
            "metrics.names",
            format!(
                "metrics.names: `nll_bits_per_dim` is the DDPM bound and needs [schedule] kind = \"ddpm\", not \"{}\"",
                e.schedule.kind()
            ),
        )
    })?;
    let t_max = schedule.num_timesteps();
    match m.nll_t_subset {
        Some(k) if k == 0 || k >= t_max => Err(KeyError::new(
            "metrics.nll_t_subset",
            format!(
                "metrics.nll_t_subset = {k} must be in 1..={} (the diffusion terms of T = {t_max})",
                t_max - 1
            ),
        )),
        _ => Ok(()),
    }
}

/// `[probe]`: a positive σ or a step inside the grid, and what the task needs.
fn validate_probe(e: &Experiment) -> Result<(), KeyError> {
    let p = &e.probe;
    if let Some(sigma) = p.sigma {
        if !(sigma > 0.0 && sigma.is_finite()) {
            return Err(KeyError::new(
                "probe.sigma",
                format!("probe.sigma = {sigma} must be > 0"),
            ));
        }
    }
    if let Some(step) = p.step {
        if step >= e.schedule.steps() {
            return Err(KeyError::new(
                "probe.step",
                format!(
                    "probe.step = {step} must be < schedule.steps = {} (σ_0 = σ_max … σ_{{N−1}})",
                    e.schedule.steps()
                ),
            ));
        }
    }
    if p.points == 0 {
        return Err(KeyError::new(
            "probe.points",
            "probe.points = 0 must be ≥ 1",
        ));
    }
    if matches!(e.experiment.task, Task::ScoreAgreement | Task::Jacobian) {
        let swept = probe_swept(&e.sweep);
        if p.sigma.is_some() && p.step.is_some() || !swept && p.sigma.is_none() && p.step.is_none()
        {
            return Err(KeyError::new(
                "probe",
                format!(
                    "experiment.task = {:?} needs exactly one of probe.sigma and probe.step",
                    e.experiment.task
                ),
            ));
        }
        if p.reference.is_none() && e.experiment.task == Task::ScoreAgreement {
            return Err(KeyError::new(
                "probe",
                "experiment.task = \"score_agreement\" needs probe.reference (the denoiser to compare with)",
            ));
        }
    }
    Ok(())
}

/// Whether `[sweep]` (or one of its groups) sets a `probe` key; the base configuration of
/// such a file need not have one.
fn probe_swept(sweep: &Table) -> bool {
    let groups = sweep
        .get("groups")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_table);
    std::iter::once(sweep)
        .chain(groups)
        .any(|t| t.contains_key("probe") || t.keys().any(|k| k.starts_with("probe.")))
}

/// Finite differences perturb one point in 2d rows of a batch, but a class-conditional
/// network's label depends on the row (guidance labels cycle over the rows): its
/// Jacobians need `jacobian.method = "auto"` (autodiff, each point with its own label).
fn validate_jacobian_method(e: &Experiment) -> Result<(), KeyError> {
    let conditional = matches!(&e.model, ModelSpec::Network(n) if n.conditional);
    if e.experiment.task == Task::Jacobian
        && e.jacobian.method == tasks::JacobianMethodSpec::FiniteDifference
        && conditional
    {
        return Err(KeyError::new(
            "jacobian.method",
            "jacobian.method = \"finite_difference\" is not supported for a class-conditional network (model.conditional = true): its label depends on the batch row; use \"auto\"",
        ));
    }
    Ok(())
}

/// Range checks across tables, after every table parsed.
/// Every range and consistency check of a parsed experiment (or sweep cell), table by
/// table; the first failure names its key.
fn validate(e: &Experiment) -> Result<(), KeyError> {
    validate_plain_name("experiment.name", &e.experiment.name)?;
    validate_networks(e)?;
    validate_process(e)?;
    validate_counts(&e.metrics)?;
    validate_cell_metrics(e)?;
    validate_probe(e)?;
    e.jacobian.validate()?;
    validate_jacobian_method(e)?;
    e.memorization.validate()?;
    validate_split(&e.split)?;
    validate_fits(&e.model)?;
    validate_run(e)?;
    sweep::sweep_axes(&e.sweep).map_err(|err| KeyError::new("sweep", err.to_string()))?;
    Ok(())
}

/// `[data]`, `[schedule]` and `[sampler]`, by their crates' own checks (whose errors carry
/// the key).
fn validate_process(e: &Experiment) -> Result<(), KeyError> {
    e.data.validate().map_err(|err| {
        let key = err
            .key()
            .map_or_else(|| "data".to_string(), |k| format!("data.{k}"));
        KeyError::new(&key, format!("data: {err}"))
    })?;
    e.schedule.validate().map_err(|err| {
        let schedules::ScheduleError::Invalid { key, .. } = &err;
        KeyError::new(&format!("schedule.{key}"), err.to_string())
    })?;
    e.sampler
        .validate(&e.schedule)
        .map_err(|err| KeyError::new(&format!("sampler.{}", err.key), err.to_string()))
}

/// The counts of `[metrics]`: at least 1 (samples at least 2, for a covariance).
fn validate_counts(m: &MetricsSpec) -> Result<(), KeyError> {
    for (key, value) in [
        ("samples", m.samples),
        ("sample_seeds", m.sample_seeds),
        ("reference_samples", m.reference_samples),
        ("projections", m.projections),
    ] {
        if value == 0 {
            return Err(KeyError::new(
                &format!("metrics.{key}"),
                format!("metrics.{key} = 0 must be ≥ 1"),
            ));
        }
    }
    if m.samples < 2 {
        return Err(KeyError::new(
            "metrics.samples",
            format!(
                "metrics.samples = {} must be ≥ 2 (a covariance needs two samples)",
                m.samples
            ),
        ));
    }
    Ok(())
}

/// `[split]`: a test fraction in (0, 1) and at least two synthetic training points.
fn validate_split(split: &SplitSpec) -> Result<(), KeyError> {
    if !(split.test_fraction > 0.0 && split.test_fraction < 1.0) {
        return Err(KeyError::new(
            "split.test_fraction",
            format!(
                "split.test_fraction = {} must be in (0, 1)",
                split.test_fraction
            ),
        ));
    }
    if split.train < 2 {
        return Err(KeyError::new(
            "split.train",
            format!("split.train = {} must be ≥ 2", split.train),
        ));
    }
    Ok(())
}

/// The parameters of the fitted models (`gmm_fit`, `gaussian_fit`).
fn validate_fits(model: &ModelSpec) -> Result<(), KeyError> {
    match *model {
        ModelSpec::GmmFit {
            components,
            iters,
            reg,
        } => {
            if components == 0 || iters == 0 {
                return Err(KeyError::new(
                    "model.components",
                    format!(
                        "model.components = {components} and model.iters = {iters} must be ≥ 1"
                    ),
                ));
            }
            if !(reg > 0.0 && reg.is_finite()) {
                return Err(KeyError::new(
                    "model.reg",
                    format!("model.reg = {reg} must be > 0"),
                ));
            }
        }
        ModelSpec::Diffusers(ref spec) => validate_diffusers(spec)?,
        ModelSpec::GaussianFit { tol } if !(tol >= 0.0 && tol.is_finite()) => {
            return Err(KeyError::new(
                "model.tol",
                format!("model.tol = {tol} must be ≥ 0"),
            ));
        }
        _ => {}
    }
    Ok(())
}

/// An imported model's folder holds a config this importer builds; `batch` ≥ 1. Its
/// weights are read (and checked tensor by tensor) before the first cell runs.
fn validate_diffusers(spec: &DiffusersSpec) -> Result<(), KeyError> {
    if spec.batch == 0 {
        return Err(KeyError::new(
            "model.batch",
            "model.batch = 0 must be ≥ 1".to_string(),
        ));
    }
    let config = spec.path.join("config.json");
    if !config.is_file() {
        return Err(KeyError::new(
            "model.path",
            format!(
                "model.path = {:?}: no config.json there (a diffusers UNet2DModel folder: config.json and {})",
                spec.path.display().to_string(),
                models::diffusers::WEIGHTS_FILE
            ),
        ));
    }
    models::diffusers::UNet2DConfig::read(&config)
        .map(drop)
        .map_err(|e| KeyError::new("model.path", format!("model.path: {e}")))
}

/// `[check]` tolerances finite and ≥ 0; `run.memory_mib` ≥ 1.
fn validate_run(e: &Experiment) -> Result<(), KeyError> {
    for (column, tol) in &e.check {
        if !(tol.abs >= 0.0 && tol.rel >= 0.0 && tol.abs.is_finite() && tol.rel.is_finite()) {
            return Err(KeyError::new(
                &format!("check.{column}"),
                format!(
                    "check.{column}: abs = {} and rel = {} must be finite and ≥ 0",
                    tol.abs, tol.rel
                ),
            ));
        }
    }
    if e.run.memory_mib == 0 {
        return Err(KeyError::new(
            "run.memory_mib",
            "run.memory_mib = 0 must be ≥ 1",
        ));
    }
    Ok(())
}

/// The 1-based line of `key` (dotted, e.g. `sampler.skip`) in the file's text: the line
/// `skip = …` inside `[sampler]`, a dotted `sampler.skip = …` at the top level, or the
/// `[sampler]` header for a key about a whole table. None when the key is not in the
/// file (it came from a profile default or `--set`).
pub fn find_key_line(text: &str, key: &str) -> Option<usize> {
    let (table, leaf) = key.rsplit_once('.').unwrap_or(("", key));
    let mut current = String::new();
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim();
        if let Some(header) = trimmed.strip_prefix('[') {
            current = header
                .trim_start_matches('[')
                .trim_end_matches(']')
                .trim()
                .to_string();
            if current == key {
                return Some(i + 1);
            }
            continue;
        }
        let Some((lhs, _)) = trimmed.split_once('=') else {
            continue;
        };
        let lhs = lhs.trim().trim_matches('"');
        let full = if current.is_empty() {
            lhs.to_string()
        } else {
            format!("{current}.{lhs}")
        };
        if full == key || (current == table && lhs == leaf) {
            return Some(i + 1);
        }
    }
    None
}

/// A TOML syntax error with its line.
fn describe_toml_error(text: &str, err: &toml::de::Error) -> String {
    match err.span() {
        Some(span) => {
            let line = text[..span.start.min(text.len())].lines().count().max(1);
            format!("line {line}: {}", err.message())
        }
        None => err.message().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "[experiment]\nname = \"t\"\n[data]\nkind = \"moons\"\n[sampler]\nkind = \"heun\"\n[profile.smoke]\nmetrics.samples = 10\n";

    fn file() -> ExperimentFile {
        ExperimentFile::parse(Path::new("t.toml"), FILE.into()).unwrap()
    }

    #[test]
    fn sampler_steps_is_another_name_for_schedule_steps() {
        let e = file().resolve(None, &["sampler.steps=40".into()]).unwrap();
        assert_eq!(e.schedule.steps(), 40);
        assert_eq!(e.schedule.kind(), "edm");
        let err = file()
            .resolve(
                None,
                &[
                    "sampler.steps=40".into(),
                    "schedule.kind=edm".into(),
                    "schedule.steps=41".into(),
                ],
            )
            .unwrap_err();
        assert!(err.to_string().contains("disagree"), "{err}");
    }

    #[test]
    fn errors_name_file_line_and_key() {
        let err = file()
            .resolve(None, &["sampler.skip=18".into()])
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "t.toml: --set sampler.skip=18: sampler.skip = 18 must be < schedule.steps = 18"
        );
        let err = file()
            .resolve(None, &["model.kind=magic".into()])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("model.kind = \"magic\": unknown variant `magic`, expected one of"),
            "{err}"
        );
        let err = file()
            .resolve(None, &["bogus.x=1".into()])
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown table `bogus`"), "{err}");
        assert_eq!(find_key_line(FILE, "sampler.kind"), Some(6));
        assert_eq!(find_key_line(FILE, "data"), Some(3));
        assert_eq!(find_key_line(FILE, "schedule.steps"), None);
    }
}
