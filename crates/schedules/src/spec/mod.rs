//! The user-facing schedule description: the `[schedule]` table of experiment files and
//! `dlab schedule --set key=value`. Keys not listed are rejected; missing keys take the
//! paper defaults below.
//!
//! ```toml
//! [schedule]
//! kind = "edm"      # "ddpm" | "edm" | "vp" | "ve"
//! sigma_min = 0.002
//! sigma_max = 80
//! rho = 7
//! steps = 18
//! ```

mod table;
#[cfg(test)]
mod tests;

use serde::{Deserialize, Serialize};

pub use table::ScheduleTable;

use crate::ddpm::{spaced_timesteps, BetaScheduleKind, DdpmSchedule, Spacing};
use crate::error::{
    check_at_most, check_count, check_finite, check_less, check_open_unit, check_positive, Result,
    ScheduleError,
};
use crate::grid::{karras_sigmas, uniform};
use crate::process::{EdmProcess, Process, VeSde, VpSde};

/// A noise schedule as written by the user. Defaults: DDPM of Ho et al. 2020 (linear β
/// 1e-4 → 0.02, T = 1000), EDM of Karras et al. 2022 (σ ∈ [0.002, 80], ρ = 7, N = 18), VP and
/// VE of Song et al. 2021 (β ∈ [0.1, 20], ε = 1e-3; σ ∈ [0.01, 50], ε = 1e-5).
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum ScheduleSpec {
    /// Discrete DDPM with T training steps; `steps` sampling steps (all T if absent).
    Ddpm {
        /// "linear" | "scaled_linear" | "cosine".
        #[serde(default)]
        beta_schedule: BetaScheduleKind,
        /// First β (linear and scaled_linear).
        #[serde(default = "defaults::beta_start")]
        beta_start: f64,
        /// Last β (linear and scaled_linear).
        #[serde(default = "defaults::beta_end")]
        beta_end: f64,
        /// T, the number of training timesteps.
        #[serde(default = "defaults::timesteps")]
        timesteps: usize,
        /// Sampling steps out of T; all T when absent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        steps: Option<usize>,
        /// How the sampling steps are spread: "leading" | "trailing" | "linspace".
        #[serde(default)]
        spacing: Spacing,
    },
    /// EDM: σ(t) = t, s = 1, Karras ρ-grid of `steps` points plus σ = 0.
    Edm {
        /// Smallest σ (positive).
        #[serde(default = "defaults::edm_sigma_min")]
        sigma_min: f64,
        /// Largest σ, where sampling starts.
        #[serde(default = "defaults::edm_sigma_max")]
        sigma_max: f64,
        /// ρ of the Karras grid.
        #[serde(default = "defaults::rho")]
        rho: f64,
        /// Number of sampling points.
        #[serde(default = "defaults::edm_steps")]
        steps: usize,
    },
    /// VP SDE with linear β(t), t uniform from 1 to ε.
    Vp {
        /// β(0).
        #[serde(default = "defaults::beta_min")]
        beta_min: f64,
        /// β(1).
        #[serde(default = "defaults::beta_max")]
        beta_max: f64,
        /// Number of sampling points.
        #[serde(default = "defaults::sde_steps")]
        steps: usize,
        /// Smallest t sampled (Song et al.'s ε).
        #[serde(default = "defaults::vp_eps")]
        eps: f64,
    },
    /// VE SDE σ(t) = σ_min(σ_max/σ_min)^t, t uniform from 1 to ε.
    Ve {
        /// Smallest σ (positive).
        #[serde(default = "defaults::ve_sigma_min")]
        sigma_min: f64,
        /// Largest σ, where sampling starts.
        #[serde(default = "defaults::ve_sigma_max")]
        sigma_max: f64,
        /// Number of sampling points.
        #[serde(default = "defaults::sde_steps")]
        steps: usize,
        /// Smallest t sampled (Song et al.'s ε).
        #[serde(default = "defaults::ve_eps")]
        eps: f64,
    },
}

/// Paper defaults of every key.
pub mod defaults {
    /// Ho et al. 2020.
    pub fn beta_start() -> f64 {
        1e-4
    }
    /// Ho et al. 2020.
    pub fn beta_end() -> f64 {
        0.02
    }
    /// Ho et al. 2020.
    pub fn timesteps() -> usize {
        1000
    }
    /// Karras et al. 2022.
    pub fn edm_sigma_min() -> f64 {
        0.002
    }
    /// Karras et al. 2022.
    pub fn edm_sigma_max() -> f64 {
        80.0
    }
    /// Karras et al. 2022.
    pub fn rho() -> f64 {
        7.0
    }
    /// Karras et al. 2022, CIFAR-10.
    pub fn edm_steps() -> usize {
        18
    }
    /// Song et al. 2021.
    pub fn beta_min() -> f64 {
        0.1
    }
    /// Song et al. 2021.
    pub fn beta_max() -> f64 {
        20.0
    }
    /// Song et al. 2021 (N = 1000 discretisation steps).
    pub fn sde_steps() -> usize {
        1000
    }
    /// Song et al. 2021's VP sampling ε.
    pub fn vp_eps() -> f64 {
        1e-3
    }
    /// Song et al. 2021, CIFAR-10.
    pub fn ve_sigma_min() -> f64 {
        0.01
    }
    /// Song et al. 2021, CIFAR-10.
    pub fn ve_sigma_max() -> f64 {
        50.0
    }
    /// Song et al. 2021's VE sampling ε.
    pub fn ve_eps() -> f64 {
        1e-5
    }
}

