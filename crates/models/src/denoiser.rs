//! A trained network as a [`samplers::Denoiser`]: the parameterization turns its raw output
//! into D(x̂; σ), so every sampler and metric runs on it unchanged.

use burn::tensor::{Device, Int, Tensor, TensorData};
use samplers::{Batch, Denoiser};

use crate::net::Net;
use crate::precond::Parameterization;
use crate::tensor::{batch_to_tensor, tensor_to_batch, vec_to_tensor};
use schedules::DdpmSchedule;

mod jacobian;

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
    /// μ̃-prediction: the DDPM schedule whose posterior means the network outputs.
    mean_schedule: Option<MeanSchedule>,
    /// A network conditioned on DDPM timesteps t instead of c_noise(σ).
    timesteps: Option<TimestepMap>,
}

/// σ ↦ the DDPM timestep t of a network trained on a discrete schedule: σ_t =
/// √((1 − ᾱ_t)/ᾱ_t) at integers t, linear in log σ between them, clamped to [0, T − 1]
/// outside (k-diffusion's `DiscreteSchedule.sigma_to_t`).
#[derive(Clone, Debug)]
pub struct TimestepMap {
    log_sigmas: Vec<f64>,
}

impl TimestepMap {
    pub fn new(schedule: &DdpmSchedule) -> Self {
        Self {
            log_sigmas: (0..schedule.num_timesteps())
                .map(|t| schedule.sigma(t).ln())
                .collect(),
        }
    }

    /// The real-valued timestep of `sigma` (exactly t at σ_t).
    pub fn timestep(&self, sigma: f64) -> f64 {
        let log_sigma = sigma.ln();
        let above = self.log_sigmas.partition_point(|&l| l < log_sigma);
        if above == 0 {
            return 0.0;
        }
        if above == self.log_sigmas.len() {
            return (above - 1) as f64;
        }
        let (low, high) = (self.log_sigmas[above - 1], self.log_sigmas[above]);
        (above - 1) as f64 + (log_sigma - low) / (high - low)
    }
}

/// The DDPM grid of a μ̃-predicting network: σ_t and the posterior-mean coefficients.
struct MeanSchedule {
    sigmas: Vec<f64>,
    coefs: Vec<(f64, f64)>,
}

impl MeanSchedule {
    /// The timestep whose σ_t is nearest to `sigma` in log σ (σ_t increases with t).
    fn nearest(&self, sigma: f64) -> usize {
        let i = self.sigmas.partition_point(|&s| s < sigma);
        match (i.checked_sub(1), self.sigmas.get(i)) {
            (Some(lo), Some(&hi)) if (sigma / self.sigmas[lo]).ln() < (hi / sigma).ln() => lo,
            (Some(lo), None) => lo,
            _ => i,
        }
    }
}

