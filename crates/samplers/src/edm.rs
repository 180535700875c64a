//! The EDM samplers of Karras et al. 2022 ("Elucidating the Design Space of Diffusion-Based
//! Generative Models"), on a σ grid with s(t) = 1, σ(t) = t.

use crate::multistep::{divided_differences, ThirdOrderWeight};
use crate::{Batch, Denoiser, Trace};
use rand::Rng;

/// The PF-ODE slope dx/dσ = (x − D(x, σ))/σ (Karras et al. 2022, eq. 3 with σ(t) = t).
pub fn ode_slope(denoiser: &dyn Denoiser, x: &Batch, sigma: f64, trace: &mut Trace) -> Batch {
    let denoised = trace.denoise(denoiser, x, sigma);
    x.lincomb(1.0 / sigma, &denoised, -1.0 / sigma)
}

/// Gaussian noise N(0, σ_max² I): the initial state x_0 = σ_0·z of every EDM sampler.
pub fn initial_noise<R: Rng + ?Sized>(n: usize, d: usize, sigma_max: f64, rng: &mut R) -> Batch {
    Batch::standard_normal(n, d, rng).scaled(sigma_max)
}

/// EDM deterministic sampler with Euler steps (Karras et al. 2022, Algorithm 1 without
/// the second-order correction). NFE = N on a grid of N σ's plus the final 0.
pub fn euler(denoiser: &dyn Denoiser, x: Batch, sigmas: &[f64], trace: &mut Trace) -> Batch {
    let mut x = x;
    trace.push(sigmas[0], &x);
    for w in sigmas.windows(2) {
        let (sigma, sigma_next) = (w[0], w[1]);
        let d = ode_slope(denoiser, &x, sigma, trace);
        x.axpy(sigma_next - sigma, &d);
        trace.push(sigma_next, &x);
    }
    x
}

/// EDM deterministic sampler (Karras et al. 2022, Algorithm 1): Heun's second-order
/// method on every step but the last, which is an Euler step to σ = 0. NFE = 2N − 1.
pub fn heun(denoiser: &dyn Denoiser, x: Batch, sigmas: &[f64], trace: &mut Trace) -> Batch {
    let mut x = x;
    trace.push(sigmas[0], &x);
    for w in sigmas.windows(2) {
        x = edm_heun_step(denoiser, &x, w[0], w[1], trace);
        trace.push(w[1], &x);
    }
    x
}

/// One step of Heun's method (the explicit trapezoidal rule) for dx/dt = slope(x, t) from
/// t to t_next (Karras et al. 2022, Algorithm 1, lines 4–8, for σ(t) = t; the same step on
/// a general process's PF-ODE in `sde::pf_ode_heun`). With `euler_only` (t_next is σ = 0,
/// where the slope is undefined) the second-order correction is skipped.
pub fn heun_step(
    slope: &mut dyn FnMut(&Batch, f64) -> Batch,
    x: &Batch,
    t: f64,
    t_next: f64,
    euler_only: bool,
) -> Batch {
    let d = slope(x, t);
    let x_euler = x.lincomb(1.0, &d, t_next - t);
    if euler_only {
        return x_euler;
    }
    let d_next = slope(&x_euler, t_next);
    x.lincomb(1.0, &d.lincomb(0.5, &d_next, 0.5), t_next - t)
}

/// One step of Algorithm 1 on the EDM PF-ODE from σ to σ_next.
fn edm_heun_step(
    denoiser: &dyn Denoiser,
    x: &Batch,
    sigma: f64,
    sigma_next: f64,
    trace: &mut Trace,
) -> Batch {
    let mut slope = |x: &Batch, s: f64| ode_slope(denoiser, x, s, trace);
    heun_step(&mut slope, x, sigma, sigma_next, sigma_next == 0.0)
}

/// DPM-Solver++(2M) (Lu et al. 2022, "DPM-Solver++", Algorithm 2; k-diffusion's
/// `sample_dpmpp_2m`): a second-order multistep solver of the PF-ODE in λ = −log σ with
/// data prediction ([`dpmpp_update`]). The first step is first order (DPM-Solver++(1), the
/// DDIM step), and the step to σ = 0 returns D. NFE = N on a grid of N σ's plus the final 0.
pub fn dpmpp_2m(denoiser: &dyn Denoiser, x: Batch, sigmas: &[f64], trace: &mut Trace) -> Batch {
    dpmpp_multistep(denoiser, x, sigmas, 2, ThirdOrderWeight::Taylor, trace)
}

/// DPM-Solver++(3M): the third-order multistep solver of Lu et al. 2022 ("DPM-Solver++",
/// §3 and Appendix B) ([`dpmpp_update`]) with the weight `weight` of its D2 term; the first
/// two steps are of first and second order, the step to σ = 0 returns D. NFE = N.
pub fn dpmpp_3m(
    denoiser: &dyn Denoiser,
    x: Batch,
    sigmas: &[f64],
    weight: ThirdOrderWeight,
    trace: &mut Trace,
) -> Batch {
    dpmpp_multistep(denoiser, x, sigmas, 3, weight, trace)
}

