//! Image sets from other tools: folders of PNG/JPEG files, `.npz` reference batches and
//! `.npy` arrays, read in batches as `channels × height × width` values in [0, 1].
//!
//! Accepted inputs ([`ImageSet::open`]):
//! - a folder, searched recursively for `.png`, `.jpg` and `.jpeg` files (sorted by path),
//!   each decoded to RGB (grayscale repeated, alpha dropped, 16-bit scaled to 8-bit), as
//!   PIL's `convert('RGB')` does for pytorch-fid and EDM's `fid.py`; decoded lazily, one
//!   batch at a time;
//! - an `.npz` file with `arr_0` (the ADM/EDM reference-batch format) or an `.npy` file:
//!   an N×H×W×C array (C = 1 or 3; N×H×W is read as C = 1), uint8 in {0, …, 255} or float
//!   in [0, 1] (float32 or float64). The array is held in memory as loaded.
//!
//! Every image of a set has one size; a set holds at least one image. Every error names
//! the file.

use std::fs::File;
use std::io::{BufReader, Read, Seek};
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use samplers::Batch;

use crate::{DataError, Dataset, Result};

/// File name extensions read from folders.
pub const IMAGE_EXTENSIONS: [&str; 3] = ["png", "jpg", "jpeg"];

/// An opened set of images of one size.
#[derive(Debug)]
pub struct ImageSet {
    path: PathBuf,
    source: Source,
    /// `[channels, height, width]` of every image (channels 1 or 3).
    pub shape: [usize; 3],
    /// 256 for 8-bit sources (image files, uint8 arrays); `None` for float arrays.
    pub levels: Option<u32>,
    len: usize,
}

#[derive(Debug)]
enum Source {
    /// Image files, decoded when a batch is read.
    Files(Vec<PathBuf>),
    /// An N×H×W×C array in [0, 1], channels last, as loaded.
    Array(Vec<f32>),
}

impl ImageSet {
    /// Opens a folder, `.npz` or `.npy` file (see the module doc).
    pub fn open(path: &Path) -> Result<Self> {
        if path.is_dir() {
            return Self::open_folder(path);
        }
        if !path.exists() {
            return Err(DataError::Missing {
                path: path.to_path_buf(),
                hint: "expected a folder of PNG/JPEG images, an .npz with arr_0 or an .npy array"
                    .into(),
            });
        }
        let (shape, array) = match extension(path).as_deref() {
            Some("npz") => {
                let arrays = read_npz(path)?;
                let array = arrays
                    .into_iter()
                    .find(|(name, _)| name == "arr_0")
                    .map(|(_, array)| array)
                    .ok_or_else(|| {
                        DataError::malformed(path, "an array named arr_0 (N×H×W×C images)", "none")
                    })?;
                (array.shape.clone(), array)
            }
            Some("npy") => {
                let bytes = std::fs::read(path).map_err(|source| DataError::Io {
                    path: path.to_path_buf(),
                    source,
                })?;
                let array = NpyArray::parse(path, &bytes)?;
                (array.shape.clone(), array)
            }
            _ => {
                return Err(DataError::malformed(
                    path,
                    "a folder of PNG/JPEG images, an .npz or an .npy file",
                    "another kind of file",
                ))
            }
        };
        Self::from_array(path, &shape, array)
    }

    fn open_folder(dir: &Path) -> Result<Self> {
        let mut files = Vec::new();
        collect_images(dir, &mut files)?;
        files.sort();
        let first = files.first().ok_or_else(|| {
            DataError::malformed(
                dir,
                "at least one .png, .jpg or .jpeg image (searched recursively)",
                "none",
            )
        })?;
        let size_of = |file: &PathBuf| {
            image::image_dimensions(file)
                .map_err(|e| DataError::malformed(file, "a readable PNG/JPEG image", e.to_string()))
        };
        let (width, height) = size_of(first)?;
        // Headers only: every size is checked before any image is decoded.
        files.par_iter().try_for_each(|file| {
            let (w, h) = size_of(file)?;
            if (w, h) == (width, height) {
                Ok(())
            } else {
                Err(DataError::malformed(
                    file,
                    format!("{height}×{width} pixels like {}", first.display()),
                    format!("{h}×{w}"),
                ))
            }
        })?;
        Ok(Self {
            path: dir.to_path_buf(),
            len: files.len(),
            shape: [3, height as usize, width as usize],
            levels: Some(256),
            source: Source::Files(files),
        })
    }

