//! Gradient clipping by the GLOBAL L2 norm over all parameters, as
//! `torch.nn.utils.clip_grad_norm_` does (and EDM / diffusers' training loops through it):
//! ‖g‖ = √(Σ_p ‖g_p‖²) over every parameter gradient, then every g_p ← g_p·min(1, c/‖g‖).
//! burn's own `GradientClipping::Norm` clips each parameter tensor separately, which changes
//! the direction of the update; this keeps it.

use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::tensor::Tensor;

/// Sums ‖g_p‖² over the parameters of a module that have a gradient.
struct SquaredNorm<'a> {
    grads: &'a GradientsParams,
    sum: f64,
}

impl ModuleVisitor for SquaredNorm<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(g) = self.grads.get::<D>(param.id) {
            self.sum += f64::from(g.square().sum().into_scalar::<f32>());
        }
    }
}

/// Multiplies the gradient of every parameter of a module by `factor`.
struct Scale<'a> {
    grads: &'a mut GradientsParams,
    factor: f64,
}

impl ModuleVisitor for Scale<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(g) = self.grads.remove::<D>(param.id) {
            self.grads
                .register::<D>(param.id, g.mul_scalar(self.factor));
        }
    }
}

/// The global gradient norm ‖g‖ = √(Σ_p ‖g_p‖²) over the parameters of `module`
/// (the total norm of `torch.nn.utils.clip_grad_norm_`, norm_type = 2).
pub fn global_grad_norm<M: Module>(module: &M, grads: &GradientsParams) -> f64 {
    let mut visitor = SquaredNorm { grads, sum: 0.0 };
    module.visit(&mut visitor);
    visitor.sum.sqrt()
}

/// The clipping factor min(1, c/‖g‖) (`torch.nn.utils.clip_grad_norm_`, without its 1e-6
/// in the denominator; a zero or non-finite norm leaves the gradient as it is).
pub fn clip_factor(norm: f64, max_norm: f64) -> f64 {
    if norm.is_finite() && norm > max_norm {
        max_norm / norm
    } else {
        1.0
    }
}

/// Scales every gradient of `module` in `grads` by min(1, `max_norm`/‖g‖) with ‖g‖ the
/// global norm, and returns ‖g‖ before clipping. Gradients under the limit are untouched.
pub fn clip_grad_norm<M: Module>(module: &M, grads: &mut GradientsParams, max_norm: f64) -> f64 {
    let norm = global_grad_norm(module, grads);
    let factor = clip_factor(norm, max_norm);
    if factor < 1.0 {
        module.visit(&mut Scale { grads, factor });
    }
    norm
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mlp::{Mlp, MlpConfig};
    use crate::train::{mse, TrainBatch};
    use burn::tensor::Device;
    use samplers::rng::seeded;

    fn model_and_grads() -> (Mlp, GradientsParams) {
        let device = Device::flex().autodiff();
        let mut rng = seeded(3);
        let model = MlpConfig::new(3, 16, 2, 8).unwrap().init(&mut rng, &device);
        let batch = TrainBatch::random_denoising(12, 3, &mut rng, &device);
        let loss = mse(model.forward(batch.x, batch.c_noise), batch.target);
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        (model, grads)
    }

    /// Every gradient of the model, flattened, in visit order.
    fn flat(model: &Mlp, grads: &GradientsParams) -> Vec<Vec<f32>> {
        struct Read<'a>(&'a GradientsParams, Vec<Vec<f32>>);
        impl ModuleVisitor for Read<'_> {
            fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
                let g = self
                    .0
                    .get::<D>(param.id)
                    .expect("every parameter has a gradient");
                self.1.push(g.try_into_vec_as::<f32>().unwrap());
            }
        }
        let mut read = Read(grads, Vec::new());
        model.visit(&mut read);
        read.1
    }

    #[test]
    fn the_global_norm_is_the_norm_of_all_gradients_concatenated() {
        let (model, grads) = model_and_grads();
        let all = flat(&model, &grads);
        assert!(all.len() > 4, "several parameter tensors: {}", all.len());
        let by_hand = all
            .iter()
            .flatten()
            .map(|&g| f64::from(g) * f64::from(g))
            .sum::<f64>()
            .sqrt();
        let norm = global_grad_norm(&model, &grads);
        assert!(norm > 0.0);
        assert!(
            (norm - by_hand).abs() < 1e-5 * by_hand,
            "{norm} vs {by_hand}"
        );
    }

    #[test]
    fn clipping_scales_every_gradient_by_one_factor_to_the_limit() {
        let (model, mut grads) = model_and_grads();
        let before = flat(&model, &grads);
        let norm = global_grad_norm(&model, &grads);
        let max_norm = 0.25 * norm;
        assert_eq!(clip_grad_norm(&model, &mut grads, max_norm), norm);
        let after_norm = global_grad_norm(&model, &grads);
        assert!(
            (after_norm - max_norm).abs() < 1e-5 * max_norm,
            "{after_norm} vs {max_norm}"
        );
        // One factor for all tensors: the direction of the full gradient is kept (burn's
        // per-tensor clipping would scale each tensor by its own factor).
        for (b, a) in before
            .iter()
            .flatten()
            .zip(flat(&model, &grads).iter().flatten())
        {
            assert!(
                (a - 0.25 * b).abs() <= 1e-6 * (1.0 + b.abs()),
                "{a} vs 0.25·{b}"
            );
        }
    }

    #[test]
    fn a_gradient_under_the_limit_is_unchanged() {
        let (model, mut grads) = model_and_grads();
        let before = flat(&model, &grads);
        let norm = global_grad_norm(&model, &grads);
        clip_grad_norm(&model, &mut grads, 2.0 * norm);
        let bits =
            |v: &[Vec<f32>]| -> Vec<u32> { v.iter().flatten().map(|g| g.to_bits()).collect() };
        assert_eq!(bits(&before), bits(&flat(&model, &grads)));
    }

    #[test]
    fn the_factor_is_min_of_one_and_the_ratio() {
        assert_eq!(clip_factor(4.0, 1.0), 0.25);
        assert_eq!(clip_factor(0.5, 1.0), 1.0);
        assert_eq!(clip_factor(0.0, 1.0), 1.0);
        assert_eq!(clip_factor(f64::NAN, 1.0), 1.0);
    }
}
