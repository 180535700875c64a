//! Tests of the objectives against f64 evaluations of the same formulas.
#![allow(clippy::needless_range_loop)] // several arrays indexed by the same row

use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::{Device, Tensor};
use samplers::rng::seeded;
use samplers::Batch;
use schedules::{BetaSchedule, DdpmSchedule};

use super::model::row_lincomb;
use super::*;
use crate::mlp::MlpConfig;
use crate::net::Net;
use crate::precond::Parameterization;
use crate::tensor::tensor_to_batch;
use crate::vlb::{vlb_weights_x0, VlbMean};
use schedules::ReverseVariance;

pub(crate) fn tiny_net(dim: usize, seed: u64, device: &Device) -> Net {
    Net::Mlp(
        MlpConfig::new(dim, 16, 1, 8)
            .unwrap()
            .init(&mut seeded(seed), device),
    )
}

pub(crate) fn scalar(t: Tensor<1>) -> f64 {
    f64::from(t.into_scalar::<f32>())
}

pub(crate) fn schedule(t: usize) -> DdpmSchedule {
    DdpmSchedule::new(
        BetaSchedule::Linear {
            beta_start: 1e-4,
            beta_end: 0.02,
        },
        t,
    )
    .unwrap()
}

fn x0_fixed() -> Batch {
    Batch::from_vec(3, 2, vec![0.5, -1.0, 0.25, 0.75, -0.6, 0.1]).unwrap()
}

fn eps_fixed() -> Batch {
    Batch::from_vec(3, 2, vec![1.2, -0.3, -0.7, 0.4, 0.05, -1.5]).unwrap()
}

/// D on the host from the model's own raw outputs: c_skip·x̂ + c_out·F.
fn host_denoised(model: &Model, x_hat: &Batch, sigma: &[f64]) -> Batch {
    let f = tensor_to_batch(model.output_at(x_hat, sigma));
    let p = model.precond(sigma);
    let c_skip: Vec<f64> = p.iter().map(|p| p.c_skip).collect();
    let c_out: Vec<f64> = p.iter().map(|p| p.c_out).collect();
    row_lincomb(x_hat, &c_skip, &f, &c_out)
}

fn close(got: f64, want: f64, rel: f64) {
    assert!(
        (got - want).abs() <= rel * want.abs().max(1e-3),
        "got {got}, want {want}"
    );
}

const PARAMS: [Parameterization; 4] = [
    Parameterization::Edm { sigma_data: 0.5 },
    Parameterization::Eps,
    Parameterization::X0,
    Parameterization::V,
];

#[test]
fn edm_loss_matches_the_host_formula_on_the_same_outputs() {
    let dev = Device::flex();
    let net = tiny_net(2, 1, &dev);
    let (x0, eps, sigma) = (x0_fixed(), eps_fixed(), [0.3, 1.0, 4.0]);
    for param in PARAMS {
        let model = Model::new(&net, param, &dev);
        let got = scalar(edm_loss_at(&model, &x0, &sigma, &eps, 0.5));
        let d = host_denoised(&model, &noisy(&x0, &sigma, &eps), &sigma);
        let mut want = 0.0;
        for i in 0..3 {
            let lambda = (sigma[i] * sigma[i] + 0.25) / (sigma[i] * 0.5f64).powi(2);
            want += lambda
                * d.row(i)
                    .iter()
                    .zip(x0.row(i))
                    .map(|(a, b)| (a - b).powi(2))
                    .sum::<f64>();
        }
        close(got, want / 6.0, 1e-4);
    }
    // λ at σ = σ_d = 0.5: (0.25 + 0.25)/0.0625 = 8.
    assert!((edm_weight(0.5, 0.5) - 8.0).abs() < 1e-12);
}

