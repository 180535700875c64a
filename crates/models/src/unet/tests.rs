use super::*;
use crate::conditioning::labels_to_tensor;
use crate::tensor::{batch_to_tensor, tensor_to_batch, vec_to_tensor};
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::TensorData;
use samplers::rng::seeded;
use samplers::Batch;

fn small(c: usize, h: usize, w: usize, mults: Vec<usize>) -> UNetConfig {
    UNetConfig {
        base: 8,
        mults,
        groups: 4,
        emb_dim: 16,
        ..UNetConfig::new(c, h, w)
    }
}

fn inputs(n: usize, d: usize, seed: u64, device: &Device) -> (Tensor<2>, Tensor<1>) {
    let mut rng = seeded(seed);
    let x = batch_to_tensor(&Batch::standard_normal(n, d, &mut rng), device);
    let c: Vec<f64> = (0..n).map(|i| -1.0 + 0.5 * i as f64).collect();
    (x, vec_to_tensor(&c, device))
}

#[test]
fn forward_shapes_for_digits_and_mnist_with_and_without_labels() {
    let device = Device::flex();
    let cases = [
        (small(1, 8, 8, vec![1, 2]), 64),
        (small(1, 28, 28, vec![1, 2, 2]), 784),
    ];
    for (cfg, d) in cases {
        let cfg = UNetConfig {
            num_classes: Some(10),
            ..cfg
        };
        assert!(cfg.attention_at_lowest);
        let net = cfg.init(&mut seeded(0), &device).unwrap();
        assert_eq!(net.dim(), d);
        let (x, c) = inputs(3, d, 1, &device);
        let uncond = net.forward(x.clone(), c.clone(), None);
        assert_eq!(uncond.dims(), [3, d]);
        let cond = net.forward(x, c, Some(labels_to_tensor(&[0, 5, 9], &device)));
        assert_eq!(cond.dims(), [3, d]);
        let (u, v) = (tensor_to_batch(uncond), tensor_to_batch(cond));
        assert!(u.is_finite() && v.is_finite());
        assert!(u.max_abs_diff(&v) > 0.0, "labels must change the output");
    }
}

#[test]
fn none_labels_equal_the_null_class_and_unconditional_ignores_labels() {
    let device = Device::flex();
    let cfg = UNetConfig {
        num_classes: Some(3),
        ..small(1, 8, 8, vec![1, 2])
    };
    let net = cfg.init(&mut seeded(4), &device).unwrap();
    let (x, c) = inputs(2, 64, 5, &device);
    let none = tensor_to_batch(net.forward(x.clone(), c.clone(), None));
    let null = tensor_to_batch(net.forward(
        x.clone(),
        c.clone(),
        Some(labels_to_tensor(&[3, 3], &device)),
    ));
    assert_eq!(none.as_slice(), null.as_slice());

    let plain = small(1, 8, 8, vec![1, 2])
        .init(&mut seeded(4), &device)
        .unwrap();
    let a = tensor_to_batch(plain.forward(x.clone(), c.clone(), None));
    let b = tensor_to_batch(plain.forward(x, c, Some(labels_to_tensor(&[0, 1], &device))));
    assert_eq!(a.as_slice(), b.as_slice());
}

#[test]
fn same_seed_same_outputs_different_seed_different() {
    let device = Device::flex();
    let cfg = small(1, 8, 8, vec![1, 2]);
    let (x, c) = inputs(2, 64, 9, &device);
    let run = |seed| {
        let net = cfg.init(&mut seeded(seed), &device).unwrap();
        tensor_to_batch(net.forward(x.clone(), c.clone(), None))
    };
    let (a, b, other) = (run(1), run(1), run(2));
    assert_eq!(a.as_slice(), b.as_slice());
    assert!(a.max_abs_diff(&other) > 1e-6);
}