impl Default for ScheduleSpec {
    /// The EDM schedule with Karras et al.'s defaults.
    fn default() -> Self {
        ScheduleSpec::edm()
    }
}

impl ScheduleSpec {
    /// DDPM with Ho et al.'s defaults (all T = 1000 steps).
    pub fn ddpm() -> Self {
        ScheduleSpec::Ddpm {
            beta_schedule: BetaScheduleKind::Linear,
            beta_start: defaults::beta_start(),
            beta_end: defaults::beta_end(),
            timesteps: defaults::timesteps(),
            steps: None,
            spacing: Spacing::Leading,
        }
    }

    /// EDM with Karras et al.'s defaults.
    pub fn edm() -> Self {
        ScheduleSpec::Edm {
            sigma_min: defaults::edm_sigma_min(),
            sigma_max: defaults::edm_sigma_max(),
            rho: defaults::rho(),
            steps: defaults::edm_steps(),
        }
    }

    /// VP with Song et al.'s defaults.
    pub fn vp() -> Self {
        ScheduleSpec::Vp {
            beta_min: defaults::beta_min(),
            beta_max: defaults::beta_max(),
            steps: defaults::sde_steps(),
            eps: defaults::vp_eps(),
        }
    }

    /// VE with Song et al.'s defaults.
    pub fn ve() -> Self {
        ScheduleSpec::Ve {
            sigma_min: defaults::ve_sigma_min(),
            sigma_max: defaults::ve_sigma_max(),
            steps: defaults::sde_steps(),
            eps: defaults::ve_eps(),
        }
    }

