//! Tests of the bound: KL, weights, decoder, prior and terms against closed forms.
#![allow(clippy::needless_range_loop)] // several arrays indexed by the same row

use burn::tensor::{Device, Tensor};
use samplers::rng::seeded;
use samplers::Batch;

use super::*;
use crate::objectives::{noisy, Model};
use crate::precond::Parameterization;
use crate::tensor::{batch_to_tensor, tensor_to_batch};
use schedules::ddpm::bound::{normal_kl, prior_kl};

fn schedule(t: usize) -> DdpmSchedule {
    DdpmSchedule::new(
        schedules::BetaSchedule::Linear {
            beta_start: 1e-4,
            beta_end: 0.02,
        },
        t,
    )
    .unwrap()
}

fn col(values: &[f64], dev: &Device) -> Tensor<2> {
    crate::tensor::vec_to_tensor(values, dev).unsqueeze_dim::<2>(1)
}

fn read(t: Tensor<2>) -> Vec<f64> {
    tensor_to_batch(t).into_vec()
}

fn tiny_net(seed: u64, dev: &Device) -> crate::net::Net {
    crate::net::Net::Mlp(
        crate::mlp::MlpConfig::new(2, 16, 1, 8)
            .unwrap()
            .init(&mut seeded(seed), dev),
    )
}

/// log Φ by the reference's tanh approximation, in f64.
fn phi(x: f64) -> f64 {
    0.5 * (1.0 + ((2.0 / std::f64::consts::PI).sqrt() * (x + 0.044715 * x.powi(3))).tanh())
}

#[test]
fn gaussian_kl_matches_the_closed_form_and_broadcasts_log_variances() {
    let dev = Device::flex();
    let m1 = Batch::from_vec(2, 2, vec![0.0, 1.0, -0.5, 2.0]).unwrap();
    let m2 = Batch::from_vec(2, 2, vec![0.3, 1.0, 0.5, -1.0]).unwrap();
    let (lv1, lv2) = ([0.0, -2.0], [0.5, -1.0]);
    let got = read(gaussian_kl(
        batch_to_tensor(&m1, &dev),
        col(&lv1, &dev),
        batch_to_tensor(&m2, &dev),
        col(&lv2, &dev),
    ));
    for k in 0..4 {
        let (i, a, b) = (k / 2, m1.as_slice()[k], m2.as_slice()[k]);
        // KL(N(a, s1²) ‖ N(b, s2²)) = ln(s2/s1) + (s1² + (a − b)²)/(2s2²) − ½
        let (v1, v2) = (lv1[i].exp(), lv2[i].exp());
        let want = 0.5 * (v2 / v1).ln() + (v1 + (a - b).powi(2)) / (2.0 * v2) - 0.5;
        assert!((got[k] - want).abs() < 1e-6, "{k}: {} vs {want}", got[k]);
        assert!((normal_kl(a, lv1[i], b, lv2[i]) - want).abs() < 1e-14);
    }
}

#[test]
fn vlb_weights_reproduce_the_kl_between_posterior_and_model_gaussians() {
    let sched = schedule(50);
    let mut rng = seeded(1);
    let d = 4;
    for variance in [ReverseVariance::FixedLarge, ReverseVariance::FixedSmall] {
        let (w_eps, w_x0) = (
            vlb_weights(&sched, variance),
            vlb_weights_x0(&sched, variance),
        );
        let kind = variance;
        for t in [1usize, 5, 25, 49] {
            let x0 = Batch::standard_normal(1, d, &mut rng);
            let eps = Batch::standard_normal(1, d, &mut rng);
            let eps_hat = Batch::standard_normal(1, d, &mut rng);
            let sigma = sched.sigma(t);
            let x_hat = x0.lincomb(1.0, &eps, sigma);
            let x_t = x_hat.scaled(sched.s(t));
            let x0_hat = x_hat.lincomb(1.0, &eps_hat, -sigma); // D from the ε̂
            let (c0, ct) = sched.posterior_mean_coefs(t);
            let (lv_q, lv_p) = (
                sched.posterior_variance(t).ln(),
                sched.likelihood_log_variance(t, kind),
            );
            let kl: f64 = (0..d)
                .map(|j| {
                    let mu_q = c0 * x0.as_slice()[j] + ct * x_t.as_slice()[j];
                    let mu_p = c0 * x0_hat.as_slice()[j] + ct * x_t.as_slice()[j];
                    normal_kl(mu_q, lv_q, mu_p, lv_p)
                })
                .sum();
            let c = d as f64 * vlb_constant(&sched, variance, t);
            let by_eps = w_eps[t] * eps.lincomb(1.0, &eps_hat, -1.0).squared_norm() + c;
            let by_x0 = w_x0[t] * x0.lincomb(1.0, &x0_hat, -1.0).squared_norm() + c;
            assert!(
                (by_eps - kl).abs() < 1e-9 * kl.abs().max(1.0),
                "{variance:?} t={t}: {by_eps} vs {kl}"
            );
            assert!(
                (by_x0 - kl).abs() < 1e-9 * kl.abs().max(1.0),
                "{variance:?} t={t}: {by_x0} vs {kl}"
            );
            // Ho et al. eq. 12 written out: β²/(2σ_t²α(1 − ᾱ)).
            let eq12 = sched.beta(t).powi(2)
                / (2.0 * lv_p.exp() * sched.alpha(t) * (1.0 - sched.alpha_bar(t)));
            assert!((w_eps[t] - eq12).abs() < 1e-12 * eq12);
        }
    }
    assert!(vlb_constant(&sched, ReverseVariance::FixedSmall, 7).abs() < 1e-12);
    assert!(vlb_constant(&sched, ReverseVariance::FixedLarge, 7) > 1e-3);
}

