//! diffusers' `UNet2DModel` in burn, built from its config and weights: `ResnetBlock2D`,
//! attention, `Downsample2D`/`Upsample2D`, the `UNetMidBlock2D` and the positional
//! timestep embedding, in the order of diffusers' `forward`s (Ho et al. 2020's DDPM
//! network, App. B, in diffusers' layout).

use burn::module::Module;
use burn::nn::conv::Conv2d;
use burn::nn::{GroupNorm, Linear, PaddingConfig2d};
use burn::tensor::activation::softmax;
use burn::tensor::{Tensor, TensorData};

use super::config::UNet2DConfig;
use super::weights::Weights;
use super::DiffusersError;
use crate::silu::fast_silu as silu;
use crate::unet::upsample_nearest2;

type Built<T> = Result<T, DiffusersError>;

/// A `UNet2DModel`: `[n, c·h·w]` images and `[n]` timesteps t (real-valued) in, the
/// network's output `[n, c_out·h·w]` out.
#[derive(Module, Debug)]
pub struct DiffusersUNet {
    time_linear_1: Linear,
    time_linear_2: Linear,
    conv_in: Conv2d,
    down: Vec<Level>,
    mid_resnets: Vec<Resnet>,
    mid_attention: Option<Attention>,
    up: Vec<Level>,
    norm_out: GroupNorm,
    conv_out: Conv2d,
    /// Channels and size of the images.
    in_channels: usize,
    out_channels: usize,
    height: usize,
    width: usize,
    time_channels: usize,
    flip_sin_to_cos: bool,
    freq_shift: f64,
    center_input_sample: bool,
}

/// One down or up block: resnets, each followed by attention in `Attn*Block2D`, then the
/// resampling convolution (a stride-2 conv down, nearest ×2 then a conv up).
#[derive(Module, Debug)]
struct Level {
    resnets: Vec<Resnet>,
    attentions: Vec<Attention>,
    resample: Option<Conv2d>,
}

/// `ResnetBlock2D`: GN → SiLU → conv → + time (or scale-shift after GN) → GN → SiLU → conv,
/// plus the (1×1-projected) input, divided by `output_scale`.
#[derive(Module, Debug)]
struct Resnet {
    norm1: GroupNorm,
    conv1: Conv2d,
    time_emb_proj: Linear,
    norm2: GroupNorm,
    conv2: Conv2d,
    conv_shortcut: Option<Conv2d>,
    scale_shift: bool,
    output_scale: f64,
}

/// diffusers' `Attention` on a feature map (`residual_connection`, no cross-attention):
/// optional GN, multi-head softmax(QKᵀ/√d_head)V over positions, output linear, plus the
/// input, divided by `rescale`.
#[derive(Module, Debug)]
struct Attention {
    group_norm: Option<GroupNorm>,
    to_q: Linear,
    to_k: Linear,
    to_v: Linear,
    to_out: Linear,
    heads: usize,
    rescale: f64,
}

