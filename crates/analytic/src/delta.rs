//! The empirical distribution (1/N) Σ_i δ(x − x_i) of a finite training set. Its exact
//! denoiser is a softmax-weighted average of training points, so sampling with it
//! memorizes: as σ → 0 it returns the nearest training point.

use faer::linalg::matmul::matmul;
use faer::prelude::{Reborrow, ReborrowMut};
use faer::{Accum, Mat, MatRef, Par};
use rand::Rng;
use rayon::prelude::*;
use samplers::rng::HostRng;
use samplers::{Batch, Denoiser};

use crate::linalg::{check_finite, mul, view};
use crate::{AnalyticError, Distribution};

/// Query rows processed together by one rayon task.
const ROW_CHUNK: usize = 64;
/// Training points per streamed block: memory is O(ROW_CHUNK · POINT_CHUNK + ROW_CHUNK · d).
const POINT_CHUNK: usize = 1024;

/// (1/N) Σ_i δ_{x_i}; noisy marginal (1/N) Σ_i N(x_i, σ²I).
#[derive(Clone, Debug)]
pub struct DeltaMixture {
    points: Batch,
    sq_norms: Vec<f64>,
}

/// Streaming softmax state of one block of query rows against all training points.
struct Streamed {
    /// log Σ_i exp(ℓ_i) per row, ℓ_i = (x·x_i − ½‖x_i‖²)/σ².
    lse: Vec<f64>,
    /// Σ_i softmax(ℓ)_i x_i per row (`rows × d`), when asked for.
    mean: Option<Mat<f64>>,
}

impl DeltaMixture {
    /// The empirical distribution of `points` (N ≥ 1 rows, finite).
    pub fn new(points: Batch) -> Result<Self, AnalyticError> {
        if points.n() == 0 || points.dim() == 0 {
            return Err(AnalyticError::invalid(
                "points",
                format!("{}x{}", points.n(), points.dim()),
                "need N ≥ 1 and d ≥ 1",
            ));
        }
        check_finite("points", points.as_slice())?;
        let sq_norms = points
            .rows()
            .map(|p| p.iter().map(|v| v * v).sum())
            .collect();
        Ok(Self { points, sq_norms })
    }

    /// The training points.
    pub fn points(&self) -> &Batch {
        &self.points
    }

    /// N, the number of points.
    pub fn len(&self) -> usize {
        self.points.n()
    }

    /// Always false (constructor rejects N = 0).
    pub fn is_empty(&self) -> bool {
        self.points.n() == 0
    }

