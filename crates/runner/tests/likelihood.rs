//! The cell metrics of `sample_quality` that are not about samples: the DDPM bound on
//! the test split (`nll_bits_per_dim` and its terms), the training's final loss, and a
//! diverged training recorded as such instead of failing the run.

mod common;

use common::{flags, numeric_column as column};
use runner::execute::{run_experiment, RunOptions};
use runner::table::Table;

fn run_text(name: &str, text: &str) -> anyhow::Result<Table> {
    Ok(common::run_in_temp("nll", name, text)?.table)
}

/// Digits, DDPM with T = 100, ancestral sampling; `{model}` and `{metrics}` filled in.
fn config(name: &str, model: &str, metrics: &str) -> String {
    format!(
        r#"
[experiment]
name = "{name}"
seed = 3

[data]
kind = "digits"

[model]
{model}

[schedule]
kind = "ddpm"
timesteps = 100

[sampler]
kind = "ancestral"
variance = "fixedlarge"

[metrics]
samples = 40
reference = "train"
common_noise = true
{metrics}
"#
    )
}

#[test]
fn the_bound_is_the_sum_of_its_terms_and_its_decoder_bins_the_data_levels() {
    let table = run_text(
        "gaussian",
        &config(
            "nll_gaussian",
            "kind = \"gaussian_fit\"",
            "names = [\"nll_bits_per_dim\", \"final_loss\", \"diverged\"]\n\
             [sweep]\nmetrics.levels = [17, 256]",
        ),
    )
    .unwrap();
    let total = column(&table, "nll_bits_per_dim");
    let (prior, diffusion, decoder) = (
        column(&table, "nll_prior"),
        column(&table, "nll_diffusion"),
        column(&table, "nll_decoder"),
    );
    for i in 0..2 {
        assert!(total[i].is_finite() && total[i] > 0.0, "{total:?}");
        assert!((total[i] - prior[i] - diffusion[i] - decoder[i]).abs() < 1e-9);
        assert!(prior[i] > 0.0 && diffusion[i] > 0.0 && decoder[i] > 0.0);
    }
    // Only the decoder depends on the levels; 256 bins of width 2/255 hold less mass
    // each than 17 of width 2/16.
    assert_eq!(prior[0], prior[1]);
    assert_eq!(diffusion[0], diffusion[1]);
    assert!(decoder[1] > decoder[0] + 1.0, "{decoder:?}");
    // No network: no training loss, no divergence; no samples asked for, no NFE.
    assert!(column(&table, "final_loss").iter().all(|v| v.is_nan()));
    assert_eq!(flags(&table, "diverged"), [false, false]);
    assert_eq!(column(&table, "nfe"), [0.0, 0.0]);

    // Left out, `metrics.levels` is the data's own: 17 for the digits.
    let derived = run_text(
        "derived",
        &config(
            "nll_derived",
            "kind = \"gaussian_fit\"",
            "names = [\"nll_bits_per_dim\"]",
        ),
    )
    .unwrap();
    assert_eq!(column(&derived, "nll_bits_per_dim")[0], total[0]);
}

#[test]
fn networks_report_the_bound_and_their_final_loss_eps_and_mu_prediction() {
    let model = r#"kind = "network"
net = { arch = "mlp", width = 32, depth = 1, emb_dim = 8 }
parameterization = { kind = "eps" }
train = { steps = 30, batch_size = 32, lr = 1e-3, log_every = 5 }"#;
    let table = run_text(
        "networks",
        &config(
            "nll_networks",
            model,
            "names = [\"mean_err\", \"nll_bits_per_dim\", \"final_loss\", \"diverged\"]\n\
             nll_t_subset = 20\n\
             [sweep]\nmodel.objective = [{ kind = \"l_simple\" }, { kind = \"vlb\", parameterization = \"mu\" }, { kind = \"mu_mse\" }]",
        ),
    )
    .unwrap();
    let nll = column(&table, "nll_bits_per_dim");
    let loss = column(&table, "final_loss");
    assert_eq!(nll.len(), 3);
    for i in 0..3 {
        assert!(nll[i].is_finite() && nll[i] > 0.0, "{nll:?}");
        assert!(loss[i].is_finite() && loss[i] > 0.0, "{loss:?}");
    }
    assert_eq!(flags(&table, "diverged"), [false; 3]);
    assert!(column(&table, "mean_err").iter().all(|v| v.is_finite()));
    assert_eq!(column(&table, "nfe"), [100.0; 3]);
}

