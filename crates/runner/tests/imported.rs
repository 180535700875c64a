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