/// Builds the network of `config` from `weights` (every tensor checked by name and shape).
pub fn build(
    config: &UNet2DConfig,
    weights: &mut Weights,
    image: [usize; 3],
) -> Built<DiffusersUNet> {
    let [channels, height, width] = image;
    let c0 = config.block_out_channels[0];
    let t = config.time_embed_dim;
    let mut b = Builder { config, weights };
    let time_linear_1 = b.linear("time_embedding.linear_1", c0, t)?;
    let time_linear_2 = b.linear("time_embedding.linear_2", t, t)?;
    let conv_in = b.conv("conv_in", channels, c0, 3, 1)?;
    let channels_out = &config.block_out_channels;
    let levels = config.levels();
    let mut down = Vec::with_capacity(levels);
    let mut skip_channels = vec![c0];
    let mut current = c0;
    for (i, &out) in channels_out.iter().enumerate() {
        let prefix = format!("down_blocks.{i}");
        let mut resnets = Vec::new();
        let mut attentions = Vec::new();
        for j in 0..config.layers_per_block {
            let c_in = if j == 0 { current } else { out };
            resnets.push(b.resnet(&format!("{prefix}.resnets.{j}"), c_in, out, 1.0)?);
            if config.down_attention[i] {
                let groups = Some(config.norm_num_groups);
                attentions.push(b.attention(
                    &format!("{prefix}.attentions.{j}"),
                    out,
                    groups,
                    1.0,
                )?);
            }
            skip_channels.push(out);
        }
        let resample = if i + 1 < levels {
            skip_channels.push(out);
            Some(b.downsample(&format!("{prefix}.downsamplers.0.conv"), out)?)
        } else {
            None
        };
        down.push(Level {
            resnets,
            attentions,
            resample,
        });
        current = out;
    }
    let scale = config.mid_block_scale_factor;
    let mid_resnets = vec![
        b.resnet("mid_block.resnets.0", current, current, scale)?,
        b.resnet("mid_block.resnets.1", current, current, scale)?,
    ];
    let mid_attention = if config.mid_attention {
        Some(b.attention(
            "mid_block.attentions.0",
            current,
            config.mid_attention_groups,
            scale,
        )?)
    } else {
        None
    };
    let mut up = Vec::with_capacity(levels);
    for (i, &out) in channels_out.iter().rev().enumerate() {
        let prefix = format!("up_blocks.{i}");
        let mut resnets = Vec::new();
        let mut attentions = Vec::new();
        for j in 0..=config.layers_per_block {
            let skip = skip_channels.pop().expect("one skip per up resnet");
            let c_in = if j == 0 { current } else { out };
            resnets.push(b.resnet(&format!("{prefix}.resnets.{j}"), c_in + skip, out, 1.0)?);
            if config.up_attention[i] {
                let groups = Some(config.norm_num_groups);
                attentions.push(b.attention(
                    &format!("{prefix}.attentions.{j}"),
                    out,
                    groups,
                    1.0,
                )?);
            }
            current = out;
        }
        let resample = if i + 1 < levels {
            Some(b.conv(&format!("{prefix}.upsamplers.0.conv"), out, out, 3, 1)?)
        } else {
            None
        };
        up.push(Level {
            resnets,
            attentions,
            resample,
        });
    }
    let norm_out = b.group_norm("conv_norm_out", config.norm_num_groups, c0)?;
    let conv_out = b.conv("conv_out", c0, config.out_channels, 3, 1)?;
    Ok(DiffusersUNet {
        time_linear_1,
        time_linear_2,
        conv_in,
        down,
        mid_resnets,
        mid_attention,
        up,
        norm_out,
        conv_out,
        in_channels: channels,
        out_channels: config.out_channels,
        height,
        width,
        time_channels: c0,
        flip_sin_to_cos: config.flip_sin_to_cos,
        freq_shift: config.freq_shift,
        center_input_sample: config.center_input_sample,
    })
}

/// Takes layers' tensors from the weights under diffusers' names.
struct Builder<'a> {
    config: &'a UNet2DConfig,
    weights: &'a mut Weights,
}

