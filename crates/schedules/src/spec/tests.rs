use super::*;

fn parse(text: &str) -> std::result::Result<ScheduleSpec, toml::de::Error> {
    toml::from_str(text)
}

#[test]
fn defaults_fill_missing_keys() {
    assert_eq!(parse("kind = \"edm\"").unwrap(), ScheduleSpec::edm());
    assert_eq!(parse("kind = \"ddpm\"").unwrap(), ScheduleSpec::ddpm());
    assert_eq!(parse("kind = \"vp\"").unwrap(), ScheduleSpec::vp());
    assert_eq!(parse("kind = \"ve\"").unwrap(), ScheduleSpec::ve());
    let spec =
        parse("kind = \"ddpm\"\nbeta_schedule = \"cosine\"\nsteps = 50\nspacing = \"trailing\"")
            .unwrap();
    assert_eq!(
        spec,
        ScheduleSpec::Ddpm {
            beta_schedule: BetaScheduleKind::Cosine,
            beta_start: 1e-4,
            beta_end: 0.02,
            timesteps: 1000,
            steps: Some(50),
            spacing: Spacing::Trailing,
        }
    );
    // Integers are accepted for float keys.
    let spec = parse("kind = \"edm\"\nsigma_max = 80\nrho = 7").unwrap();
    assert_eq!(spec, ScheduleSpec::edm());
}

#[test]
fn unknown_keys_and_kinds_are_rejected() {
    let e = parse("kind = \"edm\"\nsigma_mx = 80.0")
        .unwrap_err()
        .to_string();
    assert!(e.contains("sigma_mx"), "{e}");
    // A key of another kind is unknown too.
    assert!(parse("kind = \"edm\"\nbeta_min = 0.1").is_err());
    assert!(parse("kind = \"ddpm\"\nrho = 7.0").is_err());
    assert!(parse("kind = \"vp\"\nsigma_min = 0.1").is_err());
    assert!(parse("kind = \"karras\"").is_err());
    assert!(parse("sigma_min = 0.1").is_err());
    assert!(parse("kind = \"ddpm\"\nspacing = \"middle\"").is_err());
}

#[test]
fn round_trips_through_toml() {
    for spec in [
        ScheduleSpec::ddpm(),
        ScheduleSpec::edm(),
        ScheduleSpec::vp(),
        ScheduleSpec::ve(),
    ] {
        let text = toml::to_string(&spec).unwrap();
        assert_eq!(parse(&text).unwrap(), spec, "{text}");
    }
}

#[test]
fn validate_names_key_and_value() {
    let spec = ScheduleSpec::Edm {
        sigma_min: 90.0,
        sigma_max: 80.0,
        rho: 7.0,
        steps: 18,
    };
    assert_eq!(
        spec.validate().unwrap_err().to_string(),
        "schedule.sigma_min = 90 must be < sigma_max = 80"
    );
    let spec = ScheduleSpec::Edm {
        sigma_min: 0.0,
        sigma_max: 80.0,
        rho: 7.0,
        steps: 18,
    };
    assert_eq!(
        spec.validate().unwrap_err().to_string(),
        "schedule.sigma_min = 0 must be a finite number > 0"
    );
    let spec = ScheduleSpec::Edm {
        sigma_min: 0.002,
        sigma_max: 80.0,
        rho: -1.0,
        steps: 18,
    };
    assert_eq!(
        spec.validate().unwrap_err().to_string(),
        "schedule.rho = -1 must be a finite number > 0"
    );
    let spec = ScheduleSpec::Edm {
        sigma_min: 0.002,
        sigma_max: 80.0,
        rho: 7.0,
        steps: 0,
    };
    assert_eq!(
        spec.validate().unwrap_err().to_string(),
        "schedule.steps = 0 must be between 1 and 10000000"
    );
    let spec = parse("kind = \"ddpm\"\nsteps = 2000").unwrap();
    assert_eq!(
        spec.validate().unwrap_err().to_string(),
        "schedule.steps = 2000 must be <= timesteps = 1000"
    );
    let spec = parse("kind = \"ddpm\"\nbeta_end = 1.5").unwrap();
    assert_eq!(
        spec.validate().unwrap_err().to_string(),
        "schedule.beta_end = 1.5 must be in (0, 1)"
    );
    let spec = parse("kind = \"ddpm\"\nbeta_start = 0.03").unwrap();
    assert_eq!(
        spec.validate().unwrap_err().to_string(),
        "schedule.beta_start = 0.03 must be <= beta_end = 0.02"
    );
    let spec = parse("kind = \"vp\"\neps = 0").unwrap();
    assert_eq!(
        spec.validate().unwrap_err().to_string(),
        "schedule.eps = 0 must be in (0, 1)"
    );
    let spec = parse("kind = \"vp\"\nbeta_min = 30").unwrap();
    assert_eq!(
        spec.validate().unwrap_err().to_string(),
        "schedule.beta_min = 30 must be < beta_max = 20"
    );
    let spec = parse("kind = \"ve\"\nsigma_max = 0.001").unwrap();
    assert_eq!(
        spec.validate().unwrap_err().to_string(),
        "schedule.sigma_min = 0.01 must be < sigma_max = 0.001"
    );
    // table() and the accessors validate too.
    assert!(parse("kind = \"ve\"\nsigma_max = 0.001")
        .unwrap()
        .table()
        .is_err());
    for spec in [
        ScheduleSpec::ddpm(),
        ScheduleSpec::edm(),
        ScheduleSpec::vp(),
        ScheduleSpec::ve(),
    ] {
        spec.validate().unwrap();
    }
}

