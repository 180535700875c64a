//! A residual MLP denoiser network `F(x, c_noise)` for low-dimensional data.
//!
//! `h = W_in x + SiLU(W_emb φ(c_noise))`, then `depth` blocks `h ← h + W₂ SiLU(W₁ SiLU(h))`,
//! then `F = W_out SiLU(h)`; φ is the sinusoidal embedding of [`sinusoidal_embedding`].
//! A class-conditional MLP ([`MlpConfig::with_classes`]) adds a label embedding to φ:
//! `φ(c_noise) + E[y]` ([`crate::conditioning`]).

use crate::silu::fast_silu as silu;
use burn::module::Module;
use burn::nn::{Embedding, Linear};
use burn::tensor::{Device, Int, Tensor, TensorData};
use samplers::rng::HostRng;

use crate::conditioning::{embed_labels, label_embedding};
use crate::error::ModelError;
use crate::init::seeded_linear;

/// Shape of an [`Mlp`]: data dimension, hidden width, number of residual blocks and the
/// (even) size of the noise embedding; `num_classes` makes it class-conditional.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MlpConfig {
    pub dim: usize,
    pub width: usize,
    pub depth: usize,
    pub emb_dim: usize,
    pub num_classes: Option<usize>,
}

impl MlpConfig {
    /// A validated configuration: `dim`, `width` ≥ 1 and `emb_dim` even and ≥ 2.
    pub fn new(dim: usize, width: usize, depth: usize, emb_dim: usize) -> Result<Self, ModelError> {
        let invalid = |name, value, requirement| ModelError::InvalidConfig {
            name,
            value,
            requirement,
        };
        if dim == 0 {
            return Err(invalid("dim", dim, ">= 1"));
        }
        if width == 0 {
            return Err(invalid("width", width, ">= 1"));
        }
        if emb_dim < 2 || !emb_dim.is_multiple_of(2) {
            return Err(invalid("emb_dim", emb_dim, "even and >= 2"));
        }
        Ok(Self {
            dim,
            width,
            depth,
            emb_dim,
            num_classes: None,
        })
    }

    /// The class-conditional variant over `num_classes` ≥ 1 classes (plus the null class).
    pub fn with_classes(self, num_classes: usize) -> Result<Self, ModelError> {
        if num_classes == 0 {
            return Err(ModelError::InvalidConfig {
                name: "num_classes",
                value: 0,
                requirement: ">= 1",
            });
        }
        Ok(Self {
            num_classes: Some(num_classes),
            ..self
        })
    }

    /// The number of scalar parameters of the network this config builds.
    pub fn num_params(&self) -> usize {
        let linear = |i: usize, o: usize| i * o + o;
        linear(self.dim, self.width)
            + linear(self.emb_dim, self.width)
            + self.depth * 2 * linear(self.width, self.width)
            + linear(self.width, self.dim)
            + self.num_classes.map_or(0, |k| (k + 1) * self.emb_dim)
    }

    /// A freshly initialized network on `device`, its weights drawn from `rng`.
    pub fn init(&self, rng: &mut HostRng, device: &Device) -> Mlp {
        let input = seeded_linear(self.dim, self.width, rng, device);
        let embed = seeded_linear(self.emb_dim, self.width, rng, device);
        let blocks = (0..self.depth)
            .map(|_| ResBlock {
                lin1: seeded_linear(self.width, self.width, rng, device),
                lin2: seeded_linear(self.width, self.width, rng, device),
            })
            .collect();
        let output = seeded_linear(self.width, self.dim, rng, device);
        // Drawn last, so an unconditional network's weights do not depend on this option.
        let label_embed = self
            .num_classes
            .map(|k| label_embedding(k, self.emb_dim, rng, device));
        Mlp {
            input,
            embed,
            blocks,
            output,
            emb_dim: self.emb_dim,
            label_embed,
            num_classes: self.num_classes,
        }
    }
}

/// Pre-activation residual block `h + W₂ SiLU(W₁ SiLU(h))`.
#[derive(Module, Debug)]
pub struct ResBlock {
    pub lin1: Linear,
    pub lin2: Linear,
}

impl ResBlock {
    pub fn forward(&self, h: Tensor<2>) -> Tensor<2> {
        let r = self.lin2.forward(silu(self.lin1.forward(silu(h.clone()))));
        h + r
    }
}

/// The residual MLP `F(x, c_noise)`: `[n, dim]` × `[n]` → `[n, dim]`.
#[derive(Module, Debug)]
pub struct Mlp {
    pub input: Linear,
    pub embed: Linear,
    pub blocks: Vec<ResBlock>,
    pub output: Linear,
    pub emb_dim: usize,
    /// Label embedding with `num_classes + 1` rows (last = null class) when conditional.
    pub label_embed: Option<Embedding>,
    pub num_classes: Option<usize>,
}

impl Mlp {
    /// The unconditional forward pass (the null class for a conditional network).
    pub fn forward(&self, x: Tensor<2>, c_noise: Tensor<1>) -> Tensor<2> {
        self.forward_cond(x, c_noise, None)
    }

    /// `F(x, c_noise, y)`: labels `[n]` in `0..num_classes`, or `num_classes` / `None` for the
    /// null class. An unconditional network ignores `labels`.
    pub fn forward_cond(
        &self,
        x: Tensor<2>,
        c_noise: Tensor<1>,
        labels: Option<Tensor<1, Int>>,
    ) -> Tensor<2> {
        let n = x.dims()[0];
        let device = x.device();
        let mut emb = sinusoidal_embedding(c_noise, self.emb_dim);
        if let Some(table) = &self.label_embed {
            emb = emb + embed_labels(table, labels, n, &device);
        }
        let mut h = self.input.forward(x) + silu(self.embed.forward(emb));
        for block in &self.blocks {
            h = block.forward(h);
        }
        self.output.forward(silu(h))
    }
}