/// DPM-Solver++(2S) (Lu et al. 2022, "DPM-Solver++", Algorithm 1 with r = ½; k-diffusion's
/// `sample_dpmpp_2s_ancestral` at η = 0): a single-step second-order solver in λ = −log σ.
/// Each step evaluates D at σ and at the midpoint σ_s = √(σ·σ_next) in λ:
/// u = (σ_s/σ)x − (e^{−h/2} − 1)D(x, σ), x ← (σ_next/σ)x − (e^{−h} − 1)D(u, σ_s). The
/// step to σ = 0 returns D. NFE = 2N − 1 on a grid of N σ's plus the final 0.
pub fn dpmpp_2s(denoiser: &dyn Denoiser, x: Batch, sigmas: &[f64], trace: &mut Trace) -> Batch {
    let mut x = x;
    trace.push(sigmas[0], &x);
    for w in sigmas.windows(2) {
        let (sigma, sigma_next) = (w[0], w[1]);
        let denoised = trace.denoise(denoiser, &x, sigma);
        if sigma_next == 0.0 {
            x = denoised;
        } else {
            let h = sigma.ln() - sigma_next.ln();
            let sigma_mid = (sigma * sigma_next).sqrt();
            let u = x.lincomb(sigma_mid / sigma, &denoised, -(-h / 2.0).exp_m1());
            let denoised_mid = trace.denoise(denoiser, &u, sigma_mid);
            x = x.lincomb(sigma_next / sigma, &denoised_mid, -(-h).exp_m1());
        }
        trace.push(sigma_next, &x);
    }
    x
}

/// The DPM-Solver++ multistep loop up to `order` (2 or 3): each step uses the data
/// predictions of up to `order − 1` earlier steps.
fn dpmpp_multistep(
    denoiser: &dyn Denoiser,
    x: Batch,
    sigmas: &[f64],
    order: usize,
    weight: ThirdOrderWeight,
    trace: &mut Trace,
) -> Batch {
    let mut x = x;
    trace.push(sigmas[0], &x);
    // Earlier data predictions with the step h that followed each, oldest first.
    let mut history: Vec<(Batch, f64)> = Vec::new();
    for w in sigmas.windows(2) {
        let (sigma, sigma_next) = (w[0], w[1]);
        let denoised = trace.denoise(denoiser, &x, sigma);
        if sigma_next == 0.0 {
            x = denoised;
            trace.push(sigma_next, &x);
            break;
        }
        let h = sigma.ln() - sigma_next.ln();
        x = dpmpp_update(&x, sigma_next / sigma, h, &denoised, &history, weight);
        history.push((denoised, h));
        if history.len() >= order {
            history.remove(0);
        }
        trace.push(sigma_next, &x);
    }
    x
}

/// One DPM-Solver++ step of order 1 + `history.len()` (Lu et al. 2022, §3: the exact solution
/// x_{i+1} = (σ_{i+1}/σ_i)x_i + σ_{i+1}∫e^λ D dλ in λ = −log σ, with D expanded in λ), with
/// h = λ_{i+1} − λ_i, e = e^{−h} − 1 and `ratio` = σ_{i+1}/σ_i:
/// - order 1: x ← ratio·x − e·D_i;
/// - order 2 (Algorithm 2), r = h_{i−1}/h: D′ = (1 + 1/(2r))D_i − D_{i−1}/(2r), x ← ratio·x − e·D′;
/// - order 3, r0 = h_{i−1}/h, r1 = h_{i−2}/h: D1 ≈ h·D′ and D2 ≈ h²D″/2 from
///   [`divided_differences`], and x ← ratio·x − e·D_i + (e/h + 1)·D1 + w·D2, where the Taylor
///   weight w = 1 − 2(e + h)/h² is ∫₀ʰ e^{u−h}u² du/h² (third order) and Lu et al.'s
///   reference code, diffusers and k-diffusion use half of it ([`ThirdOrderWeight`]).
fn dpmpp_update(
    x: &Batch,
    ratio: f64,
    h: f64,
    denoised: &Batch,
    history: &[(Batch, f64)],
    weight: ThirdOrderWeight,
) -> Batch {
    let e = (-h).exp_m1();
    match history {
        [] => x.lincomb(ratio, denoised, -e),
        [(d1, h1)] => {
            let r = h1 / h;
            let target = denoised.lincomb(1.0 + 1.0 / (2.0 * r), d1, -1.0 / (2.0 * r));
            x.lincomb(ratio, &target, -e)
        }
        [(d2, h2), (d1, h1)] => {
            let (first, second) = divided_differences(denoised, d1, d2, h1 / h, h2 / h);
            x.lincomb(ratio, denoised, -e)
                .lincomb(1.0, &first, e / h + 1.0)
                .lincomb(
                    1.0,
                    &second,
                    weight.factor() * (1.0 - 2.0 * (e + h) / (h * h)),
                )
        }
        _ => unreachable!("DPM-Solver++ keeps at most two earlier predictions"),
    }
}

