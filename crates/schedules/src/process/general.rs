//! Processes given by coefficient functions: the Ornstein–Uhlenbeck (VP) form of Song et al.
//! 2021 (eq. 11) and a general linear SDE (Karras et al. 2022, App. B), with integrals in
//! closed form or by quadrature.

use std::fmt;

use super::Process;
use crate::error::{check_finite, check_less, Result, ScheduleError};
use crate::quadrature::integrate;

/// A scalar function of time, shareable across threads.
pub type ScalarFn = Box<dyn Fn(f64) -> f64 + Send + Sync>;

/// Checks t_min < t_max, t_min ≥ 0.
fn check_range(t_min: f64, t_max: f64) -> Result<(f64, f64)> {
    check_finite("t_min", t_min)?;
    check_finite("t_max", t_max)?;
    if t_min < 0.0 {
        return Err(ScheduleError::invalid("t_min", t_min, "must be >= 0"));
    }
    check_less("t_min", t_min, "t_max", t_max)?;
    Ok((t_min, t_max))
}

/// The VP forward process dX = −½g(t)X dt + √g(t) dW (Song et al. 2021, eq. 11, g = β) with a
/// variance schedule g(t) ≥ 0:
/// X_t | X_0 ~ N(α(t)X_0, h(t)I), α(t) = exp(−½∫₀ᵗ g), h = 1 − α². In the EDM frame
/// s = α and σ = √h/α. (The trait's diffusion coefficient [`Process::g`] is √g.)
pub struct OrnsteinUhlenbeck {
    schedule: ScalarFn,
    integral: Option<ScalarFn>,
    t_min: f64,
    t_max: f64,
}

impl OrnsteinUhlenbeck {
    /// From the variance schedule g(t); ∫₀ᵗ g is computed by quadrature. Range t ∈ [1e-3, 1].
    pub fn new(schedule: impl Fn(f64) -> f64 + Send + Sync + 'static) -> Self {
        OrnsteinUhlenbeck {
            schedule: Box::new(schedule),
            integral: None,
            t_min: 1e-3,
            t_max: 1.0,
        }
    }

    /// From g(t) and its integral G(t) = ∫₀ᵗ g in closed form.
    pub fn with_integral(
        schedule: impl Fn(f64) -> f64 + Send + Sync + 'static,
        integral: impl Fn(f64) -> f64 + Send + Sync + 'static,
    ) -> Self {
        OrnsteinUhlenbeck {
            integral: Some(Box::new(integral)),
            ..Self::new(schedule)
        }
    }

    /// The same process sampled on t ∈ [t_min, t_max].
    pub fn with_range(self, t_min: f64, t_max: f64) -> Result<Self> {
        let (t_min, t_max) = check_range(t_min, t_max)?;
        Ok(OrnsteinUhlenbeck {
            t_min,
            t_max,
            ..self
        })
    }

    /// The variance schedule g(t) (β(t) of the VP SDE, Song et al. 2021 eq. 11).
    pub fn variance_schedule(&self, t: f64) -> f64 {
        (self.schedule)(t)
    }

    /// G(t) = ∫₀ᵗ g.
    pub fn integrated_schedule(&self, t: f64) -> f64 {
        match &self.integral {
            Some(big_g) => big_g(t),
            None => integrate(&self.schedule, 0.0, t),
        }
    }

    /// α(t) = exp(−½∫₀ᵗ g) (VP perturbation kernel, Song et al. 2021, App. B).
    pub fn alpha(&self, t: f64) -> f64 {
        (-0.5 * self.integrated_schedule(t)).exp()
    }

    /// h(t) = 1 − α(t)² (VP perturbation kernel, Song et al. 2021, App. B).
    pub fn h(&self, t: f64) -> f64 {
        -(-self.integrated_schedule(t)).exp_m1()
    }
}

impl fmt::Debug for OrnsteinUhlenbeck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OrnsteinUhlenbeck")
            .field("closed_form_integral", &self.integral.is_some())
            .field("t_min", &self.t_min)
            .field("t_max", &self.t_max)
            .finish()
    }
}

