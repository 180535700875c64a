//! `config.json` of a diffusers `UNet2DModel`: the fields this importer builds, with
//! diffusers' defaults, and a refusal naming the field for anything it does not build.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::DiffusersError;

/// Down blocks this importer builds.
const DOWN_BLOCKS: [&str; 2] = ["DownBlock2D", "AttnDownBlock2D"];
/// Up blocks this importer builds.
const UP_BLOCKS: [&str; 2] = ["UpBlock2D", "AttnUpBlock2D"];

/// The architecture of a `UNet2DModel` (diffusers `models/unets/unet_2d.py`), as far as this
/// importer builds it.
#[derive(Clone, Debug, PartialEq)]
pub struct UNet2DConfig {
    pub sample_size: Option<[usize; 2]>,
    pub in_channels: usize,
    pub out_channels: usize,
    /// x ↦ 2x − 1 before `conv_in`.
    pub center_input_sample: bool,
    /// Swap the sinusoidal embedding's halves to [cos, sin].
    pub flip_sin_to_cos: bool,
    /// `downscale_freq_shift` of the timestep embedding.
    pub freq_shift: f64,
    /// `true` for `AttnDownBlock2D`.
    pub down_attention: Vec<bool>,
    /// `true` for `AttnUpBlock2D`.
    pub up_attention: Vec<bool>,
    pub block_out_channels: Vec<usize>,
    pub layers_per_block: usize,
    pub mid_block_scale_factor: f64,
    pub downsample_padding: usize,
    /// `None` (JSON null): one head per attention block, as wide as its channels.
    pub attention_head_dim: Option<usize>,
    pub norm_num_groups: usize,
    /// Groups of the middle attention's GroupNorm (`None`: no norm there).
    pub mid_attention_groups: Option<usize>,
    pub norm_eps: f64,
    /// `resnet_time_scale_shift = "scale_shift"` (else `"default"`).
    pub scale_shift: bool,
    pub mid_attention: bool,
    /// Width of the time embedding MLP (`time_embedding_dim`, default 4·block_out_channels[0]).
    pub time_embed_dim: usize,
}

impl UNet2DConfig {
    /// Reads and checks `path` (a `config.json`).
    pub fn read(path: &Path) -> Result<Self, DiffusersError> {
        let text = std::fs::read_to_string(path).map_err(|source| DiffusersError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(path, &text)
    }

    /// Parses `config.json` text; `path` names it in errors.
    pub fn parse(path: &Path, text: &str) -> Result<Self, DiffusersError> {
        let value: Value = serde_json::from_str(text).map_err(|e| DiffusersError::Config {
            path: path.to_path_buf(),
            field: "(file)".into(),
            message: format!("is not valid JSON: {e}"),
        })?;
        let Value::Object(map) = value else {
            return Err(DiffusersError::Config {
                path: path.to_path_buf(),
                field: "(file)".into(),
                message: "must be a JSON object".into(),
            });
        };
        Fields {
            path: path.to_path_buf(),
            map,
        }
        .config()
    }

    /// Spatial levels (one per entry of `block_out_channels`).
    pub fn levels(&self) -> usize {
        self.block_out_channels.len()
    }

    /// Heads of an attention block over `channels`.
    pub fn heads(&self, channels: usize) -> usize {
        self.attention_head_dim.map_or(1, |d| (channels / d).max(1))
    }
}

/// The JSON object of a config file, read field by field with diffusers' defaults.
struct Fields {
    path: PathBuf,
    map: Map<String, Value>,
}

impl Fields {
    fn error(&self, field: &str, message: impl Into<String>) -> DiffusersError {
        DiffusersError::Config {
            path: self.path.clone(),
            field: field.to_string(),
            message: message.into(),
        }
    }

    /// The field's value, `None` when absent.
    fn get(&self, field: &str) -> Option<&Value> {
        self.map.get(field)
    }

    fn usize_or(&self, field: &str, default: usize) -> Result<usize, DiffusersError> {
        match self.get(field) {
            None => Ok(default),
            Some(v) => v
                .as_u64()
                .map(|u| u as usize)
                .ok_or_else(|| self.error(field, format!("= {v} must be a non-negative integer"))),
        }
    }