#[test]
fn config_errors_name_the_key_and_value() {
    let err = |cfg: UNetConfig| cfg.validate().unwrap_err().to_string();
    let e = err(small(1, 28, 28, vec![1, 2, 2, 2]));
    assert!(
        e.starts_with("height = 28 must be divisible by 2^(levels − 1) = 8"),
        "{e}"
    );
    let e = err(UNetConfig {
        height: 8,
        ..small(1, 8, 12, vec![1, 2, 2, 2])
    });
    assert!(e.starts_with("width = 12"), "{e}");
    let e = err(UNetConfig {
        base: 10,
        ..small(1, 8, 8, vec![1, 2])
    });
    assert_eq!(e, "base = 10 must be a positive multiple of groups = 4");
    assert!(err(small(1, 8, 8, vec![])).starts_with("mults = []"));
    assert!(err(UNetConfig {
        emb_dim: 5,
        ..small(1, 8, 8, vec![1])
    })
    .starts_with("emb_dim = 5"));
    assert!(err(UNetConfig {
        num_classes: Some(0),
        ..small(1, 8, 8, vec![1])
    })
    .starts_with("num_classes = 0"));
    assert!(err(UNetConfig {
        blocks_per_level: 0,
        ..small(1, 8, 8, vec![1])
    })
    .starts_with("blocks_per_level = 0"));
    assert!(err(UNetConfig {
        channels: 0,
        ..small(1, 8, 8, vec![1])
    })
    .starts_with("channels = 0"));
    assert!(small(1, 8, 8, vec![1])
        .init(&mut seeded(0), &Device::flex())
        .is_ok());
}

#[test]
fn num_params_matches_hand_count_and_burns_count() {
    let device = Device::flex();
    // 1 channel, 2×2, base 2, one level, one block, no attention, emb_dim 2, 1 group:
    // emb MLP 2·(2·2+2) = 12; conv_in 1·2·9+2 = 20; res(2→2) = 4+38+6+4+38 = 90;
    // mid 2·90 = 180; up res(4→2) = 8+74+6+4+38+(4·2+2) = 140; norm_out 4; conv_out 2·9+1 = 19.
    let tiny = UNetConfig {
        base: 2,
        mults: vec![1],
        attention_at_lowest: false,
        groups: 1,
        emb_dim: 2,
        ..UNetConfig::new(1, 2, 2)
    };
    assert_eq!(tiny.num_params(), 465);
    assert_eq!(
        tiny.init(&mut seeded(0), &device).unwrap().num_params(),
        465
    );
    for cfg in [
        UNetConfig {
            num_classes: Some(10),
            blocks_per_level: 2,
            ..small(1, 8, 8, vec![1, 2])
        },
        small(3, 8, 8, vec![1, 2, 2]),
    ] {
        let net = cfg.init(&mut seeded(0), &device).unwrap();
        assert!(net.num_params() > 0);
        assert_eq!(cfg.num_params(), net.num_params());
    }
}

#[test]
fn upsampling_copies_each_pixel_to_a_two_by_two_block() {
    let device = Device::flex();
    let x = Tensor::<4>::from_data(
        TensorData::new(vec![1.0f32, 2.0, 3.0, 4.0], [1, 1, 2, 2]),
        &device,
    );
    let y: Vec<f32> = upsample_nearest2(x).try_into_vec_as::<f32>().unwrap();
    let want = [
        1., 1., 2., 2., 1., 1., 2., 2., 3., 3., 4., 4., 3., 3., 4., 4.,
    ];
    assert_eq!(y, want);
}

#[test]
fn adam_steps_reduce_mse_through_attention_groupnorm_and_skips() {
    let device = Device::flex().autodiff();
    let cfg = UNetConfig {
        num_classes: Some(2),
        blocks_per_level: 2,
        ..small(1, 8, 8, vec![1, 2])
    };
    let mut net = cfg.init(&mut seeded(3), &device).unwrap();
    let (x, c) = inputs(4, 64, 6, &device);
    let target = batch_to_tensor(&Batch::standard_normal(4, 64, &mut seeded(8)), &device);
    let labels = labels_to_tensor(&[0, 1, 0, 2], &device);
    let mut optim = AdamConfig::new().init();
    let mut losses = vec![];
    for _ in 0..15 {
        let out = net.forward(x.clone(), c.clone(), Some(labels.clone()));
        let loss = (out - target.clone()).square().mean();
        let grads = GradientsParams::from_grads(loss.backward(), &net);
        // Gradients reach the attention block and the first down block.
        let attn = net.attention.as_ref().unwrap();
        for id in [attn.q.weight.id, net.down[0].conv1.weight.id] {
            let g = grads.get::<4>(id).expect("a gradient for every conv");
            assert!(g.abs().sum().into_scalar::<f32>() > 0.0);
        }
        losses.push(loss.into_scalar::<f32>());
        net = optim.step(2e-3, net, grads);
    }
    let (first, last) = (losses[0], losses[losses.len() - 1]);
    assert!(first > 0.5 && last < 0.8 * first, "{losses:?}");
}
