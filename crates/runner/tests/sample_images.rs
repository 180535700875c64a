//! `metrics.sample_images`: a sample_quality cell draws its first samples as a gray-level
//! grid beside the table, and asks for image data by name.

mod common;

fn config(data: &str) -> String {
    format!(
        r#"
[experiment]
name = "sample_images"
seed = 5

[data]
{data}

[model]
kind = "delta"

[schedule]
kind = "edm"
steps = 8

[sampler]
kind = "heun"

[metrics]
samples = 6
names = ["frechet_to_data"]
sample_images = 4
"#
    )
}

fn run(name: &str, text: &str) -> anyhow::Result<std::path::PathBuf> {
    Ok(common::run_in_temp("images", name, text)?.dir)
}

/// Width and height from a PNG's IHDR chunk.
fn png_size(bytes: &[u8]) -> (u32, u32) {
    assert_eq!(&bytes[1..4], b"PNG", "not a PNG");
    let be = |at: usize| u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap());
    (be(16), be(20))
}

#[test]
fn digits_samples_are_drawn_as_a_two_by_two_grid() {
    let dir = run("digits", &config(r#"kind = "digits""#)).unwrap();
    let images: Vec<_> = std::fs::read_dir(dir.join("images"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    assert_eq!(images.len(), 1, "one grid for the one cell: {images:?}");
    let name = images[0].file_name().unwrap().to_string_lossy().to_string();
    assert!(
        name.starts_with("samples") && name.ends_with(".png"),
        "{name}"
    );
    // 4 tiles in 2 columns; 8×8 images at 18 px per pixel, 22 px captions, 8 px gaps.
    let (w, h) = png_size(&std::fs::read(&images[0]).unwrap());
    assert_eq!((w, h), (2 * (144 + 8) + 8, 2 * (144 + 22 + 8) + 8));
}

#[test]
fn vector_data_is_an_error_naming_the_key() {
    let err = run(
        "vectors",
        &config("kind = \"gaussian\"\neigenvalues = [1.0, 2.0, 3.0, 4.0]"),
    )
    .unwrap_err();
    let text = format!("{err:#}");
    assert!(text.contains("metrics.sample_images = 4"), "{text}");
    assert!(text.contains("[1, 1, 4]"), "{text}");
}
