//! A small UNet denoiser network `F(x, c_noise[, y])` for images given as flattened batches
//! `[n, c·h·w]` (DDPM, Ho et al. 2020, App. B; EDM's `SongUNet`, Karras et al. 2022, reduced).
//!
//! Noise embedding `e = SiLU(W₂ SiLU(W₁ (φ(c_noise) + E[y])))` (φ: [`sinusoidal_embedding`],
//! E: optional label embedding, [`crate::conditioning`]). Then
//! `conv_in` → per level `l`: `blocks_per_level` residual blocks at `base·mults[l]` channels,
//! each output kept as a skip, then a stride-2 conv (except at the last level) → middle: block,
//! optional self-attention, block → per level in reverse: blocks on `[h, skip]` concatenated
//! along channels, then nearest ×2 upsampling + conv (except at level 0) → GroupNorm → SiLU →
//! `conv_out` (initialized small, so F ≈ 0 at the start).

use burn::module::Module;
use burn::nn::conv::Conv2d;
use burn::nn::{Embedding, GroupNorm, Linear};
use burn::tensor::activation::{silu, softmax};
use burn::tensor::{Device, Int, Tensor};
use samplers::rng::HostRng;

use crate::conditioning::{embed_labels, label_embedding};
use crate::error::ModelError;
use crate::init::{group_norm, seeded_conv2d, seeded_linear};
use crate::mlp::sinusoidal_embedding;

/// Scale of the output convolution's initial weights relative to PyTorch's default, so the
/// untrained network outputs F ≈ 0 (EDM initializes final layers with weight 1e-5; DDPM zero).
pub const OUTPUT_INIT_SCALE: f32 = 1e-2;

/// Shape of a [`UNet`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UNetConfig {
    /// Image channels c (1 for digits, 3 for CIFAR).
    pub channels: usize,
    pub height: usize,
    pub width: usize,
    /// Channels at level 0.
    pub base: usize,
    /// Channel multiplier per level; `mults.len()` levels, resolution halved between levels.
    pub mults: Vec<usize>,
    /// Residual blocks per level (down path; the up path has the same number).
    pub blocks_per_level: usize,
    /// Single-head self-attention in the middle (lowest resolution).
    pub attention_at_lowest: bool,
    /// GroupNorm groups.
    pub groups: usize,
    /// Size of the (even) sinusoidal noise embedding and of the embedding MLP.
    pub emb_dim: usize,
    /// Class-conditional over this many classes (plus the null class) when set.
    pub num_classes: Option<usize>,
}

impl UNetConfig {
    /// The defaults for `[c, h, w]` images: base 32, mults [1, 2], one block per level,
    /// attention, 8 groups, emb_dim 64, unconditional.
    pub fn new(channels: usize, height: usize, width: usize) -> Self {
        Self {
            channels,
            height,
            width,
            base: 32,
            mults: vec![1, 2],
            blocks_per_level: 1,
            attention_at_lowest: true,
            groups: 8,
            emb_dim: 64,
            num_classes: None,
        }
    }

    /// Checks every field; errors name the key and its value.
    pub fn validate(&self) -> Result<(), ModelError> {
        let bad = |key: &str, value: &dyn std::fmt::Display, requirement: &str| {
            Err(ModelError::invalid(key, value, requirement))
        };
        for (key, value) in [
            ("channels", self.channels),
            ("height", self.height),
            ("width", self.width),
        ] {
            if value == 0 {
                return bad(key, &value, ">= 1");
            }
        }
        if self.groups == 0 {
            return bad("groups", &0, ">= 1");
        }
        if self.base == 0 || !self.base.is_multiple_of(self.groups) {
            return bad(
                "base",
                &self.base,
                &format!("a positive multiple of groups = {}", self.groups),
            );
        }
        if self.mults.is_empty() || self.mults.contains(&0) {
            return bad(
                "mults",
                &format!("{:?}", self.mults),
                "a non-empty list of positive integers",
            );
        }
        if !(1..=4).contains(&self.blocks_per_level) {
            return bad("blocks_per_level", &self.blocks_per_level, "in 1..=4");
        }
        if self.emb_dim < 2 || !self.emb_dim.is_multiple_of(2) {
            return bad("emb_dim", &self.emb_dim, "even and >= 2");
        }
        if self.num_classes == Some(0) {
            return bad("num_classes", &0, ">= 1");
        }
        let factor = 1usize << (self.mults.len() - 1);
        let levels = self.mults.len();
        for (key, value) in [("height", self.height), ("width", self.width)] {
            if value % factor != 0 {
                let req =
                    format!("divisible by 2^(levels − 1) = {factor} for {levels} levels (mults)");
                return bad(key, &value, &req);
            }
        }
        Ok(())
    }

