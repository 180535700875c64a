//! Data for the diffusion workspace: real images, loaders for users' files, and synthetic
//! distributions whose exact denoiser (hence score) is known.
//!
//! - [`digits`]: the 1797 UCI 8×8 digits, embedded in the binary (17 gray levels).
//! - [`load_mnist_csv_gz`], [`load_idx`], [`load_cifar10`]: MNIST-5k CSV, MNIST /
//!   Fashion-MNIST IDX and CIFAR-10 binary batches.
//! - [`Synthetic`]: seeded samplers of any size — Gaussian with a given or power-law
//!   spectrum, Gaussian mixture (given or random means), MoLRG (via crate `analytic`) and
//!   the 2-D toys of the flow/diffusion literature.
//! - [`images::ImageSet`]: folders of PNG/JPEG images, `.npz` reference batches and `.npy`
//!   arrays from other tools, in batches with values in [0, 1].
//! - [`DataSpec`]: the serde description an experiment file uses to name any of these.
//!
//! Every [`Dataset`] holds its images in [−1, 1] (x ↦ 2x/(L−1) − 1 for L gray levels),
//! flattened channel-major into a [`samplers::Batch`]. Every loader error names the file
//! and what it expected.

mod cifar;
mod csv;
mod dataset;
mod digits;
mod error;
mod idx;
pub mod images;
mod io;
mod spec;
pub mod synthetic;

pub use cifar::load_cifar10;
pub use csv::{load_mnist_csv_gz, shared_mnist5k_path, MNIST5K_HINT};
pub use dataset::{scale_from_unit, scale_to_unit, Dataset};
pub use digits::digits;
pub use error::{DataError, Result};
pub use idx::{encode_idx, load_idx};
pub use io::GZIP_MAGIC;
pub use spec::{DataSpec, LoadedData, PowerLaw};
pub use synthetic::Synthetic;

#[cfg(test)]
mod test_support;
