//! CIFAR-10 binary batches (Krizhevsky 2009, "binary version",
//! <https://www.cs.toronto.edu/~kriz/cifar.html>): `data_batch_1.bin` … `test_batch.bin`.
//!
//! Each record is 1 label byte (0–9) followed by 3072 pixel bytes: the 1024 red values,
//! then green, then blue, each 32×32 row-major — channel-major, as [`Dataset`] stores images.

use std::path::Path;

use samplers::Batch;

use crate::dataset::{scale_to_unit, Dataset};
use crate::io::read_maybe_gz;
use crate::{DataError, Result};

const CIFAR_HINT: &str =
    "download cifar-10-binary.tar.gz from https://www.cs.toronto.edu/~kriz/cifar.html \
                          and extract the data_batch_*.bin / test_batch.bin files";

/// Pixels per CIFAR-10 image (3 × 32 × 32).
pub const CIFAR_PIXELS: usize = 3 * 32 * 32;
/// Bytes per record: one label byte plus the pixels.
pub const CIFAR_RECORD: usize = 1 + CIFAR_PIXELS;

/// Loads and concatenates CIFAR-10 binary batches (raw or gzipped), 256 gray levels.
pub fn load_cifar10<P: AsRef<Path>>(paths: &[P]) -> Result<Dataset> {
    if paths.is_empty() {
        return Err(DataError::invalid(
            "paths",
            "[]",
            "must name at least one CIFAR-10 batch file",
        ));
    }
    let (mut pixels, mut labels) = (Vec::new(), Vec::new());
    for path in paths {
        let path = path.as_ref();
        let bytes = read_maybe_gz(path, CIFAR_HINT)?;
        if bytes.is_empty() || bytes.len() % CIFAR_RECORD != 0 {
            return Err(DataError::malformed(
                path,
                format!("a positive multiple of {CIFAR_RECORD} bytes (1 label byte + {CIFAR_PIXELS} pixel bytes per image)"),
                format!("{} bytes", bytes.len()),
            ));
        }
        for (i, record) in bytes.chunks_exact(CIFAR_RECORD).enumerate() {
            if record[0] > 9 {
                return Err(DataError::malformed(
                    path,
                    "labels 0..=9",
                    format!("label {} in record {i}", record[0]),
                ));
            }
            labels.push(record[0]);
            pixels.extend(
                record[1..]
                    .iter()
                    .map(|&p| scale_to_unit(f64::from(p), 256)),
            );
        }
    }
    let images =
        Batch::from_vec(labels.len(), CIFAR_PIXELS, pixels).expect("whole records were read");
    Dataset::new("cifar10", images, Some(labels), [3, 32, 32], Some(256))
}
