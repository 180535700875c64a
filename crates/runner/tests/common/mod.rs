//! Helpers shared by the integration tests: run an experiment text in a fresh temporary
//! results directory, and read a numeric column.

#![allow(dead_code)] // each test binary uses its own subset

use runner::run::{run_experiment, RunOptions, RunOutcome};
use runner::table::{Table, Values};

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

/// A numeric column as f64 (integers converted); panics if absent or not numeric.
pub fn numeric_column(table: &Table, name: &str) -> Vec<f64> {
    match &table.columns.iter().find(|(n, _)| n == name).unwrap().1 {
        Values::F64(v) => v.clone(),
        Values::I64(v) => v.iter().map(|&x| x as f64).collect(),
        other => panic!("{name} is not numeric: {other:?}"),
    }
}
