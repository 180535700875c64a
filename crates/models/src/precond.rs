//! Parameterizations: how a raw network output F becomes a denoiser. Every choice is
//! written in the one form of Karras et al. 2022 (EDM, Table 1 and §5):
//!
//! D(x̂; σ) = c_skip(σ)·x̂ + c_out(σ)·F(c_in(σ)·x̂; c_noise(σ)),
//!
//! on the EDM-frame input x̂ = x0 + σε. ε-, x0-, v- and score-prediction are special cases
//! with their own (c_skip, c_out, c_in); c_noise = ln(σ)/4 for all of them.

use samplers::Batch;
use serde::{Deserialize, Serialize};

/// What the network predicts.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Parameterization {
    /// ε-prediction (Ho et al. 2020): D = x̂ − σ·F; EDM's "VP" preconditioning.
    Eps,
    /// x0-prediction: D = F.
    X0,
    /// v-prediction (Salimans & Ho 2022), v = α·ε − σ_vp·x0 with α = 1/√(1+σ²),
    /// σ_vp = σ/√(1+σ²): D = x̂/(1+σ²) − σ/√(1+σ²)·F.
    V,
    /// Score prediction scaled by σ (Song & Ermon 2020): F ≈ σ·∇log p = −ε, D = x̂ + σ·F.
    Score,
    /// EDM preconditioning (Karras et al. 2022, Table 1) with data standard deviation σ_data.
    Edm {
        #[serde(default = "default_sigma_data")]
        sigma_data: f64,
    },
}

fn default_sigma_data() -> f64 {
    0.5
}

impl Default for Parameterization {
    fn default() -> Self {
        Parameterization::Edm {
            sigma_data: default_sigma_data(),
        }
    }
}

/// The four preconditioning coefficients at one σ.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Precond {
    pub c_skip: f64,
    pub c_out: f64,
    pub c_in: f64,
    pub c_noise: f64,
}

/// EDM preconditioning (Karras et al. 2022, Table 1; NVlabs/edm `EDMPrecond`):
/// c_skip = σ_d²/(σ² + σ_d²), c_out = σσ_d/√(σ² + σ_d²), c_in = 1/√(σ² + σ_d²), c_noise = ln(σ)/4.
pub fn edm_precond(sigma: f64, sigma_data: f64) -> Precond {
    let norm = (sigma * sigma + sigma_data * sigma_data).sqrt();
    Precond {
        c_skip: sigma_data * sigma_data / (norm * norm),
        c_out: sigma * sigma_data / norm,
        c_in: 1.0 / norm,
        c_noise: c_noise(sigma),
    }
}

/// c_noise(σ) = ln(σ)/4 (Karras et al. 2022, Table 1), used by every parameterization here.
pub fn c_noise(sigma: f64) -> f64 {
    sigma.ln() / 4.0
}

impl Parameterization {
    /// (c_skip, c_out, c_in, c_noise) at σ. The input scaling c_in = 1/√(σ² + 1) of the
    /// ε-, x0-, v- and score-parameterizations is the VP scaling x_t = x̂/√(1 + σ²).
    pub fn precond(&self, sigma: f64) -> Precond {
        let vp_in = 1.0 / (sigma * sigma + 1.0).sqrt();
        let (c_skip, c_out) = match *self {
            Parameterization::Edm { sigma_data } => return edm_precond(sigma, sigma_data),
            Parameterization::Eps => (1.0, -sigma),
            Parameterization::X0 => (0.0, 1.0),
            Parameterization::V => (1.0 / (1.0 + sigma * sigma), -sigma * vp_in),
            Parameterization::Score => (1.0, sigma),
        };
        Precond {
            c_skip,
            c_out,
            c_in: vp_in,
            c_noise: c_noise(sigma),
        }
    }

    /// The network output F* that makes D exact for a clean x0: F* = (x0 − c_skip·x̂)/c_out.
    /// (For ε-prediction this is ε, for x0-prediction x0, for v-prediction v, for score
    /// prediction −ε.)
    pub fn target(&self, x_hat: &Batch, x0: &Batch, sigma: f64) -> Batch {
        let p = self.precond(sigma);
        x0.lincomb(1.0 / p.c_out, x_hat, -p.c_skip / p.c_out)
    }

    /// D from a raw network output: c_skip·x̂ + c_out·F.
    pub fn denoised(&self, x_hat: &Batch, output: &Batch, sigma: f64) -> Batch {
        let p = self.precond(sigma);
        x_hat.lincomb(p.c_skip, output, p.c_out)
    }

    pub fn name(&self) -> &'static str {
        match self {
            Parameterization::Eps => "eps",
            Parameterization::X0 => "x0",
            Parameterization::V => "v",
            Parameterization::Score => "score",
            Parameterization::Edm { .. } => "edm",
        }
    }
}

/// ε from x0 at (x̂, σ): ε = (x̂ − x0)/σ.
pub fn eps_from_x0(x_hat: &Batch, x0: &Batch, sigma: f64) -> Batch {
    x_hat.lincomb(1.0 / sigma, x0, -1.0 / sigma)
}

