//! MNIST / Fashion-MNIST IDX files (LeCun et al., <http://yann.lecun.com/exdb/mnist/>),
//! raw or gzipped: `train-images-idx3-ubyte[.gz]` plus `train-labels-idx1-ubyte[.gz]`.
//!
//! Format: two zero bytes, a type byte (0x08 = unsigned byte), the number of dimensions,
//! then each dimension as a big-endian u32, then the data in row-major order.

use std::path::Path;

use samplers::Batch;

use crate::dataset::{scale_to_unit, Dataset};
use crate::io::read_maybe_gz;
use crate::{DataError, Result};

const IDX_HINT: &str = "download the IDX files (e.g. train-images-idx3-ubyte.gz and \
                        train-labels-idx1-ubyte.gz) from the MNIST or Fashion-MNIST site";

/// Type code of unsigned-byte IDX data.
const UBYTE: u8 = 0x08;

/// Loads an IDX image file (`n × rows × cols` unsigned bytes, 256 gray levels) and,
/// optionally, its IDX label file (`n` unsigned bytes).
pub fn load_idx(images: impl AsRef<Path>, labels: Option<&Path>) -> Result<Dataset> {
    let images_path = images.as_ref();
    let (dims, pixels) = read_idx(images_path, 3)?;
    let (n, rows, cols) = (dims[0], dims[1], dims[2]);
    let data = pixels
        .iter()
        .map(|&p| scale_to_unit(f64::from(p), 256))
        .collect();
    let batch = Batch::from_vec(n, rows * cols, data).expect("read_idx checked the length");
    let labels = match labels {
        None => None,
        Some(path) => {
            let (dims, labels) = read_idx(path, 1)?;
            if dims[0] != n {
                return Err(DataError::malformed(
                    path,
                    format!("{n} labels, one per image of {}", images_path.display()),
                    format!("{} labels", dims[0]),
                ));
            }
            Some(labels)
        }
    };
    let name = images_path
        .file_name()
        .map_or("idx".into(), |f| f.to_string_lossy().into_owned());
    Dataset::new(name, batch, labels, [1, rows, cols], Some(256))
}

/// Reads an unsigned-byte IDX file with `ndims` dimensions: (dimensions, data).
fn read_idx(path: &Path, ndims: u8) -> Result<(Vec<usize>, Vec<u8>)> {
    let bytes = read_maybe_gz(path, IDX_HINT)?;
    let header_len = 4 + 4 * usize::from(ndims);
    let expected_magic = [0, 0, UBYTE, ndims];
    if bytes.len() < 4 || bytes[..4] != expected_magic {
        return Err(DataError::malformed(
            path,
            format!("IDX magic {expected_magic:02x?} (unsigned bytes, {ndims} dimensions)"),
            format!("{:02x?}", &bytes[..bytes.len().min(4)]),
        ));
    }
    if bytes.len() < header_len {
        return Err(DataError::malformed(
            path,
            format!("a {header_len}-byte IDX header"),
            format!("{} bytes", bytes.len()),
        ));
    }
    let dims: Vec<usize> = bytes[4..header_len]
        .chunks_exact(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]) as usize)
        .collect();
    let Some(count) = dims.iter().try_fold(1usize, |n, &d| n.checked_mul(d)) else {
        return Err(DataError::malformed(
            path,
            "IDX dimensions whose product fits in memory".to_string(),
            format!("{dims:?}"),
        ));
    };
    let body = &bytes[header_len..];
    if body.len() != count {
        return Err(DataError::malformed(
            path,
            format!("{count} data bytes for dimensions {dims:?}"),
            format!("{} bytes", body.len()),
        ));
    }
    Ok((dims, body.to_vec()))
}

/// Encodes unsigned bytes as an IDX file with the given dimensions (the inverse of the
/// loader; handy for writing test fixtures and small exports).
pub fn encode_idx(dims: &[u32], data: &[u8]) -> Vec<u8> {
    let mut out = vec![0, 0, UBYTE, dims.len() as u8];
    dims.iter()
        .for_each(|d| out.extend_from_slice(&d.to_be_bytes()));
    out.extend_from_slice(data);
    out
}
