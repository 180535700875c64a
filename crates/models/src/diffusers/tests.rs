use std::path::Path;

use burn::tensor::{Device, Tensor, TensorData};
use samplers::rng::seeded;

use super::*;

fn parse(text: &str) -> Result<UNet2DConfig, DiffusersError> {
    UNet2DConfig::parse(Path::new("m/config.json"), text)
}

const SMALL: &str = r#"{
  "_class_name": "UNet2DModel", "sample_size": 8, "in_channels": 1, "out_channels": 1,
  "block_out_channels": [8, 16], "layers_per_block": 1, "norm_num_groups": 4,
  "down_block_types": ["DownBlock2D", "AttnDownBlock2D"],
  "up_block_types": ["AttnUpBlock2D", "UpBlock2D"], "attention_head_dim": 4
}"#;

#[test]
fn the_timestep_embedding_is_sin_then_cos_of_t_times_geometric_frequencies() {
    let device = Device::flex();
    let t = Tensor::<1>::from_data(TensorData::new(vec![0.0f32, 3.0], [2]), &device);
    // dim 6, half 3, freq_shift 1: ω_k = 10000^(−k/2) = 1, 0.01, 0.0001.
    let emb = unet::timestep_embedding(t.clone(), 6, false, 1.0)
        .try_into_vec_as::<f32>()
        .unwrap();
    let omega = [1.0f64, 0.01, 0.0001];
    for (k, w) in omega.iter().enumerate() {
        assert_eq!(emb[k], 0.0, "sin(0)");
        assert_eq!(emb[3 + k], 1.0, "cos(0)");
        assert!((emb[6 + k] as f64 - (3.0 * w).sin()).abs() < 1e-6);
        assert!((emb[9 + k] as f64 - (3.0 * w).cos()).abs() < 1e-6);
    }
    // flip_sin_to_cos puts the cosines first; an odd dim gets a zero column.
    let flipped = unet::timestep_embedding(t, 7, true, 0.0)
        .try_into_vec_as::<f32>()
        .unwrap();
    assert_eq!(flipped.len(), 14);
    assert_eq!((flipped[0], flipped[3], flipped[6]), (1.0, 0.0, 0.0));
}

#[test]
fn a_small_config_builds_and_maps_images_to_images() {
    let config = parse(SMALL).unwrap();
    assert_eq!((config.heads(8), config.heads(16)), (2, 4));
    assert_eq!(config.mid_attention_groups, Some(4));
    assert_eq!(config.time_embed_dim, 32);
    let device = Device::flex();
    let net = random(&config, Path::new("small"), seeded(1), &device).unwrap();
    assert_eq!(net.dim(), 64);
    let x = Tensor::<2>::from_data(TensorData::new(vec![0.5f32; 3 * 64], [3, 64]), &device);
    let t = Tensor::<1>::from_data(TensorData::new(vec![0.0f32, 10.0, 999.0], [3]), &device);
    let out = net.forward(x, t).try_into_vec_as::<f32>().unwrap();
    assert_eq!(out.len(), 3 * 64);
    assert!(out.iter().all(|v| v.is_finite()));
    assert_ne!(out[..64], out[64..128], "the timestep changes the output");
}

#[test]
fn unsupported_configs_are_refused_naming_the_field() {
    let with = |key: &str, value: &str| {
        let text = SMALL.replacen('{', &format!("{{ \"{key}\": {value},"), 1);
        parse(&text).unwrap_err().to_string()
    };
    for (key, value, expected) in [
        ("class_embed_type", "\"timestep\"", "class embeddings"),
        ("num_class_embeds", "10", "class embeddings"),
        ("time_embedding_type", "\"fourier\"", "positional"),
        ("resnet_time_scale_shift", "\"spatial\"", "scale_shift"),
        ("act_fn", "\"gelu\"", "silu"),
    ] {
        let e = with(key, value);
        assert!(
            e.contains("m/config.json") && e.contains(&format!("`{key}`")) && e.contains(expected),
            "{e}"
        );
    }
    for (from, to, expected) in [
        (
            "\"norm_num_groups\": 4",
            "\"norm_num_groups\": 3",
            "`norm_num_groups` = 3 must divide",
        ),
        (
            "\"layers_per_block\": 1",
            "\"layers_per_block\": 0",
            "`layers_per_block` = 0 must be ≥ 1",
        ),
    ] {
        let e = parse(&SMALL.replace(from, to)).unwrap_err().to_string();
        assert!(e.contains(expected), "{e}");
    }
    let cross = SMALL.replace("\"AttnUpBlock2D\"", "\"CrossAttnUpBlock2D\"");
    let e = parse(&cross).unwrap_err().to_string();
    assert!(
        e.contains("`up_block_types`") && e.contains("CrossAttnUpBlock2D"),
        "{e}"
    );
    let e = parse(&SMALL.replace("\"UNet2DModel\"", "\"UNet2DConditionModel\"")).unwrap_err();
    assert!(e.to_string().contains("`_class_name`"), "{e}");
    let e = parse(&SMALL.replace("[8, 16]", "[8, 16, 16]"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("`down_block_types` has 2 entries"), "{e}");
    let e = parse("[1, 2]").unwrap_err().to_string();
    assert!(e.contains("JSON object"), "{e}");
}

#[test]
fn the_image_must_fit_the_levels_and_channels() {
    let config = parse(SMALL).unwrap();
    let device = Device::flex();
    let mut weights = Weights::random(Path::new("small"), seeded(1), &device);
    let e = image_shape(&config, Path::new("m/config.json"), Some([3, 8, 8])).unwrap_err();
    assert!(
        e.to_string()
            .contains("`in_channels` = 1 but the images have 3"),
        "{e}"
    );
    let e = image_shape(&config, Path::new("m/config.json"), Some([1, 16, 16])).unwrap_err();
    assert!(
        e.to_string()
            .contains("`sample_size` = 8×8 but the data's images are 16×16"),
        "{e}"
    );
    let any_size = parse(&SMALL.replace("\"sample_size\": 8", "\"sample_size\": null")).unwrap();
    let e = image_shape(&any_size, Path::new("m/config.json"), Some([1, 7, 8])).unwrap_err();
    assert!(e.to_string().contains("multiples of 2"), "{e}");
    assert!(unet::build(&config, &mut weights, [1, 4, 6]).is_ok());
}
