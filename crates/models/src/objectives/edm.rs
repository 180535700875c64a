//! The EDM training loss (Karras et al. 2022, §5 and Table 1; NVlabs/edm `training/loss.py`,
//! `EDMLoss`).

use burn::tensor::Tensor;
use samplers::rng::HostRng;
use samplers::Batch;

use super::model::{affine, column, noisy, row_lincomb, Model};

/// λ(σ) = (σ² + σ_d²)/(σ·σ_d)², the EDM loss weight (Karras et al. 2022, Table 1), which makes
/// the effective target of F unit-variance at every σ.
pub fn edm_weight(sigma: f64, sigma_data: f64) -> f64 {
    (sigma * sigma + sigma_data * sigma_data) / (sigma * sigma_data).powi(2)
}

/// n draws σ = exp(P_mean + P_std·z), z ~ N(0, 1) (Karras et al. 2022, Table 1: ln σ ~ N(P_mean, P_std²)).
pub fn log_normal_sigmas(n: usize, p_mean: f64, p_std: f64, rng: &mut HostRng) -> Vec<f64> {
    Batch::standard_normal(n, 1, rng)
        .as_slice()
        .iter()
        .map(|z| (p_mean + p_std * z).exp())
        .collect()
}

/// The EDM loss at drawn σ_i and ε: mean over the n·d elements of λ(σ_i)·(D(x0 + σ_i ε; σ_i) − x0)²
/// (Karras et al. 2022, eq. 8 with Table 1's λ; NVlabs/edm `EDMLoss.__call__`).
pub fn edm_loss_at(
    model: &Model,
    x0: &Batch,
    sigma: &[f64],
    eps: &Batch,
    sigma_data: f64,
) -> Tensor<1> {
    let x_hat = noisy(x0, sigma, eps);
    let p = model.precond(sigma);
    let c_skip: Vec<f64> = p.iter().map(|p| p.c_skip).collect();
    let c_out: Vec<f64> = p.iter().map(|p| p.c_out).collect();
    // D − x0 = (c_skip·x̂ − x0) + c_out·F
    let offset = row_lincomb(&x_hat, &c_skip, x0, &vec![-1.0; x0.n()]);
    let residual = affine(
        &offset,
        &c_out,
        model.output_at(&x_hat, sigma),
        model.device,
    );
    let lambda: Vec<f64> = sigma.iter().map(|&s| edm_weight(s, sigma_data)).collect();
    (column(&lambda, model.device) * residual.square()).mean()
}

/// The EDM loss with ln σ ~ N(P_mean, P_std²) (defaults −1.2, 1.2) and ε ~ N(0, I) drawn from
/// `rng` (σ first, then ε, as in NVlabs/edm `EDMLoss`).
pub fn edm_loss(
    model: &Model,
    x0: &Batch,
    p_mean: f64,
    p_std: f64,
    sigma_data: f64,
    rng: &mut HostRng,
) -> Tensor<1> {
    let sigma = log_normal_sigmas(x0.n(), p_mean, p_std, rng);
    let eps = Batch::standard_normal(x0.n(), x0.dim(), rng);
    edm_loss_at(model, x0, &sigma, &eps, sigma_data)
}
