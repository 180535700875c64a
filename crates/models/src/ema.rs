//! Exponential moving average of a module's parameters (Polyak averaging).

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::tensor::Tensor;

/// Collects every float parameter, detached and flattened, in module visit order.
struct Collect(Vec<Tensor<1>>);

impl ModuleVisitor for Collect {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let t = param.val().detach();
        let n = t.shape().num_elements();
        self.0.push(t.reshape([n]));
    }
}

/// Replaces each parameter θ̄ by β·θ̄ + (1 − β)·θ, θ taken in the same visit order.
struct Blend {
    online: std::vec::IntoIter<Tensor<1>>,
    beta: f64,
}

impl ModuleMapper for Blend {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let theta = self
            .online
            .next()
            .expect("ema and online share one architecture");
        let beta = self.beta;
        param.map(|avg| {
            let theta: Tensor<D> = theta.reshape(avg.dims());
            (avg.detach().mul_scalar(beta) + theta.mul_scalar(1.0 - beta)).detach()
        })
    }
}

/// EMA update θ̄ ← β·θ̄ + (1 − β)·θ (Polyak & Juditsky 1992; EDM's `ema_halflife` uses the same
/// rule). `ema` must be a clone of the architecture of `online` (e.g. `online.clone()` at init).
pub fn ema_update<M: Module>(ema: M, online: &M, beta: f64) -> M {
    let mut collect = Collect(Vec::new());
    online.visit(&mut collect);
    ema.map(&mut Blend {
        online: collect.0.into_iter(),
        beta,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mlp::MlpConfig;
    use burn::tensor::Device;
    use samplers::rng::seeded;

    #[test]
    fn ema_is_the_convex_combination_of_the_two_parameter_sets() {
        let device = Device::flex();
        let cfg = MlpConfig::new(2, 4, 1, 2).unwrap();
        let a = cfg.init(&mut seeded(1), &device);
        let b = cfg.init(&mut seeded(2), &device);
        let read = |m: &crate::mlp::Mlp| -> Vec<f32> {
            m.input.weight.val().try_into_vec_as::<f32>().unwrap()
        };
        let (wa, wb) = (read(&a), read(&b));
        let avg = ema_update(a, &b, 0.75);
        for ((w, x), y) in read(&avg).iter().zip(&wa).zip(&wb) {
            assert!((w - (0.75 * x + 0.25 * y)).abs() < 1e-6);
        }
    }
}
