//! Variance-preserving SDEs with a linear β(t) (Song et al. 2021, eqs. 11 and 29).

use super::Process;
use crate::error::{check_at_most, check_finite, check_open_unit, Result, ScheduleError};

/// β(t) = β_min + t(β_max − β_min) and its integral, shared by VP and sub-VP.
#[derive(Clone, Copy, Debug, PartialEq)]
struct LinearBeta {
    beta_min: f64,
    beta_max: f64,
}

impl LinearBeta {
    fn new(beta_min: f64, beta_max: f64) -> Result<Self> {
        check_finite("beta_min", beta_min)?;
        check_finite("beta_max", beta_max)?;
        if beta_min < 0.0 {
            return Err(ScheduleError::invalid("beta_min", beta_min, "must be >= 0"));
        }
        if beta_max <= 0.0 {
            return Err(ScheduleError::invalid("beta_max", beta_max, "must be > 0"));
        }
        check_at_most("beta_min", beta_min, "beta_max", beta_max)?;
        Ok(LinearBeta { beta_min, beta_max })
    }

    /// β(t) = β_min + t(β_max − β_min).
    fn beta(&self, t: f64) -> f64 {
        self.beta_min + t * (self.beta_max - self.beta_min)
    }

    /// B(t) = ∫₀ᵗ β = ½t²(β_max − β_min) + tβ_min.
    fn integral(&self, t: f64) -> f64 {
        0.5 * t * t * (self.beta_max - self.beta_min) + t * self.beta_min
    }

    /// The t ≥ 0 with B(t) = b: t = (√(β_min² + 2β_d b) − β_min)/β_d (EDM's VP `sigma_inv`).
    fn t_of_integral(&self, b: f64) -> f64 {
        let beta_d = self.beta_max - self.beta_min;
        if beta_d == 0.0 {
            return b / self.beta_min;
        }
        ((self.beta_min * self.beta_min + 2.0 * beta_d * b).sqrt() - self.beta_min) / beta_d
    }
}

fn check_eps(eps: f64) -> Result<f64> {
    check_open_unit("eps", eps)?;
    Ok(eps)
}

/// VP SDE dx = −½β(t)x dt + √β(t) dw (Song et al. 2021 eq. 11): log s = −¼t²(β_max − β_min)
/// − ½tβ_min, σ = √(1/s² − 1) (Karras et al. 2022, Table 1).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct VpSde {
    beta: LinearBeta,
    eps: f64,
}

impl VpSde {
    /// Song et al.'s defaults β_min = 0.1, β_max = 20 are `VpSde::default()`. Needs
    /// 0 ≤ β_min ≤ β_max, β_max > 0. Sampling stops at t_min = eps = 1e-3 unless changed.
    pub fn new(beta_min: f64, beta_max: f64) -> Result<Self> {
        Ok(VpSde {
            beta: LinearBeta::new(beta_min, beta_max)?,
            eps: 1e-3,
        })
    }

    /// The same process with sampling stopping at t = eps ∈ (0, 1).
    pub fn with_eps(self, eps: f64) -> Result<Self> {
        Ok(VpSde {
            eps: check_eps(eps)?,
            ..self
        })
    }

    /// β_min.
    pub fn beta_min(&self) -> f64 {
        self.beta.beta_min
    }

    /// β_max.
    pub fn beta_max(&self) -> f64 {
        self.beta.beta_max
    }

    /// β(t) = β_min + t(β_max − β_min).
    pub fn beta(&self, t: f64) -> f64 {
        self.beta.beta(t)
    }

    /// ∫₀ᵗ β = ½t²(β_max − β_min) + tβ_min = −2 log s(t).
    pub fn integrated_beta(&self, t: f64) -> f64 {
        self.beta.integral(t)
    }
}

impl Default for VpSde {
    fn default() -> Self {
        VpSde {
            beta: LinearBeta {
                beta_min: 0.1,
                beta_max: 20.0,
            },
            eps: 1e-3,
        }
    }
}

