use std::path::Path;

use crate::test_support::{gzip, TempDir};
use crate::{
    encode_idx, load_cifar10, load_idx, load_mnist_csv_gz, shared_mnist5k_path, DataError,
};

#[test]
fn mnist_csv_loads_the_shared_5k_file() {
    let path = shared_mnist5k_path();
    if !path.exists() {
        println!(
            "skipping: {} not found (run scripts/fetch-mnist5k.sh)",
            path.display()
        );
        return;
    }
    let ds = load_mnist_csv_gz(&path).unwrap();
    assert_eq!(
        (ds.len(), ds.dim(), ds.shape, ds.levels),
        (5000, 784, [1, 28, 28], Some(256))
    );
    let mut counts = [0usize; 10];
    ds.labels
        .as_ref()
        .unwrap()
        .iter()
        .for_each(|&l| counts[l as usize] += 1);
    assert_eq!(counts, [500; 10]);
    let raw = ds.raw_levels().unwrap();
    // Row 0 holds 51, 159, 253, 159, 50 at pixels 127..132 (checked with zcat).
    let r0: Vec<f64> = raw.row(0)[127..132].iter().map(|v| v.round()).collect();
    assert_eq!(r0, [51.0, 159.0, 253.0, 159.0, 50.0]);
    assert!(ds
        .images
        .as_slice()
        .iter()
        .all(|v| (-1.0..=1.0).contains(v)));
}

#[test]
fn missing_mnist_file_names_path_and_fetch_script() {
    let err = load_mnist_csv_gz("no/such/mnist_5k.csv.gz").unwrap_err();
    assert!(matches!(err, DataError::Missing { .. }));
    let msg = err.to_string();
    assert!(
        msg.contains("no/such/mnist_5k.csv.gz") && msg.contains("run scripts/fetch-mnist5k.sh"),
        "{msg}"
    );
}

#[test]
fn malformed_mnist_csv_names_file_line_and_expectation() {
    let dir = TempDir::new("csv");
    let row = |pixel: &str, n: usize| format!("{}{pixel},3\n", "0,".repeat(n));
    let short = dir.write(
        "short.csv.gz",
        &gzip(format!("{}{}", row("0", 783), row("0", 782)).as_bytes()),
    );
    let msg = load_mnist_csv_gz(&short).unwrap_err().to_string();
    assert!(
        msg.contains("short.csv.gz")
            && msg.contains("785 comma-separated")
            && msg.contains("line 2: 784 fields"),
        "{msg}"
    );
    let big = dir.write("big.csv", row("256", 783).as_bytes());
    let msg = load_mnist_csv_gz(&big).unwrap_err().to_string();
    assert!(
        msg.contains("big.csv") && msg.contains("pixel values 0..=255") && msg.contains("\"256\""),
        "{msg}"
    );
    // A plain (not gzipped) CSV with a valid row loads: gzip is detected, not assumed.
    let ok = dir.write("ok.csv", row("255", 783).as_bytes());
    let ds = load_mnist_csv_gz(&ok).unwrap();
    assert_eq!(
        (ds.len(), ds.images.row(0)[783], ds.images.row(0)[0]),
        (1, 1.0, -1.0)
    );
    assert_eq!(ds.labels.unwrap(), [3]);
}

/// Three 2×3 images with pixels 0, 10, …, 170 and labels 4, 0, 9.
fn idx_fixture(dir: &TempDir, gz_images: bool) -> (std::path::PathBuf, std::path::PathBuf) {
    let pixels: Vec<u8> = (0..18).map(|i| 10 * i).collect();
    let images = encode_idx(&[3, 2, 3], &pixels);
    let images = if gz_images { gzip(&images) } else { images };
    let labels = gzip(&encode_idx(&[3], &[4, 0, 9]));
    (
        dir.write("images-idx3-ubyte", &images),
        dir.write("labels-idx1-ubyte.gz", &labels),
    )
}

#[test]
fn idx_round_trip_raw_and_gzipped() {
    let dir = TempDir::new("idx");
    for gz in [false, true] {
        let (images, labels) = idx_fixture(&dir, gz);
        let ds = load_idx(&images, Some(&labels)).unwrap();
        assert_eq!(
            (ds.len(), ds.dim(), ds.shape, ds.levels),
            (3, 6, [1, 2, 3], Some(256))
        );
        assert_eq!(ds.labels.as_ref().unwrap(), &[4, 0, 9]);
        let raw = ds.raw_levels().unwrap();
        assert_eq!(raw.row(1), &[60.0, 70.0, 80.0, 90.0, 100.0, 110.0]);
        assert_eq!(ds.images.row(0)[0], -1.0);
        assert!(load_idx(&images, None).unwrap().labels.is_none());
    }
}

