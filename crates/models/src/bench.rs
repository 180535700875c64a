//! Training-step micro-benchmarks behind `dlab bench`: the median wall time of one step
//! (forward, MSE loss, backward, Adam update) on `Device::flex().autodiff()`, after warm-up.
//!
//! `scripts/bench_torch.py` times the same networks in PyTorch and prints the same
//! `name_ms: value` lines, so the two can be compared in one session on one machine.
//! Besides the full step, each bench reports its three phases (forward + loss, backward,
//! Adam step) — burn's Flex backend is eager and synchronous, so each phase's wall time is
//! its own cost. The last line, `threads`, is the thread count burn's kernels run on.

use std::time::Instant;

use burn::module::Module;
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::{Device, Tensor};
use samplers::rng::seeded;

use crate::mlp::{Mlp, MlpConfig};
use crate::train::{mse, TrainBatch};
use crate::unet::UNetConfig;

/// The benchmarked MLP: data dimension 64, width 512, 4 residual blocks (2 Linear each),
/// noise embedding of size 64.
pub const MLP_SHAPE: (usize, usize, usize, usize) = (64, 512, 4, 64);
/// Examples per MLP training step.
pub const MLP_BATCH: usize = 256;
/// Examples (8×8×1 images) per UNet training step.
pub const UNET_BATCH: usize = 128;
/// Adam learning rate used by every bench (its value does not affect the timing).
const LR: f64 = 1e-3;

/// How many steps a bench runs: `warmup` untimed, then `steps` timed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BenchSteps {
    pub warmup: usize,
    pub steps: usize,
}

impl Default for BenchSteps {
    fn default() -> Self {
        Self {
            warmup: 5,
            steps: 30,
        }
    }
}

/// Every bench with the default step counts, as `(name, milliseconds)` lines. Prints nothing.
pub fn run_benchmarks() -> Vec<(String, f64)> {
    run_benchmarks_with(BenchSteps::default())
}

/// Every bench with the given step counts.
pub fn run_benchmarks_with(steps: BenchSteps) -> Vec<(String, f64)> {
    let mut lines = mlp_bench(steps);
    lines.extend(unet_bench(steps));
    lines.push(("threads".to_string(), burn_threads() as f64));
    lines
}

