//! Conversions between noise parametrisations, and the drift coefficients of the reverse
//! SDE and the probability-flow ODE as scalars (drift = coef_x·x + coef_score·score).
//!
//! All score forms take the x-space score of the marginal of x_t = s(x0 + σε):
//! ∇_x log p_t(x) = ∇_x log p(x/s; σ) = ∇_x̂ log p(x̂; σ)/s = (D(x̂; σ) − x̂)/(sσ²), x̂ = x/s
//! (p_t(x) = p(x/s; σ)/s^d, so the two x-gradients agree; Tweedie, Karras et al. 2022
//! eq. 3). With s = 1 (VE, EDM) it is the x̂-frame score (D − x)/σ².
//! - [`reverse_sde_drift`]: Song et al. 2021 eq. 6 (Anderson 1982), from f and g.
//! - [`pf_ode_drift`]: Song et al. 2021 eq. 13, from f and g.
//! - [`edm_pf_ode_drift`]: Karras et al. 2022 eq. 4, from s, ṡ, σ, σ̇; the same ODE as
//!   [`pf_ode_drift`] since f = ṡ/s and g² = 2s²σσ̇.
//! - [`edm_pf_ode_denoiser_drift`]: eq. 4 with the denoiser substituted for the score.

use crate::process::Process;

/// σ = √((1 − ᾱ)/ᾱ) (EDM frame of a VP/DDPM step, s = √ᾱ).
pub fn sigma_from_alpha_bar(alpha_bar: f64) -> f64 {
    ((1.0 - alpha_bar) / alpha_bar).sqrt()
}

/// ᾱ = 1/(1 + σ²), the inverse of [`sigma_from_alpha_bar`].
pub fn alpha_bar_from_sigma(sigma: f64) -> f64 {
    1.0 / (1.0 + sigma * sigma)
}

/// Signal-to-noise ratio SNR = s²/(s²σ²) = 1/σ² (Kingma et al. 2021).
pub fn snr(sigma: f64) -> f64 {
    1.0 / (sigma * sigma)
}

/// λ = log SNR = −2 ln σ.
pub fn log_snr(sigma: f64) -> f64 {
    -2.0 * sigma.ln()
}

/// σ = exp(−λ/2), the inverse of [`log_snr`].
pub fn sigma_from_log_snr(lambda: f64) -> f64 {
    (-0.5 * lambda).exp()
}

/// A drift linear in the state and the score: coef_x·x + coef_score·score.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ScoreDrift {
    /// Coefficient of x.
    pub coef_x: f64,
    /// Coefficient of the score (x-space or x̂-space, see the constructing function).
    pub coef_score: f64,
}

/// A drift linear in the state and the denoiser output: coef_x·x + coef_denoised·D(x/s; σ).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DenoiserDrift {
    /// Coefficient of x.
    pub coef_x: f64,
    /// Coefficient of D(x/s; σ).
    pub coef_denoised: f64,
}

/// Reverse-time SDE dx = [f x − g² ∇_x log p_t(x)] dt + g dw̄ (Anderson 1982; Song et al.
/// 2021 eq. 6): coefficients (f, −g²) of the drift; its diffusion is g.
pub fn reverse_sde_drift(f: f64, g: f64) -> ScoreDrift {
    ScoreDrift {
        coef_x: f,
        coef_score: -g * g,
    }
}

/// Probability-flow ODE dx = [f x − ½g² ∇_x log p_t(x)] dt (Song et al. 2021 eq. 13):
/// coefficients (f, −½g²).
pub fn pf_ode_drift(f: f64, g: f64) -> ScoreDrift {
    ScoreDrift {
        coef_x: f,
        coef_score: -0.5 * g * g,
    }
}

/// EDM probability-flow ODE dx/dt = (ṡ/s)x − s²σ̇σ ∇_x log p(x/s; σ) (Karras et al. 2022
/// eq. 4): coefficients (ṡ/s, −s²σ̇σ) of x and of the x-space score (module docs).
pub fn edm_pf_ode_drift(s: f64, s_dot: f64, sigma: f64, sigma_dot: f64) -> ScoreDrift {
    ScoreDrift {
        coef_x: s_dot / s,
        coef_score: -s * s * sigma_dot * sigma,
    }
}

/// EDM eq. 4 with ∇_x log p(x/s; σ) = (D − x/s)/(sσ²): dx/dt = (σ̇/σ + ṡ/s)x − (σ̇s/σ)D(x/s; σ)
/// (Karras et al. 2022, Algorithm 1 line 4).
pub fn edm_pf_ode_denoiser_drift(s: f64, s_dot: f64, sigma: f64, sigma_dot: f64) -> DenoiserDrift {
    DenoiserDrift {
        coef_x: sigma_dot / sigma + s_dot / s,
        coef_denoised: -sigma_dot * s / sigma,
    }
}

