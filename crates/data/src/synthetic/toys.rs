//! The 2-D toy distributions of the normalizing-flow and diffusion literature, built as in
//! FFJORD's `lib/toy_data.py` (Grathwohl et al. 2019) and the WGAN-GP toy code
//! (Gulrajani et al. 2017). All parameters are in output units (after the reference code's
//! final rescaling); the defaults are documented on each type.

use std::f64::consts::PI;
use std::sync::Arc;

use rand::Rng;
use rand_distr::StandardNormal;
use samplers::rng::HostRng;
use samplers::{Batch, Denoiser};

use super::Synthetic;
use crate::{DataError, Result};

fn check_noise(name: &str, value: f64) -> Result<f64> {
    if value.is_finite() && value >= 0.0 {
        Ok(value)
    } else {
        Err(DataError::invalid(name, value, "must be finite and ≥ 0"))
    }
}

fn check_positive(name: &str, value: f64) -> Result<f64> {
    if value.is_finite() && value > 0.0 {
        Ok(value)
    } else {
        Err(DataError::invalid(name, value, "must be finite and > 0"))
    }
}

/// Draws `n` points `f(rng)` plus isotropic Gaussian noise of standard deviation `noise`.
fn sample_2d(
    n: usize,
    rng: &mut HostRng,
    noise: f64,
    f: impl Fn(&mut HostRng) -> [f64; 2],
) -> Batch {
    let mut data = Vec::with_capacity(2 * n);
    for _ in 0..n {
        let p = f(rng);
        for x in p {
            let e: f64 = rng.sample(StandardNormal);
            data.push(x + noise * e);
        }
    }
    Batch::from_vec(n, 2, data).expect("two coordinates per point")
}

/// Exact denoiser of an equal-weight mixture of isotropic Gaussians N(c_k, std²·I₂).
fn isotropic_gmm(centers: &[[f64; 2]], std: f64) -> Arc<analytic::GaussianMixture> {
    let k = centers.len();
    let var = std * std;
    let gmm = analytic::GaussianMixture::new(
        vec![1.0 / k as f64; k],
        centers.iter().map(|c| c.to_vec()).collect(),
        vec![vec![var, 0.0, 0.0, var]; k],
    )
    .expect("validated centers and std give a valid mixture");
    Arc::new(gmm)
}

/// Two interleaving half circles (scikit-learn `make_moons`, as used by FFJORD):
/// upper moon (cos θ, sin θ), lower moon (1 − cos θ, ½ − sin θ), θ ~ U[0, π], each with
/// probability ½, mapped by x ↦ 2x + (−1, −0.2), plus N(0, noise²·I). Mean (0, 0.3).
/// Default `noise = 0.2` (FFJORD's `noise = 0.1` before the ×2). No closed-form denoiser.
#[derive(Clone, Debug)]
pub struct TwoMoons {
    noise: f64,
}

impl TwoMoons {
    pub fn new(noise: f64) -> Result<Self> {
        Ok(Self {
            noise: check_noise("noise", noise)?,
        })
    }
}

impl Default for TwoMoons {
    fn default() -> Self {
        Self { noise: 0.2 }
    }
}

impl Synthetic for TwoMoons {
    fn name(&self) -> String {
        "moons".into()
    }
    fn dim(&self) -> usize {
        2
    }
    fn sample(&self, n: usize, rng: &mut HostRng) -> Batch {
        sample_2d(n, rng, self.noise, |rng| {
            let theta = PI * rng.random::<f64>();
            let (c, s) = (theta.cos(), theta.sin());
            let [x, y] = if rng.random::<bool>() {
                [c, s]
            } else {
                [1.0 - c, 0.5 - s]
            };
            [2.0 * x - 1.0, 2.0 * y - 0.2]
        })
    }
    fn exact_denoiser(&self) -> Option<Arc<dyn Denoiser>> {
        None
    }
}

/// The 2-D Swiss roll (scikit-learn `make_swiss_roll` keeping coordinates x and z, divided
/// by 5 as in FFJORD): t = 1.5π(1 + 2u), u ~ U[0, 1], point (t cos t, t sin t)/5 plus
/// N(0, noise²·I). Radius t/5 is uniform on [0.3π, 0.9π]. Default `noise = 0.2`
/// (FFJORD's `noise = 1.0` before the ÷5). No closed-form denoiser.
#[derive(Clone, Debug)]
pub struct SwissRoll {
    noise: f64,
}

impl SwissRoll {
    pub fn new(noise: f64) -> Result<Self> {
        Ok(Self {
            noise: check_noise("noise", noise)?,
        })
    }
}

impl Default for SwissRoll {
    fn default() -> Self {
        Self { noise: 0.2 }
    }
}

impl Synthetic for SwissRoll {
    fn name(&self) -> String {
        "swiss_roll".into()
    }
    fn dim(&self) -> usize {
        2
    }
    fn sample(&self, n: usize, rng: &mut HostRng) -> Batch {
        sample_2d(n, rng, self.noise, |rng| {
            let t = 1.5 * PI * (1.0 + 2.0 * rng.random::<f64>());
            [t * t.cos() / 5.0, t * t.sin() / 5.0]
        })
    }
    fn exact_denoiser(&self) -> Option<Arc<dyn Denoiser>> {
        None
    }
}

/// FFJORD's checkerboard: uniform on the 8 squares of side 2 in [−4, 4]² whose cell
/// indices ⌊x/2⌋ + ⌊y/2⌋ are even. Mean 0; each coordinate has variance 16/3. No noise,
/// no parameters; no closed-form denoiser here.
#[derive(Clone, Copy, Debug, Default)]
pub struct Checkerboard;