    /// Data dimension c·h·w.
    pub fn dim(&self) -> usize {
        self.channels * self.height * self.width
    }

    fn level_channels(&self, level: usize) -> usize {
        self.base * self.mults[level]
    }

    /// The number of scalar parameters of the network this config builds (closed form of
    /// the layers below, checked against burn's count in the tests).
    pub fn num_params(&self) -> usize {
        let conv = |i: usize, o: usize, k: usize| i * o * k * k + o;
        let linear = |i: usize, o: usize| i * o + o;
        let norm = |c: usize| 2 * c;
        let res = |i: usize, o: usize| {
            norm(i)
                + conv(i, o, 3)
                + linear(self.emb_dim, o)
                + norm(o)
                + conv(o, o, 3)
                + if i == o { 0 } else { conv(i, o, 1) }
        };
        let e = self.emb_dim;
        let mut total = 2 * linear(e, e) + self.num_classes.map_or(0, |k| (k + 1) * e);
        total += conv(self.channels, self.base, 3);
        let levels = self.mults.len();
        let mut ch = self.base;
        for l in 0..levels {
            let out = self.level_channels(l);
            for _ in 0..self.blocks_per_level {
                total += res(ch, out);
                ch = out;
            }
            if l + 1 < levels {
                total += conv(ch, ch, 3);
            }
        }
        total += 2 * res(ch, ch);
        if self.attention_at_lowest {
            total += norm(ch) + 4 * conv(ch, ch, 1);
        }
        for l in (0..levels).rev() {
            let out = self.level_channels(l);
            for _ in 0..self.blocks_per_level {
                total += res(ch + out, out);
                ch = out;
            }
            if l > 0 {
                total += conv(ch, ch, 3);
            }
        }
        total + norm(ch) + conv(ch, self.channels, 3)
    }

    /// A freshly initialized network on `device`, every weight drawn from `rng` (validates
    /// first).
    pub fn init(&self, rng: &mut HostRng, device: &Device) -> Result<UNet, ModelError> {
        self.validate()?;
        let (g, e) = (self.groups, self.emb_dim);
        let emb1 = seeded_linear(e, e, rng, device);
        let emb2 = seeded_linear(e, e, rng, device);
        let conv_in = seeded_conv2d(self.channels, self.base, 3, 1, 1, 1.0, rng, device);
        let levels = self.mults.len();
        let (mut down, mut downsample, mut up, mut upsample) = (vec![], vec![], vec![], vec![]);
        let mut ch = self.base;
        for l in 0..levels {
            let out = self.level_channels(l);
            for _ in 0..self.blocks_per_level {
                down.push(UNetResBlock::init(ch, out, e, g, rng, device));
                ch = out;
            }
            if l + 1 < levels {
                downsample.push(seeded_conv2d(ch, ch, 3, 2, 1, 1.0, rng, device));
            }
        }
        let mid1 = UNetResBlock::init(ch, ch, e, g, rng, device);
        let attention = self
            .attention_at_lowest
            .then(|| SelfAttention::init(ch, g, rng, device));
        let mid2 = UNetResBlock::init(ch, ch, e, g, rng, device);
        for l in (0..levels).rev() {
            let out = self.level_channels(l);
            for _ in 0..self.blocks_per_level {
                up.push(UNetResBlock::init(ch + out, out, e, g, rng, device));
                ch = out;
            }
            if l > 0 {
                upsample.push(seeded_conv2d(ch, ch, 3, 1, 1, 1.0, rng, device));
            }
        }
        let norm_out = group_norm(g, ch, device);
        let conv_out = seeded_conv2d(ch, self.channels, 3, 1, 1, OUTPUT_INIT_SCALE, rng, device);
        // Drawn last, so an unconditional network's weights do not depend on this option.
        let label_embed = self.num_classes.map(|k| label_embedding(k, e, rng, device));
        Ok(UNet {
            emb1,
            emb2,
            label_embed,
            conv_in,
            down,
            downsample,
            mid1,
            attention,
            mid2,
            up,
            upsample,
            norm_out,
            conv_out,
            channels: self.channels,
            height: self.height,
            width: self.width,
            blocks_per_level: self.blocks_per_level,
            emb_dim: self.emb_dim,
            num_classes: self.num_classes,
        })
    }
}

