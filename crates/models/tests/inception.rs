//! The FID Inception network against the original TorchScript file run by PyTorch
//! (fixtures written by scripts/inception_fixtures.py).
//!
//! The feature test needs the weights (`bash scripts/fetch-inception.sh`, or a path in
//! `DLAB_INCEPTION`). Without them it says so and passes, unless `DLAB_REQUIRE_INCEPTION=1`
//! (set by `.ci/run`, which fetches them), where their absence fails.

use std::path::{Path, PathBuf};

use burn::tensor::Device;
use models::inception::{nv_bilinear_resize, FidInception, FEATURES, INPUT_SIZE};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/inception")
}

fn read_npy<T: npyz::Deserialize>(name: &str) -> (Vec<u64>, Vec<T>) {
    let path = fixtures().join(name);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let npy = npyz::NpyFile::new(&bytes[..]).expect("a .npy fixture");
    let shape = npy.shape().to_vec();
    (shape, npy.into_vec().expect("fixture values"))
}

fn weights() -> Option<PathBuf> {
    let path = std::env::var_os("DLAB_INCEPTION")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/fid-inception-v3.pt")
        });
    if path.exists() {
        return Some(path);
    }
    let message = format!(
        "FID Inception weights absent at {}: run scripts/fetch-inception.sh",
        path.display()
    );
    if std::env::var("DLAB_REQUIRE_INCEPTION").is_ok_and(|v| v == "1") {
        panic!("{message} (DLAB_REQUIRE_INCEPTION=1)");
    }
    eprintln!("skipped: {message}");
    None
}

fn largest_relative_difference(ours: &[f32], theirs: &[f32]) -> f32 {
    assert_eq!(ours.len(), theirs.len());
    let scale = theirs.iter().fold(0f32, |m, v| m.max(v.abs()));
    ours.iter()
        .zip(theirs)
        .map(|(a, b)| (a - b).abs() / scale)
        .fold(0f32, f32::max)
}

#[test]
fn resize_matches_torch_grid_sample() {
    // 8×8 grayscale fixture image → 299×299 (torch: affine_grid + grid_sample, float32).
    let (shape, image) = read_npy::<u8>("image_0.npy");
    assert_eq!(shape, [8, 8, 1]);
    let unit: Vec<f32> = image.iter().map(|&u| u as f32 / 255.0).collect();
    let ours = nv_bilinear_resize(&unit, 1, [8, 8], [INPUT_SIZE; 2]);
    let (_, torch) = read_npy::<f32>("resize_8x8.npy");
    let diff = largest_relative_difference(&ours, &torch[..INPUT_SIZE * INPUT_SIZE]);
    // Largest difference found: 6e-8 (float32 rounding of the grid).
    assert!(diff < 1e-5, "8×8 → 299: largest difference {diff:e}");

    // 5×7 RGB (float, channels last in the fixture) → 11×13.
    let (_, hwc) = read_npy::<f32>("resize_input_5x7.npy");
    let chw: Vec<f32> = (0..3)
        .flat_map(|c| (0..35).map(move |p| (c, p)))
        .map(|(c, p)| hwc[p * 3 + c])
        .collect();
    let ours = nv_bilinear_resize(&chw, 3, [5, 7], [11, 13]);
    let (_, torch) = read_npy::<f32>("resize_5x7_11x13.npy");
    let diff = largest_relative_difference(&ours, &torch);
    assert!(diff < 1e-5, "5×7 → 11×13: largest difference {diff:e}");
}

#[test]
fn features_match_the_torchscript_network() {
    let Some(path) = weights() else { return };
    let device = Device::flex();
    let model = FidInception::load(&path, &device).expect("the fetched weights load");
    let (shape, expected) = read_npy::<f32>("features.npy");
    let count = shape[0] as usize;
    assert_eq!(shape[1] as usize, FEATURES);
    let mut worst = 0f32;
    for k in 0..count {
        let (shape, pixels) = read_npy::<u8>(&format!("image_{k}.npy"));
        let [h, w, c] = [shape[0], shape[1], shape[2]].map(|v| v as usize);
        // H×W×C uint8 → C×H×W in [0, 1].
        let chw: Vec<f32> = (0..c)
            .flat_map(|ch| (0..h * w).map(move |p| (ch, p)))
            .map(|(ch, p)| pixels[p * c + ch] as f32 / 255.0)
            .collect();
        let ours = model.features(&chw, 1, c, h, w);
        let theirs = &expected[k * FEATURES..(k + 1) * FEATURES];
        let diff = largest_relative_difference(&ours, theirs);
        eprintln!("image {k} ({h}×{w}×{c}): largest difference {diff:.2e} of the largest feature");
        worst = worst.max(diff);
    }
    // Largest difference found: see the README (float32 sums in another order).
    assert!(worst < 1e-4, "largest difference {worst:e}");
}

#[test]
fn a_file_with_another_hash_is_refused_naming_it() {
    let dir = std::env::temp_dir().join(format!("dlab-inception-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("not-inception.pt");
    std::fs::write(&path, b"PK\x05\x06 definitely not the network").unwrap();
    let error = FidInception::load(&path, &Device::flex())
        .unwrap_err()
        .to_string();
    assert!(error.contains("not-inception.pt"), "{error}");
    assert!(error.contains("SHA-1"), "{error}");
    std::fs::remove_dir_all(&dir).unwrap();
}
