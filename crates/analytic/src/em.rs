//! EM fit of a Gaussian mixture (Dempster, Laird & Rubin 1977; Bishop 2006, §9.2.2) with
//! k-means++ seeding (Arthur & Vassilvitskii 2007).

use faer::Mat;
use rand::Rng;
use samplers::rng::HostRng;
use samplers::Batch;

use crate::linalg::{categorical, centered, check_finite, log_sum_exp, mul};
use crate::{AnalyticError, Distribution, Gaussian, GaussianMixture};

/// Relative change of the mean log-likelihood below which EM stops early.
const EM_TOL: f64 = 1e-10;

impl GaussianMixture {
    /// Maximum-likelihood K-component mixture of the rows of `data` by EM, at most `iters`
    /// E/M rounds after a k-means++ hard initialization; each covariance gets `reg·I` added
    /// (reg > 0 keeps every component full rank). A component that loses all its mass is
    /// re-seeded at the worst-explained point.
    pub fn fit_em(
        data: &Batch,
        k: usize,
        iters: usize,
        reg: f64,
        rng: &mut HostRng,
    ) -> Result<Self, AnalyticError> {
        if k == 0 || k > data.n() {
            return Err(AnalyticError::invalid(
                "k",
                k,
                format!("must be in 1..={} (number of data rows)", data.n()),
            ));
        }
        if !reg.is_finite() || reg <= 0.0 {
            return Err(AnalyticError::invalid("reg", reg, "must be finite and > 0"));
        }
        if data.dim() == 0 {
            return Err(AnalyticError::invalid("data dimension", 0, "must be ≥ 1"));
        }
        check_finite("data", data.as_slice())?;
        let centers = kmeans_plus_plus(data, k, rng);
        let mut resp = hard_assignment(data, &centers);
        let mut mixture = m_step(data, &resp, k, reg, None)?;
        let mut previous = f64::NEG_INFINITY;
        for _ in 0..iters {
            let (r, mean_ll) = e_step(&mixture, data);
            resp = r;
            mixture = m_step(data, &resp, k, reg, Some(&mixture))?;
            if (mean_ll - previous).abs() <= EM_TOL * mean_ll.abs().max(1.0) {
                break;
            }
            previous = mean_ll;
        }
        Ok(mixture)
    }
}

/// k-means++ seeding: first center uniform, each next one drawn with probability ∝ D(x)²,
/// the squared distance to the nearest chosen center. Returns row indices.
fn kmeans_plus_plus(data: &Batch, k: usize, rng: &mut HostRng) -> Vec<usize> {
    let n = data.n();
    let mut centers = vec![rng.random_range(0..n)];
    let mut d2: Vec<f64> = data
        .rows()
        .map(|x| sq_dist(x, data.row(centers[0])))
        .collect();
    while centers.len() < k {
        let next = if d2.iter().sum::<f64>() > 0.0 {
            categorical(&d2, rng)
        } else {
            rng.random_range(0..n)
        };
        centers.push(next);
        d2.iter_mut()
            .zip(data.rows())
            .for_each(|(d, x)| *d = d.min(sq_dist(x, data.row(next))));
    }
    centers
}

fn sq_dist(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

/// One-hot responsibilities of the nearest center, `n × K` row-major.
fn hard_assignment(data: &Batch, centers: &[usize]) -> Vec<f64> {
    let k = centers.len();
    let mut resp = vec![0.0; data.n() * k];
    for (i, x) in data.rows().enumerate() {
        let nearest = (0..k)
            .min_by(|&a, &b| {
                sq_dist(x, data.row(centers[a])).total_cmp(&sq_dist(x, data.row(centers[b])))
            })
            .unwrap_or(0);
        resp[i * k + nearest] = 1.0;
    }
    resp
}

/// E-step: r_ik = π_k N(x_i; μ_k, Σ_k) / Σ_j π_j N(x_i; μ_j, Σ_j), and the mean log-likelihood.
fn e_step(mixture: &GaussianMixture, data: &Batch) -> (Vec<f64>, f64) {
    let k = mixture.n_components();
    let mut table = mixture.component_log_joint(data, 0.0);
    let mut total = 0.0;
    for row in table.chunks_exact_mut(k) {
        let lse = log_sum_exp(row);
        total += lse;
        row.iter_mut().for_each(|v| *v = (*v - lse).exp());
    }
    (table, total / data.n() as f64)
}

/// M-step: N_k = Σ_i r_ik, π_k = N_k/n, μ_k = Σ_i r_ik x_i/N_k,
/// Σ_k = Σ_i r_ik (x_i − μ_k)(x_i − μ_k)ᵀ/N_k + reg·I.
fn m_step(
    data: &Batch,
    resp: &[f64],
    k: usize,
    reg: f64,
    previous: Option<&GaussianMixture>,
) -> Result<GaussianMixture, AnalyticError> {
    let (n, d) = (data.n(), data.dim());
    let mut weights = Vec::with_capacity(k);
    let mut components = Vec::with_capacity(k);
    for j in 0..k {
        let r: Vec<f64> = (0..n).map(|i| resp[i * k + j]).collect();
        let nk: f64 = r.iter().sum();
        let (nk, r) = if nk > 1e-8 {
            (nk, r)
        } else {
            reseed(data, previous, j)
        };
        let mut mean = vec![0.0; d];
        for (ri, x) in r.iter().zip(data.rows()) {
            mean.iter_mut().zip(x).for_each(|(m, v)| *m += ri * v / nk);
        }
        let a = centered(data, &mean);
        let weighted = Mat::from_fn(n, d, |i, c| r[i].sqrt() * a.row(i)[c]);
        let scatter = mul(weighted.transpose(), weighted.as_ref());
        let cov: Vec<f64> = (0..d * d)
            .map(|idx| {
                let (p, q) = (idx / d, idx % d);
                0.5 * (scatter[(p, q)] + scatter[(q, p)]) / nk + if p == q { reg } else { 0.0 }
            })
            .collect();
        let component = Gaussian::from_covariance(mean, &cov, 0.0)?;
        if component.rank() < d {
            return Err(AnalyticError::invalid(
                "reg",
                reg,
                format!("component {j} covariance is singular; increase reg"),
            ));
        }
        weights.push(nk / n as f64);
        components.push(component);
    }
    let total: f64 = weights.iter().sum();
    weights.iter_mut().for_each(|w| *w /= total);
    GaussianMixture::from_components(weights, components)
}

/// Responsibilities of a re-seeded empty component: all mass on the point with the lowest
/// log-likelihood under the previous mixture (or on point j without one).
fn reseed(data: &Batch, previous: Option<&GaussianMixture>, j: usize) -> (f64, Vec<f64>) {
    let n = data.n();
    let worst = match previous {
        Some(m) => {
            let ll = m.log_density(data, 0.0);
            (0..n).min_by(|&a, &b| ll[a].total_cmp(&ll[b])).unwrap_or(0)
        }
        None => j.min(n - 1),
    };
    let mut r = vec![0.0; n];
    r[worst] = 1.0;
    (1.0, r)
}

#[cfg(test)]
mod tests;