    /// Training points `start..end` as a faer view.
    fn block(&self, start: usize, end: usize) -> MatRef<'_, f64> {
        let d = self.points.dim();
        MatRef::from_row_major_slice(&self.points.as_slice()[start * d..end * d], end - start, d)
    }

    /// Online log-sum-exp over point blocks (Milakov & Gimelshein 2018) of the logits
    /// ℓ_i = (x·x_i − ½‖x_i‖²)/σ² = −‖x − x_i‖²/(2σ²) + ‖x‖²/(2σ²), with the optional
    /// softmax-weighted sum of the points, for one block of query rows.
    fn stream(&self, x: MatRef<'_, f64>, sigma: f64, want_mean: bool) -> Streamed {
        let (m, d, n_pts) = (x.nrows(), x.ncols(), self.len());
        let inv_s2 = 1.0 / (sigma * sigma);
        let mut run_max = vec![f64::NEG_INFINITY; m];
        let mut run_sum = vec![0.0; m];
        let mut acc = want_mean.then(|| Mat::<f64>::zeros(m, d));
        let mut g = Mat::<f64>::zeros(m, POINT_CHUNK.min(n_pts));
        for start in (0..n_pts).step_by(POINT_CHUNK) {
            let end = (start + POINT_CHUNK).min(n_pts);
            let p = self.block(start, end);
            let mut gb = g.as_mut().subcols_mut(0, end - start);
            matmul(gb.rb_mut(), Accum::Replace, x, p.transpose(), 1.0, Par::Seq);
            for i in 0..m {
                let mut row_max = f64::NEG_INFINITY;
                for j in 0..end - start {
                    let l = (gb[(i, j)] - 0.5 * self.sq_norms[start + j]) * inv_s2;
                    gb[(i, j)] = l;
                    row_max = row_max.max(l);
                }
                let new_max = run_max[i].max(row_max);
                let rescale = (run_max[i] - new_max).exp();
                let mut s = 0.0;
                for j in 0..end - start {
                    let e = (gb[(i, j)] - new_max).exp();
                    gb[(i, j)] = e;
                    s += e;
                }
                run_sum[i] = run_sum[i] * rescale + s;
                run_max[i] = new_max;
                if let Some(a) = acc.as_mut() {
                    a.as_mut().row_mut(i).iter_mut().for_each(|v| *v *= rescale);
                }
            }
            if let Some(a) = acc.as_mut() {
                matmul(a.as_mut(), Accum::Add, gb.rb(), p, 1.0, Par::Seq);
            }
        }
        let lse = run_max
            .iter()
            .zip(&run_sum)
            .map(|(mx, s)| mx + s.ln())
            .collect();
        let mean = acc.map(|a| Mat::from_fn(m, d, |i, j| a[(i, j)] / run_sum[i]));
        Streamed { lse, mean }
    }

    /// Runs `f` on blocks of ROW_CHUNK query rows in parallel and concatenates the results.
    fn par_rows<T: Send>(&self, x: &Batch, f: impl Fn(MatRef<'_, f64>) -> Vec<T> + Sync) -> Vec<T> {
        let blocks: Vec<(usize, usize)> = (0..x.n())
            .step_by(ROW_CHUNK)
            .map(|s| (s, (s + ROW_CHUNK).min(x.n())))
            .collect();
        let parts: Vec<Vec<T>> = blocks
            .into_par_iter()
            .map(|(s, e)| {
                f(MatRef::from_row_major_slice(
                    &x.as_slice()[s * x.dim()..e * x.dim()],
                    e - s,
                    x.dim(),
                ))
            })
            .collect();
        parts.into_iter().flatten().collect()
    }

    /// Exact empirical denoiser E[x0 | x] = Σ_i softmax_i(−‖x − x_i‖²/(2σ²)) x_i, streamed
    /// over training blocks with an online log-sum-exp. At σ = 0 it returns the nearest point.
    pub fn empirical_denoiser(&self, x: &Batch, sigma: f64) -> Batch {
        if sigma == 0.0 {
            let idx: Vec<usize> = self.nearest(x).into_iter().map(|(i, _, _)| i).collect();
            return self.points.select_rows(&idx);
        }
        let d = x.dim();
        let data = self.par_rows(x, |xb| {
            let mean = self.stream(xb, sigma, true).mean.expect("mean requested");
            crate::linalg::to_row_major(mean.as_ref())
        });
        Batch::from_vec(x.n(), d, data).expect("rows × d values")
    }

    /// For each row: (index of the nearest training point, its distance, distance to the
    /// second nearest; +∞ when N = 1). Candidates from ‖x‖² + ‖x_i‖² − 2x·x_i, final
    /// distances recomputed directly.
    pub fn nearest(&self, x: &Batch) -> Vec<(usize, f64, f64)> {
        self.par_rows(x, |xb| self.nearest_block(xb))
    }

    fn nearest_block(&self, x: MatRef<'_, f64>) -> Vec<(usize, f64, f64)> {
        let (m, n_pts) = (x.nrows(), self.len());
        let mut best = vec![[(f64::INFINITY, usize::MAX); 2]; m];
        for start in (0..n_pts).step_by(POINT_CHUNK) {
            let end = (start + POINT_CHUNK).min(n_pts);
            let mut g = Mat::<f64>::zeros(m, end - start);
            matmul(
                g.as_mut(),
                Accum::Replace,
                x,
                self.block(start, end).transpose(),
                1.0,
                Par::Seq,
            );
            for (i, b) in best.iter_mut().enumerate() {
                for j in 0..end - start {
                    // ‖x‖² is the same for every point of the row: rank by ‖x_i‖² − 2x·x_i.
                    let key = self.sq_norms[start + j] - 2.0 * g[(i, j)];
                    if key < b[0].0 {
                        b[1] = b[0];
                        b[0] = (key, start + j);
                    } else if key < b[1].0 {
                        b[1] = (key, start + j);
                    }
                }
            }
        }
        let dist = |i: usize, k: usize| -> f64 {
            if k == usize::MAX {
                return f64::INFINITY;
            }
            x.row(i)
                .iter()
                .zip(self.points.row(k))
                .map(|(a, b)| (a - b) * (a - b))
                .sum::<f64>()
                .sqrt()
        };
        best.iter()
            .enumerate()
            .map(|(i, b)| {
                let (d0, d1) = (dist(i, b[0].1), dist(i, b[1].1));
                if d1 < d0 {
                    (b[1].1, d1, d0)
                } else {
                    (b[0].1, d0, d1)
                }
            })
            .collect()
    }
}

