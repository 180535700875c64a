use samplers::Batch;

use crate::{digits, scale_from_unit, scale_to_unit, DataError, Dataset};

#[test]
fn digits_have_known_size_range_and_label_counts() {
    let ds = digits();
    assert_eq!(
        (ds.len(), ds.dim(), ds.shape, ds.levels),
        (1797, 64, [1, 8, 8], Some(17))
    );
    let raw = ds.raw_levels().unwrap();
    assert!(raw
        .as_slice()
        .iter()
        .all(|&v| (v - v.round()).abs() < 1e-12 && (0.0..=16.0).contains(&v)));
    assert_eq!(raw.as_slice().iter().cloned().fold(f64::MAX, f64::min), 0.0);
    assert_eq!(
        raw.as_slice().iter().cloned().fold(f64::MIN, f64::max),
        16.0
    );
    // Class sizes of the UCI optdigits test set (as listed by scikit-learn).
    let mut counts = [0usize; 10];
    ds.labels
        .as_ref()
        .unwrap()
        .iter()
        .for_each(|&l| counts[l as usize] += 1);
    assert_eq!(counts, [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]);
    // First row of the file: a zero.
    let first: Vec<f64> = raw.row(0)[..10].iter().map(|v| v.round()).collect();
    assert_eq!(first, [0.0, 0.0, 5.0, 13.0, 9.0, 1.0, 0.0, 0.0, 0.0, 0.0]);
    assert_eq!(ds.labels.as_ref().unwrap()[..3], [0, 1, 2]);
}

#[test]
fn scaling_maps_levels_to_unit_interval_and_back() {
    assert_eq!(scale_to_unit(0.0, 17), -1.0);
    assert_eq!(scale_to_unit(16.0, 17), 1.0);
    assert_eq!(scale_to_unit(8.0, 17), 0.0);
    assert!((scale_to_unit(51.0, 256) - (-0.6)).abs() < 1e-15);
    for levels in [2, 17, 256] {
        for raw in 0..levels {
            let x = scale_to_unit(f64::from(raw), levels);
            assert!((-1.0..=1.0).contains(&x));
            assert!((scale_from_unit(x, levels) - f64::from(raw)).abs() < 1e-12);
        }
    }
}

/// Row i is the single value i, so rows identify their source index.
fn indexed(n: usize) -> Dataset {
    let images = Batch::from_vec(n, 1, (0..n).map(|i| i as f64).collect()).unwrap();
    Dataset::new(
        "idx",
        images,
        Some((0..n).map(|i| (i % 10) as u8).collect()),
        [1, 1, 1],
        None,
    )
    .unwrap()
}

fn ids(ds: &Dataset) -> Vec<usize> {
    ds.images.as_slice().iter().map(|&v| v as usize).collect()
}

#[test]
fn split_is_deterministic_disjoint_and_complete() {
    let ds = indexed(101);
    let (train, test) = ds.split(0.2, 7).unwrap();
    assert_eq!((train.len(), test.len()), (81, 20)); // round(101·0.2) = 20
    assert_eq!(
        (train.name.as_str(), test.name.as_str()),
        ("idx/train", "idx/test")
    );
    let mut all: Vec<usize> = ids(&train).into_iter().chain(ids(&test)).collect();
    all.sort_unstable();
    assert_eq!(all, (0..101).collect::<Vec<_>>());
    // Labels travel with their images.
    for ds in [&train, &test] {
        let labels = ds.labels.as_ref().unwrap();
        assert!(ids(ds)
            .iter()
            .zip(labels)
            .all(|(&i, &l)| (i % 10) as u8 == l));
    }
    let (train2, test2) = ds.split(0.2, 7).unwrap();
    assert_eq!((ids(&train), ids(&test)), (ids(&train2), ids(&test2)));
    let (_, test3) = ds.split(0.2, 8).unwrap();
    assert_ne!(ids(&test), ids(&test3));
    assert_ne!(
        ids(&test),
        (0..20).collect::<Vec<_>>(),
        "the split must be permuted"
    );
}

#[test]
fn split_rejects_fractions_that_leave_an_empty_part() {
    let ds = indexed(10);
    for bad in [0.0, 1.0, -0.1, 1.5, f64::NAN, 0.01] {
        let err = ds.split(bad, 1).unwrap_err();
        assert!(matches!(err, DataError::InvalidParameter { .. }));
        assert!(err.to_string().starts_with("test_fraction = "), "{err}");
    }
    let (train, test) = digits().split(0.2, 0).unwrap();
    assert_eq!((train.len(), test.len()), (1438, 359));
}

#[test]
fn subset_keeps_order_labels_and_metadata() {
    let ds = indexed(10);
    let sub = ds.subset(&[7, 2, 2]);
    assert_eq!(ids(&sub), [7, 2, 2]);
    assert_eq!(sub.labels.unwrap(), [7, 2, 2]);
    assert_eq!((sub.shape, sub.levels), ([1, 1, 1], None));
}

#[test]
fn new_rejects_inconsistent_shape_and_labels() {
    let images = Batch::zeros(3, 4);
    let err = Dataset::new("x", images.clone(), None, [1, 2, 3], None).unwrap_err();
    assert!(err.to_string().contains("shape = [1, 2, 3]"), "{err}");
    let err = Dataset::new("x", images.clone(), Some(vec![0; 2]), [1, 2, 2], None).unwrap_err();
    assert!(err.to_string().contains("labels.len() = 2"), "{err}");
    let err = Dataset::new("x", images, None, [1, 2, 2], Some(1)).unwrap_err();
    assert!(err.to_string().contains("levels = 1"), "{err}");
}