/// Residual block with a noise-embedding shift (DDPM `ResnetBlock`):
/// `skip(x) + Conv₂(SiLU(GN₂(Conv₁(SiLU(GN₁(x))) + W_e e)))`, `skip` a 1×1 conv when the
/// channel count changes, identity otherwise.
#[derive(Module, Debug)]
pub struct UNetResBlock {
    pub norm1: GroupNorm,
    pub conv1: Conv2d,
    pub emb_proj: Linear,
    pub norm2: GroupNorm,
    pub conv2: Conv2d,
    pub skip: Option<Conv2d>,
}

impl UNetResBlock {
    fn init(
        c_in: usize,
        c_out: usize,
        emb_dim: usize,
        groups: usize,
        rng: &mut HostRng,
        device: &Device,
    ) -> Self {
        Self {
            norm1: group_norm(groups, c_in, device),
            conv1: seeded_conv2d(c_in, c_out, 3, 1, 1, 1.0, rng, device),
            emb_proj: seeded_linear(emb_dim, c_out, rng, device),
            norm2: group_norm(groups, c_out, device),
            conv2: seeded_conv2d(c_out, c_out, 3, 1, 1, 1.0, rng, device),
            skip: (c_in != c_out).then(|| seeded_conv2d(c_in, c_out, 1, 1, 0, 1.0, rng, device)),
        }
    }

    /// `x` `[n, c_in, h, w]`, `emb` `[n, emb_dim]` → `[n, c_out, h, w]`.
    pub fn forward(&self, x: Tensor<4>, emb: Tensor<2>) -> Tensor<4> {
        let h = self.conv1.forward(silu(self.norm1.forward(x.clone())));
        let [n, c, _, _] = h.dims();
        let h = h + self.emb_proj.forward(emb).reshape([n, c, 1, 1]);
        let h = self.conv2.forward(silu(self.norm2.forward(h)));
        let x = match &self.skip {
            Some(conv) => conv.forward(x),
            None => x,
        };
        x + h
    }
}

/// Single-head self-attention over the h·w positions (DDPM `AttnBlock`):
/// `x + W_o V softmax(QᵀK/√c)ᵀ` with Q, K, V = 1×1 convs of GN(x).
#[derive(Module, Debug)]
pub struct SelfAttention {
    pub norm: GroupNorm,
    pub q: Conv2d,
    pub k: Conv2d,
    pub v: Conv2d,
    pub proj: Conv2d,
}

impl SelfAttention {
    fn init(c: usize, groups: usize, rng: &mut HostRng, device: &Device) -> Self {
        let mut conv = || seeded_conv2d(c, c, 1, 1, 0, 1.0, rng, device);
        let (q, k, v, proj) = (conv(), conv(), conv(), conv());
        Self {
            norm: group_norm(groups, c, device),
            q,
            k,
            v,
            proj,
        }
    }

    /// `[n, c, h, w]` → `[n, c, h, w]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let [n, c, h, w] = x.dims();
        let hn = self.norm.forward(x.clone());
        let flat = |t: Tensor<4>| t.reshape([n, c, h * w]);
        let q = flat(self.q.forward(hn.clone()));
        let k = flat(self.k.forward(hn.clone()));
        let v = flat(self.v.forward(hn));
        // a[i, j] = softmax_j(q_i · k_j / √c), positions i, j: [n, hw, hw].
        let logits = q.swap_dims(1, 2).matmul(k).div_scalar((c as f64).sqrt());
        let a = softmax(logits, 2);
        // out[:, i] = Σ_j a[i, j] v[:, j]: [n, c, hw].
        let out = v.matmul(a.swap_dims(1, 2)).reshape([n, c, h, w]);
        x + self.proj.forward(out)
    }
}

