//! The task tables: `[jacobian]` and `[memorization]`.

use super::KeyError;
use serde::{Deserialize, Serialize};

/// `[jacobian]`: what the jacobian task measures.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JacobianSpec {
    /// Energy level of the rank (Wang et al. 2024 use 0.99).
    #[serde(default = "default_energy")]
    pub energy: f64,
    /// r > 0: principal angles between the top-r eigenvectors of the model's and the
    /// reference's symmetric Jacobians (e.g. the MoLRG subspace dimension).
    #[serde(default)]
    pub subspace_dim: usize,
    /// `auto`: each denoiser's own Jacobian (exact for closed forms, reverse-mode autodiff
    /// for networks), finite differences for the rest; `finite_difference`: always finite
    /// differences (to compare the two).
    #[serde(default)]
    pub method: JacobianMethodSpec,
    /// Finite-difference step relative to σ, for denoisers without their own Jacobian.
    #[serde(default = "default_fd_step")]
    pub fd_step: f64,
    /// Write the top eigenvectors of the first probe as an image grid (image data only).
    #[serde(default)]
    pub eigenvector_images: usize,
}

/// `jacobian.method`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JacobianMethodSpec {
    #[default]
    Auto,
    FiniteDifference,
}

fn default_energy() -> f64 {
    0.99
}
fn default_fd_step() -> f64 {
    0.02
}

impl Default for JacobianSpec {
    fn default() -> Self {
        toml::from_str("").expect("defaults deserialize")
    }
}

impl JacobianSpec {
    /// Range checks; errors name the key and the value.
    pub fn validate(&self) -> Result<(), KeyError> {
        if !(self.energy > 0.0 && self.energy <= 1.0) {
            return Err(KeyError::new(
                "jacobian.energy",
                format!("jacobian.energy = {} must be in (0, 1]", self.energy),
            ));
        }
        if !(self.fd_step > 0.0 && self.fd_step.is_finite()) {
            return Err(KeyError::new(
                "jacobian.fd_step",
                format!("jacobian.fd_step = {} must be > 0", self.fd_step),
            ));
        }
        Ok(())
    }
}

/// `[memorization]`: the size of each training half and the memorization criterion.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemorizationSpec {
    /// N: training images in each of the two disjoint halves (2N ≤ the data set's size).
    #[serde(default = "default_size")]
    pub size: usize,
    /// A sample is memorized when d₁/d₂ < threshold, d₁ and d₂ its distances to the
    /// nearest and second-nearest image of its model's training half (1/3: Yoon et al.
    /// 2023, as in Kadkhodaie et al. 2024 and Wang et al. 2024).
    #[serde(default = "default_threshold")]
    pub threshold: f64,
    /// Write the first `images` sample pairs with their nearest training images as an
    /// image grid `images/samples_<cell>.png` (0: none).
    #[serde(default)]
    pub images: usize,
}

fn default_size() -> usize {
    100
}
fn default_threshold() -> f64 {
    metrics::memorization::MEMORIZATION_RATIO
}

impl Default for MemorizationSpec {
    fn default() -> Self {
        toml::from_str("").expect("defaults deserialize")
    }
}

impl MemorizationSpec {
    /// Range checks; errors name the key and the value.
    pub fn validate(&self) -> Result<(), KeyError> {
        if self.size < 2 {
            return Err(KeyError::new(
                "memorization.size",
                format!(
                    "memorization.size = {} must be ≥ 2 (the memorization ratio needs a second-nearest training image)",
                    self.size
                ),
            ));
        }
        if !(self.threshold > 0.0 && self.threshold <= 1.0) {
            return Err(KeyError::new(
                "memorization.threshold",
                format!(
                    "memorization.threshold = {} must be in (0, 1]",
                    self.threshold
                ),
            ));
        }
        Ok(())
    }
}