#[test]
fn decoder_nll_is_zero_for_sharp_exact_predictions_and_the_bin_mass_by_hand() {
    let dev = Device::flex();
    // 6 gray levels on [−1, 1]: −1, −0.6, −0.2, 0.2, 0.6, 1; half-width 0.2.
    let x = Batch::from_vec(1, 6, vec![-1.0, -0.6, -0.2, 0.2, 0.6, 1.0]).unwrap();
    let xt = batch_to_tensor(&x, &dev);
    let sharp = read(discretized_gaussian_log_likelihood(
        xt.clone(),
        xt.clone(),
        col(&[(1e-4f64).ln()], &dev),
        6,
    ));
    assert!(sharp.iter().all(|l| l.abs() < 1e-6), "{sharp:?}");

    let mean = Batch::repeat_row(&[0.1], 1).as_slice().repeat(6);
    let mean = Batch::from_vec(1, 6, mean).unwrap();
    let s = 0.3f64;
    let got = read(discretized_gaussian_log_likelihood(
        xt,
        batch_to_tensor(&mean, &dev),
        col(&[s.ln()], &dev),
        6,
    ));
    let want_interior = (phi((0.2 - 0.1 + 0.2) / s) - phi((0.2 - 0.1 - 0.2) / s)).ln();
    let want_first = phi((-1.0 - 0.1 + 0.2) / s).ln();
    let want_last = (1.0 - phi((1.0 - 0.1 - 0.2) / s)).ln();
    assert!(
        (got[3] - want_interior).abs() < 1e-5,
        "{} vs {want_interior}",
        got[3]
    );
    assert!(
        (got[0] - want_first).abs() < 1e-4,
        "{} vs {want_first}",
        got[0]
    );
    assert!(
        (got[5] - want_last).abs() < 1e-4,
        "{} vs {want_last}",
        got[5]
    );
    // The tanh approximation is within 1e-3 of Φ(1) = 0.8413447.
    assert!((phi(1.0) - 0.841_344_746).abs() < 1e-3);
}

#[test]
fn prior_kl_matches_the_closed_form() {
    let sched = schedule(30);
    let ab = sched.alpha_bar(29);
    let x0 = Batch::from_vec(2, 2, vec![1.0, -0.5, 0.0, 0.25]).unwrap();
    let got: Vec<f64> = x0.rows().map(|r| prior_kl(r, ab)).collect();
    for (i, row) in x0.rows().enumerate() {
        // KL(N(√ᾱx, 1 − ᾱ) ‖ N(0, 1)) = ½(ᾱx² − ᾱ − ln(1 − ᾱ)) per coordinate.
        let want: f64 = row
            .iter()
            .map(|x| 0.5 * (ab * x * x - ab - (1.0 - ab).ln()))
            .sum();
        assert!((got[i] - want).abs() < 1e-12, "{} vs {want}", got[i]);
    }
}