/// (σ_down, σ_up) of an ancestral step from σ to σ_next < σ with η ∈ [0, 1]:
/// σ_up = min(σ_next, η·√(σ_next²(σ² − σ_next²)/σ²)), σ_down = √(σ_next² − σ_up²)
/// (k-diffusion's `get_ancestral_step`; η = 1 is the DDPM posterior's noise, Ho et al. 2020).
pub fn ancestral_step(sigma: f64, sigma_next: f64, eta: f64) -> (f64, f64) {
    if sigma_next == 0.0 {
        return (0.0, 0.0);
    }
    let up = (eta
        * (sigma_next * sigma_next * (sigma * sigma - sigma_next * sigma_next) / (sigma * sigma))
            .sqrt())
    .min(sigma_next);
    ((sigma_next * sigma_next - up * up).sqrt(), up)
}

/// Euler ancestral (k-diffusion's `sample_euler_ancestral`): an Euler step of the PF-ODE to
/// σ_down, then fresh noise of standard deviation σ_up ([`ancestral_step`]); η = 0 is the
/// Euler sampler. NFE = N.
pub fn euler_ancestral<R: Rng + ?Sized>(
    denoiser: &dyn Denoiser,
    x: Batch,
    sigmas: &[f64],
    eta: f64,
    rng: &mut R,
    trace: &mut Trace,
) -> Batch {
    let mut x = x;
    trace.push(sigmas[0], &x);
    for w in sigmas.windows(2) {
        let (sigma, sigma_next) = (w[0], w[1]);
        let (down, up) = ancestral_step(sigma, sigma_next, eta);
        let d = ode_slope(denoiser, &x, sigma, trace);
        x.axpy(down - sigma, &d);
        if up > 0.0 {
            x.axpy(up, &Batch::standard_normal(x.n(), x.dim(), rng));
        }
        trace.push(sigma_next, &x);
    }
    x
}

/// The stochasticity parameters of Karras et al. 2022, Algorithm 2.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Churn {
    /// S_churn: total amount of added noise, spread over the steps.
    pub s_churn: f64,
    /// S_tmin: churn only where σ ≥ S_tmin.
    pub s_min: f64,
    /// S_tmax: churn only where σ ≤ S_tmax.
    pub s_max: f64,
    /// S_noise: inflation of the added noise's standard deviation.
    pub s_noise: f64,
}

impl Default for Churn {
    /// No churn: Algorithm 2 then reduces to Algorithm 1.
    fn default() -> Self {
        Self {
            s_churn: 0.0,
            s_min: 0.0,
            s_max: f64::INFINITY,
            s_noise: 1.0,
        }
    }
}

/// γ_i = min(S_churn/N, √2 − 1) where S_tmin ≤ σ_i ≤ S_tmax, else 0 (Algorithm 2, line 4).
pub fn churn_gamma(churn: &Churn, sigma: f64, n_steps: usize) -> f64 {
    if churn.s_min <= sigma && sigma <= churn.s_max {
        (churn.s_churn / n_steps as f64).min(std::f64::consts::SQRT_2 - 1.0)
    } else {
        0.0
    }
}

/// EDM stochastic sampler (Karras et al. 2022, Algorithm 2): raise the noise level to
/// σ̂ = σ_i(1 + γ_i) by adding fresh noise, then take a Heun step from σ̂ to σ_{i+1}.
pub fn stochastic<R: Rng + ?Sized>(
    denoiser: &dyn Denoiser,
    x: Batch,
    sigmas: &[f64],
    churn: &Churn,
    rng: &mut R,
    trace: &mut Trace,
) -> Batch {
    let n_steps = sigmas.len() - 1;
    let mut x = x;
    trace.push(sigmas[0], &x);
    for w in sigmas.windows(2) {
        let (sigma, sigma_next) = (w[0], w[1]);
        let sigma_hat = sigma * (1.0 + churn_gamma(churn, sigma, n_steps));
        if sigma_hat > sigma {
            let z = Batch::standard_normal(x.n(), x.dim(), rng);
            x.axpy(
                (sigma_hat * sigma_hat - sigma * sigma).sqrt() * churn.s_noise,
                &z,
            );
        }
        x = edm_heun_step(denoiser, &x, sigma_hat, sigma_next, trace);
        trace.push(sigma_next, &x);
    }
    x
}
