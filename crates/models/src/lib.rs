//! Neural denoisers for the diffusion workspace (burn 0.22): architectures, parameterizations
//! (ε, x0, v, score, EDM preconditioning) wrapped as [`samplers::Denoiser`], training
//! objectives and the training loop.
//!
//! Skeleton so far: a residual MLP `F(x, c_noise)` with a sinusoidal noise embedding
//! ([`mlp`]), parameter initialization driven by the workspace's seeded [`samplers::rng::HostRng`]
//! ([`init`]), one Adam step on an MSE regression ([`train`]), an EMA of parameters ([`ema`])
//! and eager burnpack checkpoints ([`checkpoint`]). Everything runs on any burn `Device`; tests
//! use the pure-Rust CPU backend `Device::flex()`, with `.autodiff()` for training.
//!
//! Determinism: no code here draws from burn's own RNG (Flex keeps one process-global,
//! mutex-guarded generator shared by all threads); weights and batches come from a `HostRng`,
//! so one seed on one backend gives one loss curve.

pub mod bench;
pub mod checkpoint;
pub mod classifier;
pub mod clip;
pub mod conditioning;
pub mod denoiser;
pub mod device;
pub mod ema;
pub mod error;
pub mod init;
pub mod mlp;
pub mod net;
pub mod objectives;
pub mod precond;
pub mod silu;
pub mod tensor;
pub mod train;
pub mod unet;
pub mod vlb;

pub use ema::ema_update;
pub use error::ModelError;
pub use mlp::{sinusoidal_embedding, Mlp, MlpConfig, ResBlock};
pub use train::{mse, train_step, TrainBatch};