/// x̂0 from a predicted posterior mean: μ = c0·x̂0 + c_t·x_t solved for x̂0,
/// x̂0 = (μ − c_t·x_t)/c0 (Ho et al. 2020 eq. 7; hojonathanho/diffusion
/// `_predict_xstart_from_xprev`), so that a sampler's μ̃_t(x_t, x̂0) is the network's μ.
pub fn denoised_from_mean(mean: &Batch, x_t: &Batch, (c0, ct): (f64, f64)) -> Batch {
    mean.lincomb(1.0 / c0, x_t, -ct / c0)
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
            mean_schedule: None,
            timesteps: None,
        }
    }

    /// A network conditioned on the timestep t of a DDPM schedule (diffusers' models):
    /// c_noise(σ) = t(σ) of [`TimestepMap`].
    pub fn with_timesteps(mut self, schedule: &DdpmSchedule) -> Self {
        self.timesteps = Some(TimestepMap::new(schedule));
        self
    }

    /// The network's noise input at σ: the DDPM timestep t(σ), or the parameterization's
    /// c_noise(σ).
    pub(crate) fn c_noise(&self, sigma: f64) -> f64 {
        match &self.timesteps {
            Some(map) => map.timestep(sigma),
            None => self.param.precond(sigma).c_noise,
        }
    }

    /// μ̃-prediction (Ho et al. 2020, Table 2): the network outputs μ_θ(x_t, t), the mean of
    /// x_{t−1}, from x_t = x̂/√(1 + σ²) and c_noise(σ) (as [`crate::objectives::predicted_mean`]);
    /// D is the x̂0 whose posterior mean is μ_θ ([`denoised_from_mean`]) at the timestep of
    /// `schedule` nearest to the σ asked for. The parameterization is then unused. Exact on
    /// the schedule's own σ_t (DDPM samplers, the bound); elsewhere the nearest t stands in.
    pub fn with_mean_prediction(mut self, schedule: &DdpmSchedule) -> Self {
        let t_max = schedule.num_timesteps();
        self.mean_schedule = Some(MeanSchedule {
            sigmas: (0..t_max).map(|t| schedule.sigma(t)).collect(),
            coefs: (0..t_max)
                .map(|t| schedule.posterior_mean_coefs(t))
                .collect(),
        });
        self
    }

    /// Conditional sampling with classifier-free guidance (Ho & Salimans 2022).
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

    /// The raw network output F(c_in·x̂, c_noise) for rows `x` with optional labels
    /// (c_in = 1/√(1 + σ²) for μ̃-prediction).
    fn raw(&self, x: &Batch, sigma: f64, labels: Option<&[u32]>) -> Batch {
        let p = self.param.precond(sigma);
        let c_in = match self.mean_schedule {
            Some(_) => 1.0 / (1.0 + sigma * sigma).sqrt(),
            None => p.c_in,
        };
        let input = batch_to_tensor(&x.scaled(c_in), &self.device);
        let c_noise = vec_to_tensor(&vec![self.c_noise(sigma); x.n()], &self.device);
        let labels = labels.map(|l| {
            let values: Vec<i64> = l.iter().map(|&v| i64::from(v)).collect();
            Tensor::<1, Int>::from_data(TensorData::new(values, [l.len()]), &self.device)
        });
        tensor_to_batch(self.net.forward(input, c_noise, labels))
    }

    /// D from the raw output: the parameterization's c_skip·x̂ + c_out·F, or for
    /// μ̃-prediction [`denoised_from_mean`] at the nearest timestep.
    fn denoised(&self, x: &Batch, output: &Batch, sigma: f64) -> Batch {
        match &self.mean_schedule {
            None => self.param.denoised(x, output, sigma),
            Some(m) => {
                let t = m.nearest(sigma);
                let x_t = x.scaled(1.0 / (1.0 + sigma * sigma).sqrt());
                denoised_from_mean(output, &x_t, m.coefs[t])
            }
        }
    }

    /// D for one chunk of rows starting at row `offset` of the caller's batch.
    fn denoise_chunk(&self, x: &Batch, sigma: f64, offset: usize) -> Batch {
        let Some(g) = &self.guidance else {
            return self.denoised(x, &self.raw(x, sigma, None), sigma);
        };
        let labels: Vec<u32> = (0..x.n())
            .map(|i| g.labels[(offset + i) % g.labels.len()])
            .collect();
        let cond = self.denoised(x, &self.raw(x, sigma, Some(&labels)), sigma);
        if g.weight == 1.0 {
            return cond;
        }
        let null = vec![g.null_class; x.n()];
        let uncond = self.denoised(x, &self.raw(x, sigma, Some(&null)), sigma);
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

    /// By reverse-mode autodiff ([`NetworkDenoiser::autodiff_jacobians`]).
    fn jacobians(&self, points: &Batch, sigma: f64) -> Option<Vec<Vec<f64>>> {
        self.autodiff_jacobians(points, sigma)
    }

    fn name(&self) -> String {
        match self.mean_schedule {
            Some(_) => "network(mu)".to_string(),
            None => format!("network({})", self.param.name()),
        }
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

    #[test]
    fn mean_prediction_gives_the_x0_whose_posterior_mean_is_the_output() {
        let device = Device::flex();
        let net = Net::Mlp(
            MlpConfig::new(3, 16, 1, 8)
                .unwrap()
                .init(&mut seeded(3), &device),
        );
        let schedule = DdpmSchedule::new(
            schedules::BetaSchedule::Linear {
                beta_start: 1e-4,
                beta_end: 0.02,
            },
            100,
        )
        .unwrap();
        let d = NetworkDenoiser::new(net, Parameterization::Eps, 3, device)
            .with_mean_prediction(&schedule);
        let x_hat = Batch::standard_normal(4, 3, &mut seeded(4));
        for t in [0, 1, 40, 99] {
            // A σ a little off the grid still maps to step t.
            let sigma = schedule.sigma(t) * (1.0 + 1e-7);
            let x_t = x_hat.scaled(schedule.s(t));
            let (c0, ct) = schedule.posterior_mean_coefs(t);
            // μ̃(x_t, D) = c0·D + c_t·x_t is the raw output on x_t (Ho et al. eq. 7).
            let mean = d.denoise(&x_hat, sigma).lincomb(c0, &x_t, ct);
            let raw = d.raw(&x_hat, sigma, None);
            assert!(mean.max_abs_diff(&raw) < 1e-6, "t = {t}"); // σ is 1e-7 off the grid
                                                                // The raw output is F on x_t, not on the ε-parameterization's input.
            assert!((1.0 / (1.0 + sigma * sigma).sqrt() - schedule.s(t)).abs() < 1e-6);
        }
        // At t = 0 the posterior mean is x̂0 itself: D = μ.
        let (c0, ct) = schedule.posterior_mean_coefs(0);
        assert!((c0 - 1.0).abs() < 1e-12 && ct.abs() < 1e-12);
        assert_eq!(d.name(), "network(mu)");
        let grid = d.mean_schedule.as_ref().unwrap();
        assert_eq!(grid.nearest(schedule.sigma(57) * 0.999), 57);
        assert_eq!(grid.nearest(1e-9), 0);
        assert_eq!(grid.nearest(1e9), 99);
    }
}
