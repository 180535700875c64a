//! Networks trained elsewhere as cell denoisers: `[model] kind = "diffusers"`.

use anyhow::{anyhow, bail, Context, Result};
use models::denoiser::NetworkDenoiser;
use models::net::Net;

use crate::config::{DiffusersSpec, Experiment};

/// The diffusers `UNet2DModel` of `spec` as a denoiser for images of `shape`: its
/// parameterization from `model.parameterization` or the folder's scheduler config, its
/// DDPM schedule from the scheduler config or the experiment's `kind = "ddpm"` schedule.
pub fn diffusers_denoiser(
    e: &Experiment,
    spec: &DiffusersSpec,
    shape: [usize; 3],
) -> Result<NetworkDenoiser> {
    let device = models::device::select(&spec.device)?;
    let model = models::diffusers::load(&spec.path, Some(shape), &device)
        .with_context(|| format!("model.path = {}", spec.path.display()))?;
    let parameterization = match (spec.parameterization, &model.scheduler) {
        (Some(p), _) => p.parameterization(),
        (None, Some(scheduler)) => scheduler.parameterization,
        (None, None) => bail!(
            "model.parameterization: {} has no scheduler_config.json; say what the network predicts (\"eps\", \"x0\" or \"v\")",
            spec.path.display()
        ),
    };
    let schedule = match &model.scheduler {
        Some(scheduler) => scheduler
            .ddpm_schedule()
            .map_err(|err| anyhow!("{}/scheduler_config.json: {err}", spec.path.display()))?,
        None => e.schedule.ddpm_schedule().map_err(|_| {
            anyhow!(
                "model.path: {} has no scheduler_config.json, so the training schedule comes from [schedule], which must be kind = \"ddpm\" (it is {:?})",
                spec.path.display(),
                e.schedule.kind()
            )
        })?,
    };
    let dim = model.unet.dim();
    if model.unet.out_dim() != dim {
        bail!(
            "model.path: {} outputs {} channels for {} input channels; a denoiser needs as many",
            spec.path.display(),
            model.config.out_channels,
            model.config.in_channels
        );
    }
    Ok(
        NetworkDenoiser::new(Net::Diffusers(model.unet), parameterization, dim, device)
            .with_timesteps(&schedule)
            .with_chunk(spec.batch),
    )
}
