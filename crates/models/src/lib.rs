//! Neural denoisers for the diffusion workspace (burn 0.22): the networks trained here,
//! their training objectives and loop, and the wrapper that makes a trained network a
//! [`samplers::Denoiser`], so samplers and metrics use it like any closed form.
//!
//! | module | what it holds |
//! |---|---|
//! | [`mlp`], [`unet`], [`net`] | a residual MLP and a small UNet with attention, both `F(x, c_noise[, class])`, and the `[model.net]` choice between them |
//! | [`classifier`] | the CNN whose penultimate features give the `*_classifier` metrics |
//! | [`diffusers`] | networks trained elsewhere: a diffusers `UNet2DModel` folder (config.json, safetensors) as a burn network and denoiser |
//! | [`inception`], [`torchscript`] | the FID Inception-v3 network (NVIDIA's port of the 2015 TensorFlow graph) with its exact resize, read from its TorchScript file without PyTorch |
//! | [`conditioning`] | class embeddings, label dropout, classifier-free guidance |
//! | [`precond`] | parameterizations: EDM preconditioning (Karras et al. 2022, Table 1), ε, x0, v, score |
//! | [`denoiser`] | a trained network as a `Denoiser`, with batched reverse-mode Jacobians |
//! | [`objectives`], [`vlb`] | EDM, L_simple, L_vlb, hybrid, x0/μ̃ MSE (Ho et al. 2020; Nichol & Dhariwal 2021), NCSN DSM and implicit score matching (Song & Ermon 2019) |
//! | [`train`], [`ema`], [`clip`], [`checkpoint`] | the training loop (Adam/AdamW, warm-up, global-norm clipping, EMA) with crash-consistent, exactly resuming checkpoints |
//! | [`init`], [`tensor`], [`silu`], [`device`], [`bench`](mod@bench) | seeded initialization, host ↔ tensor batches, a fused SiLU, CPU/CUDA device choice, `dlab bench` |
//!
//! Everything runs on any burn `Device`; tests use the pure-Rust CPU backend
//! `Device::flex()`, with `.autodiff()` for training.
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
pub mod diffusers;
pub mod ema;
pub mod error;
pub mod inception;
pub mod init;
pub mod mlp;
pub mod net;
pub mod objectives;
pub mod precond;
pub mod silu;
pub mod tensor;
pub mod torchscript;
pub mod train;
pub mod unet;
pub mod vlb;

pub use ema::ema_update;
pub use error::ModelError;
pub use mlp::{sinusoidal_embedding, Mlp, MlpConfig, ResBlock};
pub use train::{mse, train_step, TrainBatch};