/// Worker threads burn's Flex kernels use: burn is built with its `rayon` feature (workspace
/// Cargo.toml), so rayon's global pool — `RAYON_NUM_THREADS` when set, else the machine's
/// available parallelism. Compare with PyTorch at `torch.set_num_threads` of this value.
pub fn burn_threads() -> usize {
    let machine = || std::thread::available_parallelism().map_or(1, |n| n.get());
    std::env::var("RAYON_NUM_THREADS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|&n| n > 0)
        .unwrap_or_else(machine)
}

/// Median of `samples` (sorted in place); NaN when empty.
pub fn median(samples: &mut [f64]) -> f64 {
    if samples.is_empty() {
        return f64::NAN;
    }
    samples.sort_by(f64::total_cmp);
    let m = samples.len() / 2;
    if samples.len() % 2 == 1 {
        samples[m]
    } else {
        0.5 * (samples[m - 1] + samples[m])
    }
}

/// MLP training step on a fixed batch: `mlp_train_step_ms` plus its phases
/// `mlp_forward_ms` (forward + MSE), `mlp_backward_ms` (backward + gradient collection) and
/// `mlp_adam_ms` (optimizer update), each a median over the timed steps.
pub fn mlp_bench(steps: BenchSteps) -> Vec<(String, f64)> {
    mlp_bench_with("mlp", steps, |m, x, c| m.forward(x, c))
}

/// [`mlp_bench`] with another forward pass (same parameters), its lines prefixed `prefix`.
pub fn mlp_bench_with(
    prefix: &str,
    steps: BenchSteps,
    forward: impl Fn(&Mlp, Tensor<2>, Tensor<1>) -> Tensor<2>,
) -> Vec<(String, f64)> {
    let device = Device::flex().autodiff();
    let mut rng = seeded(0xbe_c4);
    let (dim, width, depth, emb_dim) = MLP_SHAPE;
    let cfg = MlpConfig::new(dim, width, depth, emb_dim).expect("valid bench shape");
    let model = cfg.init(&mut rng, &device);
    let batch = TrainBatch::random_denoising(MLP_BATCH, dim, &mut rng, &device);
    time_train_steps(prefix, steps, model, |m| {
        mse(
            forward(m, batch.x.clone(), batch.c_noise.clone()),
            batch.target.clone(),
        )
    })
}

/// UNet training step (`UNetConfig::new(1, 8, 8)`: base 32, mults [1, 2], one block per
/// level, attention at 4×4) on a fixed batch of [`UNET_BATCH`] 8×8×1 images: `unet_*` lines
/// as for the MLP.
pub fn unet_bench(steps: BenchSteps) -> Vec<(String, f64)> {
    let device = Device::flex().autodiff();
    let mut rng = seeded(0xbe_c5);
    let cfg = UNetConfig::new(1, 8, 8);
    let model = cfg.init(&mut rng, &device).expect("valid bench shape");
    let batch = TrainBatch::random_denoising(UNET_BATCH, cfg.dim(), &mut rng, &device);
    time_train_steps("unet", steps, model, |m| {
        mse(
            m.forward(batch.x.clone(), batch.c_noise.clone(), None),
            batch.target.clone(),
        )
    })
}

/// Runs `steps.warmup + steps.steps` Adam steps on `loss(model)` and returns the medians of the
/// timed steps: `{prefix}_train_step_ms`, `{prefix}_forward_ms` (loss evaluation),
/// `{prefix}_backward_ms` (backward, gradient collection, reading the loss) and
/// `{prefix}_adam_ms` (the update).
fn time_train_steps<M: Module>(
    prefix: &str,
    steps: BenchSteps,
    mut model: M,
    loss: impl Fn(&M) -> Tensor<1>,
) -> Vec<(String, f64)> {
    let mut optim = AdamConfig::new().init();
    let (mut total, mut fwd, mut bwd, mut adam) = (vec![], vec![], vec![], vec![]);
    for i in 0..steps.warmup + steps.steps {
        let t0 = Instant::now();
        let value = loss(&model);
        let t1 = Instant::now();
        let grads = GradientsParams::from_grads(value.backward(), &model);
        let _ = value.into_scalar::<f32>();
        let t2 = Instant::now();
        model = optim.step(LR, model, grads);
        let t3 = Instant::now();
        if i >= steps.warmup {
            let ms = |a: Instant, b: Instant| (b - a).as_secs_f64() * 1e3;
            total.push(ms(t0, t3));
            fwd.push(ms(t0, t1));
            bwd.push(ms(t1, t2));
            adam.push(ms(t2, t3));
        }
    }
    vec![
        (format!("{prefix}_train_step_ms"), median(&mut total)),
        (format!("{prefix}_forward_ms"), median(&mut fwd)),
        (format!("{prefix}_backward_ms"), median(&mut bwd)),
        (format!("{prefix}_adam_ms"), median(&mut adam)),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even_samples() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&mut [4.0, 1.0, 3.0, 2.0]), 2.5);
        assert!(median(&mut []).is_nan());
    }

    #[test]
    fn every_bench_runs_two_steps() {
        let lines = run_benchmarks_with(BenchSteps {
            warmup: 0,
            steps: 2,
        });
        let names: Vec<&str> = lines.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "mlp_train_step_ms",
                "mlp_forward_ms",
                "mlp_backward_ms",
                "mlp_adam_ms",
                "unet_train_step_ms",
                "unet_forward_ms",
                "unet_backward_ms",
                "unet_adam_ms",
                "threads"
            ]
        );
        for (name, ms) in &lines {
            assert!(ms.is_finite() && *ms > 0.0, "{name} = {ms}");
        }
    }

    #[test]
    fn unet_bench_shape_has_the_torch_twins_parameter_count() {
        // `sum(p.numel() for p in UNet().parameters())` in scripts/bench_torch.py.
        assert_eq!(UNetConfig::new(1, 8, 8).num_params(), 476_961);
        // MLP: (64·512 + 512) + (64·512 + 512) + 8·(512² + 512) + (512·64 + 64).
        let (d, w, depth, e) = MLP_SHAPE;
        assert_eq!(
            MlpConfig::new(d, w, depth, e).unwrap().num_params(),
            2_200_640
        );
    }

    /// `cargo test -p models bench_report -- --ignored --nocapture` prints the timings.
    #[test]
    #[ignore]
    fn bench_report() {
        for (name, value) in run_benchmarks() {
            println!("{name}: {value:.3}");
        }
    }
}
