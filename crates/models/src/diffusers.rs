//! Networks trained elsewhere: a diffusers `UNet2DModel` folder (`config.json` and
//! `diffusion_pytorch_model.safetensors`, optionally `scheduler_config.json`) as a burn
//! network ([`DiffusersUNet`]) and, with its parameterization and DDPM schedule, as a
//! [`samplers::Denoiser`] in the EDM frame ([`crate::denoiser::NetworkDenoiser`]).
//!
//! The σ → t rule. A DDPM network is trained at the levels σ_t = √((1 − ᾱ_t)/ᾱ_t),
//! t = 0…T−1, of its schedule, and evaluated at x_t = x̂/√(1 + σ²). A sampler asking for a
//! σ between two levels gets the real-valued t that interpolates linearly in log σ between
//! them (k-diffusion's `DiscreteSchedule.sigma_to_t`): exact on the training grid, so
//! DDPM and DDIM samplers on the model's own timesteps see exactly the diffusers network;
//! σ outside [σ_0, σ_{T−1}] is clamped to the end levels ([`crate::denoiser::TimestepMap`]).

use std::path::{Path, PathBuf};

use burn::tensor::Device;
use samplers::rng::HostRng;
use schedules::{BetaSchedule, DdpmSchedule};
use serde_json::Value;

use crate::precond::Parameterization;

pub mod config;
pub mod unet;
pub mod weights;

pub use config::UNet2DConfig;
pub use unet::DiffusersUNet;
pub use weights::Weights;

/// The weights file of a diffusers model folder.
pub const WEIGHTS_FILE: &str = "diffusion_pytorch_model.safetensors";

/// A diffusers folder that cannot be imported: each names the file and the field or tensor.
#[derive(Debug, thiserror::Error)]
pub enum DiffusersError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: `{field}` {message}")]
    Config {
        path: PathBuf,
        field: String,
        message: String,
    },
    #[error("{path}: tensor `{tensor}` {message}")]
    Weights {
        path: PathBuf,
        tensor: String,
        message: String,
    },
}

/// A `UNet2DModel` with what its folder says about its training: the parameterization
/// and schedule of `scheduler_config.json`, when present.
pub struct DiffusersModel {
    pub config: UNet2DConfig,
    pub unet: DiffusersUNet,
    /// `[channels, height, width]` of the images it takes.
    pub image: [usize; 3],
    pub scheduler: Option<SchedulerConfig>,
}

/// The training schedule and parameterization of a `DDPMScheduler`-style
/// `scheduler_config.json`.
#[derive(Clone, Debug, PartialEq)]
pub struct SchedulerConfig {
    pub schedule: BetaSchedule,
    pub num_train_timesteps: usize,
    /// From `prediction_type`: epsilon → ε, sample → x0, v_prediction → v.
    pub parameterization: Parameterization,
}

/// Loads the model folder `dir` for images of `image` = `[channels, height, width]` (by
/// default the config's `in_channels` and `sample_size`).
pub fn load(
    dir: &Path,
    image: Option<[usize; 3]>,
    device: &Device,
) -> Result<DiffusersModel, DiffusersError> {
    let config_path = dir.join("config.json");
    let config = UNet2DConfig::read(&config_path)?;
    let image = image_shape(&config, &config_path, image)?;
    let mut weights = Weights::read(&dir.join(WEIGHTS_FILE), device)?;
    let unet = unet::build(&config, &mut weights, image)?;
    weights.finish()?;
    let scheduler_path = dir.join("scheduler_config.json");
    let scheduler = if scheduler_path.is_file() {
        Some(SchedulerConfig::read(&scheduler_path)?)
    } else {
        None
    };
    Ok(DiffusersModel {
        config,
        unet,
        image,
        scheduler,
    })
}

/// The network of `config` with weights drawn from `rng` (no file): its architecture and
/// parameter count without a download.
pub fn random(
    config: &UNet2DConfig,
    label: &Path,
    rng: HostRng,
    device: &Device,
) -> Result<DiffusersUNet, DiffusersError> {
    let image = image_shape(config, label, None)?;
    unet::build(config, &mut Weights::random(label, rng, device), image)
}

