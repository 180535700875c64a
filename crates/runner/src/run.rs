//! Executing an experiment: plan its cells, reuse the finished ones, run the rest in
//! parallel, and write `table.parquet`, the plots, `manifest.toml` and `run.log` into
//! `results/runs/<experiment>/<run-id>/`.
//!
//! Each finished cell is written at once to `cells/<cell-id>.toml` (atomically), so a run
//! killed part-way resumes with every cell computed exactly once.

use crate::config::{Experiment, ExperimentFile};
use crate::plan::{content_hash, plan_cells, result_defining, Cell, Shard};
use crate::table::{write_atomically, Table, Values};
use crate::tasks::{convergence_order, prepare_shared, run_cell, Measured};
use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Instant, SystemTime};
use toml::Value;

/// How to run an experiment file.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    pub profile: Option<String>,
    pub overrides: Vec<String>,
    pub shard: Option<Shard>,
    /// Recompute every cell instead of reusing finished ones (e.g. after a code change).
    pub fresh: bool,
    /// Root of `runs/`, `cache/` and `baselines/` (default `results`).
    pub results: PathBuf,
}

/// A finished cell as stored on disk.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct CellRecord {
    pub index: usize,
    pub id: String,
    pub seed: u64,
    pub params: toml::Table,
    pub metrics: BTreeMap<String, f64>,
    /// Metric column order as computed.
    pub metric_order: Vec<String>,
    pub nfe: usize,
    pub wall_s: f64,
    /// Detail rows (tasks that measure a curve per cell), with their column order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rows: Vec<BTreeMap<String, f64>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub row_order: Vec<String>,
}

/// What a run produced.
pub struct RunOutcome {
    pub dir: PathBuf,
    pub table: Table,
    pub experiment: Experiment,
    pub cells_run: usize,
    pub cells_reused: usize,
}

/// The run directory of a resolved experiment: `<results>/runs/<name>/<profile>-<hash>`.
pub fn run_dir(
    results: &Path,
    experiment: &Experiment,
    table: &toml::Table,
    profile: Option<&str>,
    shard: Option<Shard>,
) -> PathBuf {
    let hash = content_hash(&result_defining(table));
    let mut id = format!("{}-{}", profile.unwrap_or("default"), &hash[..12]);
    if let Some(s) = shard {
        id.push_str(&format!(".shard-{}-of-{}", s.index, s.count));
    }
    results
        .join("runs")
        .join(&experiment.experiment.name)
        .join(id)
}

/// Runs (or resumes) an experiment file.
pub fn run_experiment(path: &Path, options: &RunOptions) -> Result<RunOutcome> {
    let started = SystemTime::now();
    let file = ExperimentFile::read(path)?;
    let table = file.resolve_table(options.profile.as_deref(), &options.overrides)?;
    let experiment = file.resolve_from_table(table.clone())?;
    let cells = plan_cells(&file, &table)?;
    let cells: Vec<Cell> = cells
        .into_iter()
        .filter(|c| options.shard.is_none_or(|s| s.contains(c)))
        .collect();
    let dir = run_dir(
        &options.results,
        &experiment,
        &table,
        options.profile.as_deref(),
        options.shard,
    );
    let cells_dir = dir.join("cells");
    std::fs::create_dir_all(&cells_dir)
        .with_context(|| format!("cannot create {}", cells_dir.display()))?;
    let log = Mutex::new(
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("run.log"))?,
    );
    let say = |line: String| {
        tracing::info!("{line}");
        let mut f = log.lock().expect("log lock");
        let _ = writeln!(
            f,
            "{} {line}",
            humantime::format_rfc3339_seconds(SystemTime::now())
        );
    };
    let done = if options.fresh {
        BTreeMap::new()
    } else {
        load_records(&cells_dir)?
    };
    let todo: Vec<&Cell> = cells.iter().filter(|c| !done.contains_key(&c.id)).collect();
    say(format!(
        "run {} ({} cells: {} to run, {} reused)",
        dir.display(),
        cells.len(),
        todo.len(),
        cells.len() - todo.len()
    ));

    let progress = progress_bar(todo.len() as u64, &experiment.experiment.name);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(parallelism(&experiment, todo.len()))
        .build()?;
    let results: Vec<Result<CellRecord>> = pool.install(|| {
        prepare_shared(&todo, &options.results.join("cache"));
        todo.par_iter()
            .map(|cell| {
                let start = Instant::now();
                let measured = run_cell(cell, &options.results.join("cache"), &dir.join("images"))
                    .with_context(|| format!("cell {} ({})", cell.index, describe(cell)))?;
                let record = record(cell, measured, start.elapsed().as_secs_f64());
                write_record(&cells_dir, &record)?;
                say(format!(
                    "cell {} done in {:.2}s: {}",
                    cell.index,
                    record.wall_s,
                    describe(cell)
                ));
                progress.inc(1);
                Ok(record)
            })
            .collect()
    });
    progress.finish_and_clear();
    let mut records = done;
    for r in results {
        let r = r?;
        records.insert(r.id.clone(), r);
    }
    let ordered: Vec<CellRecord> = cells.iter().map(|c| records[&c.id].clone()).collect();
    let result_table = assemble_table(&ordered, &experiment)?;
    result_table.write_parquet(&dir.join("table.parquet"))?;
    remove_old_plots(&dir)?;
    for plot in &experiment.plot {
        crate::plot::render(&result_table, plot, &dir)
            .with_context(|| format!("plot {}", plot.name))?;
    }
    write_manifest(
        &dir,
        &experiment,
        &table,
        options,
        started,
        cells.len(),
        todo.len(),
    )?;
    say(format!("wrote {}", dir.join("table.parquet").display()));
    Ok(RunOutcome {
        dir,
        table: result_table,
        experiment,
        cells_run: todo.len(),
        cells_reused: cells.len() - todo.len(),
    })
}

