//! Parameter initialization from the workspace's seeded host RNG.
//!
//! burn's own initializers draw lazily from the backend RNG (for Flex: one process-global
//! generator shared by every thread), so their values depend on what else runs in the process.
//! Drawing on the host from a [`HostRng`] makes a model a pure function of its seed.

use burn::module::Param;
use burn::nn::conv::Conv2d;
use burn::nn::{Embedding, GroupNorm, GroupNormConfig, Linear, PaddingConfig2d};
use burn::tensor::{Device, TensorData};
use rand::Rng;
use samplers::rng::HostRng;
use samplers::Batch;

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

/// A `c_in → c_out` [`Conv2d`] with a `k × k` kernel, stride `stride` and symmetric zero
/// padding `padding`, initialized like PyTorch's `nn.Conv2d` (kaiming-uniform, a = √5):
/// weight and bias ~ U(−1/√fan_in, 1/√fan_in), fan_in = c_in·k², then both scaled by `scale`
/// (1 for the default; small for output layers). Weight layout `[c_out, c_in, k, k]`.
#[allow(clippy::too_many_arguments)]
pub fn seeded_conv2d(
    c_in: usize,
    c_out: usize,
    k: usize,
    stride: usize,
    padding: usize,
    scale: f32,
    rng: &mut HostRng,
    device: &Device,
) -> Conv2d {
    let bound = 1.0 / ((c_in * k * k) as f32).sqrt();
    let draw = |n, rng: &mut HostRng| -> Vec<f32> {
        uniform(n, bound, rng)
            .into_iter()
            .map(|w| w * scale)
            .collect()
    };
    let weight = TensorData::new(draw(c_out * c_in * k * k, rng), [c_out, c_in, k, k]);
    let bias = TensorData::new(draw(c_out, rng), [c_out]);
    Conv2d {
        weight: Param::from_data(weight, device),
        bias: Some(Param::from_data(bias, device)),
        stride: [stride, stride],
        kernel_size: [k, k],
        dilation: [1, 1],
        groups: 1,
        padding: PaddingConfig2d::Explicit(padding, padding, padding, padding),
    }
}

/// A [`GroupNorm`] over `channels` in `groups` groups with γ = 1, β = 0 (deterministic; no
/// random draws), ε = 1e-5.
pub fn group_norm(groups: usize, channels: usize, device: &Device) -> GroupNorm {
    GroupNormConfig::new(groups, channels).init(device)
}

/// An [`Embedding`] table of `n` rows of size `d` with N(0, 1) entries (PyTorch's
/// `nn.Embedding` init), drawn from `rng`.
pub fn seeded_embedding(n: usize, d: usize, rng: &mut HostRng, device: &Device) -> Embedding {
    let values: Vec<f32> = Batch::standard_normal(n, d, rng)
        .into_vec()
        .into_iter()
        .map(|v| v as f32)
        .collect();
    Embedding {
        weight: Param::from_data(TensorData::new(values, [n, d]), device),
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
