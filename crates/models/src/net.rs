//! [`Net`]: every denoiser network of this crate behind one type, so parameterizations,
//! objectives and training work with any architecture; [`NetConfig`]: its `[model.net]`
//! description in experiment files.

use burn::module::Module;
use burn::tensor::{Device, Int, Tensor};
use samplers::rng::HostRng;

use crate::diffusers::DiffusersUNet;
use crate::error::ModelError;
use crate::mlp::{Mlp, MlpConfig};
use crate::unet::{UNet, UNetConfig};

/// A denoiser network F(x_in, c_noise[, labels]) on flattened batches: `[n, d]` in and out,
/// `c_noise` `[n]`, optional class labels `[n]` (the null class = `num_classes` for
/// unconditional evaluation under classifier-free guidance).
// burn's Module derive has no impl for Box; a Net is moved once per optimizer step, so the
// size difference between variants costs one memcpy of a few KB per step.
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum Net {
    Mlp(Mlp),
    UNet(UNet),
    /// A diffusers `UNet2DModel` imported from its folder ([`crate::diffusers`]); its
    /// `c_noise` is the DDPM timestep t and it takes no labels.
    Diffusers(DiffusersUNet),
}

impl Net {
    /// `labels`: `None` or the null class evaluate a conditional network unconditionally; an
    /// unconditional network ignores them.
    pub fn forward(
        &self,
        x: Tensor<2>,
        c_noise: Tensor<1>,
        labels: Option<Tensor<1, Int>>,
    ) -> Tensor<2> {
        match self {
            Net::Mlp(m) => m.forward_cond(x, c_noise, labels),
            Net::UNet(u) => u.forward(x, c_noise, labels),
            Net::Diffusers(u) => u.forward(x, c_noise),
        }
    }

    /// Data dimension d of the `[n, d]` inputs and outputs.
    pub fn dim(&self) -> usize {
        match self {
            Net::Mlp(m) => m.input.weight.dims()[0],
            Net::UNet(u) => u.dim(),
            Net::Diffusers(u) => u.dim(),
        }
    }

    /// The number of classes of a class-conditional network (the null class excluded).
    pub fn num_classes(&self) -> Option<usize> {
        match self {
            Net::Mlp(m) => m.num_classes,
            Net::UNet(u) => u.num_classes,
            Net::Diffusers(_) => None,
        }
    }
}

/// The architecture of a [`Net`] as written in experiment files, e.g.
/// `arch = "unet"` with `base = 32`, `mults = [1, 2]`; data shape and classes come from the
/// dataset ([`NetConfig::build`]).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "arch", rename_all = "snake_case", deny_unknown_fields)]
pub enum NetConfig {
    /// Residual MLP ([`crate::mlp`]) on the flattened data.
    Mlp {
        #[serde(default = "default_width")]
        width: usize,
        #[serde(default = "default_depth")]
        depth: usize,
        #[serde(default = "default_emb_dim")]
        emb_dim: usize,
    },
    /// UNet ([`crate::unet`]) for images.
    Unet {
        #[serde(default = "default_base")]
        base: usize,
        #[serde(default = "default_mults")]
        mults: Vec<usize>,
        #[serde(default = "default_blocks_per_level")]
        blocks_per_level: usize,
        #[serde(default = "default_attention")]
        attention: bool,
        #[serde(default = "default_groups")]
        groups: usize,
        #[serde(default = "default_emb_dim")]
        emb_dim: usize,
    },
}

fn default_width() -> usize {
    256
}
fn default_depth() -> usize {
    4
}
fn default_emb_dim() -> usize {
    64
}
fn default_base() -> usize {
    32
}
fn default_mults() -> Vec<usize> {
    vec![1, 2]
}
fn default_blocks_per_level() -> usize {
    1
}
fn default_attention() -> bool {
    true
}
fn default_groups() -> usize {
    8
}

impl Default for NetConfig {
    fn default() -> Self {
        NetConfig::Mlp {
            width: default_width(),
            depth: default_depth(),
            emb_dim: default_emb_dim(),
        }
    }
}