#[test]
fn malformed_idx_files_give_errors_naming_the_file() {
    let dir = TempDir::new("idx-bad");
    let (images, labels) = idx_fixture(&dir, false);
    // Labels where images are expected: wrong magic.
    let err = load_idx(&labels, None).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, DataError::Malformed { .. }));
    assert!(
        msg.contains("labels-idx1-ubyte.gz") && msg.contains("IDX magic [00, 00, 08, 03]"),
        "{msg}"
    );
    // Truncated body.
    let bytes = std::fs::read(&images).unwrap();
    let cut = dir.write("cut-idx3-ubyte", &bytes[..bytes.len() - 1]);
    let msg = load_idx(&cut, None).unwrap_err().to_string();
    assert!(
        msg.contains("cut-idx3-ubyte")
            && msg.contains("18 data bytes")
            && msg.contains("found 17 bytes"),
        "{msg}"
    );
    // Truncated header.
    let stub = dir.write("stub-idx3-ubyte", &bytes[..9]);
    let msg = load_idx(&stub, None).unwrap_err().to_string();
    assert!(
        msg.contains("stub-idx3-ubyte") && msg.contains("16-byte IDX header"),
        "{msg}"
    );
    // Label count mismatch.
    let two = dir.write("two-labels", &encode_idx(&[2], &[1, 2]));
    let msg = load_idx(&images, Some(&two)).unwrap_err().to_string();
    assert!(
        msg.contains("two-labels") && msg.contains("3 labels") && msg.contains("found 2 labels"),
        "{msg}"
    );
    // Missing file.
    let err = load_idx(dir.0.join("absent"), None).unwrap_err();
    assert!(matches!(err, DataError::Missing { .. }) && err.to_string().contains("absent"));
}

/// Record `i`: label `i`, red = i, green = 100 + i, blue = 200 + i, except pixel 5 of red = 77.
fn cifar_record(i: u8) -> Vec<u8> {
    let mut r = vec![i];
    for c in [0u8, 100, 200] {
        r.extend(std::iter::repeat_n(c + i, 1024));
    }
    r[1 + 5] = 77;
    r
}

#[test]
fn cifar10_round_trip_is_channel_major_and_concatenates_files() {
    let dir = TempDir::new("cifar");
    let a = dir.write(
        "data_batch_1.bin",
        &[cifar_record(0), cifar_record(1)].concat(),
    );
    let b = dir.write("data_batch_2.bin.gz", &gzip(&cifar_record(9)));
    let ds = load_cifar10(&[&a, &b]).unwrap();
    assert_eq!(
        (ds.len(), ds.dim(), ds.shape, ds.levels),
        (3, 3072, [3, 32, 32], Some(256))
    );
    assert_eq!(ds.labels.as_ref().unwrap(), &[0, 1, 9]);
    let raw = ds.raw_levels().unwrap();
    let px = |img: usize, k: usize| raw.row(img)[k].round();
    assert_eq!(
        [px(1, 0), px(1, 5), px(1, 1024), px(1, 2048), px(1, 3071)],
        [1.0, 77.0, 101.0, 201.0, 201.0]
    );
    assert_eq!(px(2, 1023), 9.0);
}

#[test]
fn malformed_cifar10_files_give_errors_naming_the_file() {
    let dir = TempDir::new("cifar-bad");
    let rec = cifar_record(3);
    let cut = dir.write("cut.bin", &[rec.clone(), rec[..3000].to_vec()].concat());
    let msg = load_cifar10(&[&cut]).unwrap_err().to_string();
    assert!(
        msg.contains("cut.bin")
            && msg.contains("multiple of 3073 bytes")
            && msg.contains("found 6073 bytes"),
        "{msg}"
    );
    let mut bad = rec.clone();
    bad[0] = 10;
    let bad = dir.write("label.bin", &bad);
    let msg = load_cifar10(&[&bad]).unwrap_err().to_string();
    assert!(
        msg.contains("label.bin") && msg.contains("label 10 in record 0"),
        "{msg}"
    );
    let err = load_cifar10(&[Path::new("nowhere/test_batch.bin")]).unwrap_err();
    assert!(
        matches!(err, DataError::Missing { .. })
            && err.to_string().contains("nowhere/test_batch.bin")
    );
    let empty: [&Path; 0] = [];
    assert!(load_cifar10(&empty)
        .unwrap_err()
        .to_string()
        .starts_with("paths = "));
}
