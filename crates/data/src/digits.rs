//! The embedded UCI optdigits 8×8 data set (see `assets/README.md`).

use std::path::Path;

use crate::csv::{parse_labelled_csv, CsvLayout};
use crate::Dataset;

/// The gzipped CSV shipped by scikit-learn: 64 pixels (0–16) then the label, 1797 rows.
const DIGITS_CSV_GZ: &[u8] = include_bytes!("../assets/digits.csv.gz");

/// 8×8 digits: 17 gray levels (0…16), labels 0–9.
pub const DIGITS_LAYOUT: CsvLayout = CsvLayout {
    shape: [1, 8, 8],
    levels: 17,
    classes: 10,
};

/// The 1797 UCI optdigits images (Alpaydin & Kaynak 1998), scaled to [−1, 1], with labels.
pub fn digits() -> Dataset {
    parse_labelled_csv(
        "digits",
        Path::new("<embedded assets/digits.csv.gz>"),
        DIGITS_CSV_GZ,
        DIGITS_LAYOUT,
    )
    .expect("the embedded digits file is valid (checked by the crate's tests)")
}
