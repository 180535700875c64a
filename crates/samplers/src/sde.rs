//! Samplers for any continuous forward process dx = f(t)x dt + g(t)dw with marginal
//! x_t = s(t)(x0 + σ(t)ε): reverse-SDE Euler–Maruyama (Anderson 1982; Song et al. 2021, eq. 6),
//! the probability-flow ODE with Euler or Heun (Song et al. 2021; Karras et al. 2022,
//! eq. 4), and the predictor–corrector sampler (Song et al. 2021, Algorithms 2–3).

use crate::edm::heun_step;
use crate::{score_from_denoised, Batch, Denoiser, Trace};
use rand::Rng;
use schedules::convert::{process_pf_ode_drift, process_reverse_sde_drift};
use schedules::Process;

/// Score of the process marginal in x-space: ∇ₓ log p_t(x) = (1/s)·(D(x/s, σ) − x/s)/σ²
/// (Tweedie/Miyasawa on the scaled-back input; Karras et al. 2022, eqs. 3–4).
pub fn marginal_score(
    denoiser: &dyn Denoiser,
    process: &dyn Process,
    x: &Batch,
    t: f64,
    trace: &mut Trace,
) -> Batch {
    let (s, sigma) = (process.s(t), process.sigma(t));
    let x_hat = x.scaled(1.0 / s);
    let denoised = trace.denoise(denoiser, &x_hat, sigma);
    score_from_denoised(&x_hat, &denoised, sigma).scaled(1.0 / s)
}

/// Reverse-time SDE drift f(t)x − g(t)²∇log p_t(x) (Anderson 1982; Song et al. 2021, eq. 6;
/// coefficients from `schedules::convert`).
fn reverse_sde_drift(process: &dyn Process, x: &Batch, score: &Batch, t: f64) -> Batch {
    let c = process_reverse_sde_drift(process, t);
    x.lincomb(c.coef_x, score, c.coef_score)
}

/// Probability-flow ODE drift f(t)x − ½g(t)²∇log p_t(x) (Song et al. 2021, eq. 13); in
/// the EDM frame it equals (ṡ/s)x − s²σ̇σ∇log p(x/s; σ) (Karras et al. 2022, eq. 4).
fn pf_ode_drift(
    denoiser: &dyn Denoiser,
    process: &dyn Process,
    x: &Batch,
    t: f64,
    trace: &mut Trace,
) -> Batch {
    let score = marginal_score(denoiser, process, x, t, trace);
    let c = process_pf_ode_drift(process, t);
    x.lincomb(c.coef_x, &score, c.coef_score)
}

/// Euler–Maruyama on the reverse-time SDE over the decreasing times `ts`:
/// x ← x + [f x − g²∇log p]Δt + g√|Δt|·z (Δt < 0). The last step adds no noise
/// (it returns the step's mean, as Song et al.'s code does).
pub fn euler_maruyama<R: Rng + ?Sized>(
    denoiser: &dyn Denoiser,
    process: &dyn Process,
    x: Batch,
    ts: &[f64],
    rng: &mut R,
    trace: &mut Trace,
) -> Batch {
    // Predictor–corrector without corrector steps is exactly Euler–Maruyama.
    predictor_corrector(denoiser, process, x, ts, 0, 0.0, rng, trace)
}

/// One Euler–Maruyama step of the reverse SDE from t to t_next < t.
#[allow(clippy::too_many_arguments)]
fn reverse_sde_step<R: Rng + ?Sized>(
    denoiser: &dyn Denoiser,
    process: &dyn Process,
    x: &Batch,
    t: f64,
    t_next: f64,
    add_noise: bool,
    rng: &mut R,
    trace: &mut Trace,
) -> Batch {
    let dt = t_next - t;
    let score = marginal_score(denoiser, process, x, t, trace);
    let mut x_next = x.lincomb(1.0, &reverse_sde_drift(process, x, &score, t), dt);
    if add_noise {
        let z = Batch::standard_normal(x.n(), x.dim(), rng);
        x_next.axpy(process.g(t) * (-dt).sqrt(), &z);
    }
    x_next
}

/// Euler's method on the probability-flow ODE over the decreasing times `ts`. NFE = N.
pub fn pf_ode_euler(
    denoiser: &dyn Denoiser,
    process: &dyn Process,
    x: Batch,
    ts: &[f64],
    trace: &mut Trace,
) -> Batch {
    let mut x = x;
    trace.push(process.sigma(ts[0]), &x);
    for w in ts.windows(2) {
        let drift = pf_ode_drift(denoiser, process, &x, w[0], trace);
        x.axpy(w[1] - w[0], &drift);
        trace.push(process.sigma(w[1]), &x);
    }
    x
}

/// Heun's method on the probability-flow ODE (Karras et al. 2022, Algorithm 1 for a
/// general s(t), σ(t)); the second evaluation is skipped where σ(t_next) = 0.
pub fn pf_ode_heun(
    denoiser: &dyn Denoiser,
    process: &dyn Process,
    x: Batch,
    ts: &[f64],
    trace: &mut Trace,
) -> Batch {
    let mut x = x;
    trace.push(process.sigma(ts[0]), &x);
    for w in ts.windows(2) {
        let (t, t_next) = (w[0], w[1]);
        let mut drift = |x: &Batch, t: f64| pf_ode_drift(denoiser, process, x, t, trace);
        x = heun_step(&mut drift, &x, t, t_next, process.sigma(t_next) == 0.0);
        trace.push(process.sigma(t_next), &x);
    }
    x
}

/// Langevin corrector step size ε = 2α(r·‖z‖/‖∇log p‖)² (Song et al. 2021, Algorithm 4
/// with α = 1), norms averaged over the batch as in their code.
pub fn langevin_step_size(snr: f64, score: &Batch, noise: &Batch) -> f64 {
    let mean_norm = |b: &Batch| {
        b.rows()
            .map(|r| r.iter().map(|v| v * v).sum::<f64>().sqrt())
            .sum::<f64>()
            / b.n() as f64
    };
    let ratio = snr * mean_norm(noise) / mean_norm(score).max(1e-300);
    2.0 * ratio * ratio
}

/// Predictor–corrector sampling (Song et al. 2021, Algorithms 2–3): before each
/// Euler–Maruyama predictor step, `corrector_steps` Langevin MCMC steps
/// x ← x + ε∇log p_t(x) + √(2ε)·z at the current t, with ε from the target `snr`.
#[allow(clippy::too_many_arguments)]
pub fn predictor_corrector<R: Rng + ?Sized>(
    denoiser: &dyn Denoiser,
    process: &dyn Process,
    x: Batch,
    ts: &[f64],
    corrector_steps: usize,
    snr: f64,
    rng: &mut R,
    trace: &mut Trace,
) -> Batch {
    let mut x = x;
    trace.push(process.sigma(ts[0]), &x);
    for (i, w) in ts.windows(2).enumerate() {
        for _ in 0..corrector_steps {
            let score = marginal_score(denoiser, process, &x, w[0], trace);
            let z = Batch::standard_normal(x.n(), x.dim(), rng);
            let eps = langevin_step_size(snr, &score, &z);
            x.axpy(eps, &score);
            x.axpy((2.0 * eps).sqrt(), &z);
        }
        x = reverse_sde_step(
            denoiser,
            process,
            &x,
            w[0],
            w[1],
            i + 2 < ts.len(),
            rng,
            trace,
        );
        trace.push(process.sigma(w[1]), &x);
    }
    x
}
