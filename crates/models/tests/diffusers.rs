//! diffusers `UNet2DModel` folders imported into burn, against diffusers itself: fixtures
//! written by scripts/diffusers_fixtures.py (random weights; diffusers 0.42.1, torch 2.15).
//!
//! Largest differences found (relative to the largest output), 2026-12-05: ddpm_small
//! 9.3e-7, three_level 6.2e-7, three_level_fp16 6.2e-7 (asserted below 1e-5).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::tensor::{Device, Tensor, TensorData};
use models::diffusers::{self, UNet2DConfig};
use samplers::rng::seeded;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/diffusers")
}

fn read_npy<T: npyz::Deserialize>(path: &Path) -> (Vec<usize>, Vec<T>) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let npy = npyz::NpyFile::new(&bytes[..]).expect("a .npy fixture");
    let shape = npy.shape().iter().map(|&d| d as usize).collect();
    (shape, npy.into_vec().expect("fixture values"))
}

fn largest_relative_difference(ours: &[f32], theirs: &[f32]) -> f32 {
    assert_eq!(ours.len(), theirs.len());
    let scale = theirs.iter().fold(0f32, |m, v| m.max(v.abs()));
    ours.iter()
        .zip(theirs)
        .map(|(a, b)| (a - b).abs() / scale)
        .fold(0f32, f32::max)
}

/// The imported model's output on the fixture's inputs, and diffusers' output.
fn outputs(name: &str) -> (Vec<f32>, Vec<f32>) {
    let dir = fixtures().join(name);
    let device = Device::flex();
    let model = diffusers::load(&dir, None, &device).unwrap();
    let (shape, input) = read_npy::<f32>(&dir.join("input.npy"));
    let (_, timesteps) = read_npy::<f32>(&dir.join("timesteps.npy"));
    let (_, expected) = read_npy::<f32>(&dir.join("output.npy"));
    let n = shape[0];
    assert_eq!(shape[1..], model.image[..]);
    let x = Tensor::<2>::from_data(TensorData::new(input, [n, model.unet.dim()]), &device);
    let t = Tensor::<1>::from_data(TensorData::new(timesteps, [n]), &device);
    let ours = model.unet.forward(x, t).try_into_vec_as::<f32>().unwrap();
    (ours, expected)
}

#[test]
fn ddpm_cifar10_layout_matches_diffusers() {
    let (ours, theirs) = outputs("ddpm_small");
    let diff = largest_relative_difference(&ours, &theirs);
    eprintln!("ddpm_small: largest difference {diff:.2e} of the largest output");
    assert!(diff < 1e-5, "{diff}");
}

#[test]
fn scale_shift_three_level_layout_matches_diffusers() {
    let (ours, theirs) = outputs("three_level");
    let diff = largest_relative_difference(&ours, &theirs);
    eprintln!("three_level: largest difference {diff:.2e} of the largest output");
    assert!(diff < 1e-5, "{diff}");
}

#[test]
fn fp16_weights_are_converted() {
    let (ours, theirs) = outputs("three_level_fp16");
    let diff = largest_relative_difference(&ours, &theirs);
    eprintln!("three_level_fp16: largest difference {diff:.2e} of the largest output");
    assert!(diff < 1e-5, "{diff}");
}

#[test]
fn the_scheduler_config_gives_parameterization_and_schedule() {
    let device = Device::flex();
    let model = diffusers::load(&fixtures().join("ddpm_small"), None, &device).unwrap();
    let scheduler = model
        .scheduler
        .expect("ddpm_small has scheduler_config.json");
    assert_eq!(scheduler.num_train_timesteps, 1000);
    assert_eq!(
        scheduler.parameterization,
        models::precond::Parameterization::Eps
    );
    let schedule = scheduler.ddpm_schedule().unwrap();
    // linear β from 1e-4 to 0.02: ᾱ_0 = 1 − 1e-4.
    assert!((schedule.alpha_bar(0) - (1.0 - 1e-4)).abs() < 1e-15);
    let three = diffusers::load(&fixtures().join("three_level"), None, &device).unwrap();
    assert!(three.scheduler.is_none());
}

