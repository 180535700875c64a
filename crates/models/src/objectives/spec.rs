//! The user-facing `[objective]` table: which loss trains the network, with its settings.

use burn::tensor::{Device, Tensor};
use samplers::rng::HostRng;
use samplers::Batch;
use schedules::DdpmSchedule;
use serde::{Deserialize, Serialize};

use super::model::Model;
use super::score::Probe;
use crate::error::ModelError;
use crate::net::Net;
use crate::precond::Parameterization;
use crate::vlb::{vlb_loss, VlbMean};
use schedules::ReverseVariance;

/// A training objective. DDPM objectives (`l_simple`, `vlb`, `hybrid`, `x0_mse`) need a
/// DDPM schedule; the others draw their own σ.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Objective {
    /// [`super::edm_loss`]: ln σ ~ N(p_mean, p_std²).
    Edm {
        #[serde(default = "default_p_mean")]
        p_mean: f64,
        #[serde(default = "default_p_std")]
        p_std: f64,
    },
    /// [`super::l_simple`].
    LSimple,
    /// [`crate::vlb::vlb_loss`] (T·L_t in bits/dim) on data with `levels` gray levels in
    /// [−1, 1]; `levels` absent: the data's own ([`Objective::resolve_levels`]).
    Vlb {
        #[serde(default = "default_variance")]
        variance: ReverseVariance,
        parameterization: VlbMean,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        levels: Option<u32>,
    },
    /// [`super::hybrid`]: L_simple + λ·L_vlb.
    Hybrid {
        #[serde(default = "default_lambda")]
        lambda: f64,
        #[serde(default = "default_variance")]
        variance: ReverseVariance,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        levels: Option<u32>,
    },
    /// [`super::x0_mse`], (P1)-weighted or unweighted.
    X0Mse { weighted: bool },
    /// [`super::mu_mse`]: ‖μ̃ − μ_θ‖² with the network predicting μ̃ directly (Ho et al.
    /// 2020, Table 2's "μ̃ prediction, MSE").
    MuMse,
    /// [`super::ncsn_dsm`] over a geometric ladder of `levels` σ from sigma_max down to sigma_min.
    Ncsn {
        sigma_min: f64,
        sigma_max: f64,
        levels: usize,
    },
    /// [`super::implicit_score_matching`] at one σ.
    ImplicitSm {
        sigma: f64,
        fd_eps: f64,
        probes: usize,
        #[serde(default)]
        probe: Probe,
    },
}

fn default_p_mean() -> f64 {
    -1.2
}
fn default_p_std() -> f64 {
    1.2
}
fn default_lambda() -> f64 {
    0.001
}
fn default_variance() -> ReverseVariance {
    ReverseVariance::FixedLarge
}

fn positive(key: &str, value: f64) -> Result<(), ModelError> {
    if value > 0.0 && value.is_finite() {
        Ok(())
    } else {
        Err(ModelError::invalid(key, value, "finite and > 0"))
    }
}

fn gray_levels(levels: Option<u32>) -> Result<(), ModelError> {
    if levels.is_none_or(|l| l >= 2) {
        Ok(())
    } else {
        Err(ModelError::invalid(
            "levels",
            levels.unwrap_or_default(),
            ">= 2 (gray levels of the data)",
        ))
    }
}