#[test]
fn l_simple_is_the_eps_mse_of_eps_hat_from_d() {
    let dev = Device::flex();
    let net = tiny_net(2, 2, &dev);
    let sched = schedule(50);
    let (x0, eps, t) = (x0_fixed(), eps_fixed(), [0usize, 17, 49]);
    let sigma: Vec<f64> = t.iter().map(|&t| sched.sigma(t)).collect();
    for param in PARAMS {
        let model = Model::new(&net, param, &dev);
        let got = scalar(l_simple_at(&model, &x0, &sched, &t, &eps));
        let x_hat = noisy(&x0, &sigma, &eps);
        let d = host_denoised(&model, &x_hat, &sigma);
        let mut want = 0.0;
        for i in 0..3 {
            for j in 0..2 {
                let eps_hat = (x_hat.row(i)[j] - d.row(i)[j]) / sigma[i];
                want += (eps.row(i)[j] - eps_hat).powi(2);
            }
        }
        close(got, want / 6.0, 2e-4);
    }
    // ε-parameterization: ε̂ is the raw output F itself.
    let model = Model::new(&net, Parameterization::Eps, &dev);
    let f = tensor_to_batch(model.output_at(&noisy(&x0, &sigma, &eps), &sigma));
    let want = f.lincomb(1.0, &eps, -1.0).squared_norm() / 6.0;
    close(
        scalar(l_simple_at(&model, &x0, &sched, &t, &eps)),
        want,
        1e-5,
    );
}

#[test]
fn x0_mse_uses_the_p1_weight_of_seed_003() {
    let dev = Device::flex();
    let net = tiny_net(2, 3, &dev);
    let sched = schedule(50);
    let (x0, eps, t) = (x0_fixed(), eps_fixed(), [1usize, 9, 49]);
    let sigma: Vec<f64> = t.iter().map(|&t| sched.sigma(t)).collect();
    let model = Model::new(&net, Parameterization::X0, &dev);
    let d = host_denoised(&model, &noisy(&x0, &sigma, &eps), &sigma);
    let sq: Vec<f64> = (0..3)
        .map(|i| {
            d.row(i)
                .iter()
                .zip(x0.row(i))
                .map(|(a, b)| (a - b).powi(2))
                .sum()
        })
        .collect();
    // (P1): λ(t) = ᾱ_{t−1}(1 − α_t)²/(2σ_q²(1 − ᾱ_t)²), σ_q² = (1 − α_t)(1 − ᾱ_{t−1})/(1 − ᾱ_t).
    let p1 = |t: usize| {
        let (a, ab, abp) = (sched.alpha(t), sched.alpha_bar(t), sched.alpha_bar(t - 1));
        let var_q = (1.0 - a) * (1.0 - abp) / (1.0 - ab);
        abp * (1.0 - a).powi(2) / (2.0 * var_q * (1.0 - ab).powi(2))
    };
    let weighted: f64 = (0..3).map(|i| p1(t[i]) * sq[i]).sum::<f64>() / 6.0;
    close(
        scalar(x0_mse_at(&model, &x0, &sched, &t, &eps, true)),
        weighted,
        2e-4,
    );
    close(
        scalar(x0_mse_at(&model, &x0, &sched, &t, &eps, false)),
        sq.iter().sum::<f64>() / 6.0,
        2e-4,
    );
    let w = vlb_weights_x0(&sched, ReverseVariance::FixedSmall);
    for t in [1, 2, 30, 49] {
        close(p1_weight(&sched, t), p1(t), 1e-12);
        close(w[t], p1(t), 1e-12);
    }
    let mut rng = seeded(4);
    assert!(x0_mse(&model, &x0, &schedule(1), true, &mut rng)
        .unwrap_err()
        .to_string()
        .contains("timesteps = 1"));
}

