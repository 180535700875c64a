//! Score matching: denoising score matching over an NCSN noise ladder (Song & Ermon 2019,
//! §4.2) and Hyvärinen's implicit score matching (Hyvärinen 2005, Theorem 1) with the
//! finite-difference Hutchinson trace of Pang et al. 2020 ("Efficient learning of generative
//! models via finite-difference score matching"). burn has no second-order autodiff, so the
//! trace of ∇s is taken by central differences along random probes.
//!
//! The model's score at σ is s(x̃) = (D(x̃; σ) − x̃)/σ² (Tweedie), affine in F:
//! s = ((c_skip − 1)/σ²)·x̃ + (c_out/σ²)·F(c_in·x̃, c_noise).

use burn::tensor::Tensor;
use rand::Rng;
use samplers::rng::HostRng;
use samplers::Batch;
use serde::{Deserialize, Serialize};

use super::model::{affine, noisy, row_lincomb, scale_rows, Model};

/// Distribution of the Hutchinson probes v (E\[vvᵀ\] = I for both).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Probe {
    /// v_j = ±1 with probability ½ (lowest-variance Hutchinson estimator).
    #[default]
    Rademacher,
    /// v ~ N(0, I).
    Gaussian,
}

/// The geometric ladder σ_1 = σ_max > … > σ_L = σ_min (Song & Ermon 2019, §4.2): σ_i =
/// σ_max·(σ_min/σ_max)^{(i−1)/(L−1)}; `[σ_max]` when L = 1.
pub fn geometric_ladder(sigma_min: f64, sigma_max: f64, levels: usize) -> Vec<f64> {
    if levels <= 1 {
        return vec![sigma_max; levels];
    }
    let ratio = sigma_min / sigma_max;
    (0..levels)
        .map(|i| sigma_max * ratio.powf(i as f64 / (levels - 1) as f64))
        .collect()
}

/// NCSN denoising score matching at drawn per-row σ_i and z: the batch mean of
/// ½λ(σ)‖s_θ(x̃; σ) + (x̃ − x)/σ²‖², λ(σ) = σ², x̃ = x + σz (Song & Ermon 2019, eq. 5–6 and
/// `anneal_dsm_score_estimation`: summed over dimensions, averaged over the batch).
pub fn ncsn_dsm_at(model: &Model, x0: &Batch, sigma: &[f64], z: &Batch) -> Tensor<1> {
    let x_tilde = noisy(x0, sigma, z);
    let p = model.precond(sigma);
    // σ·s + z = ((c_skip − 1)/σ·x̃ + z) + (c_out/σ)·F
    let a: Vec<f64> = p
        .iter()
        .zip(sigma)
        .map(|(p, s)| (p.c_skip - 1.0) / s)
        .collect();
    let b: Vec<f64> = p.iter().zip(sigma).map(|(p, s)| p.c_out / s).collect();
    let offset = row_lincomb(&x_tilde, &a, z, &vec![1.0; z.n()]);
    let residual = affine(&offset, &b, model.output_at(&x_tilde, sigma), model.device);
    residual.square().sum().mul_scalar(0.5 / x0.n() as f64)
}

/// NCSN DSM with σ uniform over the `ladder` and z ~ N(0, I) (Song & Ermon 2019, §4.2).
pub fn ncsn_dsm(model: &Model, x0: &Batch, ladder: &[f64], rng: &mut HostRng) -> Tensor<1> {
    let sigma: Vec<f64> = (0..x0.n())
        .map(|_| ladder[rng.random_range(0..ladder.len())])
        .collect();
    let z = Batch::standard_normal(x0.n(), x0.dim(), rng);
    ncsn_dsm_at(model, x0, &sigma, &z)
}

/// `count` probe batches of shape n×d.
pub fn draw_probes(
    n: usize,
    d: usize,
    count: usize,
    probe: Probe,
    rng: &mut HostRng,
) -> Vec<Batch> {
    (0..count)
        .map(|_| match probe {
            Probe::Gaussian => Batch::standard_normal(n, d, rng),
            Probe::Rademacher => {
                let v = (0..n * d)
                    .map(|_| if rng.random::<bool>() { 1.0 } else { -1.0 })
                    .collect();
                Batch::from_vec(n, d, v).expect("n·d values")
            }
        })
        .collect()
}

/// Per-row tr ∇s(x) ≈ (1/K)Σ_k v_kᵀ(s(x + εv_k) − s(x − εv_k))/(2ε) over the given probes
/// (Pang et al. 2020, eq. 7: central differences in a Hutchinson estimator; exact in
/// expectation for linear s).
pub fn fd_hutchinson_trace_with(
    score_fn: impl Fn(&Batch) -> Batch,
    x: &Batch,
    eps: f64,
    probes: &[Batch],
) -> Vec<f64> {
    let mut trace = vec![0.0; x.n()];
    for v in probes {
        let diff = score_fn(&x.lincomb(1.0, v, eps)).lincomb(
            1.0,
            &score_fn(&x.lincomb(1.0, v, -eps)),
            -1.0,
        );
        for (i, tr) in trace.iter_mut().enumerate() {
            let dot: f64 = v.row(i).iter().zip(diff.row(i)).map(|(a, b)| a * b).sum();
            *tr += dot / (2.0 * eps * probes.len() as f64);
        }
    }
    trace
}