/// `[channels, height, width]`: `image` when given (its channels must be `in_channels`),
/// else from the config's `sample_size`. Height and width must halve evenly at every
/// downsampling.
fn image_shape(
    config: &UNet2DConfig,
    path: &Path,
    image: Option<[usize; 3]>,
) -> Result<[usize; 3], DiffusersError> {
    let error = |field: &str, message: String| DiffusersError::Config {
        path: path.to_path_buf(),
        field: field.into(),
        message,
    };
    let shape = match (image, config.sample_size) {
        (Some(shape), _) => shape,
        (None, Some([h, w])) => [config.in_channels, h, w],
        (None, None) => {
            return Err(error(
                "sample_size",
                "is not set; give the image size of the data".into(),
            ))
        }
    };
    if let (Some(_), Some([h, w])) = (image, config.sample_size) {
        if [h, w] != [shape[1], shape[2]] {
            return Err(error(
                "sample_size",
                format!(
                    "= {h}×{w} but the data's images are {}×{}",
                    shape[1], shape[2]
                ),
            ));
        }
    }
    if shape[0] != config.in_channels {
        return Err(error(
            "in_channels",
            format!(
                "= {} but the images have {} channels",
                config.in_channels, shape[0]
            ),
        ));
    }
    let factor = 1 << (config.levels() - 1);
    if shape[1] % factor != 0 || shape[2] % factor != 0 || shape[1] == 0 || shape[2] == 0 {
        return Err(error(
            "block_out_channels",
            format!("has {} levels, so height and width must be multiples of {factor}; the images are {}×{}", config.levels(), shape[1], shape[2]),
        ));
    }
    Ok(shape)
}

impl SchedulerConfig {
    /// Reads a `scheduler_config.json` (DDPM/DDIM-style keys), refusing what it cannot
    /// reproduce (`trained_betas`, other β schedules or prediction types), naming the field.
    pub fn read(path: &Path) -> Result<Self, DiffusersError> {
        let text = std::fs::read_to_string(path).map_err(|source| DiffusersError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let error = |field: &str, message: String| DiffusersError::Config {
            path: path.to_path_buf(),
            field: field.into(),
            message,
        };
        let map: serde_json::Map<String, Value> = serde_json::from_str(&text)
            .map_err(|e| error("(file)", format!("is not a JSON object: {e}")))?;
        let number = |field: &str, default: f64| match map.get(field) {
            None => Ok(default),
            Some(v) => v
                .as_f64()
                .ok_or_else(|| error(field, format!("= {v} must be a number"))),
        };
        let text_field = |field: &str, default: &'static str| match map.get(field) {
            None | Some(Value::Null) => Ok(default.to_string()),
            Some(v) => v
                .as_str()
                .map(str::to_string)
                .ok_or_else(|| error(field, format!("= {v} must be a string"))),
        };
        if map.get("trained_betas").is_some_and(|v| !v.is_null()) {
            return Err(error(
                "trained_betas",
                "are not supported; give the schedule in [schedule]".into(),
            ));
        }
        let (beta_start, beta_end) = (number("beta_start", 1e-4)?, number("beta_end", 0.02)?);
        let schedule = match text_field("beta_schedule", "linear")?.as_str() {
            "linear" => BetaSchedule::Linear {
                beta_start,
                beta_end,
            },
            "scaled_linear" => BetaSchedule::ScaledLinear {
                beta_start,
                beta_end,
            },
            "squaredcos_cap_v2" => BetaSchedule::Cosine { s: 0.008 },
            other => {
                return Err(error(
                    "beta_schedule",
                    format!(
                        "= {other:?} is not supported (linear, scaled_linear, squaredcos_cap_v2)"
                    ),
                ))
            }
        };
        let parameterization = parameterization_named(&text_field("prediction_type", "epsilon")?)
            .ok_or_else(|| {
            error(
                "prediction_type",
                "must be \"epsilon\", \"sample\" or \"v_prediction\"".into(),
            )
        })?;
        let steps = number("num_train_timesteps", 1000.0)?;
        if !(steps >= 2.0 && steps.fract() == 0.0) {
            return Err(error(
                "num_train_timesteps",
                format!("= {steps} must be an integer ≥ 2"),
            ));
        }
        Ok(Self {
            schedule,
            num_train_timesteps: steps as usize,
            parameterization,
        })
    }

    /// The DDPM schedule it describes.
    pub fn ddpm_schedule(&self) -> Result<DdpmSchedule, schedules::ScheduleError> {
        DdpmSchedule::new(self.schedule, self.num_train_timesteps)
    }
}

/// diffusers' `prediction_type` as a parameterization: epsilon → ε, sample → x0,
/// v_prediction → v (Salimans & Ho 2022).
pub fn parameterization_named(prediction_type: &str) -> Option<Parameterization> {
    match prediction_type {
        "epsilon" => Some(Parameterization::Eps),
        "sample" => Some(Parameterization::X0),
        "v_prediction" => Some(Parameterization::V),
        _ => None,
    }
}

#[cfg(test)]
mod tests;
