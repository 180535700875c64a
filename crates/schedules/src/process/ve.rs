//! Processes with s = 1: the VE SDE (Song et al. 2021 eq. 9) and EDM's σ(t) = t.

use super::Process;
use crate::error::{check_less, check_open_unit, check_positive, Result};

fn check_sigma_range(sigma_min: f64, sigma_max: f64) -> Result<()> {
    check_positive("sigma_min", sigma_min)?;
    check_positive("sigma_max", sigma_max)?;
    check_less("sigma_min", sigma_min, "sigma_max", sigma_max)
}

/// VE SDE dx = σ√(2 ln(σ_max/σ_min)) dw, σ(t) = σ_min(σ_max/σ_min)^t, s = 1
/// (Song et al. 2021 eq. 9 and Table 1 of Karras et al. 2022).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct VeSde {
    sigma_min: f64,
    sigma_max: f64,
    eps: f64,
}

impl VeSde {
    /// Needs 0 < σ_min < σ_max. Sampling stops at t_min = eps = 1e-5 (Song et al.'s VE
    /// sampling ε) unless changed with [`VeSde::with_eps`].
    pub fn new(sigma_min: f64, sigma_max: f64) -> Result<Self> {
        check_sigma_range(sigma_min, sigma_max)?;
        Ok(VeSde {
            sigma_min,
            sigma_max,
            eps: 1e-5,
        })
    }

    /// The same process with sampling stopping at t = eps ∈ (0, 1).
    pub fn with_eps(self, eps: f64) -> Result<Self> {
        check_open_unit("eps", eps)?;
        Ok(VeSde { eps, ..self })
    }

    /// ln(σ_max/σ_min).
    fn log_ratio(&self) -> f64 {
        (self.sigma_max / self.sigma_min).ln()
    }
}

impl Default for VeSde {
    /// Song et al.'s CIFAR-10 values σ_min = 0.01, σ_max = 50.
    fn default() -> Self {
        VeSde {
            sigma_min: 0.01,
            sigma_max: 50.0,
            eps: 1e-5,
        }
    }
}

impl Process for VeSde {
    fn s(&self, _t: f64) -> f64 {
        1.0
    }
    /// σ(t) = σ_min(σ_max/σ_min)^t.
    fn sigma(&self, t: f64) -> f64 {
        self.sigma_min * (t * self.log_ratio()).exp()
    }
    fn s_dot(&self, _t: f64) -> f64 {
        0.0
    }
    /// σ̇ = σ ln(σ_max/σ_min).
    fn sigma_dot(&self, t: f64) -> f64 {
        self.sigma(t) * self.log_ratio()
    }
    fn f(&self, _t: f64) -> f64 {
        0.0
    }
    /// g = σ√(2 ln(σ_max/σ_min)).
    fn g(&self, t: f64) -> f64 {
        self.sigma(t) * (2.0 * self.log_ratio()).sqrt()
    }
    /// t = ln(σ/σ_min)/ln(σ_max/σ_min) (negative below σ_min, −∞ at σ = 0).
    fn t_of_sigma(&self, sigma: f64) -> f64 {
        (sigma / self.sigma_min).ln() / self.log_ratio()
    }
    fn t_min(&self) -> f64 {
        self.eps
    }
}

/// EDM's process σ(t) = t, s = 1, dx = √(2t) dw (Karras et al. 2022 eq. 6 with σ = t).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EdmProcess {
    sigma_min: f64,
    sigma_max: f64,
}

impl EdmProcess {
    /// The sampled range t ∈ [σ_min, σ_max]; needs 0 < σ_min < σ_max.
    pub fn new(sigma_min: f64, sigma_max: f64) -> Result<Self> {
        check_sigma_range(sigma_min, sigma_max)?;
        Ok(EdmProcess {
            sigma_min,
            sigma_max,
        })
    }
}

impl Default for EdmProcess {
    /// Karras et al.'s σ_min = 0.002, σ_max = 80.
    fn default() -> Self {
        EdmProcess {
            sigma_min: 0.002,
            sigma_max: 80.0,
        }
    }
}

impl Process for EdmProcess {
    fn s(&self, _t: f64) -> f64 {
        1.0
    }
    fn sigma(&self, t: f64) -> f64 {
        t
    }
    fn s_dot(&self, _t: f64) -> f64 {
        0.0
    }
    fn sigma_dot(&self, _t: f64) -> f64 {
        1.0
    }
    fn f(&self, _t: f64) -> f64 {
        0.0
    }
    /// g = √(2t).
    fn g(&self, t: f64) -> f64 {
        (2.0 * t).sqrt()
    }
    fn t_of_sigma(&self, sigma: f64) -> f64 {
        sigma
    }
    fn t_min(&self) -> f64 {
        self.sigma_min
    }
    fn t_max(&self) -> f64 {
        self.sigma_max
    }
}