/// Plots are presentation, not part of the run's identity: a renamed `[[plot]]` must not
/// leave its old files behind.
fn remove_old_plots(dir: &Path) -> Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "png" || e == "svg") {
            std::fs::remove_file(&path)?;
        }
    }
    Ok(())
}

fn describe(cell: &Cell) -> String {
    if cell.params.is_empty() {
        return "single cell".into();
    }
    cell.params
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Cells run at once: `run.max_parallel`, else the thread count, bounded by the memory
/// budget over a rough per-cell estimate (samples, reference and sampler state in f64).
fn parallelism(e: &Experiment, cells: usize) -> usize {
    let threads = rayon::current_num_threads();
    let dim = 4096usize; // pessimistic until the data is loaded
    let per_cell = (e.metrics.samples * 8 + e.metrics.reference_samples) * dim * 8;
    let by_memory = (e.run.memory_mib * 1024 * 1024 / per_cell.max(1)).max(1);
    let wanted = if e.run.max_parallel > 0 {
        e.run.max_parallel
    } else {
        threads
    };
    wanted.min(by_memory).min(cells.max(1)).max(1)
}

fn progress_bar(total: u64, name: &str) -> ProgressBar {
    let bar = ProgressBar::new(total);
    if std::io::stderr().is_terminal() {
        bar.set_style(
            ProgressStyle::with_template(
                "{prefix} [{bar:30}] {pos}/{len} cells, {elapsed} elapsed, ETA {eta}",
            )
            .expect("template")
            .progress_chars("=> "),
        );
        bar.set_prefix(name.to_string());
    } else {
        bar.set_draw_target(ProgressDrawTarget::hidden());
    }
    bar
}

fn record(cell: &Cell, measured: Measured, wall_s: f64) -> CellRecord {
    CellRecord {
        index: cell.index,
        id: cell.id.clone(),
        seed: cell.seed,
        params: cell.params.iter().cloned().collect(),
        metric_order: measured.metrics.iter().map(|(k, _)| k.clone()).collect(),
        metrics: measured.metrics.into_iter().collect(),
        nfe: measured.nfe,
        wall_s,
        row_order: measured
            .rows
            .first()
            .map(|r| r.iter().map(|(k, _)| k.clone()).collect())
            .unwrap_or_default(),
        rows: measured
            .rows
            .into_iter()
            .map(|r| r.into_iter().collect())
            .collect(),
    }
}

fn write_record(dir: &Path, record: &CellRecord) -> Result<()> {
    let text = toml::to_string(record)?;
    write_atomically(&dir.join(format!("{}.toml", record.id)), |f| {
        Ok(f.write_all(text.as_bytes())?)
    })
}

/// Finished cells in a `cells/` directory, by id. Unreadable files (never produced by an
/// atomic write) are ignored and their cells run again.
pub fn load_records(dir: &Path) -> Result<BTreeMap<String, CellRecord>> {
    let mut out = BTreeMap::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(out);
    };
    for entry in entries {
        let path = entry?.path();
        if path.extension().and_then(|e| e.to_str()) != Some("toml") {
            continue;
        }
        if let Some(r) = std::fs::read_to_string(&path)
            .ok()
            .and_then(|t| toml::from_str::<CellRecord>(&t).ok())
        {
            out.insert(r.id.clone(), r);
        }
    }
    Ok(out)
}