impl Objective {
    /// The `kind` string.
    pub fn name(&self) -> &'static str {
        match self {
            Objective::Edm { .. } => "edm",
            Objective::LSimple => "l_simple",
            Objective::Vlb { .. } => "vlb",
            Objective::Hybrid { .. } => "hybrid",
            Objective::X0Mse { .. } => "x0_mse",
            Objective::MuMse => "mu_mse",
            Objective::Ncsn { .. } => "ncsn",
            Objective::ImplicitSm { .. } => "implicit_sm",
        }
    }

    /// Whether the objective is defined on a discrete DDPM schedule.
    pub fn needs_schedule(&self) -> bool {
        matches!(
            self,
            Objective::LSimple
                | Objective::Vlb { .. }
                | Objective::Hybrid { .. }
                | Objective::X0Mse { .. }
                | Objective::MuMse
        )
    }

    /// Whether the network predicts the posterior mean μ̃ of x_{t−1} directly (μ̃-prediction,
    /// Ho et al. 2020 Table 2) rather than a denoiser through its parameterization; such a
    /// network becomes a denoiser with
    /// [`NetworkDenoiser::with_mean_prediction`](crate::denoiser::NetworkDenoiser::with_mean_prediction).
    pub fn predicts_mean(&self) -> bool {
        matches!(
            self,
            Objective::MuMse
                | Objective::Vlb {
                    parameterization: VlbMean::Mu,
                    ..
                }
        )
    }

    /// The objective with its decoder's gray levels set from the data's (`data_levels`,
    /// `None` for continuous data) where the objective leaves them out. A stated `levels`
    /// that differs from the data's is an error: the discretized decoder must bin the data
    /// as they are.
    pub fn resolve_levels(&self, data_levels: Option<u32>) -> Result<Objective, ModelError> {
        let mut out = self.clone();
        if let Objective::Vlb { levels, .. } | Objective::Hybrid { levels, .. } = &mut out {
            match (*levels, data_levels) {
                (None, data) => *levels = data,
                (Some(l), Some(d)) if l != d => {
                    return Err(ModelError::invalid(
                        "levels",
                        l,
                        &format!("the data's gray levels ({d}), or left out"),
                    ))
                }
                _ => {}
            }
        }
        Ok(out)
    }

    /// Checks every setting; the error names the key and its value.
    pub fn validate(&self) -> Result<(), ModelError> {
        match *self {
            Objective::Edm { p_mean, p_std } => {
                if !p_mean.is_finite() {
                    return Err(ModelError::invalid("p_mean", p_mean, "finite"));
                }
                positive("p_std", p_std)
            }
            Objective::LSimple | Objective::X0Mse { .. } | Objective::MuMse => Ok(()),
            Objective::Vlb { levels, .. } => gray_levels(levels),
            Objective::Hybrid { lambda, levels, .. } => {
                if !(lambda >= 0.0 && lambda.is_finite()) {
                    return Err(ModelError::invalid("lambda", lambda, "finite and >= 0"));
                }
                gray_levels(levels)
            }
            Objective::Ncsn {
                sigma_min,
                sigma_max,
                levels,
            } => {
                positive("sigma_min", sigma_min)?;
                positive("sigma_max", sigma_max)?;
                if sigma_min >= sigma_max {
                    return Err(ModelError::invalid(
                        "sigma_min",
                        sigma_min,
                        &format!("< sigma_max = {sigma_max}"),
                    ));
                }
                if levels < 2 {
                    return Err(ModelError::invalid("levels", levels, ">= 2"));
                }
                Ok(())
            }
            Objective::ImplicitSm {
                sigma,
                fd_eps,
                probes,
                ..
            } => {
                positive("sigma", sigma)?;
                positive("fd_eps", fd_eps)?;
                if probes == 0 {
                    return Err(ModelError::invalid("probes", probes, ">= 1"));
                }
                Ok(())
            }
        }
    }

    /// The decoder's gray levels, which the bound needs (continuous data have none).
    fn levels_or_error(&self, levels: Option<u32>) -> Result<u32, ModelError> {
        levels.ok_or_else(|| {
            ModelError::invalid(
                "levels",
                "(absent)",
                &format!(
                    "set for objective {}: the discretized decoder needs the data's gray levels",
                    self.name()
                ),
            )
        })
    }

    /// The loss on the host batch `x0` (one row per sample, optional class label per row),
    /// every random draw from `rng`. `schedule` is required by the DDPM objectives. The EDM
    /// loss weight uses σ_data of an EDM parameterization, 0.5 otherwise.
    #[allow(clippy::too_many_arguments)]
    pub fn loss(
        &self,
        net: &Net,
        param: &Parameterization,
        x0: &Batch,
        labels: Option<&[u32]>,
        schedule: Option<&DdpmSchedule>,
        rng: &mut HostRng,
        device: &Device,
    ) -> Result<Tensor<1>, ModelError> {
        self.validate()?;
        if x0.n() == 0 {
            return Err(ModelError::invalid("batch size", 0, ">= 1"));
        }
        if let Some(l) = labels {
            if l.len() != x0.n() {
                return Err(ModelError::invalid(
                    "labels",
                    l.len(),
                    &format!("one per row ({} rows)", x0.n()),
                ));
            }
        }
        let model = Model::new(net, *param, device).with_labels(labels);
        let ddpm = || {
            schedule.ok_or_else(|| {
                ModelError::invalid(
                    "objective",
                    self.name(),
                    "used with a DDPM schedule (none was given)",
                )
            })
        };
        Ok(match *self {
            Objective::Edm { p_mean, p_std } => {
                let sigma_data = match *param {
                    Parameterization::Edm { sigma_data } => sigma_data,
                    _ => 0.5,
                };
                super::edm_loss(&model, x0, p_mean, p_std, sigma_data, rng)
            }
            Objective::LSimple => super::l_simple(&model, x0, ddpm()?, rng),
            Objective::Vlb {
                variance,
                parameterization,
                levels,
            } => vlb_loss(
                &model,
                parameterization,
                x0,
                ddpm()?,
                variance,
                self.levels_or_error(levels)?,
                rng,
            ),
            Objective::Hybrid {
                lambda,
                variance,
                levels,
            } => super::hybrid(
                &model,
                x0,
                ddpm()?,
                lambda,
                variance,
                self.levels_or_error(levels)?,
                rng,
            ),
            Objective::X0Mse { weighted } => super::x0_mse(&model, x0, ddpm()?, weighted, rng)?,
            Objective::MuMse => super::mu_mse(&model, x0, ddpm()?, rng),
            Objective::Ncsn {
                sigma_min,
                sigma_max,
                levels,
            } => super::ncsn_dsm(
                &model,
                x0,
                &super::geometric_ladder(sigma_min, sigma_max, levels),
                rng,
            ),
            Objective::ImplicitSm {
                sigma,
                fd_eps,
                probes,
                probe,
            } => super::implicit_score_matching(&model, x0, sigma, fd_eps, probes, probe, rng),
        })
    }
}