#[test]
fn ddpm_tables() {
    let table = ScheduleSpec::ddpm().table().unwrap();
    assert_eq!(table.len(), 1000);
    assert_eq!((table.t[0], table.t[999], table.i[999]), (0.0, 999.0, 999));
    assert_eq!((table.beta[0], table.beta[999]), (1e-4, 0.02));
    assert_eq!(table.alpha_bar[0], 1.0 - 1e-4);
    assert!((table.sigma[999] / 157.40728081040743 - 1.0).abs() < 1e-10);
    assert!((table.s[500] - table.alpha_bar[500].sqrt()).abs() < 1e-15);

    let spec = parse("kind = \"ddpm\"\nsteps = 10\nspacing = \"linspace\"").unwrap();
    let table = spec.table().unwrap();
    assert_eq!(
        table.t,
        vec![999.0, 888.0, 777.0, 666.0, 555.0, 444.0, 333.0, 222.0, 111.0, 0.0]
    );
    let schedule = spec.ddpm_schedule().unwrap();
    assert_eq!(
        (table.beta[1], table.alpha_bar[1]),
        (schedule.beta(888), schedule.alpha_bar(888))
    );
    assert_eq!(table.sigma[1], schedule.sigma(888));
    let sigmas = spec.sampling_sigmas().unwrap();
    assert_eq!(sigmas.len(), 11);
    assert_eq!((sigmas[0], sigmas[10]), (schedule.sigma(999), 0.0));
    assert!(spec.process().is_err());
}

#[test]
fn edm_table_and_sigmas() {
    let spec = ScheduleSpec::edm();
    let table = spec.table().unwrap();
    assert_eq!(table.len(), 19);
    assert_eq!(table.t, table.sigma);
    assert!((table.sigma[1] - 57.586).abs() < 5e-4);
    assert_eq!(table.sigma[18], 0.0);
    assert!(table.s.iter().all(|&s| s == 1.0));
    assert!(table
        .alpha_bar
        .iter()
        .chain(&table.beta)
        .all(|x| x.is_nan()));
    assert_eq!(spec.sampling_sigmas().unwrap(), spec.edm_sigmas().unwrap());
    assert_eq!(spec.process().unwrap().sigma(3.5), 3.5);
    assert!(ScheduleSpec::vp().edm_sigmas().is_err());
}

#[test]
fn vp_and_ve_tables() {
    let spec = parse("kind = \"vp\"\nsteps = 5\neps = 0.2").unwrap();
    let table = spec.table().unwrap();
    assert_eq!(table.len(), 5);
    assert!((table.t[0] - 1.0).abs() < 1e-15 && (table.t[4] - 0.2).abs() < 1e-15);
    // t = 1: β = 20, ᾱ = s² = e^{−10.05}.
    assert_eq!(table.beta[0], 20.0);
    assert!((table.alpha_bar[0] / (-10.05f64).exp() - 1.0).abs() < 1e-13);
    assert!(
        (table.sigma[0] - ((1.0 - table.alpha_bar[0]) / table.alpha_bar[0]).sqrt()).abs() < 1e-9
    );
    let process = spec.process().unwrap();
    assert_eq!(process.t_min(), 0.2);

    let spec = parse("kind = \"ve\"\nsteps = 3\neps = 0.5").unwrap();
    let table = spec.table().unwrap();
    assert_eq!(table.t, vec![1.0, 0.75, 0.5]);
    assert!((table.sigma[0] - 50.0).abs() < 1e-12);
    assert!((table.sigma[2] - (0.01f64 * 50.0).sqrt()).abs() < 1e-13);
    assert!(table.alpha_bar.iter().all(|x| x.is_nan()) && table.s.iter().all(|&s| s == 1.0));
    let sigmas = spec.sampling_sigmas().unwrap();
    assert_eq!(sigmas.len(), 4);
    assert_eq!(sigmas[3], 0.0);
}
