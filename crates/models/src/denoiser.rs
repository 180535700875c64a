//! A trained network as a [`samplers::Denoiser`]: the parameterization turns its raw output
//! into D(x̂; σ), so every sampler and metric runs on it unchanged.

use burn::tensor::{Device, Int, Tensor, TensorData};
use samplers::{Batch, Denoiser};

use crate::net::Net;
use crate::precond::Parameterization;
use crate::tensor::{batch_to_tensor, tensor_to_batch, vec_to_tensor};

/// Class labels for conditional sampling with classifier-free guidance.
#[derive(Clone, Debug, PartialEq)]
pub struct Guidance {
    /// Row i of a batch is generated with class `labels[i % labels.len()]`.
    pub labels: Vec<u32>,
    /// The null (unconditional) class index, `num_classes`.
    pub null_class: u32,
    /// Guidance weight w: D = D_∅ + w·(D_y − D_∅); w = 1 is plain conditional sampling.
    pub weight: f64,
}

/// A network with its parameterization, evaluated without autodiff on `device`.
pub struct NetworkDenoiser {
    net: Net,
    param: Parameterization,
    device: Device,
    dim: usize,
    guidance: Option<Guidance>,
    /// Rows per forward pass (bounds device memory on large batches).
    chunk: usize,
}

impl NetworkDenoiser {
    /// Wraps `net` (moved to inference mode) for data of dimension `dim`.
    pub fn new(net: Net, param: Parameterization, dim: usize, device: Device) -> Self {
        Self {
            net,
            param,
            device,
            dim,
            guidance: None,
            chunk: 4096,
        }
    }

    /// Conditional sampling with classifier-free guidance (seed 001's conditional score).
    pub fn with_guidance(mut self, guidance: Guidance) -> Self {
        self.guidance = Some(guidance);
        self
    }

    pub fn with_chunk(mut self, chunk: usize) -> Self {
        self.chunk = chunk.max(1);
        self
    }

    pub fn net(&self) -> &Net {
        &self.net
    }

    pub fn parameterization(&self) -> Parameterization {
        self.param
    }

    /// The raw network output F(c_in·x̂, c_noise) for rows `x` with optional labels.
    fn raw(&self, x: &Batch, sigma: f64, labels: Option<&[u32]>) -> Batch {
        let p = self.param.precond(sigma);
        let input = batch_to_tensor(&x.scaled(p.c_in), &self.device);
        let c_noise = vec_to_tensor(&vec![p.c_noise; x.n()], &self.device);
        let labels = labels.map(|l| {
            let values: Vec<i64> = l.iter().map(|&v| i64::from(v)).collect();
            Tensor::<1, Int>::from_data(TensorData::new(values, [l.len()]), &self.device)
        });
        tensor_to_batch(self.net.forward(input, c_noise, labels))
    }

    /// D for one chunk of rows starting at row `offset` of the caller's batch.
    fn denoise_chunk(&self, x: &Batch, sigma: f64, offset: usize) -> Batch {
        let Some(g) = &self.guidance else {
            return self.param.denoised(x, &self.raw(x, sigma, None), sigma);
        };
        let labels: Vec<u32> = (0..x.n())
            .map(|i| g.labels[(offset + i) % g.labels.len()])
            .collect();
        let cond = self
            .param
            .denoised(x, &self.raw(x, sigma, Some(&labels)), sigma);
        if g.weight == 1.0 {
            return cond;
        }
        let null = vec![g.null_class; x.n()];
        let uncond = self
            .param
            .denoised(x, &self.raw(x, sigma, Some(&null)), sigma);
        uncond.lincomb(1.0 - g.weight, &cond, g.weight)
    }
}

impl Denoiser for NetworkDenoiser {
    fn dim(&self) -> usize {
        self.dim
    }

    fn denoise(&self, x: &Batch, sigma: f64) -> Batch {
        if x.n() <= self.chunk {
            return self.denoise_chunk(x, sigma, 0);
        }
        let parts: Vec<Batch> = (0..x.n())
            .step_by(self.chunk)
            .map(|start| {
                let end = (start + self.chunk).min(x.n());
                self.denoise_chunk(&x.slice_rows(start, end), sigma, start)
            })
            .collect();
        Batch::concat(&parts).expect("chunks share the dimension")
    }

    fn name(&self) -> String {
        format!("network({})", self.param.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mlp::MlpConfig;
    use samplers::rng::seeded;

    #[test]
    fn denoiser_applies_the_parameterization_and_chunks_consistently() {
        let device = Device::flex();
        let net = Net::Mlp(
            MlpConfig::new(3, 16, 1, 8)
                .unwrap()
                .init(&mut seeded(1), &device),
        );
        let x = Batch::standard_normal(10, 3, &mut seeded(2));
        for param in [Parameterization::Eps, Parameterization::default()] {
            let d = NetworkDenoiser::new(net.clone(), param, 3, device.clone());
            let whole = d.denoise(&x, 0.8);
            let chunked = NetworkDenoiser::new(net.clone(), param, 3, device.clone())
                .with_chunk(3)
                .denoise(&x, 0.8);
            assert!(whole.max_abs_diff(&chunked) < 1e-6);
            // D = c_skip·x + c_out·F(c_in·x, c_noise) by hand from the raw output.
            let p = param.precond(0.8);
            let raw = d.raw(&x, 0.8, None);
            assert!(whole.max_abs_diff(&x.lincomb(p.c_skip, &raw, p.c_out)) < 1e-12);
        }
    }
}