    /// The `kind` tag: "ddpm", "edm", "vp" or "ve".
    pub fn kind(&self) -> &'static str {
        match self {
            ScheduleSpec::Ddpm { .. } => "ddpm",
            ScheduleSpec::Edm { .. } => "edm",
            ScheduleSpec::Vp { .. } => "vp",
            ScheduleSpec::Ve { .. } => "ve",
        }
    }

    /// Number of sampling steps: `steps` (for DDPM without `steps`, all T).
    pub fn steps(&self) -> usize {
        match *self {
            ScheduleSpec::Ddpm {
                timesteps, steps, ..
            } => steps.unwrap_or(timesteps),
            ScheduleSpec::Edm { steps, .. }
            | ScheduleSpec::Vp { steps, .. }
            | ScheduleSpec::Ve { steps, .. } => steps,
        }
    }

    /// Checks every key; the error names the key and its value.
    pub fn validate(&self) -> Result<()> {
        match *self {
            ScheduleSpec::Ddpm {
                beta_schedule,
                beta_start,
                beta_end,
                timesteps,
                steps,
                ..
            } => {
                check_count("timesteps", timesteps)?;
                if beta_schedule != BetaScheduleKind::Cosine {
                    check_open_unit("beta_start", beta_start)?;
                    check_open_unit("beta_end", beta_end)?;
                    check_at_most("beta_start", beta_start, "beta_end", beta_end)?;
                }
                if let Some(steps) = steps {
                    check_count("steps", steps)?;
                    if steps > timesteps {
                        return Err(ScheduleError::invalid(
                            "steps",
                            steps,
                            format!("must be <= timesteps = {timesteps}"),
                        ));
                    }
                }
                Ok(())
            }
            ScheduleSpec::Edm {
                sigma_min,
                sigma_max,
                rho,
                steps,
            } => {
                check_sigma_range(sigma_min, sigma_max)?;
                check_positive("rho", rho)?;
                check_count("steps", steps)
            }
            ScheduleSpec::Vp {
                beta_min,
                beta_max,
                steps,
                eps,
            } => {
                check_positive("beta_min", beta_min)?;
                check_positive("beta_max", beta_max)?;
                check_less("beta_min", beta_min, "beta_max", beta_max)?;
                check_count("steps", steps)?;
                check_open_unit("eps", eps)
            }
            ScheduleSpec::Ve {
                sigma_min,
                sigma_max,
                steps,
                eps,
            } => {
                check_sigma_range(sigma_min, sigma_max)?;
                check_count("steps", steps)?;
                check_open_unit("eps", eps)
            }
        }
    }

    /// The continuous-time process of a vp, ve or edm schedule (validated first).
    pub fn process(&self) -> Result<Box<dyn Process>> {
        self.validate()?;
        Ok(match *self {
            ScheduleSpec::Edm {
                sigma_min,
                sigma_max,
                ..
            } => Box::new(EdmProcess::new(sigma_min, sigma_max)?),
            ScheduleSpec::Vp {
                beta_min,
                beta_max,
                eps,
                ..
            } => Box::new(VpSde::new(beta_min, beta_max)?.with_eps(eps)?),
            ScheduleSpec::Ve {
                sigma_min,
                sigma_max,
                eps,
                ..
            } => Box::new(VeSde::new(sigma_min, sigma_max)?.with_eps(eps)?),
            ScheduleSpec::Ddpm { .. } => {
                return Err(not_for_kind(
                    "ddpm",
                    "has no continuous-time process; use ddpm()",
                ))
            }
        })
    }

    /// The discrete DDPM schedule of a ddpm spec (validated first).
    pub fn ddpm_schedule(&self) -> Result<DdpmSchedule> {
        self.validate()?;
        match *self {
            ScheduleSpec::Ddpm {
                beta_schedule,
                beta_start,
                beta_end,
                timesteps,
                ..
            } => DdpmSchedule::new(beta_schedule.with_range(beta_start, beta_end), timesteps),
            _ => Err(not_for_kind(self.kind(), "is not a discrete DDPM schedule")),
        }
    }

    /// The DDPM timesteps visited when sampling, in decreasing order: the spaced ones if
    /// `steps` is set, else T−1, …, 0.
    pub fn ddpm_timesteps(&self) -> Result<Vec<usize>> {
        self.validate()?;
        match *self {
            ScheduleSpec::Ddpm {
                timesteps,
                steps: Some(steps),
                spacing,
                ..
            } => spaced_timesteps(timesteps, steps, spacing),
            ScheduleSpec::Ddpm {
                timesteps,
                steps: None,
                ..
            } => Ok((0..timesteps).rev().collect()),
            _ => Err(not_for_kind(self.kind(), "is not a discrete DDPM schedule")),
        }
    }

    /// The Karras σ grid (N points plus a final 0) of an edm spec.
    pub fn edm_sigmas(&self) -> Result<Vec<f64>> {
        self.validate()?;
        match *self {
            ScheduleSpec::Edm {
                sigma_min,
                sigma_max,
                rho,
                steps,
            } => karras_sigmas(sigma_min, sigma_max, rho, steps),
            _ => Err(not_for_kind(
                self.kind(),
                "has no Karras grid; use sampling_sigmas()",
            )),
        }
    }

    /// Times t_i of a vp or ve spec: `steps` points uniform from 1 down to ε.
    pub fn sde_times(&self) -> Result<Vec<f64>> {
        self.validate()?;
        match *self {
            ScheduleSpec::Vp { steps, eps, .. } | ScheduleSpec::Ve { steps, eps, .. } => {
                Ok(uniform(1.0, eps, steps))
            }
            _ => Err(not_for_kind(self.kind(), "is not a vp or ve schedule")),
        }
    }

    /// σ values a sampler visits, decreasing, always ending with a final σ = 0 (Karras et
    /// al. 2022 Table 1: t_N = 0 for every schedule): edm → Karras grid; vp/ve → σ(t_i) on
    /// the uniform t grid; ddpm → σ of [`ScheduleSpec::ddpm_timesteps`].
    pub fn sampling_sigmas(&self) -> Result<Vec<f64>> {
        let mut sigmas = match self {
            ScheduleSpec::Edm { .. } => return self.edm_sigmas(),
            ScheduleSpec::Vp { .. } | ScheduleSpec::Ve { .. } => {
                let process = self.process()?;
                self.sde_times()?
                    .into_iter()
                    .map(|t| process.sigma(t))
                    .collect::<Vec<f64>>()
            }
            ScheduleSpec::Ddpm { .. } => {
                let schedule = self.ddpm_schedule()?;
                self.ddpm_timesteps()?
                    .into_iter()
                    .map(|t| schedule.sigma(t))
                    .collect()
            }
        };
        sigmas.push(0.0);
        Ok(sigmas)
    }
}

fn check_sigma_range(sigma_min: f64, sigma_max: f64) -> Result<()> {
    check_finite("sigma_min", sigma_min)?;
    check_finite("sigma_max", sigma_max)?;
    check_positive("sigma_min", sigma_min)?;
    check_positive("sigma_max", sigma_max)?;
    check_less("sigma_min", sigma_min, "sigma_max", sigma_max)
}

fn not_for_kind(kind: &str, what: &str) -> ScheduleError {
    ScheduleError::invalid("kind", kind, what)
}
