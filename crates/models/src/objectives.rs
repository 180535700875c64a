//! Training objectives for the denoiser networks, all written in the EDM frame
//! x̂ = x0 + σ·ε with D(x̂; σ) from a [`Parameterization`](crate::precond::Parameterization):
//!
//! - [`edm_loss`]: Karras et al. 2022's λ(σ)‖D − x0‖² with log-normal σ.
//! - [`l_simple`], [`x0_mse`], [`mu_mse`], [`hybrid`]: the discrete-DDPM objectives of Ho et al. 2020,
//!   with the x0 weight (P1) from its eqs. 7–8, and of Nichol & Dhariwal 2021
//!   (σ_t = √((1 − ᾱ_t)/ᾱ_t), so x̂ = x_t/√ᾱ_t);
//!   the variational bound itself lives in [`crate::vlb`].
//! - [`ncsn_dsm`], [`implicit_score_matching`]: score matching (Song & Ermon 2019;
//!   Hyvärinen 2005 with the finite-difference Hutchinson trace of Pang et al. 2020).
//! - [`Objective`]: the user-facing `[objective]` table dispatching to them.
//!
//! Every random draw (σ, t, ε, probes) comes from a host [`samplers::rng::HostRng`] and is
//! uploaded; each loss has an `_at` form that takes the drawn values, so tests can compare
//! it with an f64 evaluation of the same formula on the same network outputs.

mod ddpm;
mod edm;
mod model;
mod score;
mod spec;
#[cfg(test)]
mod tests;

pub use ddpm::{
    draw_timesteps, hybrid, hybrid_at, l_simple, l_simple_at, mu_mse, mu_mse_at, p1_weight,
    predicted_mean, x0_mse, x0_mse_at,
};
pub use edm::{edm_loss, edm_loss_at, edm_weight, log_normal_sigmas};
pub(crate) use model::{column, row_lincomb, scale_rows};
pub use model::{noisy, Model};
pub use score::{
    denoising_score_matching_host, draw_probes, fd_hutchinson_trace, fd_hutchinson_trace_with,
    geometric_ladder, implicit_score_matching, implicit_score_matching_at,
    implicit_score_matching_host, ncsn_dsm, ncsn_dsm_at, Probe,
};
pub use spec::Objective;