    fn from_array(path: &Path, shape: &[usize], array: NpyArray) -> Result<Self> {
        let (n, h, w, c) = match *shape {
            [n, h, w] => (n, h, w, 1),
            [n, h, w, c] if c == 1 || c == 3 => (n, h, w, c),
            _ => {
                return Err(DataError::malformed(
                    path,
                    "an N×H×W×C image array with C = 1 or 3 (or N×H×W)",
                    format!("shape {shape:?}"),
                ))
            }
        };
        if n == 0 || h == 0 || w == 0 {
            return Err(DataError::malformed(
                path,
                "at least one non-empty image",
                format!("shape {shape:?}"),
            ));
        }
        let levels = matches!(array.values, NpyValues::U8(_)).then_some(256);
        let values = array.into_unit(path)?;
        Ok(Self {
            path: path.to_path_buf(),
            len: n,
            shape: [c, h, w],
            levels,
            source: Source::Array(values),
        })
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Never true: opening an empty set is an error.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Values per image, `channels·height·width`.
    pub fn image_size(&self) -> usize {
        self.shape.iter().product()
    }

    /// Images `range` as one buffer of `range.len()` images, each `channels × height ×
    /// width` (channel-major) with values in [0, 1]. Files are decoded in parallel; a file
    /// of another size, or one that does not decode, is an error naming it.
    pub fn read(&self, range: std::ops::Range<usize>) -> Result<Vec<f32>> {
        let [c, h, w] = self.shape;
        match &self.source {
            Source::Files(files) => {
                let decoded: Vec<Vec<f32>> = files[range]
                    .par_iter()
                    .map(|file| decode_rgb(file, [h, w]))
                    .collect::<Result<_>>()?;
                Ok(decoded.concat())
            }
            Source::Array(values) => {
                let size = c * h * w;
                let mut out = Vec::with_capacity(range.len() * size);
                for image in values[range.start * size..range.end * size].chunks_exact(size) {
                    // H×W×C → C×H×W
                    for channel in 0..c {
                        out.extend((0..h * w).map(|p| image[p * c + channel]));
                    }
                }
                Ok(out)
            }
        }
    }
}

/// Images per batch when a whole set is read into a [`Dataset`].
const DATASET_READ_BATCH: usize = 512;

impl ImageSet {
    /// Every image as a [`Dataset`] in [−1, 1] named `name`: 8-bit sources map a level u
    /// to 2u/255 − 1 ([`crate::scale_to_unit`] with 256 levels), float sources x ∈ [0, 1]
    /// to 2x − 1 (continuous, no levels).
    ///
    /// `channels`: 3 repeats a grayscale source; 1 keeps one channel of a source whose
    /// channels are all equal (grayscale images stored as RGB), and refuses one in color,
    /// naming its file. `None` keeps an array's channels, and reads a folder as 1 channel
    /// when every image is gray, else 3.
    pub fn to_dataset(&self, name: &str, channels: Option<usize>) -> Result<Dataset> {
        let [stored, h, w] = self.shape;
        let is_folder = matches!(self.source, Source::Files(_));
        // Whether every image of a folder is gray, so far.
        let mut gray_folder = is_folder;
        let mut values = Vec::with_capacity(self.len * stored * h * w);
        for start in (0..self.len).step_by(DATASET_READ_BATCH) {
            let end = (start + DATASET_READ_BATCH).min(self.len);
            let batch = self.read(start..end)?;
            if gray_folder {
                gray_folder = first_color_image(&batch, h * w).is_none();
            }
            if channels == Some(1) && stored == 3 {
                if let Some(i) = first_color_image(&batch, h * w) {
                    return Err(DataError::malformed(
                        &self.image_path(start + i),
                        "gray images (equal R, G and B) for channels = 1",
                        format!("color in image {}", start + i),
                    ));
                }
            }
            values.extend(batch.iter().map(|&v| self.to_unit_range(v)));
        }
        let channels = channels.unwrap_or(if gray_folder { 1 } else { stored });
        let values = convert_channels(values, stored, channels, h * w);
        let images = Batch::from_vec(self.len, channels * h * w, values)
            .expect("the buffer holds len images");
        Dataset::new(name, images, None, [channels, h, w], self.levels)
    }

