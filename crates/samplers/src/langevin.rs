//! Annealed Langevin dynamics (Song & Ermon 2019, §4.3, Algorithm 1).

use crate::{score_from_denoised, Batch, Denoiser, Trace};
use rand::Rng;

/// Annealed Langevin dynamics over the noise ladder `sigmas`, given largest first
/// (Song & Ermon's σ_1 > … > σ_L; their Algorithm 1 anneals from the largest): for each
/// level, α_i = ε·σ_i²/σ_L², then `steps_per_level` times x ← x + (α_i/2)·s(x, σ_i) + √α_i·z.
/// With `denoise_final`, the result is D(x, σ_L) (the final denoising step of
/// Jolicoeur-Martineau et al. 2021).
#[allow(clippy::too_many_arguments)]
pub fn annealed_langevin<R: Rng + ?Sized>(
    denoiser: &dyn Denoiser,
    x: Batch,
    sigmas: &[f64],
    epsilon: f64,
    steps_per_level: usize,
    denoise_final: bool,
    rng: &mut R,
    trace: &mut Trace,
) -> Batch {
    let sigma_last = *sigmas.last().expect("non-empty noise ladder");
    let mut x = x;
    trace.push(sigmas[0], &x);
    for &sigma in sigmas {
        let alpha = epsilon * sigma * sigma / (sigma_last * sigma_last);
        for _ in 0..steps_per_level {
            let denoised = trace.denoise(denoiser, &x, sigma);
            let score = score_from_denoised(&x, &denoised, sigma);
            let z = Batch::standard_normal(x.n(), x.dim(), rng);
            x.axpy(0.5 * alpha, &score);
            x.axpy(alpha.sqrt(), &z);
        }
        trace.push(sigma, &x);
    }
    if denoise_final {
        x = trace.denoise(denoiser, &x, sigma_last);
        trace.push(0.0, &x);
    }
    x
}
