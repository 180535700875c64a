use crate::{DataError, DataSpec};

fn parse(s: &str) -> Result<DataSpec, toml::de::Error> {
    toml::from_str(s)
}

#[test]
fn specs_parse_with_defaults_and_aliases() {
    assert_eq!(
        parse(r#"kind = "moons""#).unwrap(),
        DataSpec::Moons { noise: 0.2 }
    );
    assert_eq!(
        parse(r#"kind = "molrg""#).unwrap(),
        DataSpec::Molrg {
            ambient_n: 48,
            k: 2,
            d: 7
        }
    );
    assert_eq!(
        parse("kind = \"molrg\"\nk = 3").unwrap(),
        DataSpec::Molrg {
            ambient_n: 48,
            k: 3,
            d: 7
        }
    );
    assert_eq!(
        parse(r#"kind = "8gaussians""#).unwrap(),
        DataSpec::EightGaussians {
            radius: 2.0,
            std: 0.02
        }
    );
    assert_eq!(
        parse(r#"kind = "twenty_five_gaussians""#).unwrap(),
        DataSpec::TwentyFiveGaussians {
            spacing: 2.0,
            std: 0.05
        }
    );
    assert_eq!(parse(r#"kind = "digits""#).unwrap(), DataSpec::Digits {});
    assert_eq!(
        parse(r#"kind = "checkerboard""#).unwrap(),
        DataSpec::Checkerboard {}
    );
    assert_eq!(
        parse(r#"kind = "mnist_csv""#).unwrap(),
        DataSpec::MnistCsv {
            path: "data/mnist_5k.csv.gz".into()
        }
    );
    let idx = parse("kind = \"idx\"\nimages = \"a.gz\"\nlabels = \"b.gz\"").unwrap();
    assert_eq!(
        idx,
        DataSpec::Idx {
            images: "a.gz".into(),
            labels: Some("b.gz".into())
        }
    );
    let g = parse("kind = \"gaussian\"\neigenvalues = [4.0, 1.0]\ndim = 3").unwrap();
    assert_eq!(
        g,
        DataSpec::Gaussian {
            eigenvalues: Some(vec![4.0, 1.0]),
            power_law: None,
            dim: Some(3),
            mean: None
        }
    );
    assert_eq!(g.kind(), "gaussian");
}

#[test]
fn unknown_keys_and_kinds_are_rejected() {
    let err = parse("kind = \"moons\"\nnoisee = 0.1")
        .unwrap_err()
        .to_string();
    assert!(err.contains("noisee"), "{err}");
    let err = parse("kind = \"digits\"\nsize = 3")
        .unwrap_err()
        .to_string();
    assert!(err.contains("size"), "{err}");
    let err = parse(r#"kind = "spirals""#).unwrap_err().to_string();
    assert!(err.contains("spirals"), "{err}");
}

#[test]
fn validate_names_the_key_and_value() {
    let msg = |spec: DataSpec| spec.validate().unwrap_err().to_string();
    assert_eq!(
        msg(DataSpec::Moons { noise: -1.0 }),
        "moons.noise = -1.0 must be finite and ≥ 0"
    );
    assert!(msg(DataSpec::Molrg {
        ambient_n: 10,
        k: 2,
        d: 7
    })
    .starts_with("molrg.ambient_n = 10 must be ≥ k·d = 14"));
    assert!(msg(DataSpec::Molrg {
        ambient_n: 10,
        k: 0,
        d: 7
    })
    .starts_with("molrg.k = 0"));
    let g = DataSpec::Gaussian {
        eigenvalues: Some(vec![1.0, 2.0]),
        power_law: None,
        dim: Some(1),
        mean: None,
    };
    assert!(msg(g).starts_with("gaussian.dim = 1 must be ≥ the number of eigenvalues 2"));
    let g = DataSpec::Gaussian {
        eigenvalues: Some(vec![1.0, -2.0]),
        power_law: None,
        dim: None,
        mean: None,
    };
    assert!(msg(g).starts_with("gaussian.eigenvalues = -2.0"));
    let g = DataSpec::Gaussian {
        eigenvalues: Some(vec![1.0]),
        power_law: None,
        dim: Some(3),
        mean: Some(vec![0.0; 2]),
    };
    assert!(msg(g).starts_with("gaussian.mean.len() = 2 must equal dim = 3"));
    let gmm = DataSpec::Gmm {
        means: vec![vec![0.0]],
        weights: None,
        std: Some(0.0),
        covariances: None,
    };
    assert!(msg(gmm).starts_with("gmm.std = 0.0"));
    assert!(msg(DataSpec::EightGaussians {
        radius: 2.0,
        std: -1.0
    })
    .starts_with("eight_gaussians.std = -1.0"));
    assert!(msg(DataSpec::Cifar10 { paths: vec![] }).starts_with("cifar10.paths = "));
    let missing = DataSpec::MnistCsv {
        path: "nowhere/mnist_5k.csv.gz".into(),
    }
    .validate()
    .unwrap_err();
    assert!(matches!(missing, DataError::Missing { .. }));
    assert!(missing.to_string().contains("fetch-mnist5k.sh"));
    let images = |path: &str, channels| DataSpec::Images {
        path: path.into(),
        channels,
    };
    assert!(msg(images(".", Some(2))).starts_with("images.channels = 2 must be 1 or 3"));
    let e = msg(images("nowhere/samples.npz", None));
    assert!(
        e.contains("nowhere/samples.npz") && e.contains(".npz with arr_0"),
        "{e}"
    );
    for ok in [
        "digits",
        "moons",
        "swiss_roll",
        "checkerboard",
        "rings",
        "8gaussians",
        "25gaussians",
        "molrg",
        "random_gmm",
    ] {
        parse(&format!("kind = \"{ok}\""))
            .unwrap()
            .validate()
            .unwrap();
    }
}

#[test]
fn load_draws_seeded_synthetic_sets_and_embedded_digits() {
    let spec = parse(r#"kind = "rings""#).unwrap();
    let a = spec.load(300, 5).unwrap();
    assert_eq!(
        (a.dataset.len(), a.dataset.dim(), a.dataset.name.as_str()),
        (300, 2, "rings")
    );
    assert_eq!(a.dataset, spec.load(300, 5).unwrap().dataset);
    assert_ne!(a.dataset, spec.load(300, 6).unwrap().dataset);
    assert!(a.exact_denoiser().is_none());

    let eight = parse(r#"kind = "8gaussians""#)
        .unwrap()
        .load(10, 0)
        .unwrap();
    assert!(eight.exact_denoiser().is_some());

    let gmm = parse("kind = \"gmm\"\nmeans = [[0.0, 0.0], [3.0, 3.0]]\nstd = 0.5")
        .unwrap()
        .load(50, 0)
        .unwrap();
    assert_eq!(gmm.dataset.dim(), 2);
    assert!(gmm.exact_denoiser().is_some());

    let molrg = parse(r#"kind = "molrg""#).unwrap();
    let (m1, m2) = (molrg.load(20, 1).unwrap(), molrg.load(20, 1).unwrap());
    assert_eq!((m1.dataset.dim(), &m1.dataset), (48, &m2.dataset));

    let digits = DataSpec::Digits {}.load(0, 0).unwrap();
    assert_eq!(digits.dataset.len(), 1797);
    assert!(digits.synthetic.is_none());
}
