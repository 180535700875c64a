//! `manifest.toml`: what ran, with which configuration, code and machine.

use crate::build::context::data_key;
use crate::build::network::network_entry;
use crate::config::{Experiment, ModelSpec};
use crate::execute::RunOptions;
use crate::files::write_bytes_atomically;
use crate::hash::{content_hash, result_defining};
use crate::plan::Cell;
use anyhow::Result;
use std::path::Path;
use std::time::SystemTime;
use toml::Value;

/// What happened in a run, for its manifest.
pub struct RunFacts<'a> {
    pub started: SystemTime,
    /// The cells of the run (of its shard).
    pub cells: &'a [Cell],
    /// How many of them ran now (the others were reused).
    pub ran: usize,
    /// Cells computed at once.
    pub cell_threads: usize,
}

/// `manifest.toml`: the resolved configuration and everything needed to trust or
/// repeat the run.
pub fn write_manifest(
    dir: &Path,
    e: &Experiment,
    table: &toml::Table,
    options: &RunOptions,
    facts: &RunFacts,
) -> Result<()> {
    let mut m = toml::Table::new();
    m.insert(
        "run".into(),
        Value::Table(run_section(e, table, options, facts)),
    );
    m.insert("machine".into(), Value::Table(machine(facts.cell_threads)));
    let networks = networks(facts.cells, &options.results.join("cache"))?;
    if !networks.is_empty() {
        m.insert("network".into(), Value::Array(networks));
    }
    let mut versions = toml::Table::new();
    for &(name, version) in crate::crate_versions() {
        versions.insert(name.into(), version.into());
    }
    m.insert("crates".into(), Value::Table(versions));
    m.insert("config".into(), Value::Table(table.clone()));
    let text = toml::to_string_pretty(&m)?;
    write_bytes_atomically(&dir.join("manifest.toml"), text.as_bytes())
}

/// `[run]`: the experiment, profile, overrides, configuration hash, code version, times
/// and cell counts.
fn run_section(
    e: &Experiment,
    table: &toml::Table,
    options: &RunOptions,
    facts: &RunFacts,
) -> toml::Table {
    let time = |t: SystemTime| Value::from(humantime::format_rfc3339_seconds(t).to_string());
    let profile = options.profile.clone().unwrap_or_else(|| "default".into());
    let overrides = options.overrides.iter().map(|s| s.clone().into()).collect();
    let mut run = toml::Table::new();
    run.insert("experiment".into(), e.experiment.name.clone().into());
    run.insert("profile".into(), profile.into());
    run.insert("overrides".into(), Value::Array(overrides));
    let hash = content_hash(&result_defining(table));
    run.insert("config_hash".into(), hash.into());
    run.insert("git_commit".into(), git_commit().into());
    run.insert("dlab_version".into(), env!("CARGO_PKG_VERSION").into());
    run.insert("started".into(), time(facts.started));
    run.insert("finished".into(), time(SystemTime::now()));
    run.insert("cells".into(), (facts.cells.len() as i64).into());
    run.insert("cells_run_now".into(), (facts.ran as i64).into());
    if let Some(s) = options.shard {
        run.insert("shard".into(), format!("{}/{}", s.index, s.count).into());
    }
    run
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

/// Where the run computed: the CPU, its logical cores, the cell threads (each computing
/// with one rayon thread, see `execute::cells`) and the threads of cache builds.
fn machine(cell_threads: usize) -> toml::Table {
    let mut t = toml::Table::new();
    t.insert("cpu".into(), cpu_model().into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    t.insert("logical_cores".into(), (cores as i64).into());
    t.insert("cell_threads".into(), (cell_threads as i64).into());
    t.insert("threads_per_cell".into(), 1.into());
    t.insert(
        "build_threads".into(),
        (rayon::current_num_threads() as i64).into(),
    );
    t.insert(
        "host_arithmetic".into(),
        "f64 (samplers, closed-form denoisers, metrics)".into(),
    );
    t
}

/// `model name` of /proc/cpuinfo, or `unknown`.
fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into())
}

/// One `[[network]]` per network the cells used (their model or `probe.reference`): its
/// cache entry and the burn backend and device it ran on.
fn networks(cells: &[Cell], cache: &Path) -> Result<Vec<Value>> {
    let mut out: Vec<Value> = Vec::new();
    for cell in cells {
        let e = &cell.config;
        let models = [Some(&e.model), e.probe.reference.as_ref()];
        for spec in models.into_iter().flatten().filter_map(|m| match m {
            ModelSpec::Network(spec) => Some(spec),
            _ => None,
        }) {
            let entry = network_entry(e, spec, &data_key(e), cache)?;
            let mut t = toml::Table::new();
            let name = entry
                .dir()
                .file_name()
                .map(|n| n.to_string_lossy().into_owned());
            t.insert("entry".into(), name.unwrap_or_default().into());
            t.insert("device".into(), spec.device.clone().into());
            t.insert(
                "backend".into(),
                models::device::describe(&spec.device).into(),
            );
            let value = Value::Table(t);
            if !out.contains(&value) {
                out.push(value);
            }
        }
    }
    Ok(out)
}