    fn f64_or(&self, field: &str, default: f64) -> Result<f64, DiffusersError> {
        match self.get(field) {
            None => Ok(default),
            Some(v) => v
                .as_f64()
                .ok_or_else(|| self.error(field, format!("= {v} must be a number"))),
        }
    }

    fn bool_or(&self, field: &str, default: bool) -> Result<bool, DiffusersError> {
        match self.get(field) {
            None => Ok(default),
            Some(v) => v
                .as_bool()
                .ok_or_else(|| self.error(field, format!("= {v} must be true or false"))),
        }
    }

    fn str_or<'a>(&'a self, field: &str, default: &'a str) -> Result<&'a str, DiffusersError> {
        match self.get(field) {
            None | Some(Value::Null) => Ok(default),
            Some(v) => v
                .as_str()
                .ok_or_else(|| self.error(field, format!("= {v} must be a string"))),
        }
    }

    /// An optional integer: absent → `default`, null → `None`.
    fn optional_usize(
        &self,
        field: &str,
        default: Option<usize>,
    ) -> Result<Option<usize>, DiffusersError> {
        match self.get(field) {
            None => Ok(default),
            Some(Value::Null) => Ok(None),
            Some(_) => self.usize_or(field, 0).map(Some),
        }
    }

    fn strings(&self, field: &str, default: &[&str]) -> Result<Vec<String>, DiffusersError> {
        match self.get(field) {
            None => Ok(default.iter().map(|s| s.to_string()).collect()),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| {
                    v.as_str()
                        .map(str::to_string)
                        .ok_or_else(|| self.error(field, format!("entry {v} must be a string")))
                })
                .collect(),
            Some(v) => Err(self.error(field, format!("= {v} must be a list of block types"))),
        }
    }

