//! `dlab bench`: training-step benchmarks of the networks (burn, this build's backend),
//! beside the same steps in PyTorch when `python3` with torch is available.

use anyhow::Result;
use std::process::Command;

/// Runs the burn benchmarks, then `scripts/bench_torch.py` with the same thread count if
/// PyTorch is importable, and prints `name: value` lines plus burn/PyTorch ratios.
pub fn bench() -> Result<()> {
    let threads = models::bench::burn_threads();
    println!("threads: {threads}");
    let burn = models::bench::run_benchmarks();
    for (name, value) in &burn {
        println!("{name}: {value:.3}");
    }
    let script = std::path::Path::new("scripts/bench_torch.py");
    if !script.exists() {
        println!("(PyTorch reference skipped: run from the repository root to find scripts/bench_torch.py)");
        return Ok(());
    }
    let output = Command::new("python3")
        .arg(script)
        .arg("--threads")
        .arg(threads.to_string())
        .output();
    let Some(output) = output.ok().filter(|o| o.status.success()) else {
        println!(
            "(PyTorch reference skipped: `python3 {}` failed; pip install torch to compare)",
            script.display()
        );
        return Ok(());
    };
    let text = String::from_utf8_lossy(&output.stdout);
    for line in text.lines() {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let Ok(torch) = value.trim().parse::<f64>() else {
            continue;
        };
        println!("torch_{}: {torch:.3}", name.trim());
        if let Some((_, ours)) = burn.iter().find(|(n, _)| n == name.trim()) {
            println!("ratio_{}: {:.2}", name.trim(), ours / torch);
        }
    }
    Ok(())
}
