//! The network under training as seen by the objectives: F on host inputs, and the
//! row-wise affine maps `offset + scale·F` every loss residual reduces to.

use burn::tensor::{Device, Int, Tensor, TensorData};
use samplers::Batch;

use crate::net::Net;
use crate::precond::{Parameterization, Precond};
use crate::tensor::{batch_to_tensor, vec_to_tensor};

/// A network with its parameterization, optional class labels (row i uses
/// `labels[i % labels.len()]`) and the device its parameters live on.
#[derive(Clone, Copy, Debug)]
pub struct Model<'a> {
    pub net: &'a Net,
    pub param: Parameterization,
    pub labels: Option<&'a [u32]>,
    pub device: &'a Device,
}

impl<'a> Model<'a> {
    pub fn new(net: &'a Net, param: Parameterization, device: &'a Device) -> Self {
        Self {
            net,
            param,
            labels: None,
            device,
        }
    }

    pub fn with_labels(self, labels: Option<&'a [u32]>) -> Self {
        Self { labels, ..self }
    }

    /// The raw output F(input, c_noise) `[n, d]` for host rows `input` (already scaled by c_in).
    pub fn raw(&self, input: &Batch, c_noise: &[f64]) -> Tensor<2> {
        let labels = self.labels.filter(|l| !l.is_empty()).map(|l| {
            let values: Vec<i64> = (0..input.n()).map(|i| i64::from(l[i % l.len()])).collect();
            Tensor::<1, Int>::from_data(TensorData::new(values, [input.n()]), self.device)
        });
        self.net.forward(
            batch_to_tensor(input, self.device),
            vec_to_tensor(c_noise, self.device),
            labels,
        )
    }

    /// The preconditioning coefficients of every row's σ.
    pub fn precond(&self, sigma: &[f64]) -> Vec<Precond> {
        sigma.iter().map(|&s| self.param.precond(s)).collect()
    }

    /// F(c_in(σ_i)·x̂_i, c_noise(σ_i)) for rows x̂_i at their own σ_i (EDM Table 1).
    pub fn output_at(&self, x_hat: &Batch, sigma: &[f64]) -> Tensor<2> {
        let p = self.precond(sigma);
        let c_in: Vec<f64> = p.iter().map(|p| p.c_in).collect();
        let c_noise: Vec<f64> = p.iter().map(|p| p.c_noise).collect();
        self.raw(&scale_rows(x_hat, &c_in), &c_noise)
    }
}

/// x̂ = x0 + σ_i·ε row-wise (the EDM-frame noisy input).
pub fn noisy(x0: &Batch, sigma: &[f64], eps: &Batch) -> Batch {
    row_lincomb(x0, &vec![1.0; x0.n()], eps, sigma)
}

/// Row i of `b` times `s[i]`.
pub(crate) fn scale_rows(b: &Batch, s: &[f64]) -> Batch {
    row_lincomb(b, s, b, &vec![0.0; b.n()])
}

/// Row-wise `a_i·x_i + b_i·y_i`.
pub(crate) fn row_lincomb(x: &Batch, a: &[f64], y: &Batch, b: &[f64]) -> Batch {
    assert_eq!(
        (x.n(), x.dim()),
        (y.n(), y.dim()),
        "row_lincomb: shapes differ"
    );
    assert!(
        a.len() == x.n() && b.len() == x.n(),
        "row_lincomb: one coefficient per row"
    );
    let d = x.dim();
    let data = (0..x.n() * d)
        .map(|k| a[k / d] * x.as_slice()[k] + b[k / d] * y.as_slice()[k])
        .collect();
    Batch::from_vec(x.n(), d, data).expect("same shape as x")
}

/// A host column `[n, 1]` on `device` (per-row coefficients that broadcast over d).
pub(crate) fn column(values: &[f64], device: &Device) -> Tensor<2> {
    vec_to_tensor(values, device).unsqueeze_dim::<2>(1)
}

/// `offset + scale_i·F`: every residual below is affine in the network output.
pub(crate) fn affine(
    offset: &Batch,
    scale: &[f64],
    output: Tensor<2>,
    device: &Device,
) -> Tensor<2> {
    batch_to_tensor(offset, device) + column(scale, device) * output
}
