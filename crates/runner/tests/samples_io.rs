//! Images in and samples out: `[data] kind = "images"` reads other tools' image sets, and
//! `[metrics] save_samples` writes every cell's samples for other tools' evaluators.

mod common;

use data::images::{read_npz, NpyArray, NpyValues};
use std::path::Path;

fn config(data: &str, metrics: &str) -> String {
    format!(
        r#"
[experiment]
name = "samples_io"
seed = 3

[data]
{data}

[model]
kind = "delta"

[schedule]
kind = "edm"
steps = 6

[sampler]
kind = "heun"

[metrics]
samples = 5
names = ["fd_pixels"]
{metrics}
"#
    )
}

fn saved(format: &str) -> std::path::PathBuf {
    let metrics = format!("sample_seeds = 2\nsave_samples = \"{format}\"");
    let outcome = common::run_in_temp(
        "samples-io",
        format,
        &config(r#"kind = "digits""#, &metrics),
    )
    .unwrap();
    outcome.dir.join("samples")
}

fn npy(path: &Path) -> NpyArray {
    NpyArray::parse(path, &std::fs::read(path).unwrap()).unwrap()
}

/// ⌊127.5·x + 128⌋ clipped to {0, …, 255}, written out here as EDM's generate.py has it.
fn edm_uint8(x: f32) -> u8 {
    (x as f64 * 127.5 + 128.0).clamp(0.0, 255.0) as u8
}

#[test]
fn saved_samples_agree_across_formats_and_seeds() {
    let raw = saved("npy");
    let floats: Vec<Vec<f32>> = (0..2)
        .map(|seed| {
            let array = npy(&raw.join(format!("cell.seed{seed}.npy")));
            assert_eq!(array.shape, [5, 1, 8, 8]);
            match array.values {
                NpyValues::F32(v) => v,
                other => panic!("float32 expected, got {other:?}"),
            }
        })
        .collect();
    assert_ne!(
        floats[0], floats[1],
        "the two sample seeds draw different noise"
    );
    let max = floats[0].iter().fold(0f32, |m, x| m.max(x.abs()));
    assert!(
        (0.5..1.5).contains(&max),
        "delta samples near the data range: {max}"
    );

    let npz = saved("npz");
    let arrays = read_npz(&npz.join("cell.seed0.npz")).unwrap();
    let (name, arr_0) = &arrays[0];
    assert_eq!(
        (name.as_str(), &arr_0.shape[..]),
        ("arr_0", &[5, 8, 8, 1][..])
    );
    let NpyValues::U8(levels) = &arr_0.values else {
        panic!("uint8 expected")
    };
    let expected: Vec<u8> = floats[0].iter().map(|&x| edm_uint8(x)).collect();
    assert_eq!(
        levels, &expected,
        "N×H×W×1 is the N×1×H×W samples in EDM's levels"
    );

    let png = saved("png");
    let folder = png.join("cell.seed1");
    let mut files: Vec<_> = std::fs::read_dir(&folder)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    files.sort();
    assert_eq!(
        files,
        [
            "000000.png",
            "000001.png",
            "000002.png",
            "000003.png",
            "000004.png"
        ]
    );
    let image = image::open(folder.join("000003.png")).unwrap();
    assert_eq!(image.color(), image::ColorType::L8);
    let expected: Vec<u8> = floats[1][3 * 64..4 * 64]
        .iter()
        .map(|&x| edm_uint8(x))
        .collect();
    assert_eq!(image.to_luma8().into_raw(), expected);
}

#[test]
fn an_image_folder_and_the_same_npy_are_the_same_data() {
    let dir = common::scratch("images-data");
    let folder = dir.join("pngs");
    std::fs::create_dir_all(&folder).unwrap();
    let mut levels = Vec::new();
    for i in 0..24u32 {
        let image = image::GrayImage::from_fn(6, 5, |x, y| {
            image::Luma([((i * 37 + x * 11 + y * 53) % 256) as u8])
        });
        image.save(folder.join(format!("{i:02}.png"))).unwrap();
        levels.extend(image.into_raw());
    }
    let array = data::images::npy_bytes(&[24, 5, 6], &levels).unwrap();
    std::fs::write(dir.join("images.npy"), array).unwrap();

    let fd = |path: &Path, name: &str| {
        let data = format!("kind = \"images\"\npath = \"{}\"", path.display());
        let outcome = common::run_in_temp("images-data", name, &config(&data, "")).unwrap();
        common::numeric_column(&outcome.table, "fd_pixels")[0]
    };
    let from_folder = fd(&folder, "folder");
    assert!(
        from_folder.is_finite() && from_folder > 0.0,
        "{from_folder}"
    );
    assert_eq!(from_folder, fd(&dir.join("images.npy"), "npy"));
}

#[test]
fn bad_sample_formats_and_image_data_are_refused_naming_the_key() {
    let vectors = config(
        "kind = \"gaussian\"\neigenvalues = [1.0, 2.0]",
        "save_samples = \"png\"",
    );
    let text = common::refusal("samples-io", "vectors", &vectors);
    assert!(
        text.contains("metrics.save_samples = \"png\"") && text.contains("[1, 1, 2]"),
        "{text}"
    );
    assert!(
        text.contains("vectors.toml:"),
        "names the file and line: {text}"
    );

    let unknown = config(r#"kind = "digits""#, "save_samples = \"jpeg\"");
    let text = common::refusal("samples-io", "unknown", &unknown);
    assert!(
        text.contains("save_samples") && text.contains("jpeg"),
        "{text}"
    );

    let missing = config("kind = \"images\"\npath = \"no/such/folder\"", "");
    let text = common::refusal("samples-io", "missing", &missing);
    assert!(text.contains("no/such/folder"), "{text}");
}
