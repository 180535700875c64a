use super::*;

fn ho() -> DdpmSchedule {
    DdpmSchedule::new(
        BetaSchedule::Linear {
            beta_start: 1e-4,
            beta_end: 0.02,
        },
        1000,
    )
    .unwrap()
}

fn rel(a: f64, b: f64) -> f64 {
    (a - b).abs() / b.abs()
}

#[test]
fn linear_betas_endpoints_and_midpoint() {
    let s = ho();
    assert_eq!(s.num_timesteps(), 1000);
    assert_eq!(s.beta(0), 1e-4);
    assert_eq!(s.beta(999), 0.02);
    // β_k = 1e-4 + k·0.0199/999; the two middle ones average to (1e-4 + 0.02)/2.
    assert!(rel(s.beta(500), 0.01005995995995996) < 1e-14);
    assert!(rel(0.5 * (s.beta(499) + s.beta(500)), 0.01005) < 1e-13);
    assert_eq!(linear_betas(1e-4, 0.02, 3)[1], 0.01005);
    assert_eq!(linear_betas(1e-4, 0.02, 1), vec![1e-4]);
}

#[test]
fn scaled_linear_betas_are_squared_linspace_of_roots() {
    let b = scaled_linear_betas(0.00085, 0.012, 3);
    assert!(rel(b[0], 0.00085) < 1e-14 && rel(b[2], 0.012) < 1e-14);
    // ((√0.00085 + √0.012)/2)².
    assert!(rel(b[1], 0.00480937194226713) < 1e-13);
}

#[test]
fn cosine_betas_match_hand_formula() {
    let s = DdpmSchedule::new(BetaSchedule::cosine(), 1000).unwrap();
    // β_0 = 1 − f(1/1000)/f(0), f(u) = cos²((u + 0.008)/1.008·π/2).
    assert!(rel(s.beta(0), 4.128422482196914e-05) < 1e-9);
    assert_eq!(s.beta(999), COSINE_MAX_BETA);
    // ᾱ_t = f((t+1)/T)/f(0) wherever no clipping happened.
    let f0 = cosine_alpha_bar(0.0, COSINE_S);
    assert!(rel(s.alpha_bar(499), cosine_alpha_bar(0.5, COSINE_S) / f0) < 1e-12);
    // Integer division i/T would give β = 0 for every i < T−1: floating division does not.
    assert!(s.betas()[..999].iter().all(|&b| b > 0.0));
}

#[test]
fn alpha_bar_is_cumulative_product() {
    let s = ho();
    let by_hand = (1.0 - s.beta(0)) * (1.0 - s.beta(1)) * (1.0 - s.beta(2));
    assert!(rel(s.alpha_bar(2), by_hand) < 1e-15);
    assert!(rel(s.alpha_bar(500), 0.0777966583650239) < 1e-12);
    assert!(rel(s.alpha_bar(999), 4.035829765375683e-05) < 1e-10);
    assert!(rel(s.sigma(999), 157.40728081040743) < 1e-10);
    assert!(rel(s.s(500), 0.0777966583650239f64.sqrt()) < 1e-12);
    assert_eq!(s.alpha_bar_prev(0), 1.0);
    assert_eq!(s.alpha_bar_prev(3), s.alpha_bar(2));
    assert_eq!(s.alpha(7), 1.0 - s.beta(7));
}

#[test]
fn posterior_matches_hand_values() {
    let s = ho();
    let (c0, ct) = s.posterior_mean_coefs(500);
    assert!(rel(c0, 0.00305805707562962) < 1e-10, "{c0}");
    assert!(rel(ct, 0.9941043507567257) < 1e-12, "{ct}");
    assert!(rel(s.posterior_variance(500), 0.01005133577890959) < 1e-10);
    // t = 0: x_{-1} = x0 exactly.
    assert_eq!(s.posterior_variance(0), 0.0);
    let (c0, ct) = s.posterior_mean_coefs(0);
    assert!((c0 - 1.0).abs() < 1e-12 && ct == 0.0);
    // Clipping: log β̃ at t = 0 is log β̃ at t = 1 = ln 5.453187661302605e-5.
    assert!(rel(s.posterior_log_variance_clipped(0), -9.816725135295593) < 1e-10);
    assert_eq!(
        s.posterior_log_variance_clipped(0),
        s.posterior_log_variance_clipped(1)
    );
    assert_eq!(
        s.posterior_log_variance_clipped(9),
        s.posterior_variance(9).ln()
    );
}

#[test]
fn reverse_variances() {
    let s = ho();
    assert_eq!(
        s.reverse_variance(10, ReverseVariance::FixedLarge),
        s.beta(10)
    );
    assert_eq!(
        s.reverse_variance(10, ReverseVariance::FixedSmall),
        s.posterior_variance(10)
    );
    // Likelihood fixedlarge: log(β̃_1, β_1, β_2, …) in 0-based indices.
    assert_eq!(
        s.likelihood_log_variance(0, ReverseVariance::FixedLarge),
        s.posterior_variance(1).ln()
    );
    assert_eq!(
        s.likelihood_log_variance(1, ReverseVariance::FixedLarge),
        s.beta(1).ln()
    );
    assert_eq!(
        s.likelihood_log_variance(999, ReverseVariance::FixedLarge),
        0.02f64.ln()
    );
    assert_eq!(
        s.likelihood_log_variance(0, ReverseVariance::FixedSmall),
        s.posterior_log_variance_clipped(0)
    );
}

