//! The training loop end to end: learning a 2-D Gaussian mixture's denoiser, exact resume
//! from a checkpoint, reproducibility, and the stop on a non-finite loss.

use analytic::{Distribution, GaussianMixture};
use burn::module::Module;
use burn::tensor::{Device, Tensor};
use models::denoiser::NetworkDenoiser;
use models::mlp::MlpConfig;
use models::net::Net;
use models::precond::Parameterization;
use models::tensor::{batch_to_tensor, vec_to_tensor};
use models::train::{fit, Checkpoints, TrainConfig};
use models::ModelError;
use rand::Rng;
use samplers::rng::{seeded, HostRng};
use samplers::{score_from_denoised, Batch, Denoiser};

fn mixture() -> GaussianMixture {
    let means = vec![vec![-2.0, 0.0], vec![2.0, 1.0], vec![0.0, -2.0]];
    let cov = vec![0.15, 0.05, 0.05, 0.1];
    GaussianMixture::new(
        vec![0.3, 0.3, 0.4],
        means,
        vec![cov.clone(), cov.clone(), cov],
    )
    .unwrap()
}

/// EDM loss (Karras et al. 2022): ln σ ~ N(−1.2, 1.2²), λ(σ)‖D − x0‖² with
/// λ = (σ² + σ_d²)/(σσ_d)², D = c_skip·x̂ + c_out·F(c_in·x̂, c_noise).
fn edm_loss(
    net: &Net,
    x0: &Batch,
    _labels: Option<&[u32]>,
    rng: &mut HostRng,
) -> Result<Tensor<1>, ModelError> {
    let param = Parameterization::default();
    let device = Device::flex().autodiff();
    let n = x0.n();
    let sigmas: Vec<f64> = (0..n)
        .map(|_| {
            let z: f64 = rng.sample(rand_distr_normal());
            (-1.2 + 1.2 * z).exp()
        })
        .collect();
    let eps = Batch::standard_normal(n, x0.dim(), rng);
    let mut x_hat = x0.clone();
    let (mut c_in, mut c_skip, mut c_out, mut c_noise, mut weight) =
        (vec![], vec![], vec![], vec![], vec![]);
    for (i, &s) in sigmas.iter().enumerate() {
        x_hat
            .row_mut(i)
            .iter_mut()
            .zip(eps.row(i))
            .for_each(|(x, e)| *x += s * e);
        let p = param.precond(s);
        c_in.push(p.c_in);
        c_skip.push(p.c_skip);
        c_out.push(p.c_out);
        c_noise.push(p.c_noise);
        weight.push((s * s + 0.25) / (s * 0.5).powi(2));
    }
    let col = |v: &[f64]| vec_to_tensor(v, &device).unsqueeze_dim::<2>(1);
    let x = batch_to_tensor(&x_hat, &device);
    let f = net.forward(
        x.clone() * col(&c_in),
        vec_to_tensor(&c_noise, &device),
        None,
    );
    let d = x * col(&c_skip) + f * col(&c_out);
    Ok(((d - batch_to_tensor(x0, &device)).square() * col(&weight)).mean())
}

fn rand_distr_normal() -> impl rand::distr::Distribution<f64> {
    struct Normal;
    impl rand::distr::Distribution<f64> for Normal {
        fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> f64 {
            Batch::standard_normal(1, 1, rng).as_slice()[0]
        }
    }
    Normal
}

fn config(steps: usize) -> TrainConfig {
    TrainConfig {
        steps,
        batch_size: 256,
        lr: 3e-3,
        warmup: 20,
        ema_decay: 0.99,
        log_every: 1,
        ..TrainConfig::default()
    }
}

fn net(seed: u64) -> Net {
    Net::Mlp(
        MlpConfig::new(2, 64, 2, 16)
            .unwrap()
            .init(&mut seeded(seed), &Device::flex().autodiff()),
    )
}

