//! Metrics for diffusion experiments: sample quality (distances between a generated and a
//! reference sample set), likelihood, and the geometry of denoisers. Every metric takes
//! [`samplers::Batch`]es (rows are samples or features) and returns plain `f64`s, so
//! benchmarks and the runner call them directly; randomness, where a metric needs any,
//! comes from a [`samplers::rng::HostRng`] passed in.
//!
//! | module | metric |
//! |---|---|
//! | [`frechet`] | Fréchet distance / FID = exact W2² between fitted Gaussians |
//! | [`sliced`] | sliced Wasserstein-2 distance between empirical distributions |
//! | [`moments`] | fast sample mean and covariance (faer, rayon) |
//!
//! Later additions: kernel inception distance (KID), negative log-likelihood (NLL) through
//! the probability-flow ODE, denoiser Jacobians (Kadkhodaie et al. 2024).
//!
//! Cost (benchmark-friendly, all `fn(&Batch, &Batch, ..) -> Result<f64, MetricError>`):
//! [`frechet_distance`] is `O(n d²)` for the covariances (faer matrix products, parallel)
//! plus `O(d³)` for two symmetric eigen-decompositions; [`sliced_wasserstein`] is
//! `O(P (n d + n log n))` for `P` projections.

mod error;
pub mod frechet;
mod linalg;
pub mod moments;
pub mod sliced;

pub use error::MetricError;
pub use frechet::{frechet_distance, frechet_distance_gaussians, gaussian_w2_squared};
pub use moments::mean_and_covariance;
pub use sliced::sliced_wasserstein;
