//! Neural denoisers for the diffusion workspace (burn): architectures, parameterizations
//! (ε, x0, v, score, EDM preconditioning) wrapped as [`samplers::Denoiser`], training
//! objectives and the training loop.
//!
//! Not written yet: the "Neural denoisers and training with burn" issue fills this crate.
//! It exists now so the dependency graph is fixed: `models` depends on `samplers` and
//! `schedules`, and nothing but `runner` depends on `models`.
