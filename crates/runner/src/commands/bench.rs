//! `dlab bench`: training-step benchmarks of the networks (burn, this build's backend),
//! metric benchmarks (Fréchet distance of Inception-sized features, the full Jacobian of the
//! benchmark MLP denoiser) and the FID Inception network's throughput, each beside the same
//! computation in PyTorch / numpy / scipy when `python3` with those packages is available
//! (`scripts/bench_torch.py`, `scripts/bench_metrics.py`, `scripts/bench_inception.py`,
//! same thread count).

use anyhow::Result;
use faer::linalg::matmul::matmul;
use faer::{Accum, Mat};
use metrics::jacobian::{denoiser_jacobians, JacobianMethod};
use models::bench::{median, MLP_SHAPE};
use models::denoiser::NetworkDenoiser;
use models::mlp::MlpConfig;
use models::net::Net;
use models::precond::Parameterization;
use samplers::rng::seeded;
use samplers::Batch;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

/// Feature sets of the Fréchet-distance bench: rows × dimension (Inception-v3 pool features
/// of a 10k-sample FID).
const FEATURES: (usize, usize) = (10_000, 2048);
/// Points at which the MLP's full Jacobian is computed, and their σ.
const JACOBIAN_POINTS: usize = 100;
const JACOBIAN_SIGMA: f64 = 0.5;

/// A group of benchmarks (`dlab bench --only`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Suite {
    /// Training steps of the MLP and the UNet.
    Training,
    /// Fréchet distance and the MLP's Jacobian.
    Metrics,
    /// The FID Inception network's features of a batch of images.
    Inception,
}

/// Runs the burn training benchmarks and the metric benchmarks (or the one suite asked
/// for), each followed by its Python reference, printing `name: value` lines and
/// `ratio_<name>` (ours / theirs).
pub fn bench(only: Option<Suite>) -> Result<()> {
    let threads = models::bench::burn_threads();
    println!("threads: {threads}");
    let runs = |suite| only.is_none_or(|o| o == suite);
    if runs(Suite::Training) {
        let training = models::bench::run_benchmarks();
        print_lines(&training);
        let script = Path::new("scripts/bench_torch.py");
        compare_with_python(script, "torch", threads, &training);
    }
    if runs(Suite::Metrics) {
        let metrics = metric_benchmarks();
        print_lines(&metrics);
        let script = Path::new("scripts/bench_metrics.py");
        compare_with_python(script, "python", threads, &metrics);
    }
    if runs(Suite::Inception) {
        let inception = inception_benchmarks();
        print_lines(&inception);
        let script = Path::new("scripts/bench_inception.py");
        compare_with_python(script, "torch", threads, &inception);
    }
    Ok(())
}

/// Images per batch of the Inception bench, and their size (CIFAR-10's: the resize to
/// 299×299 is part of the work, as in `dlab fid`).
const INCEPTION_BATCH: usize = 32;
const INCEPTION_IMAGE: [usize; 3] = [3, 32, 32];

/// `inception_32_ms`: the features of 32 RGB 32×32 images (resize, scaling, network;
/// median of 3, random weights: the same work as the fetched ones), and the images per
/// second that makes.
pub fn inception_benchmarks() -> Vec<(String, f64)> {
    let mut rng = seeded(0xbe_c8);
    let device = burn::tensor::Device::flex();
    let network = models::inception::FidInception::random(&mut rng, &device);
    let [c, h, w] = INCEPTION_IMAGE;
    let images: Vec<f32> = (0..INCEPTION_BATCH * c * h * w)
        .map(|i| (i * 37 % 256) as f32 / 255.0)
        .collect();
    let ms = median_ms(3, || {
        network.features(&images, INCEPTION_BATCH, c, h, w);
    });
    vec![
        (format!("inception_{INCEPTION_BATCH}_ms"), ms),
        (
            "inception_images_per_s".to_string(),
            INCEPTION_BATCH as f64 / ms * 1e3,
        ),
    ]
}

fn print_lines(lines: &[(String, f64)]) {
    for (name, value) in lines {
        println!("{name}: {value:.3}");
    }
}