#[test]
fn ncsn_dsm_matches_the_host_formula() {
    let dev = Device::flex();
    let net = tiny_net(2, 5, &dev);
    let (x0, z, sigma) = (x0_fixed(), eps_fixed(), [10.0, 1.0, 0.1]);
    for param in PARAMS {
        let model = Model::new(&net, param, &dev);
        let x_tilde = noisy(&x0, &sigma, &z);
        let d = host_denoised(&model, &x_tilde, &sigma);
        let mut want = 0.0;
        for i in 0..3 {
            for j in 0..2 {
                let s = (d.row(i)[j] - x_tilde.row(i)[j]) / sigma[i].powi(2);
                let target = -(x_tilde.row(i)[j] - x0.row(i)[j]) / sigma[i].powi(2);
                want += 0.5 * sigma[i].powi(2) * (s - target).powi(2);
            }
        }
        close(
            scalar(ncsn_dsm_at(&model, &x0, &sigma, &z)),
            want / 3.0,
            2e-4,
        );
    }
    let ladder = geometric_ladder(0.01, 10.0, 4);
    let want = [10.0, 1.0, 0.1, 0.01];
    assert!(
        ladder
            .iter()
            .zip(want)
            .all(|(a, b)| (a - b).abs() < 1e-12 * b.max(1.0)),
        "{ladder:?}"
    );
}

#[test]
fn implicit_score_matching_matches_the_host_helper_on_the_same_network() {
    let dev = Device::flex();
    let net = tiny_net(2, 6, &dev);
    let mut rng = seeded(7);
    let x = Batch::standard_normal(5, 2, &mut rng);
    let sigma = 0.8;
    for (param, probe) in [
        (Parameterization::default(), Probe::Rademacher),
        (Parameterization::Eps, Probe::Gaussian),
    ] {
        let model = Model::new(&net, param, &dev);
        let probes = draw_probes(5, 2, 3, probe, &mut rng);
        let score = |y: &Batch| {
            let sig = vec![sigma; y.n()];
            host_denoised(&model, y, &sig).lincomb(1.0 / (sigma * sigma), y, -1.0 / (sigma * sigma))
        };
        let want = implicit_score_matching_host(score, &x, 0.05, &probes);
        close(
            scalar(implicit_score_matching_at(&model, &x, sigma, 0.05, &probes)),
            want,
            1e-3,
        );
    }
}

#[test]
fn fd_hutchinson_trace_of_a_linear_score_is_tr_a() {
    let a = [[1.5, 0.3, -0.2], [0.7, -2.0, 0.4], [0.1, -0.5, 0.8]];
    let linear = |x: &Batch| {
        let data = x
            .rows()
            .flat_map(|r| (0..3).map(move |i| (0..3).map(|j| a[i][j] * r[j]).sum::<f64>()))
            .collect();
        Batch::from_vec(x.n(), 3, data).unwrap()
    };
    let tr_a = 0.3;
    let mut rng = seeded(8);
    let x = Batch::standard_normal(4, 3, &mut rng);
    // Diagonal A with Rademacher probes: vᵀAv = tr A for every probe, exactly.
    let diag = |x: &Batch| {
        let data = x
            .rows()
            .flat_map(|r| (0..3).map(move |i| (i + 1) as f64 * r[i]))
            .collect();
        Batch::from_vec(x.n(), 3, data).unwrap()
    };
    for tr in fd_hutchinson_trace(diag, &x, 0.1, 1, Probe::Rademacher, &mut rng) {
        assert!((tr - 6.0).abs() < 1e-12, "{tr}");
    }
    // General A: unbiased; Var(vᵀAv) = Σ_{i<j}(A_ij + A_ji)² (Rademacher), 2‖(A + Aᵀ)/2‖²_F (Gaussian).
    let (var_rad, var_gauss) = (
        1.0f64 + 0.01 + 0.01,
        2.0 * (1.5f64.powi(2) + 4.0 + 0.64) + 1.02,
    );
    for (probe, var) in [(Probe::Rademacher, var_rad), (Probe::Gaussian, var_gauss)] {
        let k = 4000;
        let tr = fd_hutchinson_trace(linear, &x, 1e-2, k, probe, &mut rng);
        for t in tr {
            assert!(
                (t - tr_a).abs() < 5.0 * (var / k as f64).sqrt(),
                "{probe:?}: {t} vs {tr_a}"
            );
        }
    }
}

