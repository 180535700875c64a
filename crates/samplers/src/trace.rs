//! Bookkeeping shared by every sampler: denoiser evaluations and the optional trajectory.

use crate::{Batch, Denoiser};

/// Counts network function evaluations (NFE) and, when asked, keeps the trajectory.
#[derive(Debug, Default, Clone)]
pub struct Trace {
    /// Denoiser calls so far (one per batch call, as in the papers' NFE).
    pub nfe: usize,
    /// Keep `(σ, x)` after every step when true.
    pub record: bool,
    /// The recorded states, in sampling order, starting with the initial state.
    pub states: Vec<(f64, Batch)>,
}

impl Trace {
    /// A trace that counts NFE only.
    pub fn new() -> Self {
        Self::default()
    }

    /// A trace that also records the trajectory.
    pub fn recording() -> Self {
        Self {
            record: true,
            ..Self::default()
        }
    }

    /// Calls the denoiser and counts the evaluation.
    pub fn denoise(&mut self, denoiser: &dyn Denoiser, x: &Batch, sigma: f64) -> Batch {
        self.nfe += 1;
        denoiser.denoise(x, sigma)
    }

    /// Records a state when recording is on.
    pub fn push(&mut self, sigma: f64, x: &Batch) {
        if self.record {
            self.states.push((sigma, x.clone()));
        }
    }
}
