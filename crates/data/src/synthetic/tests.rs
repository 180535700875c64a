//! `gaussian` with a `power_law` spectrum and `random_gmm`, built through [`DataSpec`].

use samplers::rng::{derive_seed, seeded};
use samplers::{Batch, Denoiser};

use crate::synthetic::ClosedForm;
use crate::{DataSpec, PowerLaw};

fn parse(s: &str) -> DataSpec {
    toml::from_str(s).unwrap()
}

fn msg(spec: DataSpec) -> String {
    spec.validate().unwrap_err().to_string()
}

fn trace(m: &[f64], d: usize) -> f64 {
    (0..d).map(|i| m[i * d + i]).sum()
}

#[test]
fn power_law_spectrum_is_scale_times_k_to_the_minus_exponent() {
    let p = PowerLaw {
        dim: 4,
        exponent: 2.0,
        scale: 3.0,
    };
    assert_eq!(p.eigenvalues(), vec![3.0, 0.75, 1.0 / 3.0, 0.1875]);
    let spec = parse("kind = \"gaussian\"\npower_law = { dim = 4 }\ndim = 6");
    assert_eq!(
        spec,
        DataSpec::Gaussian {
            eigenvalues: None,
            power_law: Some(PowerLaw {
                dim: 4,
                exponent: 1.0,
                scale: 1.0
            }),
            dim: Some(6),
            mean: None,
        }
    );
    let dist = spec.synthetic(3).unwrap().unwrap().distribution().unwrap();
    assert_eq!(dist.dim(), 6);
    // Posterior covariance σ²Σ(Σ + σ²I)⁻¹ has eigenvalues σ²λ/(λ + σ²), λ = 1, ½, ⅓, ¼, 0, 0.
    let x = [0.0; 6];
    let lambda = [1.0, 0.5, 1.0 / 3.0, 0.25];
    let at_one: f64 = lambda.iter().map(|l| l / (l + 1.0)).sum();
    let got = trace(&dist.posterior_covariance(&x, 1.0), 6);
    assert!((got - at_one).abs() < 1e-10, "{got} vs {at_one}");
    // σ → ∞ recovers tr Σ = 1 + 1/2 + 1/3 + 1/4 = 25/12 (error ≈ Σλ²/σ² ≈ 1.4e-8).
    let got = trace(&dist.posterior_covariance(&x, 1e4), 6);
    assert!((got - 25.0 / 12.0).abs() < 1e-7, "{got}");
}

#[test]
fn gaussian_needs_exactly_one_spectrum_and_a_valid_power_law() {
    let both = parse("kind = \"gaussian\"\neigenvalues = [1.0]\npower_law = { dim = 2 }");
    assert_eq!(
        msg(both),
        "gaussian.eigenvalues | power_law = both are given; \
         exactly one of `eigenvalues` and `power_law` is required"
    );
    let neither = msg(parse("kind = \"gaussian\"\ndim = 3"));
    assert!(
        neither.starts_with("gaussian.eigenvalues | power_law = neither is given"),
        "{neither}"
    );
    let bad = |p: &str| msg(parse(&format!("kind = \"gaussian\"\npower_law = {p}")));
    assert!(bad("{ dim = 0 }").starts_with("gaussian.power_law.dim = 0 must be ≥ 1"));
    assert!(bad("{ dim = 2, scale = 0.0 }").starts_with("gaussian.power_law.scale = 0.0"));
    assert!(bad("{ dim = 2, exponent = nan }").starts_with("gaussian.power_law.exponent = NaN"));
    assert!(msg(parse(
        "kind = \"gaussian\"\npower_law = { dim = 5 }\ndim = 3"
    ))
    .starts_with("gaussian.dim = 3 must be ≥ the number of eigenvalues 5"));
    let unknown =
        toml::from_str::<DataSpec>("kind = \"gaussian\"\npower_law = { dim = 2, exp = 1 }")
            .unwrap_err()
            .to_string();
    assert!(unknown.contains("exp"), "{unknown}");
}