#[test]
fn true_score_beats_perturbed_scores_in_ism_and_dsm_on_a_gaussian() {
    // x0 ~ N(0, s²I); the noisy marginal at σ is N(0, (s² + σ²)I) with score −x/(s² + σ²).
    let mut rng = seeded(9);
    let (n, d, s2) = (4000, 3, 0.5f64);
    let x0 = Batch::standard_normal(n, d, &mut rng).scaled(s2.sqrt());
    for sigma in [0.1, 1.0, 3.0] {
        let v = s2 + sigma * sigma;
        let z = Batch::standard_normal(n, d, &mut rng);
        let x_noisy = x0.lincomb(1.0, &z, sigma);
        let probes = draw_probes(n, d, 2, Probe::Rademacher, &mut rng);
        let ism = |c: f64| {
            implicit_score_matching_host(|x: &Batch| x.scaled(-c), &x_noisy, 0.01, &probes)
        };
        let dsm = |c: f64| denoising_score_matching_host(|x: &Batch| x.scaled(-c), &x0, sigma, &z);
        for factor in [0.7, 1.3] {
            assert!(
                ism(1.0 / v) < ism(factor / v),
                "ISM σ = {sigma}, factor {factor}"
            );
            assert!(
                dsm(1.0 / v) < dsm(factor / v),
                "DSM σ = {sigma}, factor {factor}"
            );
        }
        // ISM of s = −cx is −cd + ½c²·mean‖x‖²: at c = 1/v ≈ −d/(2v).
        close(ism(1.0 / v), -(d as f64) / (2.0 * v), 0.05);
    }
}

#[test]
fn implicit_score_matching_trains_down_on_a_gaussian() {
    let dev = Device::flex().autodiff();
    let mut net = tiny_net(2, 10, &dev);
    let mut optim = AdamConfig::new().init();
    let x0 = Batch::standard_normal(64, 2, &mut seeded(11)).scaled(0.7);
    let eval = |net: &Net| {
        let model = Model::new(net, Parameterization::default(), &dev);
        scalar(implicit_score_matching(
            &model,
            &x0,
            0.5,
            0.05,
            2,
            Probe::Rademacher,
            &mut seeded(12),
        ))
    };
    let before = eval(&net);
    let mut rng = seeded(13);
    for _ in 0..30 {
        let loss = implicit_score_matching(
            &Model::new(&net, Parameterization::default(), &dev),
            &x0,
            0.5,
            0.05,
            2,
            Probe::Rademacher,
            &mut rng,
        );
        let grads = GradientsParams::from_grads(loss.backward(), &net);
        net = optim.step(1e-2, net, grads);
    }
    let after = eval(&net);
    assert!(before.is_finite() && after.is_finite());
    assert!(
        after < before - 0.05 * before.abs(),
        "before {before}, after {after}"
    );
}

#[test]
fn every_objective_gives_a_finite_differentiable_loss() {
    let dev = Device::flex().autodiff();
    let net = tiny_net(2, 14, &dev);
    let sched = schedule(20);
    let x0 = Batch::from_vec(4, 2, vec![-1.0, 1.0, 0.2, -0.6, 0.6, 0.2, 1.0, -0.2]).unwrap();
    let all = [
        Objective::Edm {
            p_mean: -1.2,
            p_std: 1.2,
        },
        Objective::LSimple,
        Objective::Vlb {
            variance: ReverseVariance::FixedLarge,
            parameterization: VlbMean::Eps,
            levels: Some(6),
        },
        Objective::Vlb {
            variance: ReverseVariance::FixedSmall,
            parameterization: VlbMean::Mu,
            levels: Some(6),
        },
        Objective::Hybrid {
            lambda: 0.001,
            variance: ReverseVariance::FixedSmall,
            levels: Some(6),
        },
        Objective::X0Mse { weighted: true },
        Objective::MuMse,
        Objective::Ncsn {
            sigma_min: 0.01,
            sigma_max: 10.0,
            levels: 10,
        },
        Objective::ImplicitSm {
            sigma: 0.5,
            fd_eps: 0.05,
            probes: 2,
            probe: Probe::Gaussian,
        },
    ];
    for objective in all {
        let loss = objective
            .loss(
                &net,
                &Parameterization::Eps,
                &x0,
                None,
                Some(&sched),
                &mut seeded(15),
                &dev,
            )
            .unwrap();
        let grads = GradientsParams::from_grads(loss.clone().backward(), &net);
        assert!(!grads.is_empty(), "{objective:?} has no gradient");
        assert!(scalar(loss).is_finite(), "{objective:?}");
    }
}