impl Denoiser for DeltaMixture {
    fn dim(&self) -> usize {
        self.points.dim()
    }

    fn denoise(&self, x: &Batch, sigma: f64) -> Batch {
        self.empirical_denoiser(x, sigma)
    }

    fn name(&self) -> String {
        format!("delta-mixture(N={}, d={})", self.len(), self.points.dim())
    }

    fn jacobians(&self, points: &Batch, sigma: f64) -> Option<Vec<Vec<f64>>> {
        Some(crate::exact_jacobians(self, points, sigma))
    }
}

impl Distribution for DeltaMixture {
    /// log (1/N) Σ_i N(x; x_i, σ²I) = LSE_i ℓ_i − ‖x‖²/(2σ²) − log N − (d/2) log(2πσ²).
    fn log_density(&self, x: &Batch, sigma: f64) -> Vec<f64> {
        let d = x.dim() as f64;
        let lse = self.par_rows(x, |xb| self.stream(xb, sigma, false).lse);
        let constant =
            (self.len() as f64).ln() + 0.5 * d * (2.0 * std::f64::consts::PI * sigma * sigma).ln();
        lse.iter()
            .zip(x.rows())
            .map(|(l, row)| {
                l - row.iter().map(|v| v * v).sum::<f64>() / (2.0 * sigma * sigma) - constant
            })
            .collect()
    }

    /// Σ_i w_i (x_i − m)(x_i − m)ᵀ with w = softmax(−‖x − x_i‖²/(2σ²)), m = Σ_i w_i x_i
    /// (= Σ_i w_i x_i x_iᵀ − m mᵀ); points with underflowed weight are skipped.
    fn posterior_covariance(&self, x: &[f64], sigma: f64) -> Vec<f64> {
        let d = x.len();
        let xb = MatRef::from_row_major_slice(x, 1, d);
        let g = mul(view(&self.points), xb.transpose());
        let logits: Vec<f64> = (0..self.len())
            .map(|i| (g[(i, 0)] - 0.5 * self.sq_norms[i]) / (sigma * sigma))
            .collect();
        let lse = crate::linalg::log_sum_exp(&logits);
        let w: Vec<f64> = logits.iter().map(|l| (l - lse).exp()).collect();
        let active: Vec<usize> = (0..self.len()).filter(|&i| w[i] > 0.0).collect();
        let mut m = vec![0.0; d];
        for &i in &active {
            m.iter_mut()
                .zip(self.points.row(i))
                .for_each(|(a, b)| *a += w[i] * b);
        }
        let a = Mat::from_fn(active.len(), d, |r, j| {
            w[active[r]].sqrt() * (self.points.row(active[r])[j] - m[j])
        });
        crate::linalg::to_row_major(mul(a.transpose(), a.as_ref()).as_ref())
    }

    /// Uniform draws (with replacement) of training points.
    fn sample(&self, n: usize, rng: &mut HostRng) -> Batch {
        let idx: Vec<usize> = (0..n).map(|_| rng.random_range(0..self.len())).collect();
        self.points.select_rows(&idx)
    }
}

#[cfg(test)]
mod tests;
