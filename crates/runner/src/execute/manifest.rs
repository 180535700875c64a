//! `manifest.toml`: what ran, with which configuration, code and machine.

use crate::config::Experiment;
use crate::execute::RunOptions;
use crate::files::write_bytes_atomically;
use crate::plan::{content_hash, result_defining};
use anyhow::Result;
use std::path::Path;
use std::time::SystemTime;
use toml::Value;

/// `manifest.toml`: the resolved configuration and everything needed to trust or
/// repeat the run.
pub fn write_manifest(
    dir: &Path,
    e: &Experiment,
    table: &toml::Table,
    options: &RunOptions,
    started: SystemTime,
    cells: usize,
    ran: usize,
) -> Result<()> {
    let mut m = toml::Table::new();
    let mut run = toml::Table::new();
    run.insert("experiment".into(), e.experiment.name.clone().into());
    run.insert(
        "profile".into(),
        options
            .profile
            .clone()
            .unwrap_or_else(|| "default".into())
            .into(),
    );
    run.insert(
        "overrides".into(),
        Value::Array(options.overrides.iter().map(|s| s.clone().into()).collect()),
    );
    run.insert(
        "config_hash".into(),
        content_hash(&result_defining(table)).into(),
    );
    run.insert("git_commit".into(), git_commit().into());
    run.insert("dlab_version".into(), env!("CARGO_PKG_VERSION").into());
    run.insert(
        "backend".into(),
        "cpu: f64 host batches; closed-form denoisers (analytic crate)".into(),
    );
    run.insert(
        "threads".into(),
        (rayon::current_num_threads() as i64).into(),
    );
    run.insert(
        "started".into(),
        humantime::format_rfc3339_seconds(started)
            .to_string()
            .into(),
    );
    run.insert(
        "finished".into(),
        humantime::format_rfc3339_seconds(SystemTime::now())
            .to_string()
            .into(),
    );
    run.insert("cells".into(), (cells as i64).into());
    run.insert("cells_run_now".into(), (ran as i64).into());
    if let Some(s) = options.shard {
        run.insert("shard".into(), format!("{}/{}", s.index, s.count).into());
    }
    m.insert("run".into(), Value::Table(run));
    let mut versions = toml::Table::new();
    for &(name, version) in crate::crate_versions() {
        versions.insert(name.into(), version.into());
    }
    m.insert("crates".into(), Value::Table(versions));
    m.insert("config".into(), Value::Table(table.clone()));
    let text = toml::to_string_pretty(&m)?;
    write_bytes_atomically(&dir.join("manifest.toml"), text.as_bytes())
}

/// The current git commit (with `-dirty` when the work tree has changes), or `unknown`.
fn git_commit() -> String {
    let run = |args: &[&str]| {
        std::process::Command::new("git")
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    match run(&["rev-parse", "HEAD"]) {
        Some(commit) => {
            let dirty = run(&["status", "--porcelain", "--untracked-files=no"])
                .is_some_and(|s| !s.is_empty());
            if dirty {
                format!("{commit}-dirty")
            } else {
                commit
            }
        }
        None => "unknown".into(),
    }
}
