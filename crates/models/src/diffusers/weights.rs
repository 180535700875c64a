//! The tensors of `diffusion_pytorch_model.safetensors`, as f32 by name; every tensor must
//! be used exactly once, with the shape the architecture expects.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use burn::module::Param;
use burn::tensor::{Device, Tensor, TensorData};
use rand::Rng;
use safetensors::{Dtype, SafeTensors};
use samplers::rng::HostRng;

use super::DiffusersError;

/// The tensors of one safetensors file, taken one by one while the network is built.
pub struct Weights {
    path: PathBuf,
    tensors: BTreeMap<String, (Vec<usize>, Vec<f32>)>,
    device: Device,
    /// Draw every tensor from this generator instead (architecture without weights).
    random: Option<HostRng>,
}

impl Weights {
    /// Reads every tensor of `path` as f32 (f16, bf16 and f64 are converted).
    pub fn read(path: &Path, device: &Device) -> Result<Self, DiffusersError> {
        let bytes = std::fs::read(path).map_err(|source| DiffusersError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let file = SafeTensors::deserialize(&bytes).map_err(|e| DiffusersError::Weights {
            path: path.to_path_buf(),
            tensor: "(file)".into(),
            message: format!("is not a safetensors file: {e}"),
        })?;
        let mut tensors = BTreeMap::new();
        for (name, view) in file.tensors() {
            let values =
                to_f32(view.dtype(), view.data()).ok_or_else(|| DiffusersError::Weights {
                    path: path.to_path_buf(),
                    tensor: name.clone(),
                    message: format!(
                        "has dtype {:?}; only F32, F16, BF16 and F64 are read",
                        view.dtype()
                    ),
                })?;
            tensors.insert(name, (view.shape().to_vec(), values));
        }
        Ok(Self {
            path: path.to_path_buf(),
            tensors,
            device: device.clone(),
            random: None,
        })
    }

    /// Every tensor asked for drawn from U(−0.05, 0.05) (γ of norms alike): the architecture
    /// of a config without its weights, e.g. to count parameters. `label` names it in errors.
    pub fn random(label: &Path, rng: HostRng, device: &Device) -> Self {
        Self {
            path: label.to_path_buf(),
            tensors: BTreeMap::new(),
            device: device.clone(),
            random: Some(rng),
        }
    }

    fn error(&self, tensor: &str, message: String) -> DiffusersError {
        DiffusersError::Weights {
            path: self.path.clone(),
            tensor: tensor.to_string(),
            message,
        }
    }

    /// Removes the tensor stored under the first of `names` present; its shape must be
    /// `shape`.
    fn take(&mut self, names: &[String], shape: &[usize]) -> Result<Vec<f32>, DiffusersError> {
        if let Some(rng) = &mut self.random {
            let n = shape.iter().product();
            return Ok((0..n).map(|_| rng.random_range(-0.05f32..0.05)).collect());
        }
        let Some(name) = names.iter().find(|n| self.tensors.contains_key(*n)) else {
            return Err(self.error(&names[0], format!("is missing (expected shape {shape:?})")));
        };
        let (found, values) = self.tensors.remove(name).expect("present");
        if found != shape {
            return Err(self.error(name, format!("has shape {found:?}, expected {shape:?}")));
        }
        Ok(values)
    }

    /// A rank-`D` parameter of `shape` stored under the first of `names`.
    pub fn param<const D: usize>(
        &mut self,
        names: &[String],
        shape: [usize; D],
    ) -> Result<Param<Tensor<D>>, DiffusersError> {
        let values = self.take(names, &shape)?;
        Ok(Param::from_data(
            TensorData::new(values, shape),
            &self.device,
        ))
    }

    /// A PyTorch `nn.Linear` weight `[out, in]`, transposed to burn's `[in, out]`.
    pub fn linear_weight(
        &mut self,
        names: &[String],
        d_in: usize,
        d_out: usize,
    ) -> Result<Param<Tensor<2>>, DiffusersError> {
        let values = self.take(names, &[d_out, d_in])?;
        let transposed: Vec<f32> = (0..d_in * d_out)
            .map(|k| values[(k % d_out) * d_in + k / d_out])
            .collect();
        Ok(Param::from_data(
            TensorData::new(transposed, [d_in, d_out]),
            &self.device,
        ))
    }

    /// Whether a tensor of this name is (still) present.
    pub fn contains(&self, name: &str) -> bool {
        self.tensors.contains_key(name)
    }

    /// Refuses tensors the architecture did not use.
    pub fn finish(self) -> Result<(), DiffusersError> {
        match self.tensors.keys().next() {
            None => Ok(()),
            Some(name) => Err(self.error(
                name,
                format!(
                    "is not part of the architecture config.json describes ({} unused tensors)",
                    self.tensors.len()
                ),
            )),
        }
    }
}

/// Little-endian values of a safetensors dtype as f32.
fn to_f32(dtype: Dtype, bytes: &[u8]) -> Option<Vec<f32>> {
    Some(match dtype {
        Dtype::F32 => bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect(),
        Dtype::F16 => bytes
            .chunks_exact(2)
            .map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32())
            .collect(),
        Dtype::BF16 => bytes
            .chunks_exact(2)
            .map(|b| half::bf16::from_le_bytes([b[0], b[1]]).to_f32())
            .collect(),
        Dtype::F64 => bytes
            .chunks_exact(8)
            .map(|b| f64::from_le_bytes(b.try_into().expect("8 bytes")) as f32)
            .collect(),
        _ => return None,
    })
}