impl Process for OrnsteinUhlenbeck {
    /// s = α.
    fn s(&self, t: f64) -> f64 {
        self.alpha(t)
    }
    /// σ = √h/α = √(e^G − 1).
    fn sigma(&self, t: f64) -> f64 {
        self.integrated_schedule(t).exp_m1().sqrt()
    }
    /// ṡ = −½g α.
    fn s_dot(&self, t: f64) -> f64 {
        -0.5 * self.variance_schedule(t) * self.alpha(t)
    }
    /// σ̇ = g e^G/(2σ).
    fn sigma_dot(&self, t: f64) -> f64 {
        let big_g = self.integrated_schedule(t);
        self.variance_schedule(t) * big_g.exp() / (2.0 * big_g.exp_m1().sqrt())
    }
    fn f(&self, t: f64) -> f64 {
        -0.5 * self.variance_schedule(t)
    }
    /// Diffusion coefficient √g.
    fn g(&self, t: f64) -> f64 {
        self.variance_schedule(t).sqrt()
    }
    fn t_min(&self) -> f64 {
        self.t_min
    }
    fn t_max(&self) -> f64 {
        self.t_max
    }
}

/// A general linear SDE dx = f(t)x dt + g(t) dw from closures, with s_t = exp ∫₀ᵗ f and
/// σ_t = √(∫₀ᵗ g²/s²) by adaptive Gauss–Legendre quadrature (Karras et al. 2022, App. B).
pub struct LinearSde {
    f: ScalarFn,
    g: ScalarFn,
    t_min: f64,
    t_max: f64,
}

impl LinearSde {
    /// From the drift coefficient f(t) and diffusion coefficient g(t). Range t ∈ [1e-3, 1].
    pub fn new(
        f: impl Fn(f64) -> f64 + Send + Sync + 'static,
        g: impl Fn(f64) -> f64 + Send + Sync + 'static,
    ) -> Self {
        LinearSde {
            f: Box::new(f),
            g: Box::new(g),
            t_min: 1e-3,
            t_max: 1.0,
        }
    }

    /// The same process sampled on t ∈ [t_min, t_max].
    pub fn with_range(self, t_min: f64, t_max: f64) -> Result<Self> {
        let (t_min, t_max) = check_range(t_min, t_max)?;
        Ok(LinearSde {
            t_min,
            t_max,
            ..self
        })
    }

    /// ∫₀ᵗ f = ln s_t.
    pub fn integrated_f(&self, t: f64) -> f64 {
        integrate(&self.f, 0.0, t)
    }
}

impl fmt::Debug for LinearSde {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LinearSde")
            .field("t_min", &self.t_min)
            .field("t_max", &self.t_max)
            .finish()
    }
}

impl Process for LinearSde {
    /// s_t = exp ∫₀ᵗ f (Karras et al. 2022, App. B).
    fn s(&self, t: f64) -> f64 {
        self.integrated_f(t).exp()
    }
    /// σ_t = √(∫₀ᵗ g²/s²) (Karras et al. 2022, App. B).
    fn sigma(&self, t: f64) -> f64 {
        integrate(|xi| (self.g)(xi).powi(2) / self.s(xi).powi(2), 0.0, t).sqrt()
    }
    /// ṡ = f s.
    fn s_dot(&self, t: f64) -> f64 {
        (self.f)(t) * self.s(t)
    }
    /// σ̇ = g²/(2s²σ), from d(σ²)/dt = g²/s².
    fn sigma_dot(&self, t: f64) -> f64 {
        (self.g)(t).powi(2) / (2.0 * self.s(t).powi(2) * self.sigma(t))
    }
    fn f(&self, t: f64) -> f64 {
        (self.f)(t)
    }
    fn g(&self, t: f64) -> f64 {
        (self.g)(t)
    }
    fn t_min(&self) -> f64 {
        self.t_min
    }
    fn t_max(&self) -> f64 {
        self.t_max
    }
}
