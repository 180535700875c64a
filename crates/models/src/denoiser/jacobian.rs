//! ∇ₓD(x, σ) of a network denoiser by reverse-mode autodiff through burn: one backward pass
//! gives the full Jacobians of many points (Kadkhodaie et al. 2024 build the same matrices
//! row by row with autograd).
//!
//! Every parameterization is affine in the raw output, D(x) = a·x + b·F(c·x, c_noise), so
//! ∇D = a·I + b·c·∇F. To get all of ∇F in one pass, each point is repeated d times
//! (rows k·d + i, i = 0…d−1) and the scalar L = Σ_{k,i} F(row k·d + i)_i is differentiated:
//! rows do not interact in the network, so the gradient at row k·d + i is row i of ∇F at
//! point k.
//!
//! Under classifier-free guidance D = (1 − w)·D_∅ + w·D_y is affine in the two outputs, so
//! ∇D = (1 − w)·∇D_∅ + w·∇D_y: two passes, one with the null class and one with each
//! point's own label (point k has class `labels[k % labels.len()]`, as row k of a batch).

use burn::module::Module;
use burn::tensor::{Device, Int, Tensor, TensorData};
use samplers::Batch;

use super::NetworkDenoiser;
use crate::tensor::vec_to_tensor;

impl NetworkDenoiser {
    /// (a, b, c) with D(x, σ) = a·x + b·F(c·x, c_noise(σ)) for this denoiser: the
    /// parameterization's (c_skip, c_out, c_in) (Karras et al. 2022 eq. 7), or for
    /// μ̃-prediction (Ho et al. 2020 eq. 7) D = (F(x_t) − c_t·x_t)/c0 with
    /// x_t = x/√(1 + σ²) at the nearest timestep.
    pub(super) fn affine_form(&self, sigma: f64) -> (f64, f64, f64) {
        match &self.mean_schedule {
            None => {
                let p = self.param.precond(sigma);
                (p.c_skip, p.c_out, p.c_in)
            }
            Some(m) => {
                let (c0, ct) = m.coefs[m.nearest(sigma)];
                let s = 1.0 / (1.0 + sigma * sigma).sqrt();
                (-ct * s / c0, 1.0 / c0, s)
            }
        }
    }

    /// Exact (f32) Jacobians at each row of `points` by reverse-mode autodiff, `d × d`
    /// row-major, in passes of at most `chunk` network rows; under guidance, the guided
    /// combination with row k of `points` conditioned on `labels[k % labels.len()]`.
    pub fn autodiff_jacobians(&self, points: &Batch, sigma: f64) -> Option<Vec<Vec<f64>>> {
        let Some(g) = &self.guidance else {
            return Some(self.jacobians_with_labels(points, sigma, None));
        };
        let labels: Vec<u32> = (0..points.n())
            .map(|k| g.labels[k % g.labels.len()])
            .collect();
        let cond = self.jacobians_with_labels(points, sigma, Some(&labels));
        if g.weight == 1.0 {
            return Some(cond);
        }
        let null = self.jacobians_with_labels(points, sigma, Some(&vec![g.null_class; points.n()]));
        let w = g.weight;
        Some(
            null.into_iter()
                .zip(cond)
                .map(|(jn, jc)| {
                    jn.iter()
                        .zip(&jc)
                        .map(|(n, c)| (1.0 - w) * n + w * c)
                        .collect()
                })
                .collect(),
        )
    }

    /// The Jacobians of the network denoiser with class `labels[k]` at row k of `points`
    /// (`None`: unconditional).
    fn jacobians_with_labels(
        &self,
        points: &Batch,
        sigma: f64,
        labels: Option<&[u32]>,
    ) -> Vec<Vec<f64>> {
        let device = self.device.clone().autodiff();
        // Parameters on the autodiff device without gradients of their own: the backward
        // pass then computes input gradients only.
        let net = self.net.clone().train().no_grad();
        let per_pass = (self.chunk / self.dim).max(1);
        let mut jacobians = Vec::with_capacity(points.n());
        for start in (0..points.n()).step_by(per_pass) {
            let end = (start + per_pass).min(points.n());
            let part = points.slice_rows(start, end);
            let part_labels = labels.map(|l| &l[start..end]);
            jacobians.extend(self.jacobian_pass(&net, &device, &part, sigma, part_labels));
        }
        jacobians
    }

