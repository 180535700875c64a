use burn::tensor::{Device, Tensor, TensorData};
use samplers::rng::seeded;

use super::*;

#[test]
fn resize_to_the_same_size_is_the_identity() {
    let image: Vec<f32> = (0..2 * 5 * 7).map(|i| (i as f32 * 0.37).sin()).collect();
    assert_eq!(nv_bilinear_resize(&image, 2, [5, 7], [5, 7]), image);
}

#[test]
fn resize_samples_at_j_times_w_over_w_new_clamped_to_the_border() {
    // One row 0, 10, 20, 30 (w = 4) to w' = 8: x_j = j/2, so 0, 5, 10, …, 30, then the
    // border value 30 for x = 3.5.
    let image = [0.0, 10.0, 20.0, 30.0];
    let out = nv_bilinear_resize(&image, 1, [1, 4], [1, 8]);
    assert_eq!(out, vec![0.0, 5.0, 10.0, 15.0, 20.0, 25.0, 30.0, 30.0]);
    // Downsampling 4 → 2 takes pixels 0 and 2 exactly.
    assert_eq!(
        nv_bilinear_resize(&image, 1, [1, 4], [1, 2]),
        vec![0.0, 20.0]
    );
    // A constant image stays constant.
    let flat = vec![0.25f32; 3 * 8 * 8];
    let resized = nv_bilinear_resize(&flat, 3, [8, 8], [INPUT_SIZE; 2]);
    assert!(resized.iter().all(|&v| v == 0.25));
}

#[test]
fn network_range_maps_uint8_to_u_over_128_minus_1() {
    for u in [0u32, 1, 127, 128, 200, 255] {
        let x = to_network_range(u as f32 / 255.0);
        let expected = u as f32 / 128.0 - 1.0;
        assert!((x - expected).abs() < 1e-6, "u = {u}: {x} vs {expected}");
    }
    assert_eq!(to_network_range(2.0), INPUT_MAX);
    assert_eq!(to_network_range(-1.0), -1.0);
}

#[test]
fn architecture_has_the_files_94_convolutions_and_parameter_count() {
    let specs = conv_specs(&architecture());
    assert_eq!(specs.len(), 94); // 376 tensors = 94 × (weight, beta, mean, var)
    let mut names: Vec<_> = specs.iter().map(|s| s.path.as_str()).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), 94, "layer names are unique");
    let model = FidInception::random(&mut seeded(1), &Device::flex());
    // Sum of the 376 tensors' sizes in default_1.pt.
    assert_eq!(model.parameter_count(), 21_802_784);
}

#[test]
fn random_weights_give_2048_features_per_image_independently_of_the_batch() {
    let device = Device::flex();
    let model = FidInception::random(&mut seeded(7), &device);
    let images: Vec<f32> = (0..2 * 8 * 8)
        .map(|i| ((i * 37) % 17) as f32 / 16.0)
        .collect();
    let both = model.features(&images, 2, 1, 8, 8);
    assert_eq!(both.len(), 2 * FEATURES);
    assert!(
        both.iter().all(|v| v.is_finite() && *v >= 0.0),
        "ReLU then average"
    );
    assert!(both.iter().any(|&v| v > 0.0));
    let second = model.features(&images[64..], 1, 1, 8, 8);
    let largest = second
        .iter()
        .zip(&both[FEATURES..])
        .map(|(a, b)| (a - b).abs() / b.abs().max(1e-3))
        .fold(0f32, f32::max);
    assert!(
        largest < 1e-4,
        "batching changed a feature by {largest:e} (relative)"
    );
}

#[test]
fn the_stem_and_blocks_give_the_documented_sizes() {
    // 299 → 149 → 147 → 147 → 73 → 73 → 71 → 35 (mixed 5b–5d: 256, 288, 288 channels)
    // → 17 (768) → 8 (1280 → 2048) → 1.
    let device = Device::flex();
    let model = FidInception::random(&mut seeded(3), &device);
    let Layer::Chain(layers) = &model.layers else {
        panic!("the network is a chain")
    };
    let mut x: Tensor<4> = Tensor::from_data(
        TensorData::new(
            vec![0.1f32; 3 * INPUT_SIZE * INPUT_SIZE],
            [1, 3, INPUT_SIZE, INPUT_SIZE],
        ),
        &device,
    );
    let mut shapes = Vec::new();
    for layer in layers {
        x = model.apply(layer, x);
        shapes.push(x.dims());
    }
    let expected: Vec<[usize; 4]> = vec![
        [1, 32, 149, 149],
        [1, 32, 147, 147],
        [1, 64, 147, 147],
        [1, 64, 73, 73],
        [1, 80, 73, 73],
        [1, 192, 71, 71],
        [1, 192, 35, 35],
        [1, 256, 35, 35],
        [1, 288, 35, 35],
        [1, 288, 35, 35],
        [1, 768, 17, 17],
        [1, 768, 17, 17],
        [1, 768, 17, 17],
        [1, 768, 17, 17],
        [1, 768, 17, 17],
        [1, 1280, 8, 8],
        [1, 2048, 8, 8],
        [1, 2048, 8, 8],
        [1, 2048, 1, 1],
    ];
    assert_eq!(shapes, expected);
}