#[test]
fn objective_table_parses_validates_and_names_missing_schedules() {
    let parse = |s: &str| toml::from_str::<Objective>(s);
    assert_eq!(
        parse("kind = \"edm\"").unwrap(),
        Objective::Edm {
            p_mean: -1.2,
            p_std: 1.2
        }
    );
    assert_eq!(parse("kind = \"l_simple\"").unwrap(), Objective::LSimple);
    assert_eq!(
        parse("kind = \"vlb\"\nvariance = \"fixed_small\"\nparameterization = \"mu\"").unwrap(),
        Objective::Vlb {
            variance: ReverseVariance::FixedSmall,
            parameterization: VlbMean::Mu,
            levels: None
        }
    );
    assert_eq!(
        parse("kind = \"vlb\"\nparameterization = \"eps\"\nlevels = 17").unwrap(),
        Objective::Vlb {
            variance: ReverseVariance::FixedLarge,
            parameterization: VlbMean::Eps,
            levels: Some(17)
        }
    );
    assert_eq!(
        parse("kind = \"hybrid\"").unwrap(),
        Objective::Hybrid {
            lambda: 0.001,
            variance: ReverseVariance::FixedLarge,
            levels: None
        }
    );
    assert_eq!(parse("kind = \"mu_mse\"").unwrap(), Objective::MuMse);
    assert_eq!(
        parse("kind = \"x0_mse\"\nweighted = false").unwrap(),
        Objective::X0Mse { weighted: false }
    );
    assert!(parse("kind = \"implicit_sm\"\nsigma = 1.0\nfd_eps = 0.1\nprobes = 1").is_ok());
    assert!(parse("kind = \"edm\"\np_sd = 1.0").is_err());
    assert!(parse("kind = \"vlb\"\nvariance = \"fixed\"\nparameterization = \"eps\"").is_err());

    let bad = Objective::Ncsn {
        sigma_min: 5.0,
        sigma_max: 1.0,
        levels: 10,
    };
    assert_eq!(
        bad.validate().unwrap_err().to_string(),
        "sigma_min = 5 must be < sigma_max = 1"
    );
    let bad = Objective::ImplicitSm {
        sigma: 1.0,
        fd_eps: 0.0,
        probes: 1,
        probe: Probe::Rademacher,
    };
    assert_eq!(
        bad.validate().unwrap_err().to_string(),
        "fd_eps = 0 must be finite and > 0"
    );

    let dev = Device::flex();
    let net = tiny_net(2, 16, &dev);
    let err = Objective::X0Mse { weighted: true }
        .loss(
            &net,
            &Parameterization::X0,
            &x0_fixed(),
            None,
            None,
            &mut seeded(1),
            &dev,
        )
        .unwrap_err()
        .to_string();
    assert!(err.contains("x0_mse") && err.contains("schedule"), "{err}");
    let err = Objective::LSimple
        .loss(
            &net,
            &Parameterization::X0,
            &x0_fixed(),
            Some(&[1, 2]),
            Some(&schedule(5)),
            &mut seeded(1),
            &dev,
        )
        .unwrap_err()
        .to_string();
    assert!(err.contains("labels = 2"), "{err}");
}

