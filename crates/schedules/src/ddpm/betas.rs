//! β schedules: linear (Ho et al. 2020, §4), scaled linear (Stable Diffusion's, as in
//! diffusers) and cosine (Nichol & Dhariwal 2021, eq. 17).

use serde::{Deserialize, Serialize};

use crate::error::{
    check_at_most, check_count, check_finite, check_open_unit, Result, ScheduleError,
};

/// Offset s of the cosine schedule, Nichol & Dhariwal 2021 eq. 17.
pub const COSINE_S: f64 = 0.008;
/// Clip of the cosine β, Nichol & Dhariwal 2021 (prevents singularities near t = T).
pub const COSINE_MAX_BETA: f64 = 0.999;

/// How β_t runs over the T training steps.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum BetaSchedule {
    /// β = linspace(β_start, β_end, T) (Ho et al. 2020: 1e-4 → 0.02).
    Linear { beta_start: f64, beta_end: f64 },
    /// β = linspace(√β_start, √β_end, T)² (Stable Diffusion's "scaled_linear").
    ScaledLinear { beta_start: f64, beta_end: f64 },
    /// β_i = min(1 − f((i+1)/T)/f(i/T), 0.999), f(u) = cos²((u+s)/(1+s)·π/2).
    Cosine { s: f64 },
}

/// Name of a β schedule as written in a `[schedule]` table.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BetaScheduleKind {
    /// [`BetaSchedule::Linear`].
    #[default]
    Linear,
    /// [`BetaSchedule::ScaledLinear`].
    ScaledLinear,
    /// [`BetaSchedule::Cosine`] with s = 0.008.
    Cosine,
}

impl BetaScheduleKind {
    /// The schedule of this kind; β_start, β_end are ignored by the cosine schedule.
    pub fn with_range(self, beta_start: f64, beta_end: f64) -> BetaSchedule {
        match self {
            BetaScheduleKind::Linear => BetaSchedule::Linear {
                beta_start,
                beta_end,
            },
            BetaScheduleKind::ScaledLinear => BetaSchedule::ScaledLinear {
                beta_start,
                beta_end,
            },
            BetaScheduleKind::Cosine => BetaSchedule::Cosine { s: COSINE_S },
        }
    }

    /// The snake_case name used in `[schedule]` tables.
    pub fn name(self) -> &'static str {
        match self {
            BetaScheduleKind::Linear => "linear",
            BetaScheduleKind::ScaledLinear => "scaled_linear",
            BetaScheduleKind::Cosine => "cosine",
        }
    }
}

impl BetaSchedule {
    /// The cosine schedule with Nichol & Dhariwal's s = 0.008.
    pub fn cosine() -> Self {
        BetaSchedule::Cosine { s: COSINE_S }
    }

    /// Checks 0 < β_start ≤ β_end < 1, or s ≥ 0 finite for the cosine schedule.
    pub fn validate(&self) -> Result<()> {
        match *self {
            BetaSchedule::Linear {
                beta_start,
                beta_end,
            }
            | BetaSchedule::ScaledLinear {
                beta_start,
                beta_end,
            } => {
                check_open_unit("beta_start", beta_start)?;
                check_open_unit("beta_end", beta_end)?;
                check_at_most("beta_start", beta_start, "beta_end", beta_end)
            }
            BetaSchedule::Cosine { s } => {
                check_finite("s", s)?;
                if s < 0.0 {
                    return Err(ScheduleError::invalid("s", s, "must be >= 0"));
                }
                Ok(())
            }
        }
    }

    /// β_t for t = 0…T−1.
    pub fn betas(&self, timesteps: usize) -> Result<Vec<f64>> {
        self.validate()?;
        check_count("timesteps", timesteps)?;
        Ok(match *self {
            BetaSchedule::Linear {
                beta_start,
                beta_end,
            } => linear_betas(beta_start, beta_end, timesteps),
            BetaSchedule::ScaledLinear {
                beta_start,
                beta_end,
            } => scaled_linear_betas(beta_start, beta_end, timesteps),
            BetaSchedule::Cosine { s } => cosine_betas(s, timesteps),
        })
    }
}

/// linspace(β_start, β_end, T), Ho et al. 2020 §4.
pub fn linear_betas(beta_start: f64, beta_end: f64, timesteps: usize) -> Vec<f64> {
    linspace(beta_start, beta_end, timesteps)
}

/// linspace(√β_start, √β_end, T)², diffusers' "scaled_linear".
pub fn scaled_linear_betas(beta_start: f64, beta_end: f64, timesteps: usize) -> Vec<f64> {
    linspace(beta_start.sqrt(), beta_end.sqrt(), timesteps)
        .into_iter()
        .map(|b| b * b)
        .collect()
}

/// f(u) = cos²((u + s)/(1 + s)·π/2), the cosine ᾱ up to normalisation,
/// Nichol & Dhariwal 2021 eq. 17.
pub fn cosine_alpha_bar(u: f64, s: f64) -> f64 {
    ((u + s) / (1.0 + s) * std::f64::consts::FRAC_PI_2)
        .cos()
        .powi(2)
}

/// β_i = min(1 − f((i+1)/T)/f(i/T), 0.999), Nichol & Dhariwal 2021 eq. 17 (floating i/T).
pub fn cosine_betas(s: f64, timesteps: usize) -> Vec<f64> {
    let big_t = timesteps as f64;
    (0..timesteps)
        .map(|i| {
            let (u, u_next) = (i as f64 / big_t, (i + 1) as f64 / big_t);
            (1.0 - cosine_alpha_bar(u_next, s) / cosine_alpha_bar(u, s)).min(COSINE_MAX_BETA)
        })
        .collect()
}

/// numpy.linspace(start, stop, n): start + k·(stop − start)/(n − 1), last point exactly stop.
pub(crate) fn linspace(start: f64, stop: f64, n: usize) -> Vec<f64> {
    match n {
        0 => vec![],
        1 => vec![start],
        _ => {
            let step = (stop - start) / (n - 1) as f64;
            let mut v: Vec<f64> = (0..n).map(|k| start + k as f64 * step).collect();
            v[n - 1] = stop;
            v
        }
    }
}
