//! Profiling harness for the MLP training step of `dlab bench` (d = 64, width 512, batch 256):
//! runs only that benchmark, for as many steps as asked, so a sampling profiler sees a long,
//! steady loop. For example:
//!
//! ```text
//! cargo build -p models --example profile_mlp
//! perf record -e cpu-clock -g target/debug/examples/profile_mlp 400
//! ```
use models::bench::{mlp_bench, BenchSteps};

fn main() {
    let steps: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(200);
    for (name, value) in mlp_bench(BenchSteps { warmup: 5, steps }) {
        println!("{name}: {value:.3}");
    }
}