impl NetConfig {
    /// The `arch` name as written in files.
    pub fn arch(&self) -> &'static str {
        match self {
            NetConfig::Mlp { .. } => "mlp",
            NetConfig::Unet { .. } => "unet",
        }
    }

    /// The network for data of shape `[c, h, w]` (`[1, 1, d]` for vectors), class-conditional
    /// over `num_classes` when set, weights drawn from `rng`. A UNet on vector data is an error
    /// naming `arch`.
    pub fn build(
        &self,
        shape: [usize; 3],
        num_classes: Option<usize>,
        rng: &mut HostRng,
        device: &Device,
    ) -> Result<Net, ModelError> {
        let [c, h, w] = shape;
        match self {
            NetConfig::Mlp {
                width,
                depth,
                emb_dim,
            } => {
                let mut cfg = MlpConfig::new(c * h * w, *width, *depth, *emb_dim)?;
                if let Some(k) = num_classes {
                    cfg = cfg.with_classes(k)?;
                }
                Ok(Net::Mlp(cfg.init(rng, device)))
            }
            NetConfig::Unet {
                base,
                mults,
                blocks_per_level,
                attention,
                groups,
                emb_dim,
            } => {
                if c == 1 && h == 1 {
                    return Err(ModelError::invalid(
                        "arch",
                        "unet",
                        &format!("\"mlp\" for vector data of shape [1, 1, {w}]; unet needs images [c, h, w]"),
                    ));
                }
                let cfg = UNetConfig {
                    channels: c,
                    height: h,
                    width: w,
                    base: *base,
                    mults: mults.clone(),
                    blocks_per_level: *blocks_per_level,
                    attention_at_lowest: *attention,
                    groups: *groups,
                    emb_dim: *emb_dim,
                    num_classes,
                };
                Ok(Net::UNet(cfg.init(rng, device)?))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conditioning::labels_to_tensor;
    use crate::tensor::{batch_to_tensor, vec_to_tensor};
    use samplers::rng::seeded;
    use samplers::Batch;

    #[test]
    fn toml_defaults_and_unknown_keys() {
        let mlp: NetConfig = toml::from_str("arch = \"mlp\"").unwrap();
        assert_eq!(mlp, NetConfig::default());
        let unet: NetConfig =
            toml::from_str("arch = \"unet\"\nmults = [1, 2, 2]\nattention = false").unwrap();
        let want = NetConfig::Unet {
            base: 32,
            mults: vec![1, 2, 2],
            blocks_per_level: 1,
            attention: false,
            groups: 8,
            emb_dim: 64,
        };
        assert_eq!(unet, want);
        let err = toml::from_str::<NetConfig>("arch = \"mlp\"\nbase = 3")
            .unwrap_err()
            .to_string();
        assert!(err.contains("base"), "{err}");
        let err = toml::from_str::<NetConfig>("arch = \"transformer\"")
            .unwrap_err()
            .to_string();
        assert!(err.contains("transformer"), "{err}");
    }

    #[test]
    fn build_checks_shapes_and_passes_labels() {
        let device = Device::flex();
        let unet = NetConfig::Unet {
            base: 8,
            mults: vec![1, 2],
            blocks_per_level: 1,
            attention: true,
            groups: 4,
            emb_dim: 16,
        };
        let err = unet
            .build([1, 1, 2], None, &mut seeded(0), &device)
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("arch = unet must be \"mlp\""), "{err}");
        let err = unet
            .build([1, 7, 7], None, &mut seeded(0), &device)
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("height = 7"), "{err}");

        let x = batch_to_tensor(&Batch::standard_normal(2, 64, &mut seeded(1)), &device);
        let c = vec_to_tensor(&[0.0, 1.0], &device);
        let mlp = NetConfig::Mlp {
            width: 16,
            depth: 1,
            emb_dim: 8,
        };
        for cfg in [unet, mlp] {
            let net = cfg
                .build([1, 8, 8], Some(3), &mut seeded(2), &device)
                .unwrap();
            assert_eq!((net.dim(), net.num_classes()), (64, Some(3)));
            let a = net.forward(
                x.clone(),
                c.clone(),
                Some(labels_to_tensor(&[0, 1], &device)),
            );
            let b = net.forward(x.clone(), c.clone(), None);
            let diff: f32 = (a - b).abs().sum().into_scalar::<f32>();
            assert!(diff > 0.0, "{}: labels must reach the network", cfg.arch());
        }
    }
}
