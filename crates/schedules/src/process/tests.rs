use super::*;

fn close(a: f64, b: f64, rel: f64) -> bool {
    (a - b).abs() <= rel * b.abs().max(1.0)
}

fn vp_coefs() -> (
    impl Fn(f64) -> f64 + Send + Sync + Copy,
    impl Fn(f64) -> f64 + Send + Sync + Copy,
) {
    let beta = |t: f64| 0.1 + t * (20.0 - 0.1);
    (move |t: f64| -0.5 * beta(t), move |t: f64| beta(t).sqrt())
}

#[test]
fn vp_closed_forms() {
    let vp = VpSde::new(0.1, 20.0).unwrap();
    // t = 1: ∫β = ½·19.9 + 0.1 = 10.05.
    assert!(close(vp.integrated_beta(1.0), 10.05, 1e-15));
    assert!(close(vp.s(1.0), (-5.025f64).exp(), 1e-14));
    assert!(close(vp.sigma(1.0), (10.05f64.exp() - 1.0).sqrt(), 1e-13));
    // t = 0.5: ∫β = ⅛·19.9 + 0.05 = 2.5375; σ² = 1/s² − 1.
    let t = 0.5;
    assert!(close(vp.integrated_beta(t), 2.5375, 1e-15));
    assert!(close(
        vp.sigma(t).powi(2),
        1.0 / vp.s(t).powi(2) - 1.0,
        1e-13
    ));
    assert!(close(vp.f(t), -0.5 * 10.05, 1e-15));
    assert!(close(vp.g(t), 10.05f64.sqrt(), 1e-15));
    // Default-trait g = s√(2σσ̇) agrees with √β.
    assert!(close(
        vp.s(t) * (2.0 * vp.sigma(t) * vp.sigma_dot(t)).sqrt(),
        vp.g(t),
        1e-12
    ));
    assert_eq!(vp.sigma(0.0), 0.0);
    assert_eq!(vp.s(0.0), 1.0);
}

#[test]
fn sub_vp_closed_forms() {
    let sub = SubVpSde::new(0.1, 20.0).unwrap();
    let vp = VpSde::new(0.1, 20.0).unwrap();
    for t in [0.01, 0.3, 1.0] {
        let b = vp.integrated_beta(t);
        assert!(close(sub.s(t), vp.s(t), 1e-15));
        // s²σ² = (1 − e^{−∫β})².
        assert!(close(
            (sub.s(t) * sub.sigma(t)).powi(2),
            (1.0 - (-b).exp()).powi(2),
            1e-13
        ));
        // g² = 2s²σσ̇.
        let g2 = 2.0 * sub.s(t).powi(2) * sub.sigma(t) * sub.sigma_dot(t);
        assert!(close(sub.g(t).powi(2), g2, 1e-12));
        // sub-VP σ is below VP σ.
        assert!(sub.sigma(t) < vp.sigma(t));
    }
}

#[test]
fn ve_and_edm_closed_forms() {
    let ve = VeSde::new(0.01, 50.0).unwrap();
    assert!(close(ve.sigma(0.0), 0.01, 1e-15));
    assert!(close(ve.sigma(1.0), 50.0, 1e-13));
    assert!(close(ve.sigma(0.5), (0.01f64 * 50.0).sqrt(), 1e-14));
    assert!(close(
        ve.g(0.5),
        ve.sigma(0.5) * (2.0 * 5000f64.ln()).sqrt(),
        1e-14
    ));
    let edm = EdmProcess::default();
    assert_eq!(
        (edm.sigma(3.0), edm.s(3.0), edm.t_of_sigma(7.0)),
        (3.0, 1.0, 7.0)
    );
    assert!(close(edm.g(2.0), 2.0, 1e-15));
    assert_eq!((edm.t_min(), edm.t_max()), (0.002, 80.0));
}

#[test]
fn t_of_sigma_inverts_sigma() {
    let processes: Vec<Box<dyn Process>> = vec![
        Box::new(VpSde::default()),
        Box::new(SubVpSde::default()),
        Box::new(VeSde::default()),
        Box::new(EdmProcess::default()),
    ];
    for p in &processes {
        for t in [0.002, 0.1, 0.5, 1.0] {
            let t_back = p.t_of_sigma(p.sigma(t));
            assert!(close(t_back, t, 1e-10), "{t} -> {t_back}");
            // The bisection fallback agrees with the closed form.
            assert!(close(
                t_of_sigma_by_bisection(p.as_ref(), p.sigma(t)),
                t,
                1e-10
            ));
        }
    }
}