/// [`reverse_sde_drift`] of `process` at time t.
pub fn process_reverse_sde_drift(process: &dyn Process, t: f64) -> ScoreDrift {
    reverse_sde_drift(process.f(t), process.g(t))
}

/// [`pf_ode_drift`] of `process` at time t.
pub fn process_pf_ode_drift(process: &dyn Process, t: f64) -> ScoreDrift {
    pf_ode_drift(process.f(t), process.g(t))
}

/// [`edm_pf_ode_drift`] of `process` at time t.
pub fn process_edm_pf_ode_drift(process: &dyn Process, t: f64) -> ScoreDrift {
    edm_pf_ode_drift(
        process.s(t),
        process.s_dot(t),
        process.sigma(t),
        process.sigma_dot(t),
    )
}

/// [`edm_pf_ode_denoiser_drift`] of `process` at time t.
pub fn process_edm_pf_ode_denoiser_drift(process: &dyn Process, t: f64) -> DenoiserDrift {
    edm_pf_ode_denoiser_drift(
        process.s(t),
        process.s_dot(t),
        process.sigma(t),
        process.sigma_dot(t),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::process::VpSde;

    #[test]
    fn sigma_alpha_bar_round_trip() {
        for ab in [1e-6, 0.01, 0.5, 0.9999] {
            assert!((alpha_bar_from_sigma(sigma_from_alpha_bar(ab)) - ab).abs() < 1e-15);
        }
        for sigma in [0.002, 1.0, 80.0] {
            // 1 − ᾱ cancels for small σ: relative error ≈ 1e-16/σ².
            assert!((sigma_from_alpha_bar(alpha_bar_from_sigma(sigma)) / sigma - 1.0).abs() < 1e-9);
            assert!((sigma_from_log_snr(log_snr(sigma)) / sigma - 1.0).abs() < 1e-14);
        }
        // ᾱ = 0.8 → σ² = 0.25.
        assert!((sigma_from_alpha_bar(0.8) - 0.5).abs() < 1e-15);
        assert!((snr(0.5) - 4.0).abs() < 1e-15);
        assert!((log_snr(0.5) - 4f64.ln()).abs() < 1e-15);
    }

    #[test]
    fn reverse_sde_and_pf_ode_coefficients() {
        let r = reverse_sde_drift(-0.5, 2.0);
        assert_eq!((r.coef_x, r.coef_score), (-0.5, -4.0));
        let p = pf_ode_drift(-0.5, 2.0);
        assert_eq!((p.coef_x, p.coef_score), (-0.5, -2.0));
    }

    /// Song's PF-ODE, EDM eq. 4 and its denoiser form give one velocity. With p0 = N(0, 4)
    /// on VP, p_t(x) = N(0, s²(4 + σ²)) and D(x̂) = 4x̂/(4 + σ²) are closed form.
    #[test]
    fn song_and_edm_pf_odes_agree_on_a_gaussian() {
        let vp = VpSde::new(0.1, 20.0).unwrap();
        let (t, x) = (0.37, 1.3);
        let (s, sigma) = (vp.s(t), vp.sigma(t));
        let var_t = s * s * (4.0 + sigma * sigma);
        let score_x = -x / var_t;
        let song = process_pf_ode_drift(&vp, t);
        let edm = process_edm_pf_ode_drift(&vp, t);
        assert!((song.coef_x - edm.coef_x).abs() < 1e-12);
        assert!((song.coef_score / edm.coef_score - 1.0).abs() < 1e-12);
        let v_song = song.coef_x * x + song.coef_score * score_x;
        // Exact velocity of a centred Gaussian flow: x·(d var_t/dt)/(2 var_t).
        let h = 1e-6;
        let var = |t: f64| vp.s(t).powi(2) * (4.0 + vp.sigma(t).powi(2));
        let v_exact = x * (var(t + h) - var(t - h)) / (2.0 * h) / (2.0 * var_t);
        assert!((v_song - v_exact).abs() < 1e-6, "{v_song} vs {v_exact}");
        assert!(v_song.abs() > 0.1);
        // Denoiser form with D(x̂) = x̂/(1 + σ²).
        let d = process_edm_pf_ode_denoiser_drift(&vp, t);
        let v_d = d.coef_x * x + d.coef_denoised * 4.0 * (x / s) / (4.0 + sigma * sigma);
        assert!((v_d - v_song).abs() < 1e-10, "{v_d} vs {v_song}");
    }
}
