//! Everything a cell needs before it can measure, built once and shared: the cell's data,
//! its denoiser, networks and fits (cached on disk), feature networks.
//!
//! Two layers keep this safe when cells run in parallel and several processes share one
//! `results/cache`:
//! - [`memo`]: a value is computed once per process; other threads asking for the same
//!   key wait for it.
//! - [`cache`]: an on-disk entry is built by one builder under an advisory lock, in a
//!   private directory renamed into place, so it appears complete or not at all.

pub mod cache;
pub mod context;
pub mod features;
pub mod imported;
pub mod inception;
pub mod memo;
pub mod network;