#[test]
fn vlb_terms_match_a_host_evaluation_of_the_same_network_outputs() {
    let dev = Device::flex();
    let net = tiny_net(3, &dev);
    let sched = schedule(50);
    let x0 = Batch::from_vec(3, 2, vec![-1.0, 0.6, 0.2, -0.2, 1.0, -0.6]).unwrap();
    let eps = Batch::standard_normal(3, 2, &mut seeded(4));
    let t = [0usize, 5, 49];
    let sigma: Vec<f64> = t.iter().map(|&t| sched.sigma(t)).collect();
    let x_hat = noisy(&x0, &sigma, &eps);
    for (mean, param) in [
        (VlbMean::Eps, Parameterization::Eps),
        (VlbMean::X0, Parameterization::default()),
        (VlbMean::Mu, Parameterization::Eps),
    ] {
        for variance in [ReverseVariance::FixedLarge, ReverseVariance::FixedSmall] {
            let model = Model::new(&net, param, &dev);
            let got: Vec<f32> = vlb_terms_at(&model, mean, &x0, &sched, variance, 6, &t, &eps)
                .try_into_vec_as::<f32>()
                .unwrap();
            for i in 0..3 {
                let (ti, xh) = (t[i], Batch::from_vec(1, 2, x_hat.row(i).to_vec()).unwrap());
                let x_t = xh.scaled(sched.s(ti));
                let mu_theta = if mean == VlbMean::Mu {
                    tensor_to_batch(model.raw(&x_t, &[crate::precond::c_noise(sigma[i])]))
                } else {
                    let f = tensor_to_batch(model.output_at(&xh, &[sigma[i]]));
                    let d = param.denoised(&xh, &f, sigma[i]);
                    let (c0, ct) = sched.posterior_mean_coefs(ti);
                    d.lincomb(c0, &x_t, ct)
                };
                let lv_p = sched.likelihood_log_variance(ti, variance);
                let want: f64 = if ti == 0 {
                    let s = (0.5 * lv_p).exp();
                    (0..2)
                        .map(|j| {
                            let (x, m) = (x0.row(i)[j], mu_theta.as_slice()[j]);
                            let p = if x < -0.9 {
                                phi((x - m + 0.2) / s)
                            } else if x > 0.9 {
                                1.0 - phi((x - m - 0.2) / s)
                            } else {
                                phi((x - m + 0.2) / s) - phi((x - m - 0.2) / s)
                            };
                            -p.max(1e-12).ln()
                        })
                        .sum()
                } else {
                    let (c0, ct) = sched.posterior_mean_coefs(ti);
                    let mu_q = Batch::from_vec(1, 2, x0.row(i).to_vec())
                        .unwrap()
                        .lincomb(c0, &x_t, ct);
                    (0..2)
                        .map(|j| {
                            normal_kl(
                                mu_q.as_slice()[j],
                                sched.posterior_variance(ti).ln(),
                                mu_theta.as_slice()[j],
                                lv_p,
                            )
                        })
                        .sum()
                };
                let g = f64::from(got[i]);
                assert!(
                    (g - want).abs() < 2e-3 * want.abs().max(1.0),
                    "{mean:?} {variance:?} t={ti}: {g} vs {want}"
                );
            }
        }
    }
}

#[test]
fn the_tensor_decoder_is_the_f64_decoder_up_to_the_tanh_cdf() {
    // The training decoder (tensors, Ho et al.'s tanh Φ) against the evaluation's f64
    // decoder (erfc Φ) on every bin of an L = 6 grid: the tanh Φ is within 1e-3 of Φ.
    let dev = Device::flex();
    let levels = 6u32;
    let half = 1.0 / (f64::from(levels) - 1.0);
    let xs: Vec<f64> = (0..levels)
        .map(|k| -1.0 + 2.0 * half * f64::from(k))
        .collect();
    let n = xs.len();
    let x = Batch::from_vec(n, 1, xs.clone()).unwrap();
    let mean = Batch::from_vec(n, 1, vec![0.1; n]).unwrap();
    let got = read(discretized_gaussian_log_likelihood(
        batch_to_tensor(&x, &dev),
        batch_to_tensor(&mean, &dev),
        col(&vec![-0.7; n], &dev),
        levels,
    ));
    for (k, &xk) in xs.iter().enumerate() {
        let want = schedules::ddpm::bound::discretized_gaussian_log_likelihood(xk, 0.1, -0.7, half);
        let (p_got, p_want) = (got[k].exp(), want.exp());
        assert!(
            (p_got - p_want).abs() < 2e-3,
            "bin {k}: {p_got} vs {p_want}"
        );
    }
}

#[test]
fn the_sampled_loss_is_t_times_a_term() {
    let dev = Device::flex();
    let net = tiny_net(5, &dev);
    let sched = schedule(8);
    let model = Model::new(&net, Parameterization::Eps, &dev);
    let x0 = Batch::from_vec(2, 2, vec![-1.0, 0.6, 0.2, 1.0]).unwrap();
    // Same draws: vlb_loss_at at t = 3 for every row is T·term/(d ln 2).
    let mut rng = seeded(7);
    let eps = Batch::standard_normal(2, 2, &mut rng);
    let term = vlb_terms_at(
        &model,
        VlbMean::Eps,
        &x0,
        &sched,
        ReverseVariance::FixedLarge,
        6,
        &[3, 3],
        &eps,
    )
    .mean()
    .into_scalar::<f32>();
    let loss = vlb_loss_at(
        &model,
        VlbMean::Eps,
        &x0,
        &sched,
        ReverseVariance::FixedLarge,
        6,
        &[3, 3],
        &eps,
    )
    .into_scalar::<f32>();
    assert!(
        (f64::from(loss) - 8.0 * f64::from(term) / (2.0 * std::f64::consts::LN_2)).abs()
            < 1e-4 * f64::from(loss).abs().max(1.0)
    );
}