impl Builder<'_> {
    /// `names` with `.suffix` appended to each.
    fn named(names: &[&str], suffix: &str) -> Vec<String> {
        names.iter().map(|n| format!("{n}.{suffix}")).collect()
    }

    fn linear_aliased(&mut self, names: &[&str], d_in: usize, d_out: usize) -> Built<Linear> {
        Ok(Linear {
            weight: self
                .weights
                .linear_weight(&Self::named(names, "weight"), d_in, d_out)?,
            bias: Some(self.weights.param(&Self::named(names, "bias"), [d_out])?),
        })
    }

    fn linear(&mut self, name: &str, d_in: usize, d_out: usize) -> Built<Linear> {
        self.linear_aliased(&[name], d_in, d_out)
    }

    fn conv_padded(
        &mut self,
        name: &str,
        (c_in, c_out): (usize, usize),
        k: usize,
        stride: usize,
        padding: PaddingConfig2d,
    ) -> Built<Conv2d> {
        Ok(Conv2d {
            weight: self
                .weights
                .param(&Self::named(&[name], "weight"), [c_out, c_in, k, k])?,
            bias: Some(self.weights.param(&Self::named(&[name], "bias"), [c_out])?),
            stride: [stride, stride],
            kernel_size: [k, k],
            dilation: [1, 1],
            groups: 1,
            padding,
        })
    }

    /// A stride-1 `k × k` convolution with symmetric padding `p`.
    fn conv(&mut self, name: &str, c_in: usize, c_out: usize, k: usize, p: usize) -> Built<Conv2d> {
        self.conv_padded(
            name,
            (c_in, c_out),
            k,
            1,
            PaddingConfig2d::Explicit(p, p, p, p),
        )
    }

    /// `Downsample2D` (diffusers `models/downsampling.py`): a 3×3 stride-2 convolution with
    /// padding `downsample_padding`; with padding 0 the input is first padded by one row
    /// and column at the bottom and right (`F.pad(x, (0, 1, 0, 1))`).
    fn downsample(&mut self, name: &str, c: usize) -> Built<Conv2d> {
        let p = self.config.downsample_padding;
        let padding = if p == 0 {
            PaddingConfig2d::Explicit(0, 0, 1, 1)
        } else {
            PaddingConfig2d::Explicit(p, p, p, p)
        };
        self.conv_padded(name, (c, c), 3, 2, padding)
    }

    fn group_norm(&mut self, name: &str, groups: usize, c: usize) -> Built<GroupNorm> {
        Ok(GroupNorm {
            gamma: Some(self.weights.param(&Self::named(&[name], "weight"), [c])?),
            beta: Some(self.weights.param(&Self::named(&[name], "bias"), [c])?),
            num_groups: groups,
            num_channels: c,
            epsilon: self.config.norm_eps,
            affine: true,
        })
    }

    fn resnet(
        &mut self,
        name: &str,
        c_in: usize,
        c_out: usize,
        output_scale: f64,
    ) -> Built<Resnet> {
        let groups = self.config.norm_num_groups;
        let time_out = if self.config.scale_shift {
            2 * c_out
        } else {
            c_out
        };
        let shortcut_name = format!("{name}.conv_shortcut");
        Ok(Resnet {
            norm1: self.group_norm(&format!("{name}.norm1"), groups, c_in)?,
            conv1: self.conv(&format!("{name}.conv1"), c_in, c_out, 3, 1)?,
            time_emb_proj: self.linear(
                &format!("{name}.time_emb_proj"),
                self.config.time_embed_dim,
                time_out,
            )?,
            norm2: self.group_norm(&format!("{name}.norm2"), groups, c_out)?,
            conv2: self.conv(&format!("{name}.conv2"), c_out, c_out, 3, 1)?,
            conv_shortcut: if c_in != c_out {
                Some(self.conv(&shortcut_name, c_in, c_out, 1, 0)?)
            } else {
                None
            },
            scale_shift: self.config.scale_shift,
            output_scale,
        })
    }

    /// An attention block over `c` channels; the names of diffusers' `Attention`
    /// (`to_q`, …, `to_out.0`) or of checkpoints saved before it (`query`, …, `proj_attn`).
    fn attention(
        &mut self,
        name: &str,
        c: usize,
        groups: Option<usize>,
        rescale: f64,
    ) -> Built<Attention> {
        let named = |new: &str, old: &str| [format!("{name}.{new}"), format!("{name}.{old}")];
        let linear = |b: &mut Self, new: &str, old: &str| {
            let [a, o] = named(new, old);
            b.linear_aliased(&[&a, &o], c, c)
        };
        Ok(Attention {
            group_norm: match groups {
                Some(g) => Some(self.group_norm(&format!("{name}.group_norm"), g, c)?),
                None => None,
            },
            to_q: linear(self, "to_q", "query")?,
            to_k: linear(self, "to_k", "key")?,
            to_v: linear(self, "to_v", "value")?,
            to_out: linear(self, "to_out.0", "proj_attn")?,
            heads: self.config.heads(c),
            rescale,
        })
    }
}

impl DiffusersUNet {
    /// F(x, t): `x` `[n, c·h·w]` (row-major images), `t` `[n]` timesteps → `[n, c_out·h·w]`.
    pub fn forward(&self, x: Tensor<2>, t: Tensor<1>) -> Tensor<2> {
        let [n, _] = x.dims();
        let mut h = x.reshape([n, self.in_channels, self.height, self.width]);
        if self.center_input_sample {
            h = h.mul_scalar(2.0).sub_scalar(1.0);
        }
        let emb = self.time_embedding(t);
        h = self.conv_in.forward(h);
        let mut skips = vec![h.clone()];
        for level in &self.down {
            for (k, resnet) in level.resnets.iter().enumerate() {
                h = resnet.forward(h, emb.clone());
                if let Some(attention) = level.attentions.get(k) {
                    h = attention.forward(h);
                }
                skips.push(h.clone());
            }
            if let Some(conv) = &level.resample {
                h = conv.forward(h);
                skips.push(h.clone());
            }
        }
        h = self.mid_resnets[0].forward(h, emb.clone());
        if let Some(attention) = &self.mid_attention {
            h = attention.forward(h);
        }
        h = self.mid_resnets[1].forward(h, emb.clone());
        for level in &self.up {
            for (k, resnet) in level.resnets.iter().enumerate() {
                let skip = skips.pop().expect("one skip per up resnet");
                h = resnet.forward(Tensor::cat(vec![h, skip], 1), emb.clone());
                if let Some(attention) = level.attentions.get(k) {
                    h = attention.forward(h);
                }
            }
            if let Some(conv) = &level.resample {
                h = conv.forward(upsample_nearest2(h));
            }
        }
        let out = self.conv_out.forward(silu(self.norm_out.forward(h)));
        out.reshape([n, self.out_channels * self.height * self.width])
    }

