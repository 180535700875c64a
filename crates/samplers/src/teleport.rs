//! Analytic teleport start (Wang & Vastola 2023, "The Hidden Linear Structure in
//! Score-Based Models and its Application", arXiv:2311.10892).

use crate::{Batch, PfOdeSolution, SamplerError};

/// Skips the first `skip` steps of a σ grid: transports the initial state from σ_0 to
/// σ_K with a closed-form PF-ODE solution (the Gaussian fitted to the training set) and
/// returns it with the tail of the same grid, (σ_K, …, σ_{N−1}, 0), on which any sampler
/// continues. With Heun on the tail, NFE = 2(N − K) − 1.
pub fn teleport<'a>(
    solution: &dyn PfOdeSolution,
    x: &Batch,
    sigmas: &'a [f64],
    skip: usize,
) -> Result<(Batch, &'a [f64]), SamplerError> {
    let steps = sigmas.len().saturating_sub(1);
    if skip >= steps {
        return Err(SamplerError::invalid(
            "skip",
            skip,
            format!("must be < steps = {steps}"),
        ));
    }
    if skip == 0 {
        return Ok((x.clone(), sigmas));
    }
    Ok((
        solution.transport(x, sigmas[0], sigmas[skip]),
        &sigmas[skip..],
    ))
}