impl Synthetic for Checkerboard {
    fn name(&self) -> String {
        "checkerboard".into()
    }
    fn dim(&self) -> usize {
        2
    }
    fn sample(&self, n: usize, rng: &mut HostRng) -> Batch {
        sample_2d(n, rng, 0.0, |rng| {
            let x1 = 4.0 * rng.random::<f64>() - 2.0;
            let x2 = rng.random::<f64>() - 2.0 * f64::from(rng.random_range(0..2u8))
                + x1.floor().rem_euclid(2.0);
            [2.0 * x1, 2.0 * x2]
        })
    }
    fn exact_denoiser(&self) -> Option<Arc<dyn Denoiser>> {
        None
    }
}

/// Four concentric rings (FFJORD `rings`): radii 3, 2.25, 1.5, 0.75, a ring chosen
/// uniformly and an angle θ ~ U[0, 2π) (FFJORD spaces angles evenly instead), plus
/// N(0, noise²·I). Default `noise = 0.08`. No closed-form denoiser.
#[derive(Clone, Debug)]
pub struct Rings {
    noise: f64,
}

impl Rings {
    /// Ring radii, outermost first.
    pub const RADII: [f64; 4] = [3.0, 2.25, 1.5, 0.75];

    pub fn new(noise: f64) -> Result<Self> {
        Ok(Self {
            noise: check_noise("noise", noise)?,
        })
    }
}

impl Default for Rings {
    fn default() -> Self {
        Self { noise: 0.08 }
    }
}

impl Synthetic for Rings {
    fn name(&self) -> String {
        "rings".into()
    }
    fn dim(&self) -> usize {
        2
    }
    fn sample(&self, n: usize, rng: &mut HostRng) -> Batch {
        sample_2d(n, rng, self.noise, |rng| {
            let r = Self::RADII[rng.random_range(0..4)];
            let theta = 2.0 * PI * rng.random::<f64>();
            [r * theta.cos(), r * theta.sin()]
        })
    }
    fn exact_denoiser(&self) -> Option<Arc<dyn Denoiser>> {
        None
    }
}

/// Eight Gaussians (WGAN-GP toy, Gulrajani et al. 2017, before its ÷1.414): equal-weight
/// mixture of N(c_k, std²·I), c_k = radius·(cos kπ/4, sin kπ/4), k = 0…7.
/// Defaults `radius = 2`, `std = 0.02`. Exact denoiser: the Gaussian mixture's.
#[derive(Clone, Debug)]
pub struct EightGaussians {
    radius: f64,
    std: f64,
}

impl EightGaussians {
    pub fn new(radius: f64, std: f64) -> Result<Self> {
        Ok(Self {
            radius: check_positive("radius", radius)?,
            std: check_positive("std", std)?,
        })
    }

    /// The eight centers, counter-clockwise from (radius, 0).
    pub fn centers(&self) -> Vec<[f64; 2]> {
        (0..8)
            .map(|k| k as f64 * PI / 4.0)
            .map(|a| [self.radius * a.cos(), self.radius * a.sin()])
            .collect()
    }
}

impl Default for EightGaussians {
    fn default() -> Self {
        Self {
            radius: 2.0,
            std: 0.02,
        }
    }
}

impl Synthetic for EightGaussians {
    fn name(&self) -> String {
        "8gaussians".into()
    }
    fn dim(&self) -> usize {
        2
    }
    fn sample(&self, n: usize, rng: &mut HostRng) -> Batch {
        let centers = self.centers();
        sample_2d(n, rng, self.std, |rng| {
            centers[rng.random_range(0..centers.len())]
        })
    }
    fn exact_denoiser(&self) -> Option<Arc<dyn Denoiser>> {
        Some(isotropic_gmm(&self.centers(), self.std))
    }
    fn distribution(&self) -> Option<Arc<dyn analytic::Distribution>> {
        Some(isotropic_gmm(&self.centers(), self.std))
    }
}

/// Twenty-five Gaussians (WGAN-GP toy, before its ÷2.828): equal-weight mixture of
/// N(c_ij, std²·I) with c_ij = spacing·(i, j), i, j ∈ {−2, …, 2}.
/// Defaults `spacing = 2`, `std = 0.05`. Exact denoiser: the Gaussian mixture's.
#[derive(Clone, Debug)]
pub struct TwentyFiveGaussians {
    spacing: f64,
    std: f64,
}

impl TwentyFiveGaussians {
    pub fn new(spacing: f64, std: f64) -> Result<Self> {
        Ok(Self {
            spacing: check_positive("spacing", spacing)?,
            std: check_positive("std", std)?,
        })
    }

    /// The 25 grid centers, row by row.
    pub fn centers(&self) -> Vec<[f64; 2]> {
        let grid = -2..=2;
        grid.clone()
            .flat_map(|i| grid.clone().map(move |j| [f64::from(i), f64::from(j)]))
            .map(|[i, j]| [self.spacing * i, self.spacing * j])
            .collect()
    }
}

impl Default for TwentyFiveGaussians {
    fn default() -> Self {
        Self {
            spacing: 2.0,
            std: 0.05,
        }
    }
}

impl Synthetic for TwentyFiveGaussians {
    fn name(&self) -> String {
        "25gaussians".into()
    }
    fn dim(&self) -> usize {
        2
    }
    fn sample(&self, n: usize, rng: &mut HostRng) -> Batch {
        let centers = self.centers();
        sample_2d(n, rng, self.std, |rng| {
            centers[rng.random_range(0..centers.len())]
        })
    }
    fn exact_denoiser(&self) -> Option<Arc<dyn Denoiser>> {
        Some(isotropic_gmm(&self.centers(), self.std))
    }
    fn distribution(&self) -> Option<Arc<dyn analytic::Distribution>> {
        Some(isotropic_gmm(&self.centers(), self.std))
    }
}

#[cfg(test)]
mod tests;
