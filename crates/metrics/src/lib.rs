//! Metrics for diffusion experiments: sample quality (distances between a generated and a
//! reference sample set), likelihood, and the geometry of denoisers. Sample metrics take
//! [`samplers::Batch`]es (rows are samples or features); denoiser metrics take any
//! [`samplers::Denoiser`] (a closed form from `analytic` or a trained network, never a
//! specific type) or an [`analytic::Distribution`] for exact references. Everything is
//! `f64`; randomness, where a metric needs any, comes from a [`samplers::rng::HostRng`].
//!
//! | module | metric |
//! |---|---|
//! | [`frechet`] | Fréchet distance / FID = exact W2² between fitted Gaussians |
//! | [`sliced`] | sliced Wasserstein-2 distance between empirical distributions |
//! | [`kid`] | kernel inception distance: unbiased MMD², cubic kernel, over subsets |
//! | [`moments`] | fast sample mean and covariance (faer, rayon) |
//! | [`jacobian`] | denoiser Jacobian (finite differences / exact), its spectrum, effective dimension, rank at 99% energy, principal angles |
//! | [`divergence`] | `tr ∇D` for a batch: exact finite differences or Hutchinson probes |
//! | [`sure`] | Stein's unbiased risk estimate of the denoiser MSE, next to the true MSE |
//! | [`score_agreement`] | explained variance of one score by another (Wang & Vastola 2023) |
//! | [`memorization`] | nearest-neighbour distance ratio, memorized fraction, cosine similarity |
//! | [`likelihood`] | NLL in bits/dim: exact (analytic), probability-flow ODE, DDPM variational bound |
//!
//! Cost (benchmark-friendly, all `fn(&Batch, &Batch, ..) -> Result<f64, MetricError>`):
//! [`frechet_distance`] is `O(n d²)` for the covariances (faer matrix products, parallel)
//! plus `O(d³)` for two symmetric eigen-decompositions; [`sliced_wasserstein`] is
//! `O(P (n d + n log n))` for `P` projections; [`kernel_inception_distance`] is
//! `O(S m² d)` for `S` subsets of size `m`. Denoiser metrics cost denoiser evaluations:
//! an exact Jacobian or trace needs `2d` (+1) rows per point in one batched call, a
//! Hutchinson trace `2P` (+1); the ODE likelihood makes two such calls per Heun step.

pub mod divergence;
mod error;
pub mod frechet;
pub mod jacobian;
pub mod kid;
pub mod likelihood;
mod linalg;
pub mod memorization;
pub mod moments;
pub mod score_agreement;
pub mod sliced;
pub mod sure;

pub use divergence::{denoise_with_trace, TraceEstimator};
pub use error::MetricError;
pub use frechet::{frechet_distance, frechet_distance_gaussians, gaussian_w2_squared};
pub use jacobian::{
    denoiser_jacobians, effective_dimension, finite_difference_jacobian, jacobian_spectrum,
    principal_angles, rank_at_energy, JacobianMethod, JacobianSpectrum,
};
pub use kid::{kernel_inception_distance, mmd2_unbiased, KidEstimate};
pub use memorization::{
    cosine_similarity, memorized_fraction, nearest_neighbour_ratios, NearestNeighbours,
    MEMORIZATION_RATIO,
};
pub use moments::{mean_and_covariance, StreamingMoments};
pub use score_agreement::{explained_variance, score_agreement, score_explained_variances};
pub use sliced::sliced_wasserstein;
pub use sure::{sure_and_mse, sure_from_noisy, SureReport};