#[test]
fn mu_mse_is_the_mse_between_the_posterior_mean_and_the_raw_output_on_x_t() {
    let dev = Device::flex();
    let net = tiny_net(2, 5, &dev);
    let sched = schedule(50);
    let (x0, eps, t) = (x0_fixed(), eps_fixed(), [0usize, 20, 49]);
    // The parameterization does not enter: the network predicts μ̃ directly.
    let model = Model::new(&net, Parameterization::Edm { sigma_data: 0.5 }, &dev);
    let got = scalar(mu_mse_at(&model, &x0, &sched, &t, &eps));
    let mut want = 0.0;
    for i in 0..3 {
        let (ab, sigma) = (sched.alpha_bar(t[i]), sched.sigma(t[i]));
        // x_t = √ᾱ·x0 + √(1 − ᾱ)·ε (Ho et al. eq. 4).
        let x_t: Vec<f64> = (0..2)
            .map(|j| ab.sqrt() * x0.row(i)[j] + (1.0 - ab).sqrt() * eps.row(i)[j])
            .collect();
        let input = Batch::from_vec(1, 2, x_t.clone()).unwrap();
        let f = tensor_to_batch(model.raw(&input, &[sigma.ln() / 4.0]));
        // μ̃ = √ᾱ_{t−1}β_t/(1 − ᾱ_t)·x0 + √α_t(1 − ᾱ_{t−1})/(1 − ᾱ_t)·x_t (eq. 7).
        let (ab_prev, beta) = (sched.alpha_bar_prev(t[i]), sched.beta(t[i]));
        for j in 0..2 {
            let mu = ab_prev.sqrt() * beta / (1.0 - ab) * x0.row(i)[j]
                + (1.0 - beta).sqrt() * (1.0 - ab_prev) / (1.0 - ab) * x_t[j];
            want += (mu - f.row(0)[j]).powi(2);
        }
    }
    close(got, want / 6.0, 1e-4);
    // At t = 0 (paper t = 1) μ̃ is x0 itself.
    let (c0, ct) = sched.posterior_mean_coefs(0);
    assert!((c0 - 1.0).abs() < 1e-12 && ct.abs() < 1e-12);
}

#[test]
fn mean_predicting_objectives_and_decoder_levels_from_the_data() {
    let vlb = |p: VlbMean, levels: Option<u32>| Objective::Vlb {
        variance: ReverseVariance::FixedLarge,
        parameterization: p,
        levels,
    };
    assert!(Objective::MuMse.predicts_mean());
    assert!(vlb(VlbMean::Mu, None).predicts_mean());
    assert!(!vlb(VlbMean::Eps, None).predicts_mean());
    assert!(!Objective::LSimple.predicts_mean());
    assert!(Objective::MuMse.needs_schedule());
    // Left out: the data's levels; stated: must agree with them.
    assert_eq!(
        vlb(VlbMean::Eps, None).resolve_levels(Some(17)).unwrap(),
        vlb(VlbMean::Eps, Some(17))
    );
    assert_eq!(
        vlb(VlbMean::Eps, Some(17))
            .resolve_levels(Some(256))
            .unwrap_err()
            .to_string(),
        "levels = 17 must be the data's gray levels (256), or left out"
    );
    assert_eq!(
        Objective::LSimple.resolve_levels(Some(17)).unwrap(),
        Objective::LSimple
    );
    // Continuous data and no levels: the bound cannot be evaluated.
    let dev = Device::flex().autodiff();
    let net = tiny_net(2, 6, &dev);
    let err = vlb(VlbMean::Eps, None)
        .resolve_levels(None)
        .unwrap()
        .loss(
            &net,
            &Parameterization::Eps,
            &x0_fixed(),
            None,
            Some(&schedule(10)),
            &mut seeded(1),
            &dev,
        )
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("levels") && err.contains("gray levels"),
        "{err}"
    );
}