#[test]
fn derivatives_match_finite_differences() {
    let (f, g) = vp_coefs();
    let processes: Vec<Box<dyn Process>> = vec![
        Box::new(VpSde::default()),
        Box::new(SubVpSde::default()),
        Box::new(VeSde::default()),
        Box::new(EdmProcess::default()),
        Box::new(OrnsteinUhlenbeck::new(|t| 0.1 + 19.9 * t)),
        Box::new(LinearSde::new(f, g)),
    ];
    let h = 1e-5;
    for (k, p) in processes.iter().enumerate() {
        for t in [0.05, 0.4, 0.9] {
            let s_fd = (p.s(t + h) - p.s(t - h)) / (2.0 * h);
            let sigma_fd = (p.sigma(t + h) - p.sigma(t - h)) / (2.0 * h);
            assert!(
                close(p.s_dot(t), s_fd, 1e-6),
                "process {k} t {t}: ṡ {} vs {s_fd}",
                p.s_dot(t)
            );
            assert!(
                close(p.sigma_dot(t), sigma_fd, 1e-6),
                "process {k} t {t}: σ̇ {} vs {sigma_fd}",
                p.sigma_dot(t)
            );
            assert!(close(p.f(t), p.s_dot(t) / p.s(t), 1e-12));
        }
    }
}

#[test]
fn ou_with_linear_schedule_is_vp() {
    let vp = VpSde::new(0.1, 20.0).unwrap();
    let by_quadrature = OrnsteinUhlenbeck::new(|t| 0.1 + 19.9 * t);
    let closed =
        OrnsteinUhlenbeck::with_integral(|t| 0.1 + 19.9 * t, |t| 0.5 * t * t * 19.9 + 0.1 * t);
    for ou in [&by_quadrature, &closed] {
        for t in [0.001, 0.2, 0.7, 1.0] {
            assert!(close(ou.s(t), vp.s(t), 1e-12));
            assert!(close(ou.sigma(t), vp.sigma(t), 1e-12));
            assert!(close(ou.g(t), vp.g(t), 1e-14));
            // h = 1 − α², σ = √h/α.
            assert!(close(ou.h(t), 1.0 - ou.alpha(t).powi(2), 1e-14));
            assert!(close(ou.sigma(t), ou.h(t).sqrt() / ou.alpha(t), 1e-12));
        }
    }
}

#[test]
fn linear_sde_with_vp_coefficients_is_vp() {
    let (f, g) = vp_coefs();
    let sde = LinearSde::new(f, g);
    let vp = VpSde::new(0.1, 20.0).unwrap();
    for t in [0.001, 0.05, 0.3, 0.8, 1.0] {
        assert!(
            close(sde.s(t), vp.s(t), 1e-8),
            "s({t}) {} vs {}",
            sde.s(t),
            vp.s(t)
        );
        assert!(
            close(sde.sigma(t), vp.sigma(t), 1e-8),
            "σ({t}) {} vs {}",
            sde.sigma(t),
            vp.sigma(t)
        );
    }
    let sigma = vp.sigma(0.6);
    assert!(close(sde.t_of_sigma(sigma), 0.6, 1e-8));
}

#[test]
fn bad_parameters_name_key_and_value() {
    let e = VeSde::new(90.0, 80.0).unwrap_err().to_string();
    assert_eq!(e, "schedule.sigma_min = 90 must be < sigma_max = 80");
    let e = VpSde::new(5.0, 1.0).unwrap_err().to_string();
    assert_eq!(e, "schedule.beta_min = 5 must be <= beta_max = 1");
    let e = VpSde::default().with_eps(1.5).unwrap_err().to_string();
    assert_eq!(e, "schedule.eps = 1.5 must be in (0, 1)");
    assert!(EdmProcess::new(0.0, 1.0)
        .unwrap_err()
        .to_string()
        .contains("sigma_min = 0"));
    assert!(LinearSde::new(|_| 0.0, |_| 1.0)
        .with_range(1.0, 0.5)
        .is_err());
}
