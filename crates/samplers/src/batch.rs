//! A host-side batch of vectors: the currency every sampler, denoiser and metric exchanges.

use rand::Rng;
use rand_distr::StandardNormal;

/// `n` vectors of dimension `d`, stored row-major in `f64`.
///
/// Closed-form denoisers compute on it directly; neural denoisers copy it to their
/// device and back. Keeping the sampler state on the host is what lets a seed fix the
/// noise on every backend.
#[derive(Clone, Debug, PartialEq)]
pub struct Batch {
    n: usize,
    d: usize,
    data: Vec<f64>,
}

/// Error for a batch whose shape does not match its data.
#[derive(Debug, thiserror::Error)]
#[error("batch shape {n}x{d} needs {} values, got {len}", (*n as u128) * (*d as u128))]
pub struct ShapeError {
    pub n: usize,
    pub d: usize,
    pub len: usize,
}

impl Batch {
    /// A batch of zeros.
    pub fn zeros(n: usize, d: usize) -> Self {
        Self {
            n,
            d,
            data: vec![0.0; n * d],
        }
    }

    /// Wraps row-major data; fails when `data.len() != n * d`.
    pub fn from_vec(n: usize, d: usize, data: Vec<f64>) -> Result<Self, ShapeError> {
        if n.checked_mul(d) != Some(data.len()) {
            return Err(ShapeError {
                n,
                d,
                len: data.len(),
            });
        }
        Ok(Self { n, d, data })
    }

    /// Builds a batch from equally long rows; fails on ragged rows.
    pub fn from_rows(rows: &[Vec<f64>]) -> Result<Self, ShapeError> {
        let d = rows.first().map_or(0, Vec::len);
        let data: Vec<f64> = rows.iter().flatten().copied().collect();
        Self::from_vec(rows.len(), d, data)
    }

    /// The same vector `row` repeated `n` times.
    pub fn repeat_row(row: &[f64], n: usize) -> Self {
        let data = (0..n).flat_map(|_| row.iter().copied()).collect();
        Self {
            n,
            d: row.len(),
            data,
        }
    }

    /// i.i.d. N(0, 1) entries drawn from `rng` in row-major order.
    pub fn standard_normal<R: Rng + ?Sized>(n: usize, d: usize, rng: &mut R) -> Self {
        let data = (0..n * d)
            .map(|_| rng.sample::<f64, _>(StandardNormal))
            .collect();
        Self { n, d, data }
    }

    /// Number of vectors (rows).
    pub fn n(&self) -> usize {
        self.n
    }

    /// Dimension of each vector (columns).
    pub fn dim(&self) -> usize {
        self.d
    }

    pub fn as_slice(&self) -> &[f64] {
        &self.data
    }

    pub fn as_mut_slice(&mut self) -> &mut [f64] {
        &mut self.data
    }

    pub fn into_vec(self) -> Vec<f64> {
        self.data
    }

    pub fn row(&self, i: usize) -> &[f64] {
        &self.data[i * self.d..(i + 1) * self.d]
    }

    pub fn row_mut(&mut self, i: usize) -> &mut [f64] {
        &mut self.data[i * self.d..(i + 1) * self.d]
    }

    pub fn rows(&self) -> impl Iterator<Item = &[f64]> {
        self.data.chunks_exact(self.d.max(1)).take(self.n)
    }

    /// Rows `start..end` as a new batch.
    pub fn slice_rows(&self, start: usize, end: usize) -> Self {
        Self {
            n: end - start,
            d: self.d,
            data: self.data[start * self.d..end * self.d].to_vec(),
        }
    }

    /// Rows at the given indices, in that order.
    pub fn select_rows(&self, indices: &[usize]) -> Self {
        let data = indices
            .iter()
            .flat_map(|&i| self.row(i).iter().copied())
            .collect();
        Self {
            n: indices.len(),
            d: self.d,
            data,
        }
    }

    /// Stacks batches of equal dimension vertically.
    pub fn concat(parts: &[Batch]) -> Result<Self, ShapeError> {
        let d = parts.first().map_or(0, |b| b.d);
        let n = parts.iter().map(|b| b.n).sum();
        let data: Vec<f64> = parts.iter().flat_map(|b| b.data.iter().copied()).collect();
        Self::from_vec(n, d, data)
    }

    /// `a·self + b·other`, elementwise.
    pub fn lincomb(&self, a: f64, other: &Batch, b: f64) -> Batch {
        self.assert_same_shape(other);
        let data = self
            .data
            .iter()
            .zip(&other.data)
            .map(|(x, y)| a * x + b * y)
            .collect();
        Batch {
            n: self.n,
            d: self.d,
            data,
        }
    }

    /// `self += a·other`.
    pub fn axpy(&mut self, a: f64, other: &Batch) {
        self.assert_same_shape(other);
        self.data
            .iter_mut()
            .zip(&other.data)
            .for_each(|(x, y)| *x += a * y);
    }

    /// `a·self`.
    pub fn scaled(&self, a: f64) -> Batch {
        Batch {
            n: self.n,
            d: self.d,
            data: self.data.iter().map(|x| a * x).collect(),
        }
    }

    /// Applies `f` to every entry.
    pub fn map(&self, f: impl Fn(f64) -> f64) -> Batch {
        Batch {
            n: self.n,
            d: self.d,
            data: self.data.iter().map(|&x| f(x)).collect(),
        }
    }

    /// Column means (length `d`).
    pub fn mean(&self) -> Vec<f64> {
        let mut m = vec![0.0; self.d];
        for row in self.rows() {
            m.iter_mut().zip(row).for_each(|(m, x)| *m += x);
        }
        m.iter_mut().for_each(|m| *m /= self.n.max(1) as f64);
        m
    }

    /// Unbiased sample covariance, `d × d` row-major.
    pub fn covariance(&self) -> Vec<f64> {
        let (d, mean) = (self.d, self.mean());
        let mut c = vec![0.0; d * d];
        for row in self.rows() {
            for i in 0..d {
                let di = row[i] - mean[i];
                for j in i..d {
                    c[i * d + j] += di * (row[j] - mean[j]);
                }
            }
        }
        let denom = (self.n.max(2) - 1) as f64;
        for i in 0..d {
            for j in i..d {
                c[i * d + j] /= denom;
                c[j * d + i] = c[i * d + j];
            }
        }
        c
    }

    /// Sum of squared entries.
    pub fn squared_norm(&self) -> f64 {
        self.data.iter().map(|x| x * x).sum()
    }

    /// Largest absolute entrywise difference to `other`.
    pub fn max_abs_diff(&self, other: &Batch) -> f64 {
        self.assert_same_shape(other);
        self.data
            .iter()
            .zip(&other.data)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max)
    }

    /// True when every entry is finite.
    pub fn is_finite(&self) -> bool {
        self.data.iter().all(|x| x.is_finite())
    }

    fn assert_same_shape(&self, other: &Batch) {
        assert_eq!((self.n, self.d), (other.n, other.d), "batch shapes differ");
    }
}

impl std::ops::Sub for &Batch {
    type Output = Batch;
    fn sub(self, rhs: &Batch) -> Batch {
        self.lincomb(1.0, rhs, -1.0)
    }
}

impl std::ops::Add for &Batch {
    type Output = Batch;
    fn add(self, rhs: &Batch) -> Batch {
        self.lincomb(1.0, rhs, 1.0)
    }
}
