//! Reverse-time samplers for score-based diffusion models, generic over one [`Denoiser`]
//! trait.
//!
//! Every sampler works in the EDM frame x_t = s(t)·(x0 + σ(t)·ε) (Karras et al. 2022) and
//! calls only `D(x̂, σ) = E[x0 | x̂]`; it never knows whether a closed-form distribution
//! (crate `analytic`) or a trained network (crate `models`) answers. Randomness comes
//! from a seeded host RNG ([`rng::seeded`]), so a seed fixes the noise on every backend.
//! Each sampler is one function that reads like its paper's algorithm box and reports
//! its denoiser evaluations (NFE) through a [`Trace`], which can also keep the trajectory.
//!
//! | module | methods |
//! |---|---|
//! | [`edm`] | Euler, Heun (Algorithm 1), stochastic (Algorithm 2) of Karras et al. 2022; DPM-Solver++(2M/2S/3M) (Lu et al. 2022); Euler ancestral |
//! | [`multistep`] | DPM-Solver with noise prediction (Lu et al. 2022), UniPC (Zhao et al. 2023), DEIS tAB (Zhang & Chen 2023) |
//! | [`ddpm`] | ancestral sampling (Ho et al. 2020), DDIM with η (Song et al. 2021) |
//! | [`sde`] | reverse-SDE Euler–Maruyama, PF-ODE Euler/Heun, predictor–corrector, any process |
//! | [`langevin`] | annealed Langevin dynamics (Song & Ermon 2019) |
//! | [`teleport`] | analytic teleport start (Wang & Vastola 2023) |

mod batch;
pub mod ddpm;
mod denoiser;
pub mod edm;
mod error;
pub mod langevin;
pub mod multistep;
pub mod rng;
pub mod sde;
pub mod spec;
pub mod teleport;
mod trace;

pub use batch::{Batch, ShapeError};
pub use denoiser::{eps_from_denoised, score_from_denoised, Denoiser, PfOdeSolution};
pub use error::SamplerError;
pub use spec::{sample, sample_from_noise, SamplerSpec};
pub use trace::Trace;
