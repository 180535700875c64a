//! `task = "memorization"` on a tiny configuration: the delta-mixture denoiser of each half
//! (the exact denoiser of its training set) copies its training images — every sample is
//! memorized and equals its nearest training image — while the two halves, being disjoint,
//! give different images from the same noise.

mod common;

use common::numeric_column as column;
use runner::table::Table;

fn run(name: &str, text: &str) -> anyhow::Result<Table> {
    Ok(common::run_in_temp("mem", name, text)?.table)
}

const TINY: &str = r#"
[experiment]
name = "memorization_delta"
seed = 3
task = "memorization"

[data]
kind = "digits"

[model]
kind = "delta"

[metrics]
samples = 40
names = ["fd_pixels"]

[sweep]
names = { "memorization.size" = "N" }
memorization.size = [5, 40]
"#;

#[test]
fn delta_denoisers_of_disjoint_halves_copy_their_own_images() {
    let table = run("delta", TINY).unwrap();
    assert_eq!(column(&table, "N"), [5.0, 5.0, 40.0, 40.0]);
    assert_eq!(column(&table, "split"), [0.0, 1.0, 0.0, 1.0]);
    for m in column(&table, "memorized") {
        assert_eq!(m, 1.0, "a delta mixture's samples are its training images");
    }
    for c in column(&table, "nn_cosine") {
        assert!(c > 0.9999, "nn_cosine {c}");
    }
    let cosine = column(&table, "cosine");
    assert_eq!(cosine[0], cosine[1], "one value per pair of models");
    for c in cosine {
        assert!(c < 0.95, "disjoint halves gave the same images: cosine {c}");
    }
    assert!(column(&table, "fd_pixels")
        .iter()
        .all(|v| v.is_finite() && *v > 0.0));
}

#[test]
fn a_size_beyond_half_the_data_is_an_error_naming_the_key() {
    let text = TINY.replace("[5, 40]", "[899]");
    let err = format!("{:#}", run("too_big", &text).unwrap_err());
    assert!(err.contains("memorization.size = 899"), "{err}");
    let text = TINY.replace("[5, 40]", "[1]");
    let err = format!("{:#}", run("too_small", &text).unwrap_err());
    assert!(err.contains("memorization.size = 1 must be ≥ 2"), "{err}");
}
