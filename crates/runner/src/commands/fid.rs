//! `dlab fid A B`, `dlab features PATH`, `dlab fid-stats PATH`: FID as pytorch-fid and EDM's
//! `fid.py` compute it, on images or statistics made anywhere.
//!
//! An input is a folder of PNG/JPEG images (recursive), an `.npz` with `arr_0` or an `.npy`
//! of N×H×W×C images (uint8, or float in [0, 1]; see `data::images`), or, for `fid`, an
//! `.npz` of statistics with `mu` (2048) and `sigma` (2048×2048).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::Args;
use data::images::{npz_bytes, read_npz, ImageSet, NpyArray, NpyValues};
use models::inception::FEATURES;

use crate::build::inception::{self, DEFAULT_BATCH};
use crate::files::{write_atomically, write_bytes_atomically};

/// Options shared by the Inception commands.
#[derive(Args, Debug, Clone)]
pub struct InceptionArgs {
    /// The FID Inception TorchScript file (default: $DLAB_INCEPTION, else
    /// data/fid-inception-v3.pt from scripts/fetch-inception.sh).
    #[arg(long, value_name = "FILE")]
    pub inception: Option<PathBuf>,
    /// Images per forward pass (memory grows ≈ 25 MB per image).
    #[arg(long, default_value_t = DEFAULT_BATCH as u32, value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub batch: u32,
}

/// Mean and covariance of one input.
struct Statistics {
    mu: Vec<f64>,
    sigma: Vec<f64>,
    /// Images they came from, when the input was images.
    images: Option<usize>,
}

/// `dlab fid A B`: prints the FID on its last line as `fid: <value>`.
pub fn fid(a: &Path, b: &Path, args: &InceptionArgs) -> Result<()> {
    let first = statistics_of(a, args)?;
    let second = statistics_of(b, args)?;
    let value =
        metrics::frechet_distance_gaussians(&first.mu, &first.sigma, &second.mu, &second.sigma)?;
    let describe = |path: &Path, s: &Statistics| match s.images {
        Some(n) => format!("{} ({n} images)", path.display()),
        None => format!("{} (statistics)", path.display()),
    };
    eprintln!(
        "FID (Inception-v3 pool3, 2048 features) between {} and {}",
        describe(a, &first),
        describe(b, &second)
    );
    println!("fid: {value}");
    Ok(())
}

/// `dlab fid-stats PATH --out S.npz`: writes `mu` and `sigma` (float64), the format
/// `dlab fid` and pytorch-fid read.
pub fn fid_stats(path: &Path, out: &Path, args: &InceptionArgs) -> Result<()> {
    let stats = statistics_of(path, args)?;
    let bytes = npz_bytes(&[
        ("mu", &[FEATURES], &stats.mu),
        ("sigma", &[FEATURES, FEATURES], &stats.sigma),
    ])?;
    write_bytes_atomically(out, &bytes)?;
    println!(
        "wrote {} (mu, sigma of {} images)",
        out.display(),
        stats.images.unwrap_or(0)
    );
    Ok(())
}

/// `dlab features PATH --out F.npy`: writes the N×2048 float32 features.
pub fn features(path: &Path, out: &Path, args: &InceptionArgs) -> Result<()> {
    let set = ImageSet::open(path)?;
    let model = inception::load(&inception::weights_path(args.inception.as_deref())?)?;
    write_atomically(out, |file| {
        use npyz::WriterBuilder;
        let mut writer = npyz::WriteOptions::<f32>::new()
            .default_dtype()
            .shape(&[set.len() as u64, FEATURES as u64])
            .writer(std::io::BufWriter::new(file))
            .begin_nd()?;
        inception::for_each_feature_batch(
            &model,
            set.len(),
            set.shape,
            args.batch as usize,
            &path.display().to_string(),
            |range| Ok(set.read(range)?),
            |batch| Ok(writer.extend(batch.as_slice().iter().map(|&v| v as f32))?),
        )?;
        writer.finish()?;
        Ok(())
    })?;
    println!(
        "wrote {} ({} × {FEATURES} float32)",
        out.display(),
        set.len()
    );
    Ok(())
}

/// Statistics of `path`: read from an `.npz` holding `mu` and `sigma`, else computed from
/// its images.
fn statistics_of(path: &Path, args: &InceptionArgs) -> Result<Statistics> {
    if path.extension().is_some_and(|e| e == "npz") && path.is_file() {
        let arrays = read_npz(path)?;
        let has = |name: &str| arrays.iter().any(|(n, _)| n == name);
        if has("mu") || has("sigma") {
            return stored_statistics(path, arrays);
        }
    }
    let set = ImageSet::open(path)?;
    if set.len() < 2 {
        bail!(
            "{}: {} image; FID statistics need at least 2",
            path.display(),
            set.len()
        );
    }
    let model = inception::load(&inception::weights_path(args.inception.as_deref())?)?;
    let (mu, sigma) = inception::statistics(
        &model,
        set.len(),
        set.shape,
        args.batch as usize,
        &path.display().to_string(),
        |range| Ok(set.read(range)?),
    )?;
    Ok(Statistics {
        mu,
        sigma,
        images: Some(set.len()),
    })
}

fn stored_statistics(path: &Path, arrays: Vec<(String, NpyArray)>) -> Result<Statistics> {
    let take = |name: &str, shape: &[usize]| -> Result<Vec<f64>> {
        let array = arrays
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, a)| a)
            .with_context(|| {
                format!(
                    "{}: statistics need both mu and sigma; {name} is missing",
                    path.display()
                )
            })?;
        if array.shape != shape {
            bail!(
                "{}: {name} has shape {:?}, expected {shape:?} (Inception pool3 statistics)",
                path.display(),
                array.shape
            );
        }
        let values = match &array.values {
            NpyValues::F64(v) => v.clone(),
            NpyValues::F32(v) => v.iter().map(|&x| x as f64).collect(),
            NpyValues::U8(_) => bail!(
                "{}: {name} is uint8; expected float32 or float64",
                path.display()
            ),
        };
        if values.iter().any(|v| !v.is_finite()) {
            bail!("{}: {name} holds NaN or infinite values", path.display());
        }
        Ok(values)
    };
    Ok(Statistics {
        mu: take("mu", &[FEATURES])?,
        sigma: take("sigma", &[FEATURES, FEATURES])?,
        images: None,
    })
}
