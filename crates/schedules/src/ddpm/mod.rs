//! Discrete DDPM schedules (Ho, Jain & Abbeel 2020; Nichol & Dhariwal 2021), 0-based like
//! diffusers: index t = 0…T−1 here is the paper's t + 1, so `beta(0)` is the paper's β_1.
//!
//! In the EDM frame a DDPM step t has s = √ᾱ_t and σ = √((1 − ᾱ_t)/ᾱ_t).

mod betas;
pub mod bound;
mod posterior;
mod spacing;
#[cfg(test)]
mod tests;

pub use betas::{
    cosine_alpha_bar, cosine_betas, linear_betas, scaled_linear_betas, BetaSchedule,
    BetaScheduleKind, COSINE_MAX_BETA, COSINE_S,
};
pub use posterior::{
    posterior_log_variance, posterior_mean_coefs, posterior_variance, ReverseVariance,
};
pub use spacing::{spaced_timesteps, strided_beta, Spacing, StridedStep};

use crate::convert::sigma_from_alpha_bar;
use crate::error::{check_count, Result, ScheduleError};

/// β_t, α_t = 1 − β_t and ᾱ_t = Π_{s≤t} α_s for t = 0…T−1.
#[derive(Clone, Debug, PartialEq)]
pub struct DdpmSchedule {
    betas: Vec<f64>,
    alphas: Vec<f64>,
    alpha_bars: Vec<f64>,
}

impl DdpmSchedule {
    /// The schedule of `timesteps` = T steps with β from `beta_schedule`.
    pub fn new(beta_schedule: BetaSchedule, timesteps: usize) -> Result<Self> {
        Self::from_betas(beta_schedule.betas(timesteps)?)
    }

    /// A schedule from explicit β_t, each in (0, 1).
    pub fn from_betas(betas: Vec<f64>) -> Result<Self> {
        check_count("timesteps", betas.len())?;
        if let Some((t, &b)) = betas
            .iter()
            .enumerate()
            .find(|(_, &b)| !(b > 0.0 && b < 1.0))
        {
            return Err(ScheduleError::invalid(
                &format!("beta[{t}]"),
                b,
                "must be in (0, 1)",
            ));
        }
        let alphas: Vec<f64> = betas.iter().map(|b| 1.0 - b).collect();
        let alpha_bars = alphas
            .iter()
            .scan(1.0, |prod, a| {
                *prod *= a;
                Some(*prod)
            })
            .collect();
        Ok(DdpmSchedule {
            betas,
            alphas,
            alpha_bars,
        })
    }

    /// T, the number of training timesteps.
    pub fn num_timesteps(&self) -> usize {
        self.betas.len()
    }

    /// β_t for t = 0…T−1.
    pub fn betas(&self) -> &[f64] {
        &self.betas
    }

    /// α_t = 1 − β_t.
    pub fn alphas(&self) -> &[f64] {
        &self.alphas
    }

    /// ᾱ_t = Π_{s≤t} α_s.
    pub fn alpha_bars(&self) -> &[f64] {
        &self.alpha_bars
    }

    /// β_t. Panics if t ≥ T (as every per-timestep accessor).
    pub fn beta(&self, t: usize) -> f64 {
        self.betas[t]
    }

    /// α_t = 1 − β_t.
    pub fn alpha(&self, t: usize) -> f64 {
        self.alphas[t]
    }

    /// ᾱ_t.
    pub fn alpha_bar(&self, t: usize) -> f64 {
        self.alpha_bars[t]
    }

    /// ᾱ_{t−1}, with ᾱ_{−1} = 1 (no noise before the first step).
    pub fn alpha_bar_prev(&self, t: usize) -> f64 {
        if t == 0 {
            1.0
        } else {
            self.alpha_bars[t - 1]
        }
    }

    /// σ(t) = √((1 − ᾱ_t)/ᾱ_t), the EDM-frame noise level of step t.
    pub fn sigma(&self, t: usize) -> f64 {
        sigma_from_alpha_bar(self.alpha_bar(t))
    }

    /// s(t) = √ᾱ_t, the EDM-frame scale of step t.
    pub fn s(&self, t: usize) -> f64 {
        self.alpha_bar(t).sqrt()
    }