/// Sinusoidal embedding φ(c) = [cos(c·ω_k), sin(c·ω_k)], ω_k = 10000^(−k/half), k < half =
/// emb_dim/2 (Vaswani et al. 2017 §3.5; EDM `PositionalEmbedding`, `endpoint=False`).
/// `[n]` → `[n, emb_dim]`.
pub fn sinusoidal_embedding(c: Tensor<1>, emb_dim: usize) -> Tensor<2> {
    let half = emb_dim / 2;
    let omega: Vec<f32> = (0..half)
        .map(|k| 10000f32.powf(-(k as f32) / half as f32))
        .collect();
    let omega = Tensor::<2>::from_data(TensorData::new(omega, [1, half]), &c.device());
    let angles = c.unsqueeze_dim::<2>(1) * omega; // [n, 1] · [1, half] broadcast
    Tensor::cat(vec![angles.clone().cos(), angles.sin()], 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tensor::{batch_to_tensor, tensor_to_batch, vec_to_tensor};
    use samplers::rng::seeded;
    use samplers::Batch;

    #[test]
    fn config_rejects_odd_embedding_and_zero_width() {
        let err = MlpConfig::new(2, 16, 1, 7).unwrap_err().to_string();
        assert_eq!(err, "emb_dim = 7 must be even and >= 2");
        assert!(MlpConfig::new(2, 0, 1, 8).is_err());
    }

    #[test]
    fn embedding_matches_hand_computed_values() {
        let device = Device::flex();
        let e = sinusoidal_embedding(vec_to_tensor(&[0.0, 2.0], &device), 4);
        let got: Vec<f32> = e.try_into_vec_as::<f32>().unwrap();
        // half = 2: ω = [1, 0.01].
        let want = [
            1.0,
            1.0,
            0.0,
            0.0,
            2f32.cos(),
            0.02f32.cos(),
            2f32.sin(),
            0.02f32.sin(),
        ];
        for (g, w) in got.iter().zip(want) {
            assert!((g - w).abs() < 1e-6, "{got:?} vs {want:?}");
        }
    }

    #[test]
    fn num_params_matches_the_closed_form_and_burns_count() {
        let cfg = MlpConfig::new(2, 8, 2, 4).unwrap();
        let model = cfg.init(&mut seeded(0), &Device::flex());
        // (2·8+8) + (4·8+8) + 2·2·(8·8+8) + (8·2+2) = 24 + 40 + 288 + 18
        assert_eq!(cfg.num_params(), 370);
        assert_eq!(model.num_params(), 370);
    }

    #[test]
    fn checkpoint_round_trip_reproduces_outputs() {
        let device = Device::flex();
        let cfg = MlpConfig::new(2, 8, 1, 4).unwrap();
        let model = cfg.init(&mut seeded(3), &device);
        let x = batch_to_tensor(
            &Batch::from_vec(2, 2, vec![0.1, -0.2, 0.3, 0.4]).unwrap(),
            &device,
        );
        let c = vec_to_tensor(&[0.5, -1.0], &device);
        let before = tensor_to_batch(model.forward(x.clone(), c.clone()));

        let path = std::env::temp_dir().join(format!("models-mlp-{}.bpk", std::process::id()));
        crate::checkpoint::save(model, &path).unwrap();
        let other = cfg.init(&mut seeded(4), &device);
        let loaded = crate::checkpoint::load(other, &path).unwrap();
        std::fs::remove_file(&path).unwrap(); // load() read eagerly: the file is no longer needed
        let wrong = MlpConfig::new(2, 4, 1, 4)
            .unwrap()
            .init(&mut seeded(4), &device);
        assert!(crate::checkpoint::load(wrong, &path).is_err());
        let after = tensor_to_batch(loaded.forward(x, c));
        assert_eq!(before.as_slice(), after.as_slice());
    }
    #[test]
    fn conditional_mlp_uses_labels_and_none_is_the_null_class() {
        use crate::conditioning::labels_to_tensor;
        let device = Device::flex();
        let cfg = MlpConfig::new(2, 8, 1, 4).unwrap().with_classes(3).unwrap();
        assert!(MlpConfig::new(2, 8, 1, 4).unwrap().with_classes(0).is_err());
        let model = cfg.init(&mut seeded(2), &device);
        assert_eq!(cfg.num_params(), model.num_params());
        assert_eq!(
            cfg.num_params(),
            MlpConfig::new(2, 8, 1, 4).unwrap().num_params() + 4 * 4
        );
        let x = batch_to_tensor(
            &Batch::from_vec(2, 2, vec![0.1, -0.2, 0.3, 0.4]).unwrap(),
            &device,
        );
        let c = vec_to_tensor(&[0.5, -1.0], &device);
        let run = |labels: Option<&[u32]>| {
            let labels = labels.map(|l| labels_to_tensor(l, &device));
            tensor_to_batch(model.forward_cond(x.clone(), c.clone(), labels))
        };
        let null = run(Some(&[3, 3]));
        assert_eq!(run(None).as_slice(), null.as_slice());
        assert_eq!(
            tensor_to_batch(model.forward(x.clone(), c.clone())).as_slice(),
            null.as_slice()
        );
        assert!(run(Some(&[0, 1])).max_abs_diff(&null) > 1e-4);
    }
}
