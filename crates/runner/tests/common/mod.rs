//! Helpers shared by the integration tests: run an experiment text in a fresh temporary
//! results directory, and read a numeric column.

#![allow(dead_code)] // each test binary uses its own subset

use runner::execute::{run_experiment, RunOptions, RunOutcome};
use runner::table::{Table, Values};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Writes `text` to `<tmp>/dlab-<prefix>-<name>-<pid>/<name>.toml` (the directory emptied
/// first) and runs it with results under that directory.
pub fn run_in_temp(prefix: &str, name: &str, text: &str) -> anyhow::Result<RunOutcome> {
    let dir = std::env::temp_dir().join(format!("dlab-{prefix}-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join(format!("{name}.toml"));
    std::fs::write(&file, text).unwrap();
    let options = RunOptions {
        results: dir.join("results"),
        ..RunOptions::default()
    };
    run_experiment(&file, &options)
}

/// The error, with its causes, of running `text` as [`run_in_temp`] does; panics if it ran.
pub fn refusal(prefix: &str, name: &str, text: &str) -> String {
    match run_in_temp(prefix, name, text) {
        Ok(outcome) => panic!("{name} ran: {}", outcome.dir.display()),
        Err(e) => format!("{e:#}"),
    }
}

/// A numeric column as f64 (integers converted); panics if absent or not numeric.
pub fn numeric_column(table: &Table, name: &str) -> Vec<f64> {
    match &table.columns.iter().find(|(n, _)| n == name).unwrap().1 {
        Values::F64(v) => v.clone(),
        Values::I64(v) => v.iter().map(|&x| x as f64).collect(),
        other => panic!("{name} is not numeric: {other:?}"),
    }
}

/// A boolean column (a flag such as `diverged`); panics if absent or not boolean.
pub fn flags(table: &Table, name: &str) -> Vec<bool> {
    match &table.columns.iter().find(|(n, _)| n == name).unwrap().1 {
        Values::Bool(v) => v.clone(),
        other => panic!("{name} is not boolean: {other:?}"),
    }
}

/// An empty scratch directory `<tmp>/dlab-<name>-<pid>`.
pub fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("dlab-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The `dlab` binary with `args`, run in `dir`.
pub fn dlab_command(dir: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_dlab"));
    command.current_dir(dir).args(args);
    command
}

/// Runs `dlab args` in `dir` to completion.
pub fn dlab(dir: &Path, args: &[&str]) -> Output {
    dlab_command(dir, args).output().expect("dlab runs")
}

/// A command's stdout and stderr together.
pub fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The only run directory of experiment `name` under `results`.
pub fn run_dir(results: &Path, name: &str) -> PathBuf {
    let runs: Vec<PathBuf> = std::fs::read_dir(results.join("runs").join(name))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    assert_eq!(runs.len(), 1, "{runs:?}");
    runs[0].clone()
}