#[test]
fn diffusers_spacings() {
    let lead = spaced_timesteps(1000, 10, Spacing::Leading).unwrap();
    assert_eq!(lead, vec![900, 800, 700, 600, 500, 400, 300, 200, 100, 0]);
    let trail = spaced_timesteps(1000, 10, Spacing::Trailing).unwrap();
    assert_eq!(trail, vec![999, 899, 799, 699, 599, 499, 399, 299, 199, 99]);
    let lin = spaced_timesteps(1000, 10, Spacing::Linspace).unwrap();
    assert_eq!(lin, vec![999, 888, 777, 666, 555, 444, 333, 222, 111, 0]);
    // numpy rounds half to even: trailing T = 1000, n = 16 has T − k·62.5 = 1000, 937.5,
    // …, 62.5 → 1000, 938, …, 62 (not 63), minus 1.
    let trail16 = spaced_timesteps(1000, 16, Spacing::Trailing).unwrap();
    assert_eq!(&trail16[..3], &[999, 937, 874]);
    assert_eq!(trail16[15], 61);
    // Leading uses ⌊T/n⌋: T = 1000, n = 3 → 666, 333, 0.
    assert_eq!(
        spaced_timesteps(1000, 3, Spacing::Leading).unwrap(),
        vec![666, 333, 0]
    );
    assert_eq!(
        spaced_timesteps(1000, 1, Spacing::Linspace).unwrap(),
        vec![0]
    );
    assert_eq!(
        spaced_timesteps(5, 5, Spacing::Trailing).unwrap(),
        vec![4, 3, 2, 1, 0]
    );
}

#[test]
fn spacing_rejects_bad_counts() {
    let e = spaced_timesteps(1000, 2000, Spacing::Leading)
        .unwrap_err()
        .to_string();
    assert_eq!(e, "schedule.steps = 2000 must be <= timesteps = 1000");
    let e = spaced_timesteps(1000, 0, Spacing::Leading)
        .unwrap_err()
        .to_string();
    assert_eq!(e, "schedule.steps = 0 must be between 1 and 10000000");
}

#[test]
fn strided_schedule_uses_ratio_of_alpha_bars() {
    let s = ho();
    let steps = s
        .strided(&s.timesteps(10, Spacing::Leading).unwrap())
        .unwrap();
    assert_eq!(steps.len(), 10);
    assert_eq!((steps[0].t, steps[0].t_prev), (900, Some(800)));
    assert!(rel(steps[0].beta, 1.0 - s.alpha_bar(900) / s.alpha_bar(800)) < 1e-15);
    // Last step jumps to ᾱ = 1: β = 1 − ᾱ_0 = β_0.
    let last = steps[9];
    assert_eq!((last.t, last.t_prev, last.alpha_bar_prev), (0, None, 1.0));
    assert!(rel(last.beta, s.beta(0)) < 1e-12);
    // With stride 1 the strided step is the ordinary one.
    let full = s.strided(&[501, 500]).unwrap();
    assert!(rel(full[0].beta, s.beta(501)) < 1e-10);
    assert!(rel(full[0].posterior_variance(), s.posterior_variance(501)) < 1e-10);
    let (a, b) = full[0].posterior_mean_coefs();
    let (a2, b2) = s.posterior_mean_coefs(501);
    assert!(rel(a, a2) < 1e-10 && rel(b, b2) < 1e-10);
    // Rejects increasing or out-of-range timesteps.
    assert!(s.strided(&[100, 200]).is_err());
    assert_eq!(
        s.strided(&[1000, 5]).unwrap_err().to_string(),
        "schedule.timesteps[0] = 1000 must be < timesteps = 1000"
    );
}

#[test]
fn bad_betas_name_key_and_value() {
    let e = DdpmSchedule::new(
        BetaSchedule::Linear {
            beta_start: 0.02,
            beta_end: 1e-4,
        },
        10,
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "schedule.beta_start = 0.02 must be <= beta_end = 0.0001"
    );
    let e = DdpmSchedule::new(
        BetaSchedule::Linear {
            beta_start: 1e-4,
            beta_end: 1.5,
        },
        10,
    )
    .unwrap_err();
    assert_eq!(e.to_string(), "schedule.beta_end = 1.5 must be in (0, 1)");
    let e = DdpmSchedule::new(BetaSchedule::cosine(), 0).unwrap_err();
    assert_eq!(
        e.to_string(),
        "schedule.timesteps = 0 must be between 1 and 10000000"
    );
}
