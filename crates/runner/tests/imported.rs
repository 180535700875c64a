//! Every task on a network trained elsewhere: `[model] kind = "diffusers"` with the
//! random-weight fixtures of crates/models/tests/fixtures/diffusers (three_level: 1×8×8,
//! ε-prediction by `model.parameterization`, its schedule from `[schedule]`).

mod common;

use std::path::PathBuf;

fn fixture(name: &str) -> String {
    let path: PathBuf = [
        env!("CARGO_MANIFEST_DIR"),
        "../models/tests/fixtures/diffusers",
        name,
    ]
    .iter()
    .collect();
    path.display().to_string()
}

fn three_level_on_digits(task: &str, rest: &str) -> String {
    format!(
        r#"
[experiment]
name = "imported"
seed = 4
task = "{task}"

[data]
kind = "digits"

[model]
kind = "diffusers"
path = "{}"
parameterization = "eps"

[schedule]
kind = "ddpm"
beta_schedule = "linear"
beta_start = 1e-4
beta_end = 0.02
timesteps = 1000
steps = 10

{rest}
"#,
        fixture("three_level")
    )
}

#[test]
fn jacobians_by_autodiff_through_the_imported_network_match_finite_differences() {
    let text = three_level_on_digits(
        "jacobian",
        r#"
[probe]
sigma = 0.5
points = 2

[sweep]
"jacobian.method" = ["auto", "finite_difference"]
"#,
    );
    let outcome = common::run_in_temp("imported", "jacobian", &text).unwrap();
    let eff_dim = common::numeric_column(&outcome.table, "eff_dim");
    let rows = eff_dim.len() / 2;
    let (autodiff, finite) = (eff_dim[0], eff_dim[rows]);
    assert!(autodiff.is_finite() && autodiff > 1.0, "{autodiff}");
    assert!(
        (autodiff - finite).abs() < 1e-2 * autodiff,
        "autodiff {autodiff} vs finite differences {finite}"
    );
}

#[test]
fn score_agreement_and_sampling_run_on_the_imported_network() {
    let text = three_level_on_digits(
        "score_agreement",
        "[probe]\nsigma = 0.3\npoints = 20\nreference = { kind = \"gaussian_fit\" }\n",
    );
    let outcome = common::run_in_temp("imported", "score", &text).unwrap();
    let ev = common::numeric_column(&outcome.table, "ev");
    assert!(ev[0].is_finite() && ev[0] < 1.0, "{ev:?}");

    let text = three_level_on_digits(
        "sample_quality",
        "[sampler]\nkind = \"ddim\"\n\n[metrics]\nsamples = 8\nnames = [\"fd_pixels\"]\n",
    );
    let outcome = common::run_in_temp("imported", "ddim", &text).unwrap();
    assert_eq!(common::numeric_column(&outcome.table, "nfe"), [10.0]);
    assert!(common::numeric_column(&outcome.table, "fd_pixels")[0].is_finite());
}

#[test]
fn bad_imports_are_refused_before_any_work_naming_the_key_and_file() {
    // ddpm_small takes 3×16×16 images; the digits are 1×8×8.
    let wrong_size = three_level_on_digits("sample_quality", "")
        .replace(&fixture("three_level"), &fixture("ddpm_small"));
    let e = common::refusal("imported", "wrong_size", &wrong_size);
    assert!(
        e.contains("model.path") && e.contains("wrong_size.toml:12"),
        "{e}"
    );
    assert!(
        e.contains("ddpm_small/config.json") && e.contains("`sample_size` = 16×16"),
        "{e}"
    );

    let missing = three_level_on_digits("sample_quality", "")
        .replace(&fixture("three_level"), "no/such/model");
    let e = common::refusal("imported", "missing", &missing);
    assert!(
        e.contains("model.path") && e.contains("no/such/model") && e.contains("no config.json"),
        "{e}"
    );

    let unlabelled =
        three_level_on_digits("sample_quality", "").replace("parameterization = \"eps\"\n", "");
    let e = common::refusal("imported", "unlabelled", &unlabelled);
    assert!(
        e.contains("model.parameterization") && e.contains("scheduler_config.json"),
        "{e}"
    );

    let edm = three_level_on_digits("sample_quality", "").replace(
        "kind = \"ddpm\"\nbeta_schedule = \"linear\"\nbeta_start = 1e-4\nbeta_end = 0.02\ntimesteps = 1000\n",
        "kind = \"edm\"\n",
    );
    let e = common::refusal("imported", "edm_schedule", &edm);
    assert!(e.contains("kind = \"ddpm\""), "{e}");
}

/// `[sampler] initial_noise`: a run of DDIM on the imported ddpm_small from the noise z of
/// diffusers' own DDIM loop ends where that loop ended (to 1e-4 of the largest value;
/// the model-level test in crates/models/tests/diffusers.rs finds 1.9e-7).
#[test]
fn a_run_from_a_pytorch_runs_noise_ends_where_it_ended() {
    let text = format!(
        r#"
[experiment]
name = "same_noise"
seed = 1

[data]
kind = "images"
path = "{images}"

[model]
kind = "diffusers"
path = "{model}"

[schedule]
kind = "ddpm"
beta_schedule = "linear"
beta_start = 1e-4
beta_end = 0.02
timesteps = 1000
steps = 10
spacing = "leading"

[sampler]
kind = "ddim"
eta = 0.0
initial_noise = "{model}/ddim_z.npy"

[metrics]
samples = 2
names = ["fd_pixels"]
save_samples = "npy"
"#,
        images = fixture("images16.npz"),
        model = fixture("ddpm_small"),
    );
    let outcome = common::run_in_temp("imported", "same_noise", &text).unwrap();
    let saved = outcome.dir.join("samples/cell.seed0.npy");
    let read = |path: &std::path::Path| {
        data::images::NpyArray::parse(path, &std::fs::read(path).unwrap()).unwrap()
    };
    let ours: Vec<f64> = match read(&saved).values {
        data::images::NpyValues::F32(v) => v.into_iter().map(f64::from).collect(),
        other => panic!("float32 expected: {other:?}"),
    };
    let expected_path = PathBuf::from(fixture("ddpm_small")).join("ddim_out.npy");
    let data::images::NpyValues::F64(expected) = read(&expected_path).values else {
        panic!("float64 fixture")
    };
    let scale = expected.iter().fold(0f64, |m, v| m.max(v.abs()));
    let diff = ours
        .iter()
        .zip(&expected)
        .map(|(a, b)| (a - b).abs() / scale)
        .fold(0f64, f64::max);
    assert!(diff < 1e-4, "largest difference {diff:e} of {scale}");

    let wrong_rows = text.replace("samples = 2", "samples = 3");
    let e = common::refusal("imported", "wrong_rows", &wrong_rows);
    assert!(
        e.contains("sampler.initial_noise")
            && e.contains("[2, 3, 16, 16]")
            && e.contains("expected 3×768"),
        "{e}"
    );
    let two_seeds = text.replace("samples = 2", "samples = 2\nsample_seeds = 2");
    let e = common::refusal("imported", "two_seeds", &two_seeds);
    assert!(
        e.contains("sampler.initial_noise") && e.contains("sample_seeds = 2 must be 1"),
        "{e}"
    );
}
