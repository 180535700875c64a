//! `[metrics] save_samples`: a cell's samples as files that other tools read, so that
//! EDM's or ADM's evaluator can score them and another framework's run can be compared
//! with them value by value.
//!
//! Each sample seed j of a cell is written to `samples/<cell>.seed<j>.npz`, `.npy` or a
//! folder `samples/<cell>.seed<j>/` of `000000.png`, … in the run directory, complete
//! or not at all.

use crate::config::SampleFormat;
use crate::files::{create_dir_all, unique_temp_path, write_bytes_atomically};
use anyhow::{bail, Context, Result};
use samplers::Batch;
use std::path::{Path, PathBuf};

/// Where sample seed `seed` of the cell labelled `cell_label` goes under `dir`.
pub fn samples_path(dir: &Path, cell_label: &str, seed: usize, format: SampleFormat) -> PathBuf {
    let stem = if cell_label.is_empty() {
        "cell"
    } else {
        cell_label
    };
    match format {
        SampleFormat::Png => dir.join(format!("{stem}.seed{seed}")),
        _ => dir.join(format!("{stem}.seed{seed}.{}", format.name())),
    }
}

/// Writes `samples` (rows: images of `shape` in the model's space, [−1, 1] for the data)
/// to `path` in `format`.
pub fn write_samples(
    path: &Path,
    format: SampleFormat,
    samples: &Batch,
    shape: [usize; 3],
) -> Result<()> {
    match format {
        SampleFormat::Npy => {
            let values: Vec<f32> = samples.as_slice().iter().map(|&x| x as f32).collect();
            let dims = match shape {
                [1, 1, d] => vec![samples.n(), d],
                [c, h, w] => vec![samples.n(), c, h, w],
            };
            write_bytes_atomically(path, &data::images::npy_bytes(&dims, &values)?)
        }
        SampleFormat::Npz => {
            let [c, h, w] = image_shape(shape)?;
            let pixels = channels_last_uint8(samples, [c, h, w]);
            let npy = data::images::npy_bytes(&[samples.n(), h, w, c], &pixels)?;
            write_bytes_atomically(path, &data::images::npz_of_npy(&[("arr_0", npy)])?)
        }
        SampleFormat::Png => write_png_folder(path, samples, image_shape(shape)?),
    }
}

/// A value of the data range [−1, 1] as an 8-bit level: ⌊127.5·x + 128⌋ clipped to
/// {0, …, 255}, EDM's conversion of its samples (Karras et al. 2022, `generate.py`), the
/// nearest level of 2u/255 − 1 (non-finite values become 0).
pub fn to_uint8(x: f64) -> u8 {
    (127.5 * x + 128.0).floor().clamp(0.0, 255.0) as u8
}

/// The shape when it is an image of 1 or 3 channels.
fn image_shape(shape: [usize; 3]) -> Result<[usize; 3]> {
    match shape {
        [1 | 3, h, w] if h >= 2 && w >= 2 => Ok(shape),
        _ => bail!(
            "metrics.save_samples = \"npz\" or \"png\" needs images of 1 or 3 channels; the data has shape {shape:?} (use \"npy\")"
        ),
    }
}

/// The samples as uint8, N×H×W×C (channels last).
fn channels_last_uint8(samples: &Batch, [c, h, w]: [usize; 3]) -> Vec<u8> {
    samples
        .rows()
        .flat_map(|row| {
            (0..h * w)
                .flat_map(move |p| (0..c).map(move |channel| to_uint8(row[channel * h * w + p])))
        })
        .collect()
}

/// One PNG per sample in a folder at `path`, written in a temporary folder and renamed
/// into place (replacing an earlier folder of the same cell and seed).
fn write_png_folder(path: &Path, samples: &Batch, [c, h, w]: [usize; 3]) -> Result<()> {
    if let Some(parent) = path.parent() {
        create_dir_all(parent)?;
    }
    let tmp = unique_temp_path(path);
    let written = write_pngs(&tmp, samples, [c, h, w]).and_then(|()| {
        if path.exists() {
            std::fs::remove_dir_all(path)
                .with_context(|| format!("cannot replace {}", path.display()))?;
        }
        std::fs::rename(&tmp, path)
            .with_context(|| format!("cannot move {} to {}", tmp.display(), path.display()))
    });
    if written.is_err() {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    written.with_context(|| format!("writing {}", path.display()))
}

fn write_pngs(dir: &Path, samples: &Batch, [c, h, w]: [usize; 3]) -> Result<()> {
    create_dir_all(dir)?;
    let color = if c == 1 {
        image::ColorType::L8
    } else {
        image::ColorType::Rgb8
    };
    let pixels = channels_last_uint8(samples, [c, h, w]);
    for (i, image) in pixels.chunks_exact(c * h * w).enumerate() {
        let file = dir.join(format!("{i:06}.png"));
        image::save_buffer(&file, image, w as u32, h as u32, color)
            .with_context(|| format!("cannot write {}", file.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eight_bit_levels_round_trip_and_clip() {
        for u in 0..=255u8 {
            let x = 2.0 * f64::from(u) / 255.0 - 1.0;
            assert_eq!(to_uint8(x), u);
        }
        assert_eq!(to_uint8(-1.5), 0);
        assert_eq!(to_uint8(1.5), 255);
        assert_eq!(to_uint8(f64::NAN), 0);
    }
}