    /// `TimestepEmbedding(Timesteps(t))`: linear → SiLU → linear of the sinusoidal embedding.
    fn time_embedding(&self, t: Tensor<1>) -> Tensor<2> {
        let phi = timestep_embedding(t, self.time_channels, self.flip_sin_to_cos, self.freq_shift);
        self.time_linear_2
            .forward(silu(self.time_linear_1.forward(phi)))
    }

    /// Input dimension c·h·w.
    pub fn dim(&self) -> usize {
        self.in_channels * self.height * self.width
    }

    /// Output dimension c_out·h·w.
    pub fn out_dim(&self) -> usize {
        self.out_channels * self.height * self.width
    }
}

/// diffusers' `get_timestep_embedding` (the DDPM positional embedding, Ho et al. 2020 App. B,
/// after Vaswani et al. 2017 §3.5): with half = dim/2 and
/// ω_k = exp(−ln(10000)·k/(half − freq_shift)), k = 0…half−1, the embedding of t is
/// [sin(t·ω), cos(t·ω)], or [cos, sin] with `flip_sin_to_cos`; a zero column pads an odd dim.
pub fn timestep_embedding(
    t: Tensor<1>,
    dim: usize,
    flip_sin_to_cos: bool,
    freq_shift: f64,
) -> Tensor<2> {
    let [n] = t.dims();
    let half = dim / 2;
    // In f32 throughout, as diffusers computes it.
    let frequencies: Vec<f32> = (0..half)
        .map(|k| (-(10000f32.ln()) * k as f32 / (half as f32 - freq_shift as f32)).exp())
        .collect();
    let device = t.device();
    let omega = Tensor::<1>::from_data(TensorData::new(frequencies, [half]), &device);
    let angles = t.reshape([n, 1]).matmul(omega.reshape([1, half]));
    let (sin, cos) = (angles.clone().sin(), angles.cos());
    let mut emb = if flip_sin_to_cos {
        Tensor::cat(vec![cos, sin], 1)
    } else {
        Tensor::cat(vec![sin, cos], 1)
    };
    if dim % 2 == 1 {
        emb = Tensor::cat(vec![emb, Tensor::zeros([n, 1], &device)], 1);
    }
    emb
}

impl Resnet {
    fn forward(&self, x: Tensor<4>, emb: Tensor<2>) -> Tensor<4> {
        let h = self.conv1.forward(silu(self.norm1.forward(x.clone())));
        let [n, c, ..] = h.dims();
        let time = self.time_emb_proj.forward(silu(emb));
        let h = if self.scale_shift {
            let scale = time.clone().slice([0..n, 0..c]).reshape([n, c, 1, 1]);
            let shift = time.slice([0..n, c..2 * c]).reshape([n, c, 1, 1]);
            self.norm2.forward(h) * scale.add_scalar(1.0) + shift
        } else {
            self.norm2.forward(h + time.reshape([n, c, 1, 1]))
        };
        let h = self.conv2.forward(silu(h));
        let input = match &self.conv_shortcut {
            Some(conv) => conv.forward(x),
            None => x,
        };
        (input + h).div_scalar(self.output_scale)
    }
}

impl Attention {
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let [n, c, h, w] = x.dims();
        let normed = match &self.group_norm {
            Some(norm) => norm.forward(x.clone()),
            None => x.clone(),
        };
        // positions × channels: [n, hw, c]
        let tokens = normed.reshape([n, c, h * w]).swap_dims(1, 2);
        let (heads, d) = (self.heads, c / self.heads);
        let split = |t: Tensor<3>| t.reshape([n, h * w, heads, d]).swap_dims(1, 2);
        let q = split(self.to_q.forward(tokens.clone()));
        let k = split(self.to_k.forward(tokens.clone()));
        let v = split(self.to_v.forward(tokens));
        let weights = softmax(q.matmul(k.swap_dims(2, 3)).div_scalar((d as f64).sqrt()), 3);
        let out = weights.matmul(v).swap_dims(1, 2).reshape([n, h * w, c]);
        let out = self
            .to_out
            .forward(out)
            .swap_dims(1, 2)
            .reshape([n, c, h, w]);
        (out + x).div_scalar(self.rescale)
    }
}
