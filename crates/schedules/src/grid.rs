//! Sampling grids: the points (t_i, σ_i, s_i) a sampler visits, in sampling order
//! (from high noise to low noise).

use crate::convert::{log_snr, sigma_from_log_snr};
use crate::error::{check_count, check_finite, check_less, check_positive, Result};
use crate::process::Process;

/// σ_i = (σ_max^{1/ρ} + i/(N−1)·(σ_min^{1/ρ} − σ_max^{1/ρ}))^ρ for i = 0…N−1, then σ_N = 0
/// (Karras et al. 2022 eq. 5). Returns N + 1 values; N = 1 gives [σ_max, 0].
pub fn karras_sigmas(sigma_min: f64, sigma_max: f64, rho: f64, n: usize) -> Result<Vec<f64>> {
    check_positive("sigma_min", sigma_min)?;
    check_positive("sigma_max", sigma_max)?;
    check_less("sigma_min", sigma_min, "sigma_max", sigma_max)?;
    check_positive("rho", rho)?;
    check_count("steps", n)?;
    let (max_inv_rho, min_inv_rho) = (sigma_max.powf(1.0 / rho), sigma_min.powf(1.0 / rho));
    let denom = (n.max(2) - 1) as f64;
    let mut sigmas: Vec<f64> = (0..n)
        .map(|i| (max_inv_rho + i as f64 / denom * (min_inv_rho - max_inv_rho)).powf(rho))
        .collect();
    sigmas.push(0.0);
    Ok(sigmas)
}

/// The points a sampler visits, in sampling order: time t_i, noise level σ_i = σ(t_i) and
/// scale s_i = s(t_i) of the EDM frame x = s(x0 + σε).
#[derive(Clone, Debug, PartialEq)]
pub struct Grid {
    /// Times t_i.
    pub t: Vec<f64>,
    /// Noise levels σ(t_i).
    pub sigma: Vec<f64>,
    /// Scales s(t_i).
    pub s: Vec<f64>,
}

impl Grid {
    /// The grid through the times `t` of `process`.
    pub fn from_t(process: &dyn Process, t: Vec<f64>) -> Grid {
        let sigma = t.iter().map(|&t| process.sigma(t)).collect();
        let s = t.iter().map(|&t| process.s(t)).collect();
        Grid { t, sigma, s }
    }

    /// The grid through the noise levels `sigma` of `process`; σ = 0 (a final data step)
    /// maps to t = 0.
    pub fn from_sigmas(process: &dyn Process, sigma: Vec<f64>) -> Grid {
        let t: Vec<f64> = sigma
            .iter()
            .map(|&sg| {
                if sg == 0.0 {
                    0.0
                } else {
                    process.t_of_sigma(sg)
                }
            })
            .collect();
        let s = t.iter().map(|&t| process.s(t)).collect();
        Grid { t, sigma, s }
    }

    /// The Karras grid ([`karras_sigmas`]) placed on `process`.
    pub fn karras(
        process: &dyn Process,
        sigma_min: f64,
        sigma_max: f64,
        rho: f64,
        n: usize,
    ) -> Result<Grid> {
        Ok(Grid::from_sigmas(
            process,
            karras_sigmas(sigma_min, sigma_max, rho, n)?,
        ))
    }

    /// Number of points.
    pub fn len(&self) -> usize {
        self.t.len()
    }

    /// True when the grid has no points.
    pub fn is_empty(&self) -> bool {
        self.t.is_empty()
    }
}

/// t_i = t_start + i/(n−1)(t_end − t_start), i = 0…n−1 (Song et al. 2021's samplers run
/// t from 1 down to ε; Karras et al. 2022 Table 1 "VP"/"VE" time steps).
pub fn uniform_t(process: &dyn Process, n: usize, t_start: f64, t_end: f64) -> Result<Grid> {
    check_count("steps", n)?;
    check_finite("t_start", t_start)?;
    check_finite("t_end", t_end)?;
    Ok(Grid::from_t(process, uniform(t_start, t_end, n)))
}

/// σ_i with log-SNR λ = −2 ln σ uniform from λ(σ_max) to λ(σ_min), i.e. σ geometric,
/// times t_i = t(σ_i) on `process` (Kingma et al. 2021; Lu et al. 2022's DPM-Solver grid).
pub fn uniform_log_snr(
    process: &dyn Process,
    n: usize,
    sigma_max: f64,
    sigma_min: f64,
) -> Result<Grid> {
    check_count("steps", n)?;
    check_positive("sigma_min", sigma_min)?;
    check_positive("sigma_max", sigma_max)?;
    check_less("sigma_min", sigma_min, "sigma_max", sigma_max)?;
    let lambdas = uniform(log_snr(sigma_max), log_snr(sigma_min), n);
    let mut sigmas: Vec<f64> = lambdas.into_iter().map(sigma_from_log_snr).collect();
    // Pin the ends to the requested values exactly.
    sigmas[0] = sigma_max;
    if n > 1 {
        sigmas[n - 1] = sigma_min;
    }
    Ok(Grid::from_sigmas(process, sigmas))
}