/// `frechet_10k_2048_ms` (median of 3) and `mlp_jacobian_100_ms` /
/// `mlp_jacobian_100_fd_ms` (median of 5, reverse-mode autodiff / central differences).
pub fn metric_benchmarks() -> Vec<(String, f64)> {
    let (a, b) = feature_sets(FEATURES.0, FEATURES.1);
    let frechet = median_ms(3, || {
        metrics::frechet_distance(&a, &b).expect("finite features");
    });
    drop((a, b));
    let denoiser = bench_mlp_denoiser();
    let points = Batch::standard_normal(JACOBIAN_POINTS, MLP_SHAPE.0, &mut seeded(0xbe_c7));
    let jacobians = |method| {
        denoiser_jacobians(
            &denoiser,
            &points,
            JACOBIAN_SIGMA,
            0.02 * JACOBIAN_SIGMA,
            method,
        )
        .expect("valid points")
    };
    let autodiff = median_ms(5, || assert!(jacobians(JacobianMethod::Auto).1));
    let finite = median_ms(5, || {
        jacobians(JacobianMethod::FiniteDifference);
    });
    vec![
        ("frechet_10k_2048_ms".to_string(), frechet),
        ("mlp_jacobian_100_ms".to_string(), autodiff),
        ("mlp_jacobian_100_fd_ms".to_string(), finite),
    ]
}

/// Two correlated feature sets, rows `z·M` and `z·M + 0.1` with z ~ N(0, I) and a random
/// mixing `M/√d` (as scripts/bench_metrics.py).
fn feature_sets(n: usize, d: usize) -> (Batch, Batch) {
    let mut rng = seeded(0xbe_c6);
    let mix = Batch::standard_normal(d, d, &mut rng).scaled(1.0 / (d as f64).sqrt());
    let mut mixed = |shift: f64| {
        let z = Batch::standard_normal(n, d, &mut rng);
        let mut out = Mat::<f64>::zeros(n, d);
        matmul(
            out.as_mut(),
            Accum::Replace,
            faer::MatRef::from_row_major_slice(z.as_slice(), n, d),
            faer::MatRef::from_row_major_slice(mix.as_slice(), d, d),
            1.0,
            faer::get_global_parallelism(),
        );
        let values = (0..n)
            .flat_map(|i| (0..d).map(move |j| (i, j)))
            .map(|(i, j)| out[(i, j)] + shift)
            .collect();
        Batch::from_vec(n, d, values).expect("n × d values")
    };
    let a = mixed(0.0);
    let b = mixed(0.1);
    (a, b)
}

/// The benchmark MLP of `models::bench` (d = 64, width 512, 4 residual blocks) as an
/// EDM-preconditioned denoiser on the plain Flex device.
fn bench_mlp_denoiser() -> NetworkDenoiser {
    let (dim, width, depth, emb_dim) = MLP_SHAPE;
    let device = burn::tensor::Device::flex();
    let mlp = MlpConfig::new(dim, width, depth, emb_dim)
        .expect("valid bench shape")
        .init(&mut seeded(0xbe_c4), &device);
    NetworkDenoiser::new(Net::Mlp(mlp), Parameterization::default(), dim, device)
}

/// Median wall time of `repeats` runs of `f` after one warm-up run, in milliseconds.
fn median_ms(repeats: usize, mut f: impl FnMut()) -> f64 {
    f();
    let mut times: Vec<f64> = (0..repeats)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    median(&mut times)
}

/// Runs `python3 script --threads N` (skipped with a note when it cannot) and prints its
/// lines as `<prefix>_<name>` with `ratio_<name>` = ours / theirs for the names we measured.
fn compare_with_python(script: &Path, prefix: &str, threads: usize, ours: &[(String, f64)]) {
    if !script.exists() {
        println!(
            "(Python reference skipped: run from the repository root to find {})",
            script.display()
        );
        return;
    }
    let output = Command::new("python3")
        .arg(script)
        .arg("--threads")
        .arg(threads.to_string())
        .output();
    let Some(output) = output.ok().filter(|o| o.status.success()) else {
        println!(
            "(Python reference skipped: `python3 {}` failed; pip install torch numpy scipy to compare)",
            script.display()
        );
        return;
    };
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let Ok(theirs) = value.trim().parse::<f64>() else {
            continue;
        };
        let name = name.trim();
        println!("{prefix}_{name}: {theirs:.3}");
        if let Some((_, ours)) = ours.iter().find(|(n, _)| n == name) {
            println!("ratio_{name}: {:.2}", ours / theirs);
        }
    }
}
