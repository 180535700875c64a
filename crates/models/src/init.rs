//! Parameter initialization from the workspace's seeded host RNG.
//!
//! burn's own initializers draw lazily from the backend RNG (for Flex: one process-global
//! generator shared by every thread), so their values depend on what else runs in the process.
//! Drawing on the host from a [`HostRng`] makes a model a pure function of its seed.

use burn::module::Param;
use burn::nn::Linear;
use burn::tensor::{Device, TensorData};
use rand::Rng;
use samplers::rng::HostRng;

/// `n` draws from U(−bound, bound).
fn uniform(n: usize, bound: f32, rng: &mut HostRng) -> Vec<f32> {
    (0..n).map(|_| rng.random_range(-bound..bound)).collect()
}

/// A `d_in → d_out` [`Linear`] layer with the init of PyTorch's `nn.Linear` (kaiming-uniform, a = √5):
/// weight and bias ~ U(−1/√d_in, 1/√d_in). burn's row layout stores the weight as `[d_in, d_out]`.
pub fn seeded_linear(d_in: usize, d_out: usize, rng: &mut HostRng, device: &Device) -> Linear {
    let bound = 1.0 / (d_in as f32).sqrt();
    let weight = TensorData::new(uniform(d_in * d_out, bound, rng), [d_in, d_out]);
    let bias = TensorData::new(uniform(d_out, bound, rng), [d_out]);
    Linear {
        weight: Param::from_data(weight, device),
        bias: Some(Param::from_data(bias, device)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use samplers::rng::seeded;

    #[test]
    fn seeded_linear_is_a_function_of_the_seed_and_respects_the_bound() {
        let device = Device::flex();
        let read = |seed| {
            let layer = seeded_linear(4, 3, &mut seeded(seed), &device);
            let w: Vec<f32> = layer.weight.val().try_into_vec_as::<f32>().unwrap();
            assert_eq!(layer.weight.dims(), [4, 3]);
            w
        };
        let (a, b, c) = (read(1), read(1), read(2));
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert!(a.iter().all(|w| w.abs() < 0.5)); // 1/√4
    }
}