    fn usizes(&self, field: &str, default: &[usize]) -> Result<Vec<usize>, DiffusersError> {
        match self.get(field) {
            None => Ok(default.to_vec()),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| {
                    v.as_u64()
                        .map(|u| u as usize)
                        .ok_or_else(|| self.error(field, format!("entry {v} must be an integer")))
                })
                .collect(),
            Some(v) => Err(self.error(field, format!("= {v} must be a list of integers"))),
        }
    }

    /// Refuses `field` unless it is absent, null or `expected`.
    fn require(&self, field: &str, expected: &str) -> Result<(), DiffusersError> {
        match self.get(field) {
            None | Some(Value::Null) => Ok(()),
            Some(Value::String(s)) if s == expected => Ok(()),
            Some(v) => Err(self.error(
                field,
                format!("= {v} is not supported (this importer builds {expected:?})"),
            )),
        }
    }

    /// Refuses `field` unless it is absent or null.
    fn require_null(&self, field: &str, what: &str) -> Result<(), DiffusersError> {
        match self.get(field) {
            None | Some(Value::Null) => Ok(()),
            Some(v) => Err(self.error(field, format!("= {v}: {what} are not supported"))),
        }
    }

    /// Attention flags of a list of block types, refusing the types not built here.
    fn block_attention(
        &self,
        field: &str,
        types: &[String],
        supported: [&str; 2],
    ) -> Result<Vec<bool>, DiffusersError> {
        types
            .iter()
            .map(|t| match supported.iter().position(|s| s == t) {
                Some(k) => Ok(k == 1),
                None => Err(self.error(
                    field,
                    format!("contains {t:?}: only {supported:?} are supported"),
                )),
            })
            .collect()
    }

    fn config(&self) -> Result<UNet2DConfig, DiffusersError> {
        self.require("_class_name", "UNet2DModel")?;
        self.require("time_embedding_type", "positional")?;
        self.require("mid_block_type", "UNetMidBlock2D")?;
        self.require("downsample_type", "conv")?;
        self.require("upsample_type", "conv")?;
        self.require("act_fn", "silu")?;
        self.require_null("class_embed_type", "class embeddings")?;
        self.require_null("num_class_embeds", "class embeddings")?;
        self.require_null("cross_attention_dim", "cross-attention layers")?;
        let shift = self.str_or("resnet_time_scale_shift", "default")?;
        let scale_shift = match shift {
            "default" => false,
            "scale_shift" => true,
            other => {
                return Err(self.error(
                    "resnet_time_scale_shift",
                    format!("= {other:?} is not supported (\"default\" or \"scale_shift\")"),
                ))
            }
        };
        let block_out_channels = self.usizes("block_out_channels", &[224, 448, 672, 896])?;
        let down_types = self.strings(
            "down_block_types",
            &[
                "DownBlock2D",
                "AttnDownBlock2D",
                "AttnDownBlock2D",
                "AttnDownBlock2D",
            ],
        )?;
        let up_types = self.strings(
            "up_block_types",
            &[
                "AttnUpBlock2D",
                "AttnUpBlock2D",
                "AttnUpBlock2D",
                "UpBlock2D",
            ],
        )?;
        let down_attention = self.block_attention("down_block_types", &down_types, DOWN_BLOCKS)?;
        let up_attention = self.block_attention("up_block_types", &up_types, UP_BLOCKS)?;
        let levels = block_out_channels.len();
        if levels == 0 || block_out_channels.contains(&0) {
            return Err(self.error(
                "block_out_channels",
                format!("= {block_out_channels:?} must be a non-empty list of positive widths"),
            ));
        }
        for (field, n) in [
            ("down_block_types", down_types.len()),
            ("up_block_types", up_types.len()),
        ] {
            if n != levels {
                return Err(self.error(
                    field,
                    format!("has {n} entries; block_out_channels has {levels}"),
                ));
            }
        }
        let norm_num_groups = self.usize_or("norm_num_groups", 32)?;
        if let Some(&c) = block_out_channels
            .iter()
            .find(|&&c| norm_num_groups == 0 || c % norm_num_groups != 0)
        {
            return Err(self.error(
                "norm_num_groups",
                format!(
                    "= {norm_num_groups} must divide every block_out_channels entry ({c} does not)"
                ),
            ));
        }
        let attn_norm_num_groups = self.optional_usize("attn_norm_num_groups", None)?;
        // diffusers' UNetMidBlock2D: without attn_norm_num_groups, its attention normalizes
        // with the resnets' groups under "default" and not at all under "scale_shift".
        let mid_attention_groups =
            attn_norm_num_groups.or((!scale_shift).then_some(norm_num_groups));
        let layers_per_block = self.usize_or("layers_per_block", 2)?;
        if layers_per_block == 0 {
            return Err(self.error("layers_per_block", "= 0 must be ≥ 1"));
        }
        let in_channels = self.usize_or("in_channels", 3)?;
        let out_channels = self.usize_or("out_channels", 3)?;
        if in_channels == 0 || out_channels == 0 {
            return Err(self.error("in_channels", "and out_channels must be ≥ 1"));
        }
        let sample_size = match self.get("sample_size") {
            None | Some(Value::Null) => None,
            Some(Value::Array(_)) => {
                let hw = self.usizes("sample_size", &[])?;
                match hw[..] {
                    [h, w] => Some([h, w]),
                    _ => return Err(self.error("sample_size", "must be an integer or [h, w]")),
                }
            }
            Some(_) => {
                let s = self.usize_or("sample_size", 0)?;
                Some([s, s])
            }
        };
        Ok(UNet2DConfig {
            sample_size,
            in_channels,
            out_channels,
            center_input_sample: self.bool_or("center_input_sample", false)?,
            flip_sin_to_cos: self.bool_or("flip_sin_to_cos", true)?,
            freq_shift: self.f64_or("freq_shift", 0.0)?,
            down_attention,
            up_attention,
            layers_per_block,
            mid_block_scale_factor: self.f64_or("mid_block_scale_factor", 1.0)?,
            downsample_padding: self.usize_or("downsample_padding", 1)?,
            attention_head_dim: self.optional_usize("attention_head_dim", Some(8))?,
            norm_num_groups,
            mid_attention_groups,
            norm_eps: self.f64_or("norm_eps", 1e-5)?,
            scale_shift,
            mid_attention: self.bool_or("add_attention", true)?,
            time_embed_dim: self
                .optional_usize("time_embedding_dim", None)?
                .unwrap_or(4 * block_out_channels[0]),
            block_out_channels,
        })
    }
}
