//! Negative log-likelihood in bits per dimension, three ways:
//!
//! - [`exact`] (c): `−log p_σ(x)/(d ln 2)` of an analytic distribution, the ground truth;
//! - [`pf_ode`] (b): the probability-flow ODE's instantaneous change of variables (Chen et
//!   al. 2018; Song et al. 2021), for any [`samplers::Denoiser`];
//! - [`vlb`] (a): the DDPM variational bound on discrete data (Ho, Jain & Abbeel 2020), for
//!   any [`samplers::Denoiser`], with the per-term breakdown.
//!
//! Units: (b) and (c) are continuous densities of the data as given (nats → bits by
//! `1/(d ln 2)`); (a) is a bound on the discrete probability of data on an `L`-level grid
//! in [−1, 1]. To compare a continuous number with a discrete one add
//! [`dequantization_offset_bits`] of the bin width (Song et al. 2021's `+7` for 8-bit data).
//! The pieces of (a) (Φ, KL, prior, discretized decoder) are `schedules::ddpm::bound`, which
//! the training losses of `models::vlb` share.

pub mod exact;
pub mod pf_ode;
pub mod vlb;

pub use exact::{dequantization_offset_bits, exact_nll_bits_per_dim, nats_to_bits_per_dim};
pub use pf_ode::{
    isotropic_prior_log_density, pf_ode_likelihood, PfOdeLikelihood, PfOdeNll, Prior,
};
pub use vlb::{ddpm_vlb, VlbBreakdown, VlbConfig};