    /// One backward pass for the Jacobians of every row of `points`.
    fn jacobian_pass(
        &self,
        net: &crate::net::Net,
        device: &Device,
        points: &Batch,
        sigma: f64,
        labels: Option<&[u32]>,
    ) -> Vec<Vec<f64>> {
        let (n, d) = (points.n(), self.dim);
        let (a, b, c) = self.affine_form(sigma);
        let mut repeated = Vec::with_capacity(n * d * d);
        let mut selector = vec![0.0f32; n * d * d];
        for k in 0..n {
            for i in 0..d {
                repeated.extend(points.row(k).iter().map(|&v| (c * v) as f32));
                selector[(k * d + i) * d + i] = 1.0;
            }
        }
        let input =
            Tensor::<2>::from_data(TensorData::new(repeated, [n * d, d]), device).require_grad();
        let selector = Tensor::<2>::from_data(TensorData::new(selector, [n * d, d]), device);
        let c_noise = vec_to_tensor(&vec![self.c_noise(sigma); n * d], device);
        // Each point's label on each of its d repeated rows.
        let labels = labels.map(|l| {
            let values: Vec<i64> = l.iter().flat_map(|&y| vec![i64::from(y); d]).collect();
            Tensor::<1, Int>::from_data(TensorData::new(values, [n * d]), device)
        });
        let output = net.forward(input.clone(), c_noise, labels);
        let gradients = (output * selector).sum().backward();
        let grad_f: Vec<f32> = input
            .grad(&gradients)
            .expect("the input requires a gradient")
            .try_into_vec_as::<f32>()
            .expect("a float tensor reads back as f32");
        (0..n)
            .map(|k| {
                let block = &grad_f[k * d * d..(k + 1) * d * d];
                let mut jac: Vec<f64> = block.iter().map(|&g| b * c * f64::from(g)).collect();
                (0..d).for_each(|i| jac[i * d + i] += a);
                jac
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mlp::MlpConfig;
    use crate::net::Net;
    use crate::precond::Parameterization;
    use crate::unet::UNetConfig;
    use samplers::rng::seeded;
    use samplers::Denoiser;
    use schedules::DdpmSchedule;

    /// Central differences of `denoiser` at `x` in f64 around the f32 network.
    fn finite_differences(denoiser: &NetworkDenoiser, x: &[f64], sigma: f64, h: f64) -> Vec<f64> {
        let d = x.len();
        let mut probes = Batch::repeat_row(x, 2 * d);
        for j in 0..d {
            probes.row_mut(2 * j)[j] += h;
            probes.row_mut(2 * j + 1)[j] -= h;
        }
        let out = denoiser.denoise(&probes, sigma);
        let mut jac = vec![0.0; d * d];
        for j in 0..d {
            for i in 0..d {
                jac[i * d + j] = (out.row(2 * j)[i] - out.row(2 * j + 1)[i]) / (2.0 * h);
            }
        }
        jac
    }

    fn max_relative_error(a: &[f64], b: &[f64]) -> f64 {
        let scale = b.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        a.iter()
            .zip(b)
            .fold(0.0f64, |m, (x, y)| m.max((x - y).abs()))
            / scale
    }

    fn assert_matches_finite_differences(denoiser: &NetworkDenoiser, points: &Batch, sigma: f64) {
        let exact = denoiser
            .jacobians(points, sigma)
            .expect("networks have Jacobians");
        assert_eq!(exact.len(), points.n());
        for (k, jac) in exact.iter().enumerate() {
            let fd = finite_differences(denoiser, points.row(k), sigma, 1e-2 * sigma);
            let err = max_relative_error(jac, &fd);
            assert!(err < 2e-3, "{} point {k} σ {sigma}: {err}", denoiser.name());
        }
    }

    #[test]
    fn mlp_jacobian_equals_finite_differences_for_every_parameterization() {
        let device = Device::flex();
        let net = Net::Mlp(
            MlpConfig::new(5, 32, 2, 8)
                .unwrap()
                .init(&mut seeded(1), &device),
        );
        let points = Batch::standard_normal(7, 5, &mut seeded(2));
        for param in [
            Parameterization::default(),
            Parameterization::Eps,
            Parameterization::X0,
            Parameterization::V,
            Parameterization::Score,
        ] {
            // chunk 10 rows = 2 points per backward pass: several passes.
            let denoiser =
                NetworkDenoiser::new(net.clone(), param, 5, device.clone()).with_chunk(10);
            for sigma in [0.05, 0.7, 4.0] {
                assert_matches_finite_differences(&denoiser, &points, sigma);
            }
        }
    }

    #[test]
    fn mean_prediction_jacobian_equals_finite_differences() {
        let device = Device::flex();
        let net = Net::Mlp(
            MlpConfig::new(4, 32, 2, 8)
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
        let denoiser = NetworkDenoiser::new(net, Parameterization::Eps, 4, device)
            .with_mean_prediction(&schedule);
        let points = Batch::standard_normal(3, 4, &mut seeded(4));
        for t in [5, 60] {
            assert_matches_finite_differences(&denoiser, &points, schedule.sigma(t));
        }
    }

    #[test]
    fn unet_jacobian_equals_finite_differences() {
        let device = Device::flex();
        let mut config = UNetConfig::new(1, 4, 4);
        config.base = 8;
        config.groups = 4;
        config.emb_dim = 8;
        let net = Net::UNet(config.init(&mut seeded(5), &device).unwrap());
        let denoiser = NetworkDenoiser::new(net, Parameterization::default(), 16, device);
        let points = Batch::standard_normal(2, 16, &mut seeded(6));
        assert_matches_finite_differences(&denoiser, &points, 0.5);
    }

    #[test]
    fn guided_jacobian_uses_each_points_own_label() {
        let device = Device::flex();
        let config = MlpConfig::new(4, 32, 2, 8)
            .unwrap()
            .with_classes(3)
            .unwrap();
        let net = Net::Mlp(config.init(&mut seeded(7), &device));
        let guided = |labels: Vec<u32>, weight: f64| {
            NetworkDenoiser::new(net.clone(), Parameterization::default(), 4, device.clone())
                .with_guidance(crate::denoiser::Guidance {
                    labels,
                    null_class: 3,
                    weight,
                })
        };
        let points = Batch::standard_normal(3, 4, &mut seeded(8));
        let sigma = 0.6;
        for weight in [1.0, 2.5] {
            let jacobians = guided(vec![0, 2, 1], weight)
                .jacobians(&points, sigma)
                .expect("guided networks have Jacobians");
            for (k, label) in [0u32, 2, 1].into_iter().enumerate() {
                // Finite differences of a denoiser that gives every row point k's label.
                let single = guided(vec![label], weight);
                let fd = finite_differences(&single, points.row(k), sigma, 1e-2 * sigma);
                let err = max_relative_error(&jacobians[k], &fd);
                assert!(err < 2e-3, "w {weight} point {k}: {err}");
            }
            // The label matters: another class gives another Jacobian at the same point.
            let other =
                finite_differences(&guided(vec![1], weight), points.row(0), sigma, 1e-2 * sigma);
            assert!(
                max_relative_error(&jacobians[0], &other) > 1e-2,
                "w {weight}"
            );
        }
    }
}