#[test]
fn random_gmm_parses_with_defaults() {
    assert_eq!(
        parse(r#"kind = "random_gmm""#),
        DataSpec::RandomGmm {
            dim: 2,
            components: 8,
            radius: 4.0,
            std: 0.5,
            weights: None,
        }
    );
    let data = parse(r#"kind = "random_gmm""#).load(30, 0).unwrap();
    assert_eq!(
        (data.dataset.dim(), data.dataset.name.as_str()),
        (2, "random_gmm")
    );
}

#[test]
fn random_gmm_means_come_from_the_construction_seed_and_lie_on_the_sphere() {
    let (dim, components, radius, std) = (16, 8, 3.0, 0.25);
    let build = |seed: u64| {
        let mut rng = seeded(derive_seed(seed, "data/construct"));
        ClosedForm::random_gmm(dim, components, radius, std, None, &mut rng).unwrap()
    };
    let means = |seed: u64| -> Vec<Vec<f64>> {
        let g = build(seed);
        g.analytic()
            .components()
            .iter()
            .map(|c| c.mean().to_vec())
            .collect()
    };
    let m = means(5);
    assert_eq!(m, means(5));
    assert_ne!(m, means(6));
    assert_eq!(m.len(), components);
    for (k, mu) in m.iter().enumerate() {
        assert_eq!(mu.len(), dim);
        let norm = mu.iter().map(|x| x * x).sum::<f64>().sqrt();
        assert!((norm - radius).abs() < 1e-12, "‖μ_{k}‖ = {norm}");
        assert_ne!(
            mu,
            &m[(k + 1) % components],
            "components {k} and {} coincide",
            k + 1
        );
    }
    let cov = build(5).analytic().components()[0].covariance();
    let iso: Vec<f64> = (0..dim * dim)
        .map(|i| if i % (dim + 1) == 0 { std * std } else { 0.0 })
        .collect();
    assert!(cov.iter().zip(&iso).all(|(c, e)| (c - e).abs() < 1e-12));
    assert_eq!(build(5).analytic().weights(), &[1.0 / 8.0; 8]);

    // The spec builds exactly this mixture: its denoiser agrees at a probe point.
    let spec = DataSpec::RandomGmm {
        dim,
        components,
        radius,
        std,
        weights: None,
    };
    let loaded = spec.load(40, 5).unwrap();
    assert_eq!(loaded.dataset.dim(), dim);
    assert_eq!(loaded.dataset, spec.load(40, 5).unwrap().dataset);
    let probe = Batch::from_vec(1, dim, (0..dim).map(|i| i as f64 / 4.0).collect()).unwrap();
    let exact = loaded
        .exact_denoiser()
        .expect("random_gmm has a closed form");
    assert_eq!(
        exact.denoise(&probe, 0.7),
        build(5).analytic().denoise(&probe, 0.7)
    );
}

#[test]
fn random_gmm_exact_denoiser_matches_closed_forms() {
    let spec = DataSpec::RandomGmm {
        dim: 16,
        components: 8,
        radius: 4.0,
        std: 0.5,
        weights: None,
    };
    let loaded = spec.load(20, 1).unwrap();
    let d = loaded.exact_denoiser().unwrap();
    assert_eq!(d.dim(), 16);
    // At σ = 1e-3 a clean sample is (almost) its own posterior mean: the shift is
    // ≈ σ²/std²·‖x − μ_k‖ ≈ 4e-6·2 per sample.
    let x = &loaded.dataset.images;
    let err = d
        .denoise(x, 1e-3)
        .lincomb(1.0, x, -1.0)
        .squared_norm()
        .sqrt()
        / 20f64.sqrt();
    assert!(err < 1e-4, "rms ‖D(x, 1e-3) − x‖ = {err}");

    // At x = 0 every mean is at distance `radius`, so responsibilities equal the weights and
    // D(0, σ) = σ²/(std² + σ²)·Σ_k w_k μ_k exactly.
    let weights = vec![0.5, 0.3, 0.2];
    let spec = DataSpec::RandomGmm {
        dim: 3,
        components: 3,
        radius: 2.0,
        std: 0.5,
        weights: Some(weights.clone()),
    };
    let synth = spec.synthetic(9).unwrap().unwrap();
    let mut rng = seeded(derive_seed(9, "data/construct"));
    let gmm = ClosedForm::random_gmm(3, 3, 2.0, 0.5, Some(weights.clone()), &mut rng).unwrap();
    let shrink = 1.0 / (0.25 + 1.0);
    let want: Vec<f64> = (0..3)
        .map(|i| {
            let comps = gmm.analytic().components();
            shrink * (0..3).map(|k| weights[k] * comps[k].mean()[i]).sum::<f64>()
        })
        .collect();
    let got = synth
        .exact_denoiser()
        .unwrap()
        .denoise(&Batch::zeros(1, 3), 1.0);
    for (g, w) in got.row(0).iter().zip(&want) {
        assert!((g - w).abs() < 1e-12, "{:?} vs {want:?}", got.row(0));
    }
}

#[test]
fn random_gmm_rejects_bad_values_naming_key_and_value() {
    let spec = |dim, components, radius, std, weights| DataSpec::RandomGmm {
        dim,
        components,
        radius,
        std,
        weights,
    };
    assert_eq!(
        msg(spec(0, 8, 4.0, 0.5, None)),
        "random_gmm.dim = 0 must be ≥ 1"
    );
    assert_eq!(
        msg(spec(2, 0, 4.0, 0.5, None)),
        "random_gmm.components = 0 must be ≥ 1"
    );
    assert_eq!(
        msg(spec(2, 8, -1.0, 0.5, None)),
        "random_gmm.radius = -1.0 must be finite and ≥ 0"
    );
    assert!(msg(spec(2, 8, f64::INFINITY, 0.5, None)).starts_with("random_gmm.radius = inf"));
    assert_eq!(
        msg(spec(2, 8, 4.0, 0.0, None)),
        "random_gmm.std = 0.0 must be finite and > 0"
    );
    assert!(msg(spec(2, 8, 4.0, f64::NAN, None)).starts_with("random_gmm.std = NaN"));
    assert_eq!(
        msg(spec(2, 3, 4.0, 0.5, Some(vec![0.5, 0.5]))),
        "random_gmm.weights.len() = 2 must equal components = 3"
    );
    assert!(spec(2, 2, 4.0, 0.5, Some(vec![0.9, 0.9]))
        .validate()
        .is_err());
    // radius = 0 is allowed: all components at the origin.
    spec(3, 2, 0.0, 0.5, None).validate().unwrap();
    assert!(toml::from_str::<DataSpec>("kind = \"random_gmm\"\nstdev = 1.0").is_err());
}