/// Every cell's metric columns in order of first appearance: cells may measure different
/// metrics (e.g. `metrics.names` swept per data set); a cell without a column gets NaN.
fn metric_columns(records: &[CellRecord]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for name in records.iter().flat_map(|r| &r.metric_order) {
        if !out.contains(name) {
            out.push(name.clone());
        }
    }
    out
}

/// The result table: swept parameters, metrics (with convergence orders when asked),
/// `nfe`, `seed`, `wall_s`, one row per cell in plan order.
pub fn assemble_table(records: &[CellRecord], e: &Experiment) -> Result<Table> {
    let mut table = Table::default();
    let Some(first) = records.first() else {
        bail!("no cells to tabulate")
    };
    let param_names: Vec<String> = first.params.keys().cloned().collect();
    let (axes, _) = crate::plan::sweep_axes(&e.sweep)?;
    let ordered_params: Vec<String> = axes
        .iter()
        .map(|a| a.column.clone())
        .filter(|c| param_names.contains(c))
        .collect();
    for name in &ordered_params {
        table.push(name, param_column(records, name)?)?;
    }
    let metric_order = metric_columns(records);
    for metric in &metric_order {
        table.push(
            metric,
            Values::F64(
                records
                    .iter()
                    .map(|r| r.metrics.get(metric).copied().unwrap_or(f64::NAN))
                    .collect(),
            ),
        )?;
    }
    if let Some(over) = &e.metrics.convergence_over {
        let over_column = axes
            .iter()
            .find(|a| a.path.join(".") == *over || a.column == *over)
            .map(|a| a.column.clone());
        let Some(over_column) = over_column else {
            bail!("metrics.convergence_over = {over:?} is not a swept key")
        };
        for metric in metric_order.iter().filter(|m| !m.ends_with("_std")) {
            table.push(
                &format!("order_{metric}"),
                Values::F64(orders(records, &over_column, metric)),
            )?;
        }
    }
    if let Some(over) = &e.metrics.relative_over {
        let axis = axes
            .iter()
            .find(|a| a.path.join(".") == *over || a.column == *over);
        let Some(axis) = axis else {
            bail!("metrics.relative_over = {over:?} is not a swept key")
        };
        let first_value = crate::plan::column_value(&axis.values[0]);
        for metric in metric_order.iter().filter(|m| !m.ends_with("_std")) {
            table.push(
                &format!("{metric}_rel"),
                Values::F64(relative_to_first(
                    records,
                    &axis.column,
                    &first_value,
                    metric,
                )),
            )?;
        }
    }
    table.push(
        "nfe",
        Values::I64(records.iter().map(|r| r.nfe as i64).collect()),
    )?;
    table.push(
        "seed",
        Values::I64(records.iter().map(|r| r.seed as i64).collect()),
    )?;
    table.push(
        "wall_s",
        Values::F64(records.iter().map(|r| r.wall_s).collect()),
    )?;
    if records.iter().any(|r| !r.rows.is_empty()) {
        table = expand_detail_rows(table, records, ordered_params.len())?;
    }
    Ok(table)
}

