use std::path::{Path, PathBuf};

use super::*;

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("dlab-images-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn npy_u8(shape: &[u64], values: &[u8]) -> Vec<u8> {
    use npyz::WriterBuilder;
    let mut out = Vec::new();
    let mut w = npyz::WriteOptions::<u8>::new()
        .default_dtype()
        .shape(shape)
        .writer(&mut out)
        .begin_nd()
        .unwrap();
    w.extend(values.iter().copied()).unwrap();
    w.finish().unwrap();
    out
}

fn save_rgb(path: &Path, w: u32, h: u32, f: impl Fn(u32, u32, usize) -> u8) {
    let img = image::RgbImage::from_fn(w, h, |x, y| {
        image::Rgb([f(x, y, 0), f(x, y, 1), f(x, y, 2)])
    });
    img.save(path).unwrap();
}

#[test]
fn a_folder_is_read_recursively_in_path_order_as_rgb_in_unit_range() {
    let dir = scratch("folder");
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    save_rgb(&dir.join("b.png"), 3, 2, |x, y, c| {
        (10 * x + 100 * y) as u8 + c as u8
    });
    image::GrayImage::from_fn(3, 2, |x, _| image::Luma([50 * x as u8]))
        .save(dir.join("sub/a.png"))
        .unwrap();
    std::fs::write(dir.join("notes.txt"), "not an image").unwrap();
    let set = ImageSet::open(&dir).unwrap();
    assert_eq!((set.len(), set.shape), (2, [3, 2, 3]));
    let values = set.read(0..2).unwrap();
    assert_eq!(values.len(), 2 * 18);
    // b.png sorts before sub/a.png; channel 1 of b at (x=2, y=1) is 10·2 + 100 + 1.
    assert_eq!(values[6 + 3 + 2], 121.0 / 255.0);
    // the grayscale image is repeated to three channels
    let gray = &values[18..];
    assert_eq!(gray[..6], gray[6..12]);
    assert_eq!(gray[2], 100.0 / 255.0);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn npz_arr_0_and_npy_arrays_are_read_channels_first() {
    let dir = scratch("arrays");
    // two 2×2 RGB images, value = 10·image + pixel·3 + channel
    let values: Vec<u8> = (0..24).map(|i| (i / 12 * 10 + i % 12) as u8).collect();
    let npy = npy_u8(&[2, 2, 2, 3], &values);
    std::fs::write(dir.join("x.npy"), &npy).unwrap();
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    zip.start_file("arr_0.npy", zip::write::FileOptions::default())
        .unwrap();
    std::io::Write::write_all(&mut zip, &npy).unwrap();
    std::fs::write(dir.join("x.npz"), zip.finish().unwrap().into_inner()).unwrap();
    for name in ["x.npy", "x.npz"] {
        let set = ImageSet::open(&dir.join(name)).unwrap();
        assert_eq!((set.len(), set.shape), (2, [3, 2, 2]));
        let second = set.read(1..2).unwrap();
        let expected: Vec<f32> = [10, 13, 16, 19, 11, 14, 17, 20, 12, 15, 18, 21]
            .iter()
            .map(|&u| u as f32 / 255.0)
            .collect();
        assert_eq!(second, expected, "{name}");
    }
    // N×H×W is one channel
    std::fs::write(dir.join("g.npy"), npy_u8(&[3, 2, 2], &[0; 12])).unwrap();
    assert_eq!(ImageSet::open(&dir.join("g.npy")).unwrap().shape, [1, 2, 2]);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn stats_npz_round_trips() {
    let dir = scratch("npz");
    let bytes = npz_bytes(&[
        ("mu", &[2], &[1.0, -2.0]),
        ("sigma", &[2, 2], &[1.0, 0.5, 0.5, 2.0]),
    ])
    .unwrap();
    std::fs::write(dir.join("s.npz"), bytes).unwrap();
    let arrays = read_npz(&dir.join("s.npz")).unwrap();
    assert_eq!(arrays.len(), 2);
    assert_eq!(arrays[0].0, "mu");
    assert_eq!(arrays[1].1.shape, vec![2, 2]);
    assert_eq!(arrays[1].1.values, NpyValues::F64(vec![1.0, 0.5, 0.5, 2.0]));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_sets_are_refused_naming_the_file() {
    let dir = scratch("bad");
    let error = |path: &Path| ImageSet::open(path).unwrap_err().to_string();

    let empty = dir.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    assert!(
        error(&empty).contains("at least one .png"),
        "{}",
        error(&empty)
    );

    let mixed = dir.join("mixed");
    std::fs::create_dir_all(&mixed).unwrap();
    save_rgb(&mixed.join("a.png"), 4, 4, |_, _, _| 0);
    save_rgb(&mixed.join("b.png"), 5, 4, |_, _, _| 0);
    let e = error(&mixed);
    assert!(
        e.contains("b.png") && e.contains("4×4") && e.contains("4×5"),
        "{e}"
    );

    let corrupt = dir.join("corrupt");
    std::fs::create_dir_all(&corrupt).unwrap();
    std::fs::write(corrupt.join("c.png"), b"\x89PNG\r\n\x1a\n garbage").unwrap();
    let e = error(&corrupt);
    assert!(
        e.contains("c.png") && e.contains("readable PNG/JPEG"),
        "{e}"
    );

    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    zip.start_file("images.npy", zip::write::FileOptions::default())
        .unwrap();
    std::io::Write::write_all(&mut zip, &npy_u8(&[1, 2, 2, 3], &[0; 12])).unwrap();
    std::fs::write(dir.join("no_arr0.npz"), zip.finish().unwrap().into_inner()).unwrap();
    let e = error(&dir.join("no_arr0.npz"));
    assert!(e.contains("no_arr0.npz") && e.contains("arr_0"), "{e}");

    let floats = npz_bytes(&[("arr_0", &[1, 2, 2, 1], &[0.0, 0.5, 1.0, 255.0])]).unwrap();
    std::fs::write(dir.join("floats.npz"), floats).unwrap();
    let e = error(&dir.join("floats.npz"));
    assert!(
        e.contains("floats.npz") && e.contains("[0, 1]") && e.contains("255"),
        "{e}"
    );

    std::fs::write(dir.join("five.npy"), npy_u8(&[1, 2, 2, 5], &[0; 20])).unwrap();
    let e = error(&dir.join("five.npy"));
    assert!(e.contains("five.npy") && e.contains("C = 1 or 3"), "{e}");

    let e = error(&dir.join("missing"));
    assert!(e.contains("missing") && e.contains("not found"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_gray_folder_becomes_a_one_channel_data_set_at_exact_levels() {
    let dir = scratch("gray-dataset");
    for i in 0..3u8 {
        image::GrayImage::from_fn(4, 2, |x, y| image::Luma([i * 100 + (x + 4 * y) as u8]))
            .save(dir.join(format!("{i}.png")))
            .unwrap();
    }
    let dataset = ImageSet::open(&dir).unwrap().to_dataset("g", None).unwrap();
    assert_eq!((dataset.len(), dataset.shape), (3, [1, 2, 4]));
    assert_eq!(dataset.levels, Some(256));
    // image 2, pixel (x = 1, y = 1): level 205 → 2·205/255 − 1, exactly scale_to_unit's.
    assert_eq!(dataset.images.row(2)[5], crate::scale_to_unit(205.0, 256));
    assert_eq!(dataset.images.row(0)[0], -1.0);
    // channels = 3 repeats the gray plane
    let rgb = ImageSet::open(&dir)
        .unwrap()
        .to_dataset("g", Some(3))
        .unwrap();
    assert_eq!(rgb.shape, [3, 2, 4]);
    assert_eq!(rgb.images.row(1)[..8], rgb.images.row(1)[16..]);
    assert_eq!(rgb.images.row(1)[..8], dataset.images.row(1)[..]);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_color_folder_keeps_three_channels_and_refuses_one_naming_the_file() {
    let dir = scratch("color-dataset");
    save_rgb(&dir.join("a.png"), 2, 2, |_, _, _| 7);
    save_rgb(&dir.join("b.png"), 2, 2, |x, _, c| {
        (x as usize * 10 + c) as u8
    });
    let set = ImageSet::open(&dir).unwrap();
    assert_eq!(set.to_dataset("c", None).unwrap().shape, [3, 2, 2]);
    let e = set.to_dataset("c", Some(1)).unwrap_err().to_string();
    assert!(e.contains("b.png") && e.contains("channels = 1"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn float_arrays_are_continuous_data_at_two_x_minus_one() {
    let dir = scratch("float-dataset");
    let values = [0.0, 0.25, 0.5, 1.0, 0.125, 0.75];
    let npz = npz_bytes(&[("arr_0", &[3, 1, 2], &values)]).unwrap();
    std::fs::write(dir.join("f.npz"), npz).unwrap();
    let dataset = ImageSet::open(&dir.join("f.npz"))
        .unwrap()
        .to_dataset("f", None)
        .unwrap();
    assert_eq!((dataset.shape, dataset.levels), ([1, 1, 2], None));
    let expected: Vec<f64> = values.iter().map(|x| 2.0 * x - 1.0).collect();
    assert_eq!(dataset.images.as_slice(), &expected[..]);
    std::fs::remove_dir_all(&dir).unwrap();
}