#[test]
fn the_full_ddpm_cifar10_config_has_its_parameter_count() {
    let path = fixtures().join("ddpm_cifar10_32_config.json");
    let config = UNet2DConfig::read(&path).unwrap();
    let net = diffusers::random(&config, &path, seeded(0), &Device::flex()).unwrap();
    assert_eq!(net.num_params(), 35_746_307);
}

/// A copy of the three_level folder under a scratch directory, with its tensors changed
/// by `edit`.
fn edited_copy(
    name: &str,
    edit: impl FnOnce(&mut BTreeMap<String, (Vec<usize>, Vec<f32>)>),
) -> PathBuf {
    let source = fixtures().join("three_level");
    let dir = std::env::temp_dir().join(format!("dlab-diffusers-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(source.join("config.json"), dir.join("config.json")).unwrap();
    let bytes = std::fs::read(source.join(diffusers::WEIGHTS_FILE)).unwrap();
    let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut tensors: BTreeMap<String, (Vec<usize>, Vec<f32>)> = file
        .tensors()
        .into_iter()
        .map(|(name, view)| {
            let values = view
                .data()
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
                .collect();
            (name, (view.shape().to_vec(), values))
        })
        .collect();
    edit(&mut tensors);
    let bytes: BTreeMap<String, Vec<u8>> = tensors
        .iter()
        .map(|(name, (_, values))| {
            (
                name.clone(),
                values.iter().flat_map(|v| v.to_le_bytes()).collect(),
            )
        })
        .collect();
    let views: Vec<(String, safetensors::tensor::TensorView)> = tensors
        .iter()
        .map(|(name, (shape, _))| {
            let view = safetensors::tensor::TensorView::new(
                safetensors::Dtype::F32,
                shape.clone(),
                &bytes[name],
            )
            .unwrap();
            (name.clone(), view)
        })
        .collect();
    let written = safetensors::tensor::serialize(views, None).unwrap();
    std::fs::write(dir.join(diffusers::WEIGHTS_FILE), written).unwrap();
    dir
}

fn load_error(dir: &Path) -> String {
    match diffusers::load(dir, None, &Device::flex()) {
        Ok(_) => panic!("{} loaded", dir.display()),
        Err(e) => e.to_string(),
    }
}

#[test]
fn bad_folders_are_refused_naming_the_file_and_tensor() {
    let missing = edited_copy("missing", |t| {
        t.remove("conv_out.bias");
    });
    let e = load_error(&missing);
    assert!(
        e.contains(diffusers::WEIGHTS_FILE) && e.contains("`conv_out.bias` is missing"),
        "{e}"
    );

    let reshaped = edited_copy("reshaped", |t| {
        let (shape, values) = t.remove("conv_in.weight").unwrap();
        let n = values.len();
        t.insert("conv_in.weight".into(), (vec![n / 9, 1, 9, 1], values));
        assert_eq!(shape, [16, 1, 3, 3]);
    });
    let e = load_error(&reshaped);
    assert!(
        e.contains("`conv_in.weight` has shape [16, 1, 9, 1], expected [16, 1, 3, 3]"),
        "{e}"
    );

    let extra = edited_copy("extra", |t| {
        t.insert("class_embedding.weight".into(), (vec![2], vec![0.0, 1.0]));
    });
    let e = load_error(&extra);
    assert!(
        e.contains("`class_embedding.weight` is not part of the architecture"),
        "{e}"
    );

    let no_weights = edited_copy("no-weights", |_| {});
    std::fs::remove_file(no_weights.join(diffusers::WEIGHTS_FILE)).unwrap();
    let e = load_error(&no_weights);
    assert!(
        e.contains("cannot read") && e.contains(diffusers::WEIGHTS_FILE),
        "{e}"
    );
    for dir in [missing, reshaped, extra, no_weights] {
        std::fs::remove_dir_all(dir).unwrap();
    }
}

/// DDIM (η = 0, linear β, "leading" spacing, 10 steps, final ᾱ = 1) on the imported model
/// from diffusers' own initial noise z, against diffusers' `DDIMScheduler` loop (run in
/// float64 by the fixture script). Largest difference found: 1.9e-7 of the largest value.
#[test]
fn ddim_from_the_same_noise_matches_the_diffusers_loop() {
    let dir = fixtures().join("ddpm_small");
    let device = Device::flex();
    let model = diffusers::load(&dir, None, &device).unwrap();
    let scheduler = model.scheduler.clone().unwrap();
    let dim = model.unet.dim();
    let denoiser = models::denoiser::NetworkDenoiser::new(
        models::net::Net::Diffusers(model.unet),
        scheduler.parameterization,
        dim,
        device,
    )
    .with_timesteps(&scheduler.ddpm_schedule().unwrap());
    let spec: schedules::ScheduleSpec = toml::from_str(
        "kind = \"ddpm\"\nbeta_schedule = \"linear\"\nbeta_start = 1e-4\nbeta_end = 0.02\ntimesteps = 1000\nsteps = 10\nspacing = \"leading\"",
    )
    .unwrap();
    let steps = samplers::spec::ddpm_steps(&spec).unwrap();
    let (_, expected_timesteps) = read_npy::<i64>(&dir.join("ddim_timesteps.npy"));
    let ours_timesteps: Vec<i64> = steps.iter().map(|s| s.t as i64).collect();
    assert_eq!(ours_timesteps, expected_timesteps);
    assert_eq!(steps.last().unwrap().alpha_bar_prev, 1.0);
    let (shape, z) = read_npy::<f32>(&dir.join("ddim_z.npy"));
    let z =
        samplers::Batch::from_vec(shape[0], dim, z.into_iter().map(f64::from).collect()).unwrap();
    let mut trace = samplers::Trace::new();
    let x = samplers::ddpm::ddim(&denoiser, z, &steps, 0.0, None, &mut seeded(0), &mut trace);
    let (_, expected) = read_npy::<f64>(&dir.join("ddim_out.npy"));
    let scale = expected.iter().fold(0f64, |m, v| m.max(v.abs()));
    let diff = x
        .as_slice()
        .iter()
        .zip(&expected)
        .map(|(a, b)| (a - b).abs() / scale)
        .fold(0f64, f64::max);
    eprintln!("DDIM, 10 steps: largest difference {diff:.2e} of the largest value {scale:.1}");
    assert!(diff < 1e-4, "{diff}");
}

#[test]
fn checkpoints_with_the_old_attention_names_load() {
    let renamed = edited_copy("old-names", |t| {
        let old: Vec<String> = t.keys().filter(|k| k.contains(".to_")).cloned().collect();
        for name in old {
            let value = t.remove(&name).unwrap();
            let new = name
                .replace(".to_q.", ".query.")
                .replace(".to_k.", ".key.")
                .replace(".to_v.", ".value.")
                .replace(".to_out.0.", ".proj_attn.");
            t.insert(new, value);
        }
    });
    let device = Device::flex();
    let old = diffusers::load(&renamed, None, &device).unwrap();
    let new = diffusers::load(&fixtures().join("three_level"), None, &device).unwrap();
    let x = Tensor::<2>::from_data(TensorData::new(vec![0.3f32; 64], [1, 64]), &device);
    let t = Tensor::<1>::from_data(TensorData::new(vec![500.0f32], [1]), &device);
    let a = old
        .unet
        .forward(x.clone(), t.clone())
        .try_into_vec_as::<f32>()
        .unwrap();
    let b = new.unet.forward(x, t).try_into_vec_as::<f32>().unwrap();
    assert_eq!(a, b);
    std::fs::remove_dir_all(renamed).unwrap();
}