impl Process for VpSde {
    /// s = exp(−½∫β).
    fn s(&self, t: f64) -> f64 {
        (-0.5 * self.beta.integral(t)).exp()
    }
    /// σ = √(1/s² − 1) = √(exp ∫β − 1).
    fn sigma(&self, t: f64) -> f64 {
        self.beta.integral(t).exp_m1().sqrt()
    }
    /// ṡ = −½β s.
    fn s_dot(&self, t: f64) -> f64 {
        -0.5 * self.beta(t) * self.s(t)
    }
    /// σ̇ = β e^{∫β}/(2σ).
    fn sigma_dot(&self, t: f64) -> f64 {
        self.beta(t) * self.beta.integral(t).exp() / (2.0 * self.sigma(t))
    }
    fn f(&self, t: f64) -> f64 {
        -0.5 * self.beta(t)
    }
    fn g(&self, t: f64) -> f64 {
        self.beta(t).sqrt()
    }
    /// ∫β = ln(1 + σ²), then the quadratic's root.
    fn t_of_sigma(&self, sigma: f64) -> f64 {
        self.beta.t_of_integral((sigma * sigma).ln_1p())
    }
    fn t_min(&self) -> f64 {
        self.eps
    }
}

/// Sub-VP SDE dx = −½β(t)x dt + √(β(t)(1 − e^{−2∫β})) dw (Song et al. 2021 eq. 29): same
/// s as VP, s²σ² = (1 − e^{−∫β})², so σ = 2 sinh(½∫β).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SubVpSde {
    beta: LinearBeta,
    eps: f64,
}

impl SubVpSde {
    /// Same parameters and checks as [`VpSde::new`].
    pub fn new(beta_min: f64, beta_max: f64) -> Result<Self> {
        Ok(SubVpSde {
            beta: LinearBeta::new(beta_min, beta_max)?,
            eps: 1e-3,
        })
    }

    /// The same process with sampling stopping at t = eps ∈ (0, 1).
    pub fn with_eps(self, eps: f64) -> Result<Self> {
        Ok(SubVpSde {
            eps: check_eps(eps)?,
            ..self
        })
    }

    /// β(t) = β_min + t(β_max − β_min).
    pub fn beta(&self, t: f64) -> f64 {
        self.beta.beta(t)
    }
}

impl Default for SubVpSde {
    fn default() -> Self {
        SubVpSde {
            beta: LinearBeta {
                beta_min: 0.1,
                beta_max: 20.0,
            },
            eps: 1e-3,
        }
    }
}

impl Process for SubVpSde {
    /// s = exp(−½∫β), as for VP.
    fn s(&self, t: f64) -> f64 {
        (-0.5 * self.beta.integral(t)).exp()
    }
    /// σ = (1 − e^{−∫β})/s = 2 sinh(½∫β).
    fn sigma(&self, t: f64) -> f64 {
        2.0 * (0.5 * self.beta.integral(t)).sinh()
    }
    fn s_dot(&self, t: f64) -> f64 {
        -0.5 * self.beta(t) * self.s(t)
    }
    /// σ̇ = β cosh(½∫β).
    fn sigma_dot(&self, t: f64) -> f64 {
        self.beta(t) * (0.5 * self.beta.integral(t)).cosh()
    }
    fn f(&self, t: f64) -> f64 {
        -0.5 * self.beta(t)
    }
    /// g = √(β(1 − e^{−2∫β})).
    fn g(&self, t: f64) -> f64 {
        (self.beta(t) * -(-2.0 * self.beta.integral(t)).exp_m1()).sqrt()
    }
    /// ∫β = 2 asinh(σ/2).
    fn t_of_sigma(&self, sigma: f64) -> f64 {
        self.beta.t_of_integral(2.0 * (0.5 * sigma).asinh())
    }
    fn t_min(&self) -> f64 {
        self.eps
    }
}
