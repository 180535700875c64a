//! Executing an experiment: plan its cells, reuse the finished ones, run the rest in
//! parallel, and write `table.parquet`, the plots, `manifest.toml` and `run.log` into
//! `results/runs/<experiment>/<run-id>/`.
//!
//! - One process at a time works in a run directory: it holds the lock `run.lock` there;
//!   a second `dlab run` of the same experiment waits, then reuses what the first finished.
//! - Each finished cell is written at once to `cells/<cell-id>.toml` (atomically), so a run
//!   killed part-way resumes with every cell computed exactly once. The next run removes
//!   the temporary files a killed run left.
//! - Cells run on threads of their own ([`cells::run_parallel`]); what several cells share
//!   is built once ([`crate::build`]), whichever cell asks first.

pub mod assemble;
pub mod cells;
pub mod manifest;
pub mod preflight;
pub mod records;

pub use assemble::{assemble_table, row_key_columns};
pub use records::{load_records, CellRecord};

use crate::config::{Experiment, ExperimentFile};
use crate::files::{create_dir_all, remove_stale_temps, FileLock};
use crate::hash::{content_hash, result_defining};
use crate::plan::{plan_cells, Cell, Shard};
use crate::table::Table;
use crate::tasks::{run_cell, CellOutputs};
use anyhow::{Context, Result};
use indicatif::ProgressBar;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Instant, SystemTime};

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

/// An experiment resolved for one run: the file, its resolved table, the parsed and
/// checked configuration and the cells of this run (of its shard).
pub struct Resolved {
    pub file: ExperimentFile,
    pub table: toml::Table,
    pub experiment: Experiment,
    pub cells: Vec<Cell>,
}

/// Reads, resolves and checks an experiment file and plans its cells: every check that
/// needs no work.
pub fn resolve(path: &Path, options: &RunOptions) -> Result<Resolved> {
    let mut file = ExperimentFile::read(path)?;
    let table = file.resolve_table(options.profile.as_deref(), &options.overrides)?;
    let experiment = file.resolve_from_table(table.clone())?;
    let cells = plan_cells(&file, &table)?
        .into_iter()
        .filter(|c| options.shard.is_none_or(|s| s.contains(c)))
        .collect::<Vec<_>>();
    assemble::check_outputs(&file, &experiment, &cells)?;
    Ok(Resolved {
        file,
        table,
        experiment,
        cells,
    })
}

/// Runs (or resumes) an experiment file.
pub fn run_experiment(path: &Path, options: &RunOptions) -> Result<RunOutcome> {
    let started = SystemTime::now();
    let Resolved {
        file,
        table,
        experiment,
        cells,
    } = resolve(path, options)?;
    preflight::preflight(&file, &cells)?;
    let dir = run_dir(
        &options.results,
        &experiment,
        &table,
        options.profile.as_deref(),
        options.shard,
    );
    let _lock = lock_run_dir(&dir)?;
    let log = RunLog::open(&dir)?;
    let done = finished_cells(&dir, options.fresh)?;
    let todo: Vec<&Cell> = cells.iter().filter(|c| !done.contains_key(&c.id)).collect();
    log.say(format!(
        "run {} ({} cells: {} to run, {} reused)",
        dir.display(),
        cells.len(),
        todo.len(),
        cells.len() - todo.len()
    ));
    let threads = parallelism(&experiment, todo.len());
    let ran = run_cells(
        &todo,
        threads,
        &experiment,
        &options.results.join("cache"),
        &dir,
        &log,
    )?;
    let mut records = done;
    records.extend(ran.into_iter().map(|r| (r.id.clone(), r)));
    let ordered: Vec<CellRecord> = cells.iter().map(|c| records[&c.id].clone()).collect();
    let result_table = assemble_table(&ordered, &experiment)?;
    write_outputs(&dir, &result_table, &experiment)?;
    let facts = manifest::RunFacts {
        started,
        cells: &cells,
        ran: todo.len(),
        cell_threads: threads,
    };
    manifest::write_manifest(&dir, &experiment, &table, options, &facts)?;
    log.say(format!("wrote {}", dir.join("table.parquet").display()));
    Ok(RunOutcome {
        dir,
        table: result_table,
        experiment,
        cells_run: todo.len(),
        cells_reused: cells.len() - todo.len(),
    })
}