/// n points from `start` to `end` inclusive (n = 1: just `start`).
pub(crate) fn uniform(start: f64, end: f64, n: usize) -> Vec<f64> {
    if n == 1 {
        return vec![start];
    }
    (0..n)
        .map(|i| start + i as f64 / (n - 1) as f64 * (end - start))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::process::{EdmProcess, VpSde};

    #[test]
    fn karras_grid_matches_published_values() {
        let published = [
            80.0, 57.586, 40.786, 28.375, 19.353, 12.910, 8.401, 5.315, 3.257, 1.923, 1.088, 0.585,
            0.296, 0.140, 0.060, 0.023, 0.0075, 0.002,
        ];
        let sigmas = karras_sigmas(0.002, 80.0, 7.0, 18).unwrap();
        assert_eq!(sigmas.len(), 19);
        // Agreement to the 3rd decimal. Note σ_4 = 19.352453 rounds to 19.352; the sheet's
        // 19.353 is off by one unit in the last digit, so allow one unit.
        for (i, (&s, &p)) in sigmas.iter().zip(&published).enumerate() {
            assert!((s - p).abs() < 1e-3, "σ_{i} = {s}, published {p}");
        }
        assert!(
            (sigmas[1] - 57.58598472124816).abs() < 1e-11
                && (sigmas[4] - 19.35245298032523).abs() < 1e-11
        );
        assert!((sigmas[0] - 80.0).abs() < 1e-12 && (sigmas[17] - 0.002).abs() < 1e-15);
        assert_eq!(sigmas[18], 0.0);
        assert_eq!(karras_sigmas(0.002, 80.0, 7.0, 1).unwrap(), vec![80.0, 0.0]);
    }

    #[test]
    fn karras_rejects_bad_input_by_name() {
        let e = karras_sigmas(90.0, 80.0, 7.0, 18).unwrap_err().to_string();
        assert_eq!(e, "schedule.sigma_min = 90 must be < sigma_max = 80");
        let e = karras_sigmas(0.002, 80.0, 0.0, 18).unwrap_err().to_string();
        assert_eq!(e, "schedule.rho = 0 must be a finite number > 0");
        let e = karras_sigmas(0.002, 80.0, 7.0, 0).unwrap_err().to_string();
        assert_eq!(e, "schedule.steps = 0 must be between 1 and 10000000");
    }

    #[test]
    fn uniform_t_on_vp() {
        let vp = VpSde::default();
        let grid = uniform_t(&vp, 5, 1.0, 0.2).unwrap();
        assert_eq!(grid.len(), 5);
        for (i, &t) in grid.t.iter().enumerate() {
            assert!((t - (1.0 - 0.2 * i as f64)).abs() < 1e-15);
        }
        assert!((grid.s[0] - (-5.025f64).exp()).abs() < 1e-15);
        assert!((grid.sigma[0] - (10.05f64.exp_m1()).sqrt()).abs() < 1e-12);
    }

    #[test]
    fn uniform_log_snr_is_geometric_in_sigma() {
        let edm = EdmProcess::default();
        let grid = uniform_log_snr(&edm, 3, 100.0, 1.0).unwrap();
        assert_eq!((grid.sigma[0], grid.sigma[2]), (100.0, 1.0));
        assert!((grid.sigma[1] - 10.0).abs() < 1e-12);
        assert_eq!(grid.t, grid.sigma);
        // On VP the times map back to the same σ.
        let vp = VpSde::default();
        let grid = uniform_log_snr(&vp, 4, 80.0, 0.002).unwrap();
        for (&t, &sigma) in grid.t.iter().zip(&grid.sigma) {
            assert!((vp.sigma(t) / sigma - 1.0).abs() < 1e-10);
        }
    }

    #[test]
    fn karras_grid_on_vp_ends_at_t_zero() {
        let vp = VpSde::default();
        let grid = Grid::karras(&vp, 0.002, 80.0, 7.0, 18).unwrap();
        assert_eq!(grid.len(), 19);
        assert_eq!((grid.t[18], grid.s[18]), (0.0, 1.0));
        assert!((vp.sigma(grid.t[0]) - 80.0).abs() < 1e-9);
    }
}