    /// A value in [0, 1] mapped to [−1, 1]; exact levels for 8-bit sources.
    fn to_unit_range(&self, v: f32) -> f64 {
        match self.levels {
            Some(levels) => crate::scale_to_unit((v as f64 * 255.0).round(), levels),
            None => 2.0 * v as f64 - 1.0,
        }
    }

    /// The file that holds image `i`: its own file in a folder, else the array file.
    fn image_path(&self, i: usize) -> PathBuf {
        match &self.source {
            Source::Files(files) => files[i].clone(),
            Source::Array(_) => self.path.clone(),
        }
    }
}

/// The index of the first image of a `3 × pixels` batch whose channels differ.
fn first_color_image(batch: &[f32], pixels: usize) -> Option<usize> {
    batch.chunks_exact(3 * pixels).position(|image| {
        let (r, rest) = image.split_at(pixels);
        let (g, b) = rest.split_at(pixels);
        r != g || r != b
    })
}

/// Channel-major images of `from` channels as `to` channels: the first of equal
/// channels kept (3 → 1), gray repeated (1 → 3).
fn convert_channels(values: Vec<f64>, from: usize, to: usize, pixels: usize) -> Vec<f64> {
    if from == to {
        return values;
    }
    values
        .chunks_exact(from * pixels)
        .flat_map(|image| (0..to).flat_map(move |_| image[..pixels].iter().copied()))
        .collect()
}

fn extension(path: &Path) -> Option<String> {
    path.extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
}

pub(crate) fn collect_images(dir: &Path, files: &mut Vec<PathBuf>) -> Result<()> {
    let io = |source| DataError::Io {
        path: dir.to_path_buf(),
        source,
    };
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let path = entry.map_err(io)?.path();
        if path.is_dir() {
            collect_images(&path, files)?;
        } else if extension(&path).is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.as_str())) {
            files.push(path);
        }
    }
    Ok(())
}

/// One image file as RGB `3 × h × w` in [0, 1]; its size must be `[h, w]`.
fn decode_rgb(path: &Path, [h, w]: [usize; 2]) -> Result<Vec<f32>> {
    let image = image::open(path)
        .map_err(|e| DataError::malformed(path, "a readable PNG/JPEG image", e.to_string()))?
        .to_rgb8();
    let (width, height) = image.dimensions();
    if (height as usize, width as usize) != (h, w) {
        return Err(DataError::malformed(
            path,
            format!("{h}×{w} pixels like the set's first image"),
            format!("{height}×{width}"),
        ));
    }
    let pixels = image.as_raw();
    Ok((0..3)
        .flat_map(|c| (0..h * w).map(move |p| pixels[p * 3 + c] as f32 / 255.0))
        .collect())
}

/// A numeric `.npy` array: shape and values (uint8, float32 or float64).
#[derive(Debug, Clone, PartialEq)]
pub struct NpyArray {
    pub shape: Vec<usize>,
    pub values: NpyValues,
}

/// The element type and values of an [`NpyArray`].
#[derive(Debug, Clone, PartialEq)]
pub enum NpyValues {
    U8(Vec<u8>),
    F32(Vec<f32>),
    F64(Vec<f64>),
}

impl NpyArray {
    /// Parses a C-ordered `.npy` of uint8, float32 or float64; `path` names it in errors.
    pub fn parse(path: &Path, bytes: &[u8]) -> Result<Self> {
        let bad = |found: String| {
            DataError::malformed(
                path,
                "a C-ordered .npy array of uint8, float32 or float64",
                found,
            )
        };
        let npy = npyz::NpyFile::new(bytes).map_err(|e| bad(e.to_string()))?;
        if npy.order() != npyz::Order::C {
            return Err(bad("a Fortran-ordered array".into()));
        }
        let shape = npy
            .shape()
            .iter()
            .map(|&d| usize::try_from(d).map_err(|_| bad(format!("dimension {d}"))))
            .collect::<Result<Vec<_>>>()?;
        let descr = npy.dtype().descr();
        let values = match descr.trim_matches('\'') {
            "|u1" => NpyValues::U8(npy.into_vec().map_err(|e| bad(e.to_string()))?),
            "<f4" => NpyValues::F32(npy.into_vec().map_err(|e| bad(e.to_string()))?),
            "<f8" => NpyValues::F64(npy.into_vec().map_err(|e| bad(e.to_string()))?),
            other => return Err(bad(format!("dtype {other}"))),
        };
        Ok(Self { shape, values })
    }

