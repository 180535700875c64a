//! Continuous-time forward processes dx = f(t)x dt + g(t)dw in the EDM frame
//! x_t = s(t)(x0 + σ(t)ε), with s(t) = exp ∫₀ᵗ f and σ(t)² = ∫₀ᵗ g²/s² (Karras et al.
//! 2022, §2 and App. B; Karras et al. 2022 eq. 6 inverted: f = ṡ/s, g = s√(2σσ̇)).

mod general;
#[cfg(test)]
mod tests;
mod ve;
mod vp;

pub use general::{LinearSde, OrnsteinUhlenbeck, ScalarFn};
pub use ve::{EdmProcess, VeSde};
pub use vp::{SubVpSde, VpSde};

/// A linear forward SDE, described by its scale s(t) and noise level σ(t).
///
/// σ must increase with t (every process here does); [`Process::t_of_sigma`] relies on it.
pub trait Process: Send + Sync {
    /// Scale s(t) of x_t = s(t)(x0 + σ(t)ε).
    fn s(&self, t: f64) -> f64;

    /// Noise level σ(t) of the scaled-back x̂ = x/s.
    fn sigma(&self, t: f64) -> f64;

    /// ds/dt.
    fn s_dot(&self, t: f64) -> f64;

    /// dσ/dt.
    fn sigma_dot(&self, t: f64) -> f64;

    /// Drift coefficient f(t) = ṡ/s (Karras et al. 2022 eq. 6).
    fn f(&self, t: f64) -> f64 {
        self.s_dot(t) / self.s(t)
    }

    /// Diffusion coefficient g(t) = s√(2σσ̇) (Karras et al. 2022 eq. 6).
    fn g(&self, t: f64) -> f64 {
        self.s(t) * (2.0 * self.sigma(t) * self.sigma_dot(t)).sqrt()
    }

    /// The t with σ(t) = sigma. Default: bisection on a bracket grown from [0, t_max].
    fn t_of_sigma(&self, sigma: f64) -> f64 {
        t_of_sigma_by_bisection(self, sigma)
    }

    /// Smallest t a sampler should reach (the data end, ε of Song et al. 2021).
    fn t_min(&self) -> f64 {
        1e-3
    }

    /// Largest t, where sampling starts.
    fn t_max(&self) -> f64 {
        1.0
    }
}

impl<P: Process + ?Sized> Process for Box<P> {
    fn s(&self, t: f64) -> f64 {
        (**self).s(t)
    }
    fn sigma(&self, t: f64) -> f64 {
        (**self).sigma(t)
    }
    fn s_dot(&self, t: f64) -> f64 {
        (**self).s_dot(t)
    }
    fn sigma_dot(&self, t: f64) -> f64 {
        (**self).sigma_dot(t)
    }
    fn f(&self, t: f64) -> f64 {
        (**self).f(t)
    }
    fn g(&self, t: f64) -> f64 {
        (**self).g(t)
    }
    fn t_of_sigma(&self, sigma: f64) -> f64 {
        (**self).t_of_sigma(sigma)
    }
    fn t_min(&self) -> f64 {
        (**self).t_min()
    }
    fn t_max(&self) -> f64 {
        (**self).t_max()
    }
}

/// Inverts an increasing σ(t) by bisection. Returns 0 when sigma ≤ σ(0); the bracket's
/// upper end doubles from t_max until σ exceeds sigma (at most 64 times).
pub fn t_of_sigma_by_bisection<P: Process + ?Sized>(process: &P, sigma: f64) -> f64 {
    let mut lo = 0.0;
    if sigma.is_nan() || sigma <= process.sigma(lo) {
        return lo;
    }
    let mut hi = process.t_max().max(1e-3);
    for _ in 0..64 {
        if process.sigma(hi) >= sigma {
            break;
        }
        lo = hi;
        hi *= 2.0;
    }
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if mid <= lo || mid >= hi {
            break;
        }
        if process.sigma(mid) < sigma {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    0.5 * (lo + hi)
}