/// The UNet `F(x, c_noise[, y])`: `[n, c·h·w]` × `[n]` (× `[n]` labels) → `[n, c·h·w]`.
#[derive(Module, Debug)]
pub struct UNet {
    pub emb1: Linear,
    pub emb2: Linear,
    pub label_embed: Option<Embedding>,
    pub conv_in: Conv2d,
    pub down: Vec<UNetResBlock>,
    pub downsample: Vec<Conv2d>,
    pub mid1: UNetResBlock,
    pub attention: Option<SelfAttention>,
    pub mid2: UNetResBlock,
    pub up: Vec<UNetResBlock>,
    pub upsample: Vec<Conv2d>,
    pub norm_out: GroupNorm,
    pub conv_out: Conv2d,
    pub channels: usize,
    pub height: usize,
    pub width: usize,
    pub blocks_per_level: usize,
    pub emb_dim: usize,
    pub num_classes: Option<usize>,
}

impl UNet {
    /// Data dimension c·h·w.
    pub fn dim(&self) -> usize {
        self.channels * self.height * self.width
    }

    /// The embedding `SiLU(W₂ SiLU(W₁ (φ(c_noise) + E[y])))`, `[n, emb_dim]`.
    fn embedding(&self, c_noise: Tensor<1>, labels: Option<Tensor<1, Int>>) -> Tensor<2> {
        let n = c_noise.dims()[0];
        let device = c_noise.device();
        let mut e = sinusoidal_embedding(c_noise, self.emb_dim);
        if let Some(table) = &self.label_embed {
            e = e + embed_labels(table, labels, n, &device);
        }
        silu(self.emb2.forward(silu(self.emb1.forward(e))))
    }

    /// `F(x, c_noise, y)`: `x` `[n, c·h·w]` (row-major c, h, w), `c_noise` `[n]`, labels `[n]`
    /// in `0..num_classes` or `num_classes` / `None` for the null class (ignored by an
    /// unconditional network). Output `[n, c·h·w]`.
    pub fn forward(
        &self,
        x: Tensor<2>,
        c_noise: Tensor<1>,
        labels: Option<Tensor<1, Int>>,
    ) -> Tensor<2> {
        let n = x.dims()[0];
        let emb = self.embedding(c_noise, labels);
        let mut h = self
            .conv_in
            .forward(x.reshape([n, self.channels, self.height, self.width]));
        let b = self.blocks_per_level;
        let levels = self.down.len() / b;
        let mut skips = Vec::with_capacity(self.down.len());
        for l in 0..levels {
            for block in &self.down[l * b..(l + 1) * b] {
                h = block.forward(h, emb.clone());
                skips.push(h.clone());
            }
            if let Some(conv) = self.downsample.get(l) {
                h = conv.forward(h);
            }
        }
        h = self.mid1.forward(h, emb.clone());
        if let Some(attention) = &self.attention {
            h = attention.forward(h);
        }
        h = self.mid2.forward(h, emb.clone());
        for (i, block) in self.up.iter().enumerate() {
            let skip = skips.pop().expect("one skip per up block");
            h = block.forward(Tensor::cat(vec![h, skip], 1), emb.clone());
            let level_done = (i + 1) % b == 0;
            let level = levels - 1 - i / b;
            if level_done && level > 0 {
                h = self.upsample[levels - 1 - level].forward(upsample_nearest2(h));
            }
        }
        let out = self.conv_out.forward(silu(self.norm_out.forward(h)));
        out.reshape([n, self.dim()])
    }
}

/// Nearest-neighbour ×2 upsampling: `[n, c, h, w]` → `[n, c, 2h, 2w]`, each pixel copied to a
/// 2×2 block.
pub fn upsample_nearest2(x: Tensor<4>) -> Tensor<4> {
    let [n, c, h, w] = x.dims();
    x.reshape([n, c, h, 1, w, 1])
        .repeat_dim(3, 2)
        .repeat_dim(5, 2)
        .reshape([n, c, 2 * h, 2 * w])
}

#[cfg(test)]
mod tests;