/// x0 from ε: x0 = x̂ − σε.
pub fn x0_from_eps(x_hat: &Batch, eps: &Batch, sigma: f64) -> Batch {
    x_hat.lincomb(1.0, eps, -sigma)
}

/// Score of the noisy marginal from x0 (Tweedie): ∇log p = (x0 − x̂)/σ² = −ε/σ.
pub fn score_from_x0(x_hat: &Batch, x0: &Batch, sigma: f64) -> Batch {
    samplers::score_from_denoised(x_hat, x0, sigma)
}

/// v = α·ε − σ_vp·x0 with α = 1/√(1+σ²), σ_vp = σ/√(1+σ²) (Salimans & Ho 2022, §4).
pub fn v_from_x0(x_hat: &Batch, x0: &Batch, sigma: f64) -> Batch {
    let alpha = 1.0 / (1.0 + sigma * sigma).sqrt();
    eps_from_x0(x_hat, x0, sigma).lincomb(alpha, x0, -sigma * alpha)
}

/// x0 from v: with x_t = α·x̂, x0 = α·x_t − σ_vp·v.
pub fn x0_from_v(x_hat: &Batch, v: &Batch, sigma: f64) -> Batch {
    let alpha2 = 1.0 / (1.0 + sigma * sigma);
    x_hat.lincomb(alpha2, v, -sigma * alpha2.sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;
    use samplers::rng::seeded;

    const ALL: [Parameterization; 5] = [
        Parameterization::Eps,
        Parameterization::X0,
        Parameterization::V,
        Parameterization::Score,
        Parameterization::Edm { sigma_data: 0.5 },
    ];

    #[test]
    fn edm_coefficients_match_hand_values() {
        // σ = 0.5 = σ_data: c_skip = 1/2, c_out = 0.25/√0.5, c_in = 1/√0.5, c_noise = ln(0.5)/4.
        let p = edm_precond(0.5, 0.5);
        assert!((p.c_skip - 0.5).abs() < 1e-15);
        assert!((p.c_out - 0.25 / 0.5f64.sqrt()).abs() < 1e-15);
        assert!((p.c_in - 1.0 / 0.5f64.sqrt()).abs() < 1e-15);
        assert!((p.c_noise - 0.5f64.ln() / 4.0).abs() < 1e-15);
    }

    #[test]
    fn every_parameterization_round_trips_through_its_target() {
        let mut rng = seeded(1);
        let x0 = Batch::standard_normal(5, 3, &mut rng);
        let eps = Batch::standard_normal(5, 3, &mut rng);
        for sigma in [0.01, 0.7, 30.0] {
            let x_hat = x0.lincomb(1.0, &eps, sigma);
            for p in ALL {
                let back = p.denoised(&x_hat, &p.target(&x_hat, &x0, sigma), sigma);
                assert!(
                    back.max_abs_diff(&x0) < 1e-9 * (1.0 + sigma),
                    "{p:?} σ = {sigma}"
                );
            }
            // The targets are the named quantities.
            assert!(
                Parameterization::Eps
                    .target(&x_hat, &x0, sigma)
                    .max_abs_diff(&eps)
                    < 1e-9
            );
            assert!(
                Parameterization::X0
                    .target(&x_hat, &x0, sigma)
                    .max_abs_diff(&x0)
                    < 1e-12
            );
            assert!(
                Parameterization::Score
                    .target(&x_hat, &x0, sigma)
                    .max_abs_diff(&eps.scaled(-1.0))
                    < 1e-9
            );
            assert!(
                Parameterization::V
                    .target(&x_hat, &x0, sigma)
                    .max_abs_diff(&v_from_x0(&x_hat, &x0, sigma))
                    < 1e-9
            );
        }
    }

    #[test]
    fn conversions_between_eps_x0_score_and_v_agree() {
        let mut rng = seeded(2);
        let x0 = Batch::standard_normal(4, 2, &mut rng);
        let eps = Batch::standard_normal(4, 2, &mut rng);
        let sigma = 1.7;
        let x_hat = x0.lincomb(1.0, &eps, sigma);
        assert!(eps_from_x0(&x_hat, &x0, sigma).max_abs_diff(&eps) < 1e-12);
        assert!(x0_from_eps(&x_hat, &eps, sigma).max_abs_diff(&x0) < 1e-12);
        assert!(score_from_x0(&x_hat, &x0, sigma).max_abs_diff(&eps.scaled(-1.0 / sigma)) < 1e-12);
        let v = v_from_x0(&x_hat, &x0, sigma);
        assert!(x0_from_v(&x_hat, &v, sigma).max_abs_diff(&x0) < 1e-12);
        // v in VP terms: v = √ᾱ·ε − √(1−ᾱ)·x0 with ᾱ = 1/(1+σ²).
        let ab = 1.0 / (1.0 + sigma * sigma);
        let v_vp = eps.lincomb(ab.sqrt(), &x0, -(1.0 - ab).sqrt());
        assert!(v.max_abs_diff(&v_vp) < 1e-12);
    }
}