#[test]
fn a_small_mlp_learns_the_mixture_denoiser() {
    let gmm = mixture();
    let data = gmm.sample(4000, &mut seeded(1));
    let trained = fit(
        net(2),
        &data,
        None,
        None,
        &config(600),
        &edm_loss,
        3,
        None,
        &mut |_| {},
    )
    .unwrap();
    let model = NetworkDenoiser::new(
        trained.ema.valid(),
        Parameterization::default(),
        2,
        Device::flex(),
    );
    // Score explained variance at σ = 1 on probes = data + σ·noise (Wang & Vastola's tables).
    let sigma = 1.0;
    let probes = gmm.sample(2000, &mut seeded(4)).lincomb(
        1.0,
        &Batch::standard_normal(2000, 2, &mut seeded(5)),
        sigma,
    );
    let s_net = score_from_denoised(&probes, &model.denoise(&probes, sigma), sigma);
    let s_ref = gmm.score(&probes, sigma);
    let ev = 1.0 - (&s_net - &s_ref).squared_norm() / s_ref.squared_norm();
    assert!(ev >= 0.9, "score explained variance {ev}");
}

#[test]
fn resuming_from_a_checkpoint_continues_exactly() {
    let data = mixture().sample(500, &mut seeded(6));
    let bits = |c: &[models::train::CurvePoint]| {
        c.iter()
            .map(|p| (p.step, p.loss.to_bits()))
            .collect::<Vec<_>>()
    };
    let straight = fit(
        net(7),
        &data,
        None,
        None,
        &config(12),
        &edm_loss,
        8,
        None,
        &mut |_| {},
    )
    .unwrap();
    let again = fit(
        net(7),
        &data,
        None,
        None,
        &config(12),
        &edm_loss,
        8,
        None,
        &mut |_| {},
    )
    .unwrap();
    assert_eq!(
        bits(&straight.curve),
        bits(&again.curve),
        "same seed, same loss curve"
    );

    let dir = std::env::temp_dir().join(format!("models-resume-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let first = fit(
        net(7),
        &data,
        None,
        None,
        &config(6),
        &edm_loss,
        8,
        Some(Checkpoints { dir: &dir }),
        &mut |_| {},
    )
    .unwrap();
    assert_eq!(first.curve.len(), 6);
    // A writer killed mid-checkpoint leaves a temporary directory: ignored and removed.
    std::fs::create_dir_all(dir.join(".checkpoint.tmp-1-0")).unwrap();
    let mut resumed_from = None;
    let resumed = fit(
        net(7),
        &data,
        None,
        None,
        &config(12),
        &edm_loss,
        8,
        Some(Checkpoints { dir: &dir }),
        &mut |p| {
            resumed_from.get_or_insert(p.step);
        },
    )
    .unwrap();
    assert_eq!(
        resumed_from,
        Some(7),
        "the second run starts after the checkpoint"
    );
    assert_eq!(bits(&resumed.curve), bits(&straight.curve));
    let mut left: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(
        left,
        ["checkpoint-0000000012"],
        "one complete checkpoint stays"
    );
    let x = Batch::standard_normal(5, 2, &mut seeded(9));
    let a = NetworkDenoiser::new(
        resumed.ema.valid(),
        Parameterization::default(),
        2,
        Device::flex(),
    )
    .denoise(&x, 0.5);
    let b = NetworkDenoiser::new(
        straight.ema.valid(),
        Parameterization::default(),
        2,
        Device::flex(),
    )
    .denoise(&x, 0.5);
    assert_eq!(a, b, "the resumed EMA equals the uninterrupted one");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_non_finite_loss_stops_training_naming_the_step() {
    let data = mixture().sample(100, &mut seeded(10));
    let calls = std::cell::Cell::new(0);
    let poisoned = |net: &Net, x0: &Batch, l: Option<&[u32]>, rng: &mut HostRng| {
        calls.set(calls.get() + 1);
        let loss = edm_loss(net, x0, l, rng)?;
        Ok(if calls.get() == 4 {
            loss * f32::NAN
        } else {
            loss
        })
    };
    let err = fit(
        net(11),
        &data,
        None,
        None,
        &config(10),
        &poisoned,
        1,
        None,
        &mut |_| {},
    )
    .err()
    .expect("must diverge");
    match err {
        ModelError::Diverged {
            step, last_finite, ..
        } => {
            assert_eq!(step, 3);
            assert!(last_finite.is_finite());
        }
        other => panic!("{other}"),
    }
    let bad = TrainConfig {
        lr: -1.0,
        ..config(5)
    };
    let err = fit(
        net(11),
        &data,
        None,
        None,
        &bad,
        &edm_loss,
        1,
        None,
        &mut |_| {},
    )
    .err()
    .unwrap()
    .to_string();
    assert_eq!(err, "train.lr = -1 must be > 0");
}
