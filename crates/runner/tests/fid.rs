//! `dlab fid`, `dlab features` and `dlab fid-stats` from the command line.
//!
//! The tests on images need the FID Inception weights (scripts/fetch-inception.sh, or
//! `DLAB_INCEPTION`); without them they say so and pass, unless `DLAB_REQUIRE_INCEPTION=1`
//! (`.ci/run` fetches the weights and sets it). Agreement with the TorchScript network itself
//! is tested in `crates/models/tests/inception.rs` and, end to end, by scripts/check_fid.py.

mod common;

use std::path::{Path, PathBuf};

use common::{dlab, scratch, text};
use data::images::npz_bytes;

const D: usize = 2048;

fn write_stats(path: &Path, mu: f64, sigma: f64) {
    let mean = vec![mu; D];
    let mut cov = vec![0.0; D * D];
    (0..D).for_each(|i| cov[i * D + i] = sigma * sigma);
    std::fs::write(
        path,
        npz_bytes(&[("mu", &[D], &mean), ("sigma", &[D, D], &cov)]).unwrap(),
    )
    .unwrap();
}

fn last_fid(out: &std::process::Output) -> f64 {
    assert_eq!(out.status.code(), Some(0), "{}", text(out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last = stdout.lines().last().unwrap_or_default();
    last.strip_prefix("fid: ")
        .unwrap_or_else(|| panic!("last line {last:?}"))
        .parse()
        .unwrap()
}

#[test]
fn fid_of_two_statistics_files_is_the_closed_form() {
    // N(0, I) against N(1·𝟙, 4 I): ‖μ1 − μ2‖² + d(1 − 2)² = 2d.
    let dir = scratch("fid-stats-closed-form");
    write_stats(&dir.join("a.npz"), 0.0, 1.0);
    write_stats(&dir.join("b.npz"), 1.0, 2.0);
    let fid = last_fid(&dlab(&dir, &["fid", "a.npz", "b.npz"]));
    assert!(
        (fid - 2.0 * D as f64).abs() < 1e-6 * D as f64,
        "fid = {fid}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn bad_inputs_are_refused_naming_the_file() {
    let dir = scratch("fid-bad");
    write_stats(&dir.join("good.npz"), 0.0, 1.0);
    std::fs::write(
        dir.join("mu_only.npz"),
        npz_bytes(&[("mu", &[D], &vec![0.0; D])]).unwrap(),
    )
    .unwrap();
    std::fs::create_dir_all(dir.join("empty")).unwrap();
    std::fs::write(
        dir.join("one.npz"),
        npz_bytes(&[("arr_0", &[1, 4, 4, 3], &[0.5; 48])]).unwrap(),
    )
    .unwrap();
    let cases: [(&str, &[&str]); 4] = [
        ("mu_only.npz", &["fid", "mu_only.npz", "good.npz"]),
        ("at least one .png", &["fid", "empty", "good.npz"]),
        ("at least 2", &["fid", "one.npz", "good.npz"]),
        (
            "missing.npz",
            &["fid-stats", "missing.npz", "--out", "s.npz"],
        ),
    ];
    for (needle, args) in cases {
        let out = dlab(&dir, args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out));
        assert!(text(&out).contains(needle), "{args:?}: {}", text(&out));
    }
    // weights that are not the network
    std::fs::write(dir.join("fake.pt"), b"not the network").unwrap();
    std::fs::write(
        dir.join("two.npz"),
        npz_bytes(&[("arr_0", &[2, 4, 4, 3], &[0.5; 96])]).unwrap(),
    )
    .unwrap();
    let out = dlab(
        &dir,
        &["fid", "two.npz", "good.npz", "--inception", "fake.pt"],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("fake.pt") && text(&out).contains("SHA-1"),
        "{}",
        text(&out)
    );
    assert!(!dir.join("s.npz").exists());
    std::fs::remove_dir_all(&dir).ok();
}

fn weights() -> Option<PathBuf> {
    let path = std::env::var_os("DLAB_INCEPTION")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/fid-inception-v3.pt")
        });
    if path.exists() {
        return Some(path.canonicalize().unwrap());
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

#[test]
fn features_stats_and_fid_of_image_folders_agree() {
    let Some(weights) = weights() else { return };
    let weights = weights.to_str().unwrap();
    let dir = scratch("fid-images");
    for (set, size) in [("a", 8u32), ("b", 12)] {
        std::fs::create_dir_all(dir.join(set)).unwrap();
        for k in 0..3u32 {
            let img = image::RgbImage::from_fn(size, size, |x, y| {
                image::Rgb([
                    (x * 20 + k * 30) as u8,
                    (y * 15) as u8,
                    ((x + y) * 9 * (k + 1)) as u8,
                ])
            });
            img.save(dir.join(set).join(format!("{k}.png"))).unwrap();
        }
    }
    let out = dlab(
        &dir,
        &["features", "a", "--out", "f.npy", "--inception", weights],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let bytes = std::fs::read(dir.join("f.npy")).unwrap();
    let npy = npyz::NpyFile::new(&bytes[..]).unwrap();
    assert_eq!(npy.shape(), &[3, D as u64]);
    let features: Vec<f32> = npy.into_vec().unwrap();
    assert!(features.iter().all(|v| v.is_finite() && *v >= 0.0));

    let out = dlab(
        &dir,
        &[
            "fid-stats",
            "a",
            "--out",
            "a.npz",
            "--inception",
            weights,
            "--batch",
            "2",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let direct = last_fid(&dlab(&dir, &["fid", "a", "b", "--inception", weights]));
    let via_stats = last_fid(&dlab(&dir, &["fid", "a.npz", "b", "--inception", weights]));
    assert!(direct > 0.0);
    assert!(
        (direct - via_stats).abs() < 1e-6 * direct,
        "{direct} vs {via_stats}"
    );
    let same = last_fid(&dlab(&dir, &["fid", "a", "a.npz", "--inception", weights]));
    assert!(
        same.abs() < 1e-6 * direct,
        "FID of a set with itself: {same}"
    );
    std::fs::remove_dir_all(&dir).ok();
}
