//! Runs that never break: two processes on one results directory, a cold cache shared by
//! many parallel cells, a kill during network training, and inputs that used to panic.

mod common;

use common::{dlab_command as dlab, run_dir, scratch, text};
use runner::table::{Table, Values};
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

fn numbers(table: &Table, name: &str) -> Vec<u64> {
    match &table.columns.iter().find(|(n, _)| n == name).unwrap().1 {
        Values::F64(v) => v.iter().map(|x| x.to_bits()).collect(),
        Values::I64(v) => v.iter().map(|&x| x as u64).collect(),
        other => panic!("{name}: {other:?}"),
    }
}

/// Every file and directory under `dir` whose name marks it temporary or partial.
fn leftovers(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if name.contains(".tmp") || name.ends_with(".partial") {
                out.push(path.clone());
            }
            if path.is_dir() {
                stack.push(path);
            }
        }
    }
    out
}

const TWO_PROCESSES: &str = r#"
[experiment]
name = "two_processes"
seed = 5

[data]
kind = "gaussian"
power_law = { dim = 8 }

[teleport]
gaussian = "exact"

[metrics]
samples = 4000
names = ["frechet_to_data"]

[sweep]
sampler.skip = [0, 1, 2, 3, 4, 5]
"#;

#[test]
fn two_processes_on_one_results_directory_both_succeed_with_one_table() {
    let dir = scratch("two");
    std::fs::write(dir.join("exp.toml"), TWO_PROCESSES).unwrap();
    for trial in 0..3 {
        let args = ["run", "exp.toml", "--fresh"];
        let children: Vec<Child> = (0..2)
            .map(|_| {
                dlab(&dir, &args)
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for child in children {
            let out = child.wait_with_output().unwrap();
            assert!(out.status.success(), "trial {trial}: {}", text(&out));
        }
        let run = run_dir(&dir.join("results"), "two_processes");
        let table = Table::read_parquet(&run.join("table.parquet")).unwrap();
        assert_eq!(table.height(), 6, "one row per cell, no duplicates");
        assert!(leftovers(&run).is_empty(), "{:?}", leftovers(&run));
    }
}

const SHARED_REFERENCE: &str = r#"
[experiment]
name = "cold_shared"
seed = 4
task = "score_agreement"

[data]
kind = "digits"

[schedule]
kind = "edm"
steps = 6

[probe]
points = 20
reference = { kind = "network", net = { arch = "mlp", width = 16, depth = 1, emb_dim = 8 }, train = { steps = 60, batch_size = 32, lr = 1e-3, log_every = 5 } }

[sweep]
model = [{ kind = "gaussian_fit" }, { kind = "isotropic" }, { kind = "delta" }, { kind = "gmm_fit", components = 3, iters = 5 }]
probe.step = [0, 2, 4]

[run]
max_parallel = 12
"#;

/// Twelve cells at once from an empty cache, all needing one `probe.reference` network
/// and four of them one GMM fit: each is built once and every cell finishes.
#[test]
fn a_cold_cache_shared_by_many_parallel_cells_is_built_once() {
    let dir = scratch("cold");
    std::fs::write(dir.join("exp.toml"), SHARED_REFERENCE).unwrap();
    for _ in 0..2 {
        let _ = std::fs::remove_dir_all(dir.join("results"));
        let out = dlab(&dir, &["run", "exp.toml", "-v"]).output().unwrap();
        assert!(out.status.success(), "{}", text(&out));
        let log = text(&out);
        assert_eq!(log.matches("trained 60 steps").count(), 1, "{log}");
        let cache = dir.join("results/cache");
        let entries: Vec<String> = std::fs::read_dir(&cache)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| !n.ends_with(".lock"))
            .collect();
        assert_eq!(
            entries.iter().filter(|n| n.starts_with("net-")).count(),
            1,
            "{entries:?}"
        );
        assert_eq!(
            entries.iter().filter(|n| n.starts_with("gmm-")).count(),
            1,
            "{entries:?}"
        );
        assert!(leftovers(&cache).is_empty(), "{:?}", leftovers(&cache));
    }
}

const LONG_TRAINING: &str = r#"
[experiment]
name = "killed_training"
seed = 8

[data]
kind = "digits"

[model]
kind = "network"
net = { arch = "mlp", width = 32, depth = 1, emb_dim = 8 }
train = { steps = 12000, batch_size = 32, lr = 1e-3, log_every = 50, checkpoint_every = 100 }

[schedule]
kind = "edm"
steps = 4

[sampler]
kind = "euler"

[metrics]
samples = 50
names = ["fd_pixels", "final_loss"]
"#;

/// The newest `checkpoint-*` directory of a partial network entry, if any.
fn checkpoint_written(cache: &Path) -> bool {
    let Ok(entries) = std::fs::read_dir(cache) else {
        return false;
    };
    entries.filter_map(Result::ok).any(|e| {
        e.file_name().to_string_lossy().ends_with(".partial")
            && std::fs::read_dir(e.path()).is_ok_and(|mut d| {
                d.any(|c| {
                    c.is_ok_and(|c| c.file_name().to_string_lossy().starts_with("checkpoint-"))
                })
            })
    })
}

#[test]
fn a_run_killed_during_training_resumes_to_the_uninterrupted_result() {
    let dir = scratch("killed");
    std::fs::write(dir.join("exp.toml"), LONG_TRAINING).unwrap();
    let cache = dir.join("results/cache");
    let mut child = dlab(&dir, &["run", "exp.toml"]).spawn().unwrap();
    let start = Instant::now();
    while !checkpoint_written(&cache) && start.elapsed() < Duration::from_secs(300) {
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap(); // SIGKILL, mid-training
    child.wait().unwrap();
    let complete: Vec<_> = std::fs::read_dir(&cache)
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.path().join("complete.toml").exists())
        .collect();
    assert!(
        complete.is_empty(),
        "killed before the network was complete"
    );

    let out = dlab(&dir, &["run", "exp.toml"]).output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let resumed = Table::read_parquet(
        &run_dir(&dir.join("results"), "killed_training").join("table.parquet"),
    )
    .unwrap();
    assert!(leftovers(&cache).is_empty(), "{:?}", leftovers(&cache));

    let straight = scratch("killed-straight");
    std::fs::write(straight.join("exp.toml"), LONG_TRAINING).unwrap();
    let out = dlab(&straight, &["run", "exp.toml"]).output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let uninterrupted = Table::read_parquet(
        &run_dir(&straight.join("results"), "killed_training").join("table.parquet"),
    )
    .unwrap();
    for name in ["fd_pixels", "final_loss"] {
        assert_eq!(
            numbers(&resumed, name),
            numbers(&uninterrupted, name),
            "{name}"
        );
    }
}

const SMALL: &str = r#"
[experiment]
name = "small"

[data]
kind = "moons"

[metrics]
samples = 100
"#;

/// Inputs that used to panic or abort: each is now an error (exit 2) naming the key or
/// the file, before any work.
#[test]
fn sizes_that_used_to_panic_are_errors_naming_the_key() {
    let dir = scratch("panics");
    std::fs::write(dir.join("exp.toml"), SMALL).unwrap();
    let cases = [
        ("metrics.samples=9223372036854775807", "metrics.samples"),
        ("metrics.samples=100000000000", "metrics.samples"),
        ("schedule.steps=9223372036854775807", "schedule.steps"),
        ("experiment.name=\"../../escaped\"", "experiment.name"),
    ];
    for (set, key) in cases {
        let out = dlab(&dir, &["run", "exp.toml", "--set", set])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{set}: {}", text(&out));
        assert!(text(&out).contains(key), "{set}: {}", text(&out));
        assert!(!text(&out).contains("panicked"), "{set}: {}", text(&out));
    }
    assert!(!dir.join("results/runs/small").exists(), "nothing ran");
    assert!(!dir.join("escaped").exists() && !dir.parent().unwrap().join("escaped").exists());

    // A .npy header claiming 2^62 × 4 values; IDX dimensions of 2^32 − 1.
    let mut npy = b"\x93NUMPY\x01\x00".to_vec();
    let header = "{'descr': '<f8', 'fortran_order': False, 'shape': (4611686018427387904, 4), }";
    let padded = format!("{header:<118}\n");
    npy.extend_from_slice(&(padded.len() as u16).to_le_bytes());
    npy.extend_from_slice(padded.as_bytes());
    npy.extend_from_slice(&[0u8; 64]);
    std::fs::write(dir.join("huge.npy"), &npy).unwrap();
    let out = dlab(&dir, &["fd", "huge.npy", "huge.npy"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("huge.npy") && !text(&out).contains("panicked"),
        "{}",
        text(&out)
    );

    let mut idx = vec![0u8, 0, 8, 3];
    for _ in 0..3 {
        idx.extend_from_slice(&u32::MAX.to_be_bytes());
    }
    std::fs::write(dir.join("images.idx"), &idx).unwrap();
    std::fs::write(
        dir.join("idx.toml"),
        "[experiment]\nname = \"idx\"\n[data]\nkind = \"idx\"\nimages = \"images.idx\"\n[model]\nkind = \"delta\"\n",
    )
    .unwrap();
    let out = dlab(&dir, &["run", "idx.toml"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("images.idx") && !text(&out).contains("panicked"),
        "{}",
        text(&out)
    );

    // Empty feature arrays and Parquet nulls are refused, not computed on.
    let empty = b"\x93NUMPY\x01\x00".to_vec();
    let header = format!(
        "{:<118}\n",
        "{'descr': '<f8', 'fortran_order': False, 'shape': (10, 0), }"
    );
    let mut empty_npy = empty.clone();
    empty_npy.extend_from_slice(&(header.len() as u16).to_le_bytes());
    empty_npy.extend_from_slice(header.as_bytes());
    std::fs::write(dir.join("empty.npy"), &empty_npy).unwrap();
    let out = dlab(&dir, &["fd", "empty.npy", "empty.npy"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("at least 2 samples of at least 1 feature"),
        "{}",
        text(&out)
    );
}
