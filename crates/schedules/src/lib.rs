//! Forward noising processes and their noise grids, all in one frame.
//!
//! Every process here is written in the EDM frame of Karras et al. (2022, §2, eq. 4):
//! x_t = s(t)·(x0 + σ(t)·ε), ε ~ N(0, I). Samplers only need (s, σ) along a grid and their
//! time derivatives; this crate supplies them:
//!
//! - [`ddpm`]: discrete DDPM schedules (β, α, ᾱ, posterior q(x_{t−1}|x_t, x0)), diffusers'
//!   timestep spacings and strided sub-schedules (Ho et al. 2020; Nichol & Dhariwal 2021).
//! - [`process`]: continuous-time linear SDEs dx = f(t)x dt + g(t)dw as a [`Process`]
//!   (VP, sub-VP, VE, EDM, Ornstein–Uhlenbeck, general linear).
//! - [`convert`]: σ ↔ ᾱ ↔ SNR conversions and the drift coefficients of the reverse SDE and
//!   probability-flow ODE.
//! - [`grid`]: sampling grids (Karras ρ-spacing, uniform t, uniform log-SNR).
//! - [`spec`]: the user-facing `[schedule]` description, its validation and its table.

pub mod convert;
pub mod ddpm;
mod error;
pub mod grid;
pub mod process;
pub mod quadrature;
pub mod spec;

pub use ddpm::{
    BetaSchedule, BetaScheduleKind, DdpmSchedule, ReverseVariance, Spacing, StridedStep,
};
pub use error::{Result, ScheduleError};
pub use grid::{karras_sigmas, Grid};
pub use process::{EdmProcess, LinearSde, OrnsteinUhlenbeck, Process, SubVpSde, VeSde, VpSde};
pub use spec::{ScheduleSpec, ScheduleTable};
