//! Exact negative log-likelihood of an analytic distribution, and unit conversions.

use analytic::Distribution;
use samplers::Batch;

use crate::error::{check_finite, check_len, check_positive};
use crate::MetricError;

/// Nats per sample → bits per dimension: `nll / (d ln 2)`.
pub fn nats_to_bits_per_dim(nats: f64, d: usize) -> f64 {
    nats / (d as f64 * std::f64::consts::LN_2)
}

/// Bits per dimension to add to a continuous NLL (density of data on the [−1, 1] scale) to
/// get the discrete NLL of data quantized to bins of width `bin_width` on that scale:
/// `P(bin) ≈ p·Δ`, so `−log2 P = −log2 p − log2 Δ`. Song et al. 2021 (`likelihood.py`,
/// uniform dequantization of 256 levels, `Δ = 2/256`) add 7; the DDPM decoder's bins have
/// `Δ = 2/(L − 1)` (Ho et al. 2020).
pub fn dequantization_offset_bits(bin_width: f64) -> Result<f64, MetricError> {
    check_positive("bin_width", bin_width)?;
    Ok(-bin_width.log2())
}

/// Exact NLL in bits/dim of every row: `−log p_σ(x)/(d ln 2)` with `p_σ = p0 ∗ N(0, σ²I)`
/// ([`Distribution::log_density`]; `σ = 0` where p0 has a density, e.g. a full-rank
/// Gaussian). Continuous data: no scaling offset (see [`dequantization_offset_bits`]).
pub fn exact_nll_bits_per_dim(
    dist: &dyn Distribution,
    x: &Batch,
    sigma: f64,
) -> Result<Vec<f64>, MetricError> {
    check_len("x.dim", x.dim(), dist.dim())?;
    check_finite("x", x.as_slice())?;
    if !(sigma.is_finite() && sigma >= 0.0) {
        return Err(MetricError::InvalidValue {
            name: "sigma",
            value: sigma,
            reason: "must be finite and ≥ 0".to_string(),
        });
    }
    Ok(dist
        .log_density(x, sigma)
        .into_iter()
        .map(|lp| nats_to_bits_per_dim(-lp, x.dim()))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use analytic::Gaussian;

    #[test]
    fn standard_normal_at_the_origin_and_offsets() {
        // −log N(0; 0, I_2) = log 2π = 1.8378770664093453 nats → /(2 ln 2) bits/dim
        let g = Gaussian::isotropic(vec![0.0; 2], 1.0).unwrap();
        let bpd = exact_nll_bits_per_dim(&g, &Batch::zeros(1, 2), 0.0).unwrap();
        let expected = 1.8378770664093453 / (2.0 * std::f64::consts::LN_2);
        assert!((bpd[0] - expected).abs() < 1e-12);
        // σ = 1 doubles the variance: + ½ log 2 per dimension = + 0.5 bits/dim
        let bpd1 = exact_nll_bits_per_dim(&g, &Batch::zeros(1, 2), 1.0).unwrap();
        assert!((bpd1[0] - expected - 0.5).abs() < 1e-12);
        assert_eq!(dequantization_offset_bits(2.0 / 256.0).unwrap(), 7.0);
        assert!(exact_nll_bits_per_dim(&g, &Batch::zeros(1, 2), -1.0).is_err());
    }
}