    /// Values in [0, 1]: uint8 divided by 255; floats as they are, which must lie in [0, 1].
    fn into_unit(self, path: &Path) -> Result<Vec<f32>> {
        let check = |v: f64, i: usize| {
            if (0.0..=1.0).contains(&v) {
                Ok(())
            } else {
                Err(DataError::malformed(
                    path,
                    "float images in [0, 1] (uint8 images in {0, …, 255})",
                    format!("value {v} at flat index {i}"),
                ))
            }
        };
        match self.values {
            NpyValues::U8(v) => Ok(v.into_iter().map(|u| u as f32 / 255.0).collect()),
            NpyValues::F32(v) => {
                v.iter()
                    .enumerate()
                    .try_for_each(|(i, &x)| check(x as f64, i))?;
                Ok(v)
            }
            NpyValues::F64(v) => {
                v.iter().enumerate().try_for_each(|(i, &x)| check(x, i))?;
                Ok(v.into_iter().map(|x| x as f32).collect())
            }
        }
    }
}

/// Every array of an `.npz` file (stored or deflated), by name without `.npy`.
pub fn read_npz(path: &Path) -> Result<Vec<(String, NpyArray)>> {
    let file = File::open(path).map_err(|source| DataError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    read_npz_from(path, BufReader::new(file))
}

fn read_npz_from<R: Read + Seek>(path: &Path, reader: R) -> Result<Vec<(String, NpyArray)>> {
    let bad =
        |found: String| DataError::malformed(path, "an .npz (zip) archive of .npy arrays", found);
    let mut zip = zip::ZipArchive::new(reader).map_err(|e| bad(e.to_string()))?;
    let mut arrays = Vec::new();
    for i in 0..zip.len() {
        let mut entry = zip.by_index(i).map_err(|e| bad(e.to_string()))?;
        let Some(name) = entry.name().strip_suffix(".npy").map(str::to_string) else {
            continue;
        };
        let mut bytes = Vec::with_capacity(entry.size() as usize);
        entry
            .read_to_end(&mut bytes)
            .map_err(|e| bad(format!("entry {name}: {e}")))?;
        arrays.push((name, NpyArray::parse(path, &bytes)?));
    }
    Ok(arrays)
}

/// An `.npz` archive (stored, like `np.savez`) of float64 arrays `(name, shape, values)`,
/// as bytes.
pub fn npz_bytes(arrays: &[(&str, &[usize], &[f64])]) -> std::io::Result<Vec<u8>> {
    let encoded = arrays
        .iter()
        .map(|(name, shape, values)| Ok((*name, npy_bytes(shape, values)?)))
        .collect::<std::io::Result<Vec<_>>>()?;
    npz_of_npy(&encoded)
}

/// An `.npz` archive (stored) of already encoded `.npy` files `(name, bytes)`, as bytes.
pub fn npz_of_npy(arrays: &[(&str, Vec<u8>)]) -> std::io::Result<Vec<u8>> {
    use std::io::Write;
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::FileOptions::default()
        .compression_method(zip::CompressionMethod::Stored)
        .large_file(true);
    for (name, bytes) in arrays {
        zip.start_file(format!("{name}.npy"), options)?;
        zip.write_all(bytes)?;
    }
    Ok(zip.finish()?.into_inner())
}

/// A C-ordered `.npy` file of `values` (uint8, float32, float64, …) as bytes.
pub fn npy_bytes<T: npyz::AutoSerialize + Copy>(
    shape: &[usize],
    values: &[T],
) -> std::io::Result<Vec<u8>> {
    use npyz::WriterBuilder;
    let mut out = Vec::new();
    let shape: Vec<u64> = shape.iter().map(|&d| d as u64).collect();
    let mut writer = npyz::WriteOptions::<T>::new()
        .default_dtype()
        .shape(&shape)
        .writer(&mut out)
        .begin_nd()?;
    writer.extend(values.iter().copied())?;
    writer.finish()?;
    Ok(out)
}

#[cfg(test)]
mod tests;