/// [`fd_hutchinson_trace_with`] on `probes` fresh probes drawn from `rng`.
pub fn fd_hutchinson_trace(
    score_fn: impl Fn(&Batch) -> Batch,
    x: &Batch,
    eps: f64,
    probes: usize,
    probe: Probe,
    rng: &mut HostRng,
) -> Vec<f64> {
    let v = draw_probes(x.n(), x.dim(), probes, probe, rng);
    fd_hutchinson_trace_with(score_fn, x, eps, &v)
}

/// Hyvärinen's objective E[tr ∇s(x) + ½‖s(x)‖²] on host rows x (Hyvärinen 2005, Theorem 1), the
/// trace by [`fd_hutchinson_trace_with`]. Equals ½E‖s − ∇log p‖² up to a constant.
pub fn implicit_score_matching_host(
    score_fn: impl Fn(&Batch) -> Batch,
    x: &Batch,
    fd_eps: f64,
    probes: &[Batch],
) -> f64 {
    let trace = fd_hutchinson_trace_with(&score_fn, x, fd_eps, probes);
    let s = score_fn(x);
    let per_row = trace
        .iter()
        .zip(s.rows())
        .map(|(tr, s)| tr + 0.5 * s.iter().map(|v| v * v).sum::<f64>());
    per_row.sum::<f64>() / x.n() as f64
}

/// Host DSM at one σ: mean over rows of ½σ²‖s(x0 + σz) + z/σ‖² (Song & Ermon 2019, eq. 5).
pub fn denoising_score_matching_host(
    score_fn: impl Fn(&Batch) -> Batch,
    x0: &Batch,
    sigma: f64,
    z: &Batch,
) -> f64 {
    let s = score_fn(&x0.lincomb(1.0, z, sigma));
    0.5 * sigma * sigma * s.lincomb(1.0, z, 1.0 / sigma).squared_norm() / x0.n() as f64
}

/// Implicit score matching of the model's score at σ on noisy rows x̃, with given probes:
/// batch mean of tr_FD ∇s(x̃) + ½‖s(x̃)‖² (Hyvärinen 2005, Theorem 1; Pang et al. 2020). One
/// forward pass over [x̃; x̃ + εv_1; x̃ − εv_1; …]; with s = a·y + b·F the trace term is
/// a‖v‖² + b·vᵀ(F₊ − F₋)/(2ε).
pub fn implicit_score_matching_at(
    model: &Model,
    x_noisy: &Batch,
    sigma: f64,
    fd_eps: f64,
    probes: &[Batch],
) -> Tensor<1> {
    let (n, k) = (x_noisy.n(), probes.len());
    let p = model.param.precond(sigma);
    let (a, b) = (
        (p.c_skip - 1.0) / (sigma * sigma),
        p.c_out / (sigma * sigma),
    );
    let mut parts = vec![x_noisy.clone()];
    for v in probes {
        parts.push(x_noisy.lincomb(1.0, v, fd_eps));
        parts.push(x_noisy.lincomb(1.0, v, -fd_eps));
    }
    let inputs = Batch::concat(&parts).expect("equal dimensions");
    let rows = inputs.n();
    let f = model.raw(
        &scale_rows(&inputs, &vec![p.c_in; rows]),
        &vec![p.c_noise; rows],
    );
    let s0 = affine(
        &x_noisy.scaled(a),
        &vec![b; n],
        f.clone().narrow(0, 0, n),
        model.device,
    );
    let mut per_row = s0.square().sum_dim(1).mul_scalar(0.5); // [n, 1]
    for (j, v) in probes.iter().enumerate() {
        let f_plus = f.clone().narrow(0, n * (1 + 2 * j), n);
        let f_minus = f.clone().narrow(0, n * (2 + 2 * j), n);
        let v_norm2: Vec<f64> = v
            .rows()
            .map(|r| a * r.iter().map(|x| x * x).sum::<f64>() / k as f64)
            .collect();
        let dot = (crate::tensor::batch_to_tensor(v, model.device) * (f_plus - f_minus)).sum_dim(1);
        per_row = per_row
            + dot.mul_scalar(b / (2.0 * fd_eps * k as f64))
            + super::model::column(&v_norm2, model.device);
    }
    per_row.mean()
}

/// Implicit score matching at σ: x̃ = x0 + σz and `probes` probes of kind `probe` drawn from
/// `rng`, then [`implicit_score_matching_at`].
pub fn implicit_score_matching(
    model: &Model,
    x0: &Batch,
    sigma: f64,
    fd_eps: f64,
    probes: usize,
    probe: Probe,
    rng: &mut HostRng,
) -> Tensor<1> {
    let z = Batch::standard_normal(x0.n(), x0.dim(), rng);
    let x_noisy = x0.lincomb(1.0, &z, sigma);
    let v = draw_probes(x0.n(), x0.dim(), probes, probe, rng);
    implicit_score_matching_at(model, &x_noisy, sigma, fd_eps, &v)
}