/// One table row per detail row: each cell's columns repeated for its detail rows (a cell
/// without any keeps one row with NaN details), the detail columns after the parameters.
fn expand_detail_rows(table: Table, records: &[CellRecord], n_params: usize) -> Result<Table> {
    let counts: Vec<usize> = records.iter().map(|r| r.rows.len().max(1)).collect();
    let mut detail_columns: Vec<String> = Vec::new();
    for r in records {
        for c in &r.row_order {
            if !detail_columns.contains(c) {
                detail_columns.push(c.clone());
            }
        }
    }
    let mut out = Table::default();
    let mut columns = table.columns.into_iter();
    for (name, values) in columns.by_ref().take(n_params) {
        out.push(&name, values.repeat_rows(&counts))?;
    }
    for name in &detail_columns {
        let values: Vec<f64> = records
            .iter()
            .flat_map(|r| {
                if r.rows.is_empty() {
                    vec![f64::NAN]
                } else {
                    r.rows
                        .iter()
                        .map(|row| row.get(name).copied().unwrap_or(f64::NAN))
                        .collect()
                }
            })
            .collect();
        let integral = values
            .iter()
            .all(|v: &f64| v.fract() == 0.0 && v.abs() < 1e15);
        out.push(
            name,
            if integral {
                Values::I64(values.iter().map(|&v| v as i64).collect())
            } else {
                Values::F64(values)
            },
        )?;
    }
    for (name, values) in columns {
        out.push(&name, values.repeat_rows(&counts))?;
    }
    Ok(out)
}

/// The columns that identify a row: the swept keys, then the task's detail-row keys.
pub fn row_key_columns(e: &Experiment) -> Result<Vec<String>> {
    let mut keys: Vec<String> = crate::plan::sweep_axes(&e.sweep)?
        .0
        .into_iter()
        .map(|a| a.column)
        .collect();
    keys.extend(
        crate::tasks::row_key_columns(e.experiment.task)
            .iter()
            .map(|k| k.to_string()),
    );
    Ok(keys)
}

/// `k=v;…` of a record's parameters other than `over`: records with equal keys differ
/// only in `over`.
fn params_except(record: &CellRecord, over: &str) -> String {
    record
        .params
        .iter()
        .filter(|(k, _)| k.as_str() != over)
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(";")
}

/// For each record, the convergence order of `metric` over the records that share all
/// parameters but `over`.
fn orders(records: &[CellRecord], over: &str, metric: &str) -> Vec<f64> {
    let group_key = |r: &CellRecord| params_except(r, over);
    records
        .iter()
        .map(|r| {
            let key = group_key(r);
            let points: Vec<(f64, f64)> = records
                .iter()
                .filter(|o| group_key(o) == key)
                .map(|o| {
                    (
                        o.nfe as f64,
                        o.metrics.get(metric).copied().unwrap_or(f64::NAN),
                    )
                })
                .collect();
            convergence_order(&points)
        })
        .collect()
}

/// For each record, `metric` divided by its value in the record that shares all
/// parameters but `over` and has `over = first`; NaN when there is no such record.
fn relative_to_first(records: &[CellRecord], over: &str, first: &Value, metric: &str) -> Vec<f64> {
    let group_key = |r: &CellRecord| params_except(r, over);
    records
        .iter()
        .map(|r| {
            let key = group_key(r);
            let base = records
                .iter()
                .find(|o| group_key(o) == key && o.params.get(over) == Some(first))
                .and_then(|o| o.metrics.get(metric).copied())
                .unwrap_or(f64::NAN);
            r.metrics.get(metric).copied().unwrap_or(f64::NAN) / base
        })
        .collect()
}

fn param_column(records: &[CellRecord], name: &str) -> Result<Values> {
    let values: Vec<&Value> = records
        .iter()
        .map(|r| r.params.get(name).context("missing parameter"))
        .collect::<Result<_>>()?;
    Ok(if values.iter().all(|v| v.is_integer()) {
        Values::I64(
            values
                .iter()
                .map(|v| v.as_integer().unwrap_or_default())
                .collect(),
        )
    } else if values.iter().all(|v| v.is_float() || v.is_integer()) {
        Values::F64(
            values
                .iter()
                .map(|v| {
                    v.as_float()
                        .or(v.as_integer().map(|i| i as f64))
                        .unwrap_or(f64::NAN)
                })
                .collect(),
        )
    } else if values.iter().all(|v| v.is_bool()) {
        Values::Bool(
            values
                .iter()
                .map(|v| v.as_bool().unwrap_or_default())
                .collect(),
        )
    } else {
        Values::Str(
            values
                .iter()
                .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string))
                .collect(),
        )
    })
}

/// `manifest.toml`: the resolved configuration and everything needed to trust or
/// repeat the run.
fn write_manifest(
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
    write_atomically(&dir.join("manifest.toml"), |f| {
        Ok(f.write_all(text.as_bytes())?)
    })
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