#[test]
fn a_diverged_training_is_recorded_not_an_error() {
    // lr = 1e30: Adam moves every weight by ≈ 1e30 in the first step; the loss overflows.
    let model = r#"kind = "network"
net = { arch = "mlp", width = 16, depth = 1, emb_dim = 8 }
parameterization = { kind = "eps" }
objective = { kind = "l_simple" }
train = { steps = 20, batch_size = 16, lr = 1e30 }"#;
    let text = config(
        "nll_diverged",
        model,
        "names = [\"fd_pixels\", \"nll_bits_per_dim\", \"final_loss\", \"diverged\"]\n\
         sample_seeds = 2",
    );
    let dir = std::env::temp_dir().join(format!("dlab-nll-diverged-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("diverged.toml");
    std::fs::write(&file, text).unwrap();
    for fresh in [false, true] {
        // The second run recomputes the cell and finds the divergence recorded in the
        // network's cache directory instead of training again.
        let options = RunOptions {
            results: dir.join("results"),
            fresh,
            ..RunOptions::default()
        };
        let table = run_experiment(&file, &options).unwrap().table;
        assert_eq!(flags(&table, "diverged"), [true]);
        for name in [
            "fd_pixels",
            "fd_pixels_std",
            "nll_bits_per_dim",
            "nll_prior",
            "nll_diffusion",
            "nll_decoder",
            "final_loss",
        ] {
            assert!(column(&table, name)[0].is_nan(), "{name}");
        }
    }
    let markers: Vec<_> = std::fs::read_dir(dir.join("results/cache"))
        .unwrap()
        .filter_map(|d| {
            let path = d.unwrap().path().join("diverged.toml");
            path.exists()
                .then(|| std::fs::read_to_string(path).unwrap())
        })
        .collect();
    assert_eq!(markers.len(), 1, "one diverged network");
    assert!(markers[0].contains("step = "), "{}", markers[0]);
}

#[test]
fn the_bound_needs_a_ddpm_schedule_and_a_subset_inside_the_grid() {
    let edm = config(
        "nll_edm",
        "kind = \"gaussian_fit\"",
        "names = [\"nll_bits_per_dim\"]",
    )
    .replace(
        "kind = \"ddpm\"\ntimesteps = 100",
        "kind = \"edm\"\nsteps = 18",
    )
    .replace(
        "kind = \"ancestral\"\nvariance = \"fixedlarge\"",
        "kind = \"heun\"",
    );
    let err = format!("{:#}", run_text("edm", &edm).unwrap_err());
    assert!(
        err.contains("metrics.names") && err.contains("kind = \"ddpm\""),
        "{err}"
    );
    let subset = config(
        "nll_subset",
        "kind = \"gaussian_fit\"",
        "names = [\"nll_bits_per_dim\"]\nnll_t_subset = 100",
    );
    let err = format!("{:#}", run_text("subset", &subset).unwrap_err());
    assert!(
        err.contains("metrics.nll_t_subset = 100 must be in 1..=99"),
        "{err}"
    );
}

/// The PF-ODE likelihood of the exact denoiser equals the exact density of the same points
/// (Gaussian data, d = 4): the ODE, its trace and the prior are right.
#[test]
fn the_pf_ode_likelihood_of_the_exact_denoiser_is_the_exact_likelihood() {
    let text = "[experiment]\nname = \"ode_nll\"\nseed = 3\n\
        [data]\nkind = \"gaussian\"\neigenvalues = [2.0, 1.0, 0.5, 0.25]\n\
        [model]\nkind = \"exact\"\n\
        [metrics]\nsamples = 10\nnames = [\"nll_pf_ode\", \"nll_exact\"]\n\
        [metrics.likelihood]\npoints = 50\nsigma_min = 0.001\nsigma_max = 200.0\nsteps = 400\n";
    let outcome = common::run_in_temp("likelihood", "ode", text).unwrap();
    let (ode, exact) = (
        column(&outcome.table, "nll_pf_ode")[0],
        column(&outcome.table, "nll_exact")[0],
    );
    assert!(exact.is_finite() && exact > 0.0, "{exact}");
    assert!(
        (ode - exact).abs() < 2e-3,
        "PF-ODE {ode} vs exact {exact} bits/dim"
    );
}

/// On discrete images `nll_pf_ode` is the PF-ODE NLL of uniformly dequantized test images
/// plus log2((L − 1)/2). With the isotropic Gaussian fitted to the digits (17 levels) its
/// density is closed-form, so the expected value over the dequantization noise is exact:
/// E_u[−log N(x + u; μ, (v + σ_min²)I)] adds d·δ²/3 to Σ(x − μ)², δ = 1/16.
#[test]
fn the_dequantized_pf_ode_likelihood_of_digits_matches_the_isotropic_closed_form() {
    let text = "[experiment]\nname = \"ode_digits\"\nseed = 3\n\
        [data]\nkind = \"digits\"\n[split]\ntest_fraction = 0.2\n\
        [model]\nkind = \"isotropic\"\n\
        [metrics]\nsamples = 10\nnames = [\"nll_pf_ode\"]\n\
        [metrics.likelihood]\npoints = 200\nsigma_min = 0.001\nsigma_max = 80.0\nsteps = 200\n";
    let outcome = common::run_in_temp("likelihood", "ode_digits", text).unwrap();
    let ode = column(&outcome.table, "nll_pf_ode")[0];

    let dir = common::scratch("ode_digits_expected");
    let path = dir.join("e.toml");
    std::fs::write(&path, text).unwrap();
    let resolved = runner::execute::resolve(&path, &RunOptions::default()).unwrap();
    let data = runner::build::context::cell_data(&resolved.experiment).unwrap();
    let (train, test) = (&data.train.images, &data.test.as_ref().unwrap().images);
    let d = train.dim() as f64;
    let mean = train.mean();
    let variance = train
        .rows()
        .flat_map(|r| r.iter().zip(&mean).map(|(x, m)| (x - m) * (x - m)))
        .sum::<f64>()
        / (train.n() as f64 - 1.0)
        / d;
    let (var, delta) = (variance + 1e-6, 1.0 / 16.0);
    let points = 200.min(test.n());
    let expected_nats: f64 = test
        .rows()
        .take(points)
        .map(|r| {
            let sq: f64 = r.iter().zip(&mean).map(|(x, m)| (x - m) * (x - m)).sum();
            0.5 * (sq + d * delta * delta / 3.0) / var
                + 0.5 * d * (2.0 * std::f64::consts::PI * var).ln()
        })
        .sum::<f64>()
        / points as f64;
    let expected = expected_nats / (d * std::f64::consts::LN_2) + 8f64.log2();
    println!("nll_pf_ode {ode} vs closed form {expected} bits/dim");
    assert!((ode - expected).abs() < 0.01, "{ode} vs {expected}");
}
