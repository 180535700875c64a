//! Reading files whole, with gzip detected by its magic bytes.

use std::io::Read;
use std::path::Path;

use crate::{DataError, Result};

/// The two magic bytes that open every gzip stream (RFC 1952 §2.3.1).
pub const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// The bytes of `path`, decompressed when they start with [`GZIP_MAGIC`]. A missing file
/// gives [`DataError::Missing`] carrying `hint`.
pub fn read_maybe_gz(path: &Path, hint: &str) -> Result<Vec<u8>> {
    let bytes = std::fs::read(path).map_err(|source| match source.kind() {
        std::io::ErrorKind::NotFound => DataError::Missing {
            path: path.to_path_buf(),
            hint: hint.to_string(),
        },
        _ => DataError::Io {
            path: path.to_path_buf(),
            source,
        },
    })?;
    gunzip_if_gz(path, bytes)
}

/// Decompresses `bytes` when they start with [`GZIP_MAGIC`]; returns them unchanged otherwise.
pub fn gunzip_if_gz(path: &Path, bytes: Vec<u8>) -> Result<Vec<u8>> {
    if !bytes.starts_with(&GZIP_MAGIC) {
        return Ok(bytes);
    }
    let mut out = Vec::with_capacity(bytes.len() * 4);
    flate2::read::MultiGzDecoder::new(bytes.as_slice())
        .read_to_end(&mut out)
        .map_err(|source| DataError::Io {
            path: path.to_path_buf(),
            source,
        })?;
    Ok(out)
}

#[cfg(test)]
mod tests;
