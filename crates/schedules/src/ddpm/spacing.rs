//! Sampling timesteps out of T training steps (diffusers' DDPMScheduler / DDIMScheduler
//! `timestep_spacing`) and strided sub-schedules through them.

use serde::{Deserialize, Serialize};

use super::betas::linspace;
use super::posterior::{posterior_mean_coefs, posterior_variance};
use crate::error::{check_count, Result, ScheduleError};

/// How n sampling timesteps are spread over 0…T−1 (diffusers' `timestep_spacing` options).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Spacing {
    /// (0, 1, …, n−1)·⌊T/n⌋, decreasing (diffusers' default; never reaches T−1).
    #[default]
    Leading,
    /// round(T, T − T/n, …, T/n) − 1 (starts at T−1; Lin et al. 2024).
    Trailing,
    /// round(linspace(0, T−1, n)), decreasing.
    Linspace,
}

impl Spacing {
    /// The snake_case name used in `[schedule]` tables.
    pub fn name(self) -> &'static str {
        match self {
            Spacing::Leading => "leading",
            Spacing::Trailing => "trailing",
            Spacing::Linspace => "linspace",
        }
    }
}

/// `n_steps` timesteps out of `num_train_timesteps` = T in decreasing order, exactly as
/// diffusers computes them (numpy rounds half to even, so do we). Needs 1 ≤ n ≤ T.
pub fn spaced_timesteps(
    num_train_timesteps: usize,
    n_steps: usize,
    spacing: Spacing,
) -> Result<Vec<usize>> {
    check_count("timesteps", num_train_timesteps)?;
    check_count("steps", n_steps)?;
    if n_steps > num_train_timesteps {
        return Err(ScheduleError::invalid(
            "steps",
            n_steps,
            format!("must be <= timesteps = {num_train_timesteps}"),
        ));
    }
    Ok(match spacing {
        Spacing::Leading => leading(num_train_timesteps, n_steps),
        Spacing::Trailing => trailing(num_train_timesteps, n_steps),
        Spacing::Linspace => linspace_spacing(num_train_timesteps, n_steps),
    })
}

/// `(np.arange(0, n) * (T // n)).round()[::-1]`.
fn leading(big_t: usize, n: usize) -> Vec<usize> {
    let step_ratio = big_t / n;
    (0..n).rev().map(|k| k * step_ratio).collect()
}

/// `np.round(np.arange(T, 0, -T / n)) - 1`, taking exactly n points.
fn trailing(big_t: usize, n: usize) -> Vec<usize> {
    let step_ratio = big_t as f64 / n as f64;
    (0..n)
        .map(|k| (big_t as f64 - k as f64 * step_ratio).round_ties_even() as usize - 1)
        .collect()
}

/// `np.linspace(0, T - 1, n).round()[::-1]`.
fn linspace_spacing(big_t: usize, n: usize) -> Vec<usize> {
    linspace(0.0, (big_t - 1) as f64, n)
        .into_iter()
        .rev()
        .map(|t| t.round_ties_even() as usize)
        .collect()
}

/// One step of a strided sub-schedule: from timestep `t` to its predecessor `t_prev`
/// (the next, smaller timestep in sampling order; `None` after the last).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StridedStep {
    /// The timestep.
    pub t: usize,
    /// The timestep sampled next, if any.
    pub t_prev: Option<usize>,
    /// ᾱ_t.
    pub alpha_bar: f64,
    /// ᾱ_{t_prev}, or 1 after the last step.
    pub alpha_bar_prev: f64,
    /// Effective β = 1 − ᾱ_t/ᾱ_prev of the strided step.
    pub beta: f64,
}

impl StridedStep {
    pub fn new(t: usize, t_prev: Option<usize>, alpha_bar: f64, alpha_bar_prev: f64) -> Self {
        StridedStep {
            t,
            t_prev,
            alpha_bar,
            alpha_bar_prev,
            beta: strided_beta(alpha_bar, alpha_bar_prev),
        }
    }

    /// Posterior mean coefficients (of x0, of x_t) for this step (Ho et al. 2020 eq. 7).
    pub fn posterior_mean_coefs(&self) -> (f64, f64) {
        posterior_mean_coefs(self.beta, self.alpha_bar, self.alpha_bar_prev)
    }

    /// Posterior variance β̃ of this step (Ho et al. 2020 eq. 7).
    pub fn posterior_variance(&self) -> f64 {
        posterior_variance(self.beta, self.alpha_bar, self.alpha_bar_prev)
    }
}

/// β = 1 − ᾱ_t/ᾱ_{t_prev}: the one-step β that jumps from t_prev straight to t
/// (Nichol & Dhariwal 2021 §4, respacing).
pub fn strided_beta(alpha_bar: f64, alpha_bar_prev: f64) -> f64 {
    1.0 - alpha_bar / alpha_bar_prev
}