/// The records of the cells a previous run finished here (none with `--fresh`).
fn finished_cells(dir: &Path, fresh: bool) -> Result<BTreeMap<String, CellRecord>> {
    if fresh {
        return Ok(BTreeMap::new());
    }
    load_records(&dir.join("cells"))
}

/// Creates the run directory and takes its lock (waiting for another process running
/// the same experiment), then removes the temporary files a killed run left there.
fn lock_run_dir(dir: &Path) -> Result<FileLock> {
    create_dir_all(&dir.join("cells"))?;
    let lock = FileLock::acquire(&dir.join("run.lock"), || {
        tracing::warn!(
            "waiting for another dlab process running in {} to finish",
            dir.display()
        );
    })?;
    let outputs = CellOutputs::in_run_dir(dir);
    for sub in [
        dir.to_path_buf(),
        dir.join("cells"),
        outputs.images,
        outputs.samples,
    ] {
        remove_stale_temps(&sub)?;
    }
    Ok(lock)
}

/// Runs the cells in parallel, each record written as soon as its cell finishes; the
/// first failure is reported after every cell has run.
fn run_cells(
    todo: &[&Cell],
    threads: usize,
    experiment: &Experiment,
    cache: &Path,
    dir: &Path,
    log: &RunLog,
) -> Result<Vec<CellRecord>> {
    let progress = progress_bar(todo.len() as u64, &experiment.experiment.name);
    let results = cells::run_parallel(todo, threads, |cell| {
        let start = Instant::now();
        let measured = run_cell(cell, cache, &CellOutputs::in_run_dir(dir))
            .with_context(|| format!("cell {} ({})", cell.index, describe(cell)))?;
        let record = records::record(cell, measured, start.elapsed().as_secs_f64());
        records::write_record(&dir.join("cells"), &record)?;
        log.say(format!(
            "cell {} done in {:.2}s: {}",
            cell.index,
            record.wall_s,
            describe(cell)
        ));
        progress.inc(1);
        Ok(record)
    });
    progress.finish_and_clear();
    results.into_iter().collect()
}

/// `table.parquet` and the plots (each file written atomically).
pub fn write_outputs(dir: &Path, table: &Table, experiment: &Experiment) -> Result<()> {
    table.write_parquet(&dir.join("table.parquet"))?;
    remove_old_plots(dir)?;
    for plot in &experiment.plot {
        crate::plot::render(table, plot, dir).with_context(|| format!("plot {}", plot.name))?;
    }
    Ok(())
}

/// `run.log`: one time-stamped line per event, also logged at info level.
struct RunLog {
    file: Mutex<std::fs::File>,
}

impl RunLog {
    fn open(dir: &Path) -> Result<Self> {
        let path = dir.join("run.log");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .with_context(|| format!("cannot open {}", path.display()))?;
        Ok(Self {
            file: Mutex::new(file),
        })
    }

    fn say(&self, line: String) {
        tracing::info!("{line}");
        let mut f = self
            .file
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let _ = writeln!(
            f,
            "{} {line}",
            humantime::format_rfc3339_seconds(SystemTime::now())
        );
    }
}

/// Plots are presentation, not part of the run's identity: a renamed `[[plot]]` must not
/// leave its old files behind.
fn remove_old_plots(dir: &Path) -> Result<()> {
    let entries =
        std::fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))?;
    for entry in entries {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "png" || e == "svg") {
            std::fs::remove_file(&path)
                .with_context(|| format!("cannot remove {}", path.display()))?;
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
    let per_cell = e
        .metrics
        .samples
        .saturating_mul(8)
        .saturating_add(e.metrics.reference_samples)
        .saturating_mul(dim * 8);
    let budget = e.run.memory_mib.saturating_mul(1024 * 1024);
    let by_memory = (budget / per_cell.max(1)).max(1);
    let wanted = if e.run.max_parallel > 0 {
        e.run.max_parallel
    } else {
        threads
    };
    wanted.min(by_memory).min(cells.max(1)).max(1)
}

fn progress_bar(total: u64, name: &str) -> ProgressBar {
    crate::progress::bar(
        total,
        name,
        "{prefix} [{bar:30}] {pos}/{len} cells, {elapsed} elapsed, ETA {eta}",
    )
}