    /// σ(t) for every t = 0…T−1 (increasing).
    pub fn sigmas(&self) -> Vec<f64> {
        self.alpha_bars
            .iter()
            .map(|&ab| sigma_from_alpha_bar(ab))
            .collect()
    }

    /// Coefficients (of x0, of x_t) of the posterior mean of q(x_{t−1} | x_t, x0),
    /// Ho et al. 2020 eq. 7.
    pub fn posterior_mean_coefs(&self, t: usize) -> (f64, f64) {
        posterior_mean_coefs(self.beta(t), self.alpha_bar(t), self.alpha_bar_prev(t))
    }

    /// β̃_t = β_t(1 − ᾱ_{t−1})/(1 − ᾱ_t), Ho et al. 2020 eq. 7 (β̃ = 0 at t = 0).
    pub fn posterior_variance(&self, t: usize) -> f64 {
        posterior_variance(self.beta(t), self.alpha_bar(t), self.alpha_bar_prev(t))
    }

    /// log β̃_t with β̃ at t = 0 (which is 0) replaced by β̃ at t = 1, as in Ho et al.'s code
    /// (`posterior_log_variance_clipped`). For T = 1 it falls back to log β_0.
    pub fn posterior_log_variance_clipped(&self, t: usize) -> f64 {
        match (t, self.num_timesteps()) {
            (0, 1) => self.beta(0).ln(),
            (0, _) => self.posterior_variance(1).ln(),
            _ => self.posterior_variance(t).ln(),
        }
    }

    /// Variance of the reverse step p(x_{t−1} | x_t) used for sampling:
    /// fixedlarge = β_t, fixedsmall = β̃_t (Ho et al. 2020 §3.2).
    pub fn reverse_variance(&self, t: usize, kind: ReverseVariance) -> f64 {
        match kind {
            ReverseVariance::FixedLarge => self.beta(t),
            ReverseVariance::FixedSmall => self.posterior_variance(t),
        }
    }

    /// Log-variance of p(x_{t−1} | x_t) in the likelihood bound, as in Ho et al.'s code:
    /// fixedlarge uses log(β̃_1, β_1, …, β_{T−1}) (0-based: the t = 0 decoder gets β̃ of
    /// t = 1 "for a better decoder log likelihood"); fixedsmall uses the clipped log β̃_t.
    pub fn likelihood_log_variance(&self, t: usize, kind: ReverseVariance) -> f64 {
        match kind {
            ReverseVariance::FixedLarge if t == 0 => self.posterior_log_variance_clipped(0),
            ReverseVariance::FixedLarge => self.beta(t).ln(),
            ReverseVariance::FixedSmall => self.posterior_log_variance_clipped(t),
        }
    }

    /// `n_steps` sampling timesteps out of T in decreasing order, diffusers' spacings.
    pub fn timesteps(&self, n_steps: usize, spacing: Spacing) -> Result<Vec<usize>> {
        spaced_timesteps(self.num_timesteps(), n_steps, spacing)
    }

    /// The strided sub-schedule through `timesteps` (decreasing, each < T): step t_i with
    /// predecessor t_{i+1} has ᾱ_prev = ᾱ_{t_{i+1}} (1 after the last) and effective
    /// β = 1 − ᾱ_t/ᾱ_prev (DDIM / improved-DDPM respacing).
    pub fn strided(&self, timesteps: &[usize]) -> Result<Vec<StridedStep>> {
        check_count("steps", timesteps.len())?;
        let t_max = self.num_timesteps();
        for (i, w) in timesteps.windows(2).enumerate() {
            if w[1] >= w[0] {
                return Err(ScheduleError::invalid(
                    &format!("timesteps[{}]", i + 1),
                    w[1],
                    format!("must be < timesteps[{i}] = {} (decreasing order)", w[0]),
                ));
            }
        }
        if timesteps[0] >= t_max {
            return Err(ScheduleError::invalid(
                "timesteps[0]",
                timesteps[0],
                format!("must be < timesteps = {t_max}"),
            ));
        }
        Ok((0..timesteps.len())
            .map(|i| {
                let t = timesteps[i];
                let t_prev = timesteps.get(i + 1).copied();
                StridedStep::new(
                    t,
                    t_prev,
                    self.alpha_bar(t),
                    t_prev.map_or(1.0, |p| self.alpha_bar(p)),
                )
            })
            .collect())
    }
}
