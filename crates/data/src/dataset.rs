//! The in-memory data set: images scaled to [−1, 1], optional labels, shape and gray levels.

use rand::seq::SliceRandom;
use samplers::{rng, Batch};

use crate::{DataError, Result};

/// A data set of `n` flattened images (or vectors) with values in [−1, 1].
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    /// Short name used in logs and tables, e.g. `digits` or `digits/train`.
    pub name: String,
    /// `n × (channels·height·width)` batch, each row one image in channel-major,
    /// row-major order, scaled by [`scale_to_unit`] when `levels` is `Some`.
    pub images: Batch,
    /// One class label per row, when the source has labels.
    pub labels: Option<Vec<u8>>,
    /// `[channels, height, width]`; `[1, 1, d]` for plain vectors.
    pub shape: [usize; 3],
    /// Number of gray levels of the raw data (17 for digits, 256 for MNIST/CIFAR-10);
    /// `None` for continuous data.
    pub levels: Option<u32>,
}

/// Maps a raw gray level x ∈ {0, …, L−1} to [−1, 1]: x ↦ 2x/(L−1) − 1
/// (the DDPM data scaling, Ho et al. 2020 §3.3).
pub fn scale_to_unit(raw: f64, levels: u32) -> f64 {
    2.0 * raw / f64::from(levels - 1) - 1.0
}

/// Inverse of [`scale_to_unit`]: x ↦ (x + 1)(L−1)/2 (no rounding or clamping).
pub fn scale_from_unit(x: f64, levels: u32) -> f64 {
    (x + 1.0) * f64::from(levels - 1) / 2.0
}

impl Dataset {
    /// Checks that `shape` matches the batch dimension and labels match its length.
    pub fn new(
        name: impl Into<String>,
        images: Batch,
        labels: Option<Vec<u8>>,
        shape: [usize; 3],
        levels: Option<u32>,
    ) -> Result<Self> {
        let name = name.into();
        let d: usize = shape.iter().product();
        if d != images.dim() {
            return Err(DataError::invalid(
                "shape",
                shape,
                &format!("must multiply to the image dimension {}", images.dim()),
            ));
        }
        if let Some(l) = &labels {
            if l.len() != images.n() {
                return Err(DataError::invalid(
                    "labels.len()",
                    l.len(),
                    &format!("must equal the number of images {}", images.n()),
                ));
            }
        }
        if let Some(l) = levels {
            if l < 2 {
                return Err(DataError::invalid("levels", l, "must be ≥ 2"));
            }
        }
        Ok(Self {
            name,
            images,
            labels,
            shape,
            levels,
        })
    }

    /// A continuous data set of plain vectors: shape `[1, 1, d]`, no labels, no levels.
    pub fn from_vectors(name: impl Into<String>, points: Batch) -> Self {
        let d = points.dim();
        Self {
            name: name.into(),
            images: points,
            labels: None,
            shape: [1, 1, d],
            levels: None,
        }
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.images.n()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Dimension of one flattened image, channels·height·width.
    pub fn dim(&self) -> usize {
        self.images.dim()
    }

    /// The images at `indices`, in that order, with their labels. Panics on an index ≥ `len()`.
    pub fn subset(&self, indices: &[usize]) -> Dataset {
        Dataset {
            name: self.name.clone(),
            images: self.images.select_rows(indices),
            labels: self
                .labels
                .as_ref()
                .map(|l| indices.iter().map(|&i| l[i]).collect()),
            shape: self.shape,
            levels: self.levels,
        }
    }

    /// Splits into (train, test) by a permutation fixed by `seed`: the first
    /// round(n·test_fraction) permuted indices form the test set. Both parts must be non-empty.
    pub fn split(&self, test_fraction: f64, seed: u64) -> Result<(Dataset, Dataset)> {
        if !(test_fraction > 0.0 && test_fraction < 1.0) {
            return Err(DataError::invalid(
                "test_fraction",
                test_fraction,
                "must be in (0, 1)",
            ));
        }
        let n = self.len();
        let n_test = (n as f64 * test_fraction).round() as usize;
        if n_test == 0 || n_test == n {
            return Err(DataError::invalid(
                "test_fraction",
                test_fraction,
                &format!("leaves an empty part of a {n}-image data set"),
            ));
        }
        let mut perm: Vec<usize> = (0..n).collect();
        perm.shuffle(&mut rng::seeded(seed));
        let (test_idx, train_idx) = perm.split_at(n_test);
        let mut train = self.subset(train_idx);
        let mut test = self.subset(test_idx);
        train.name = format!("{}/train", self.name);
        test.name = format!("{}/test", self.name);
        Ok((train, test))
    }

    /// The images as raw gray levels (inverse of the [−1, 1] scaling); `None` when continuous.
    pub fn raw_levels(&self) -> Option<Batch> {
        self.levels
            .map(|l| self.images.map(|x| scale_from_unit(x, l)))
    }
}

#[cfg(test)]
mod tests;
