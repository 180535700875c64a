//! `dlab run`, `check`, `bless`, `list`, `show` and `merge`.

use crate::check::{baseline_path, compare};
use crate::config::ExperimentFile;
use crate::execute::records::write_record;
use crate::execute::{
    assemble_table, load_records, run_experiment, write_outputs, RunOptions, RunOutcome,
};
use crate::plan::{plan_cells, Shard};
use crate::table::{Table, Values};
use anyhow::{bail, Context, Result};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Options shared by `run`, `check` and `bless`.
#[derive(clap::Args, Debug, Clone)]
pub struct ExperimentArgs {
    /// The experiment file (TOML), e.g. experiments/gaussian_teleport.toml.
    pub file: PathBuf,
    /// A [profile.NAME] of the file to apply (e.g. smoke, full).
    #[arg(long)]
    pub profile: Option<String>,
    /// Override any key, e.g. --set sampler.steps=40 (repeatable; applied after the profile).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Recompute every cell instead of resuming (finished cells of this configuration are
    /// otherwise reused, even if the code changed since; the manifest records the commit).
    #[arg(long)]
    pub fresh: bool,
    /// Train and run every network model of the experiment on this device: `cpu` (burn
    /// Flex) or `cuda` / `cuda:N` (a `--features cuda` build). Sets `device` in `[model]`,
    /// in network entries of `[sweep]` lists and in `probe.reference`, after `--set`.
    #[arg(long, value_name = "cpu|cuda|cuda:N")]
    pub device: Option<String>,
}

#[derive(clap::Args, Debug)]
pub struct RunArgs {
    #[command(flatten)]
    pub experiment: ExperimentArgs,
    /// Run only shard i of n (0 ≤ i < n) of the cells, for batch schedulers; combine the
    /// shards with `dlab merge`.
    #[arg(long)]
    pub shard: Option<Shard>,
}

pub fn options(args: &ExperimentArgs, results: &Path, shard: Option<Shard>) -> Result<RunOptions> {
    let mut overrides = args.set.clone();
    if let Some(device) = &args.device {
        check_device(device)?;
        let mut file = ExperimentFile::read(&args.file)?;
        let table = file.resolve_table(args.profile.as_deref(), &args.set)?;
        overrides.extend(device_overrides(&table, device)?);
    }
    Ok(RunOptions {
        profile: args.profile.clone(),
        overrides,
        shard,
        fresh: args.fresh,
        results: results.to_path_buf(),
    })
}

/// Refuses a `--device` value that `models::device::select` refuses, naming the flag and
/// the value; a CUDA device in a build without CUDA says how to rebuild.
fn check_device(device: &str) -> Result<()> {
    let Err(err) = models::device::select(device) else {
        return Ok(());
    };
    let wants_cuda = device == "cuda" || device.starts_with("cuda:");
    if wants_cuda && !cfg!(feature = "cuda") {
        bail!(
            "--device {device}: this dlab was built without CUDA; rebuild it with \
             `--features cuda` (cargo build --features cuda --bin dlab)"
        );
    }
    bail!("--device {device}: {err}")
}

/// The `device` a network table asks for (`cpu` when absent, the [`NetworkSpec`] default).
///
/// [`NetworkSpec`]: crate::config::NetworkSpec
fn table_device(table: &toml::Table) -> &str {
    table
        .get("device")
        .and_then(|d| d.as_str())
        .unwrap_or("cpu")
}

fn is_network(value: &toml::Value) -> bool {
    value
        .as_table()
        .is_some_and(|t| t.get("kind").and_then(|k| k.as_str()) == Some("network"))
}

/// Whether `value` holds a network model table whose device is not `device`.
fn needs_device(value: &toml::Value, device: &str) -> bool {
    match value {
        v if is_network(v) => table_device(v.as_table().expect("a table")) != device,
        toml::Value::Table(t) => t.values().any(|v| needs_device(v, device)),
        toml::Value::Array(a) => a.iter().any(|v| needs_device(v, device)),
        _ => false,
    }
}

/// `value` with `device` set in every network model table in it.
fn with_device(value: &toml::Value, device: &str) -> toml::Value {
    match value {
        toml::Value::Table(t) => {
            let mut t: toml::Table = t
                .iter()
                .map(|(k, v)| (k.clone(), with_device(v, device)))
                .collect();
            if is_network(value) {
                t.insert("device".into(), device.into());
            }
            toml::Value::Table(t)
        }
        toml::Value::Array(a) => {
            toml::Value::Array(a.iter().map(|v| with_device(v, device)).collect())
        }
        other => other.clone(),
    }
}

/// A key `--set` can address: no dots, quotes or spaces.
fn bare_key(key: &str) -> bool {
    !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// The `--set` overrides that put every network model of the resolved `table` on `device`:
/// `model.device=…` for a network reached through tables, the whole list (e.g.
/// `sweep.model=[…]`) for networks inside a list. Tables already on `device` (absent = cpu)
/// are left alone, so `--device cpu` does not change a CPU experiment's configuration.
pub fn device_overrides(table: &toml::Table, device: &str) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for (key, value) in table {
        collect_device_overrides(key, value, device, &mut out)?;
    }
    Ok(out)
}

fn collect_device_overrides(
    path: &str,
    value: &toml::Value,
    device: &str,
    out: &mut Vec<String>,
) -> Result<()> {
    if !needs_device(value, device) {
        return Ok(());
    }
    if is_network(value) {
        out.push(format!("{path}.device={}", toml::Value::from(device)));
        return Ok(());
    }
    match value {
        toml::Value::Table(t)
            if t.iter()
                .all(|(k, v)| bare_key(k) || !needs_device(v, device)) =>
        {
            for (key, child) in t {
                collect_device_overrides(&format!("{path}.{key}"), child, device, out)?;
            }
            Ok(())
        }
        _ => {
            let replaced = with_device(value, device);
            let assignment = format!("{path}={replaced}");
            // `--set` reads the value back as TOML; make sure it reads back as written.
            let (_, parsed) = crate::overrides::parse_assignment(&assignment)?;
            if parsed != replaced {
                bail!("--device {device}: cannot express the change of {path} as an override");
            }
            out.push(assignment);
            Ok(())
        }
    }
}

/// Longer tables (e.g. one row per eigenvalue) are not printed after a run.
const MAX_PRINTED_ROWS: usize = 100;

fn print_outcome(outcome: &RunOutcome) {
    println!(
        "{}: {} cells ({} run now, {} reused)\n  table: {}\n  plots: {}\n  manifest: {}",
        outcome.experiment.experiment.name,
        outcome.cells_run + outcome.cells_reused,
        outcome.cells_run,
        outcome.cells_reused,
        outcome.dir.join("table.parquet").display(),
        if outcome.experiment.plot.is_empty() {
            "none".to_string()
        } else {
            outcome
                .experiment
                .plot
                .iter()
                .map(|p| {
                    outcome
                        .dir
                        .join(format!("{}.png", p.name))
                        .display()
                        .to_string()
                })
                .collect::<Vec<_>>()
                .join(", ")
        },
        outcome.dir.join("manifest.toml").display()
    );
}

pub fn run(args: &RunArgs, results: &Path) -> Result<()> {
    let outcome = run_experiment(
        &args.experiment.file,
        &options(&args.experiment, results, args.shard)?,
    )?;
    if outcome.table.height() <= MAX_PRINTED_ROWS {
        print!("{}", render_table(&outcome.table));
    } else {
        println!(
            "({} rows; `dlab show {}` prints them all)",
            outcome.table.height(),
            outcome.dir.display()
        );
    }
    print_outcome(&outcome);
    Ok(())
}

/// `dlab check`: runs (or reuses) the run and compares it with the baseline. Returns
/// false when a value is out of tolerance.
pub fn check(args: &ExperimentArgs, results: &Path) -> Result<bool> {
    let outcome = run_experiment(&args.file, &options(args, results, None)?)?;
    let name = &outcome.experiment.experiment.name;
    let path = baseline_path(results, name, args.profile.as_deref());
    if !path.exists() {
        bail!(
            "no baseline {} for {name}; create it with: dlab bless {}{}",
            path.display(),
            args.file.display(),
            args.profile
                .as_ref()
                .map(|p| format!(" --profile {p}"))
                .unwrap_or_default()
        );
    }
    let baseline = Table::read_parquet(&path)?;
    let keys = crate::execute::row_key_columns(&outcome.experiment)?;
    if outcome.experiment.check.is_empty() {
        bail!(
            "{}: [check] names no columns to compare",
            args.file.display()
        );
    }
    let mismatches = compare(&baseline, &outcome.table, &keys, &outcome.experiment.check);
    if mismatches.is_empty() {
        println!(
            "check {name} ({}): {} rows × {} columns within tolerance of {}",
            args.profile.as_deref().unwrap_or("default"),
            outcome.table.height(),
            outcome.experiment.check.len(),
            path.display()
        );
        return Ok(true);
    }
    println!(
        "check {name}: {} value(s) out of tolerance against {}:",
        mismatches.len(),
        path.display()
    );
    for m in &mismatches {
        println!("  {m}");
    }
    Ok(false)
}

/// `dlab bless`: runs (or reuses) the run and writes its table as the baseline.
pub fn bless(args: &ExperimentArgs, results: &Path) -> Result<()> {
    let outcome = run_experiment(&args.file, &options(args, results, None)?)?;
    let path = baseline_path(
        results,
        &outcome.experiment.experiment.name,
        args.profile.as_deref(),
    );
    outcome.table.write_parquet(&path)?;
    println!(
        "blessed {} ({} rows) from {}",
        path.display(),
        outcome.table.height(),
        outcome.dir.display()
    );
    Ok(())
}

/// `dlab list`: every experiment file with its profiles and cell counts.
pub fn list(dir: &Path) -> Result<()> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    for path in files {
        let mut file = match ExperimentFile::read(&path) {
            Ok(f) => f,
            Err(e) => {
                println!("{}: error: {e:#}", path.display());
                continue;
            }
        };
        let description = file
            .base
            .get("experiment")
            .and_then(|e| e.get("description"))
            .and_then(|d| d.as_str())
            .unwrap_or("")
            .to_string();
        let profiles: Vec<String> = file.profiles.keys().cloned().collect();
        let mut count = |profile: Option<&str>| -> String {
            file.resolve_table(profile, &[])
                .and_then(|t| plan_cells(&file, &t))
                .map(|c| format!("{} cells", c.len()))
                .unwrap_or_else(|e| format!("cannot plan: {e:#}"))
        };
        println!("{}  ({})", path.display(), description);
        println!("    default: {}", count(None));
        for name in &profiles {
            println!("    {name}: {}", count(Some(name)));
        }
    }
    Ok(())
}

/// The newest run directory of an experiment, by its manifest's modification time.
pub fn latest_run(results: &Path, experiment: &str) -> Option<PathBuf> {
    let dir = results.join("runs").join(experiment);
    std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("table.parquet").exists())
        .max_by_key(|p| {
            std::fs::metadata(p.join("manifest.toml"))
                .and_then(|m| m.modified())
                .ok()
        })
}

/// `dlab show RUN`: a run directory, or an experiment name (its latest run).
pub fn show(run: &str, results: &Path) -> Result<()> {
    let dir = if Path::new(run).join("table.parquet").exists() {
        PathBuf::from(run)
    } else {
        latest_run(results, run).with_context(|| {
            format!(
                "{run} is neither a run directory nor an experiment with a finished run under {}",
                results.join("runs").display()
            )
        })?
    };
    let table = Table::read_parquet(&dir.join("table.parquet"))?;
    println!("{}", dir.display());
    print!("{}", render_table(&table));
    Ok(())
}

/// A table as aligned text for the terminal.
pub fn render_table(table: &Table) -> String {
    let cells: Vec<Vec<String>> = table
        .columns
        .iter()
        .map(|(_, v)| (0..table.height()).map(|i| format_value(v, i)).collect())
        .collect();
    let widths: Vec<usize> = table
        .columns
        .iter()
        .zip(&cells)
        .map(|((n, _), c)| {
            c.iter()
                .map(String::len)
                .chain([n.len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    let header: Vec<String> = table
        .columns
        .iter()
        .zip(&widths)
        .map(|((n, _), w)| format!("{n:>w$}"))
        .collect();
    out.push_str(&header.join("  "));
    out.push('\n');
    for i in 0..table.height() {
        let row: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{:>w$}", c[i]))
            .collect();
        out.push_str(&row.join("  "));
        out.push('\n');
    }
    out
}

/// A value formatted for people: 5 significant digits for floats.
pub fn format_value(values: &Values, i: usize) -> String {
    match values {
        Values::F64(v) => {
            let x = v[i];
            if x.is_nan() {
                "NaN".into()
            } else if x != 0.0 && (x.abs() < 1e-3 || x.abs() >= 1e5) {
                format!("{x:.4e}")
            } else {
                format!("{x:.5}")
            }
        }
        Values::I64(v) => v[i].to_string(),
        Values::Str(v) => v[i].clone(),
        Values::Bool(v) => v[i].to_string(),
    }
}

/// `dlab merge SHARD_DIR…`: combines shard runs of one experiment into one run.
pub fn merge(dirs: &[PathBuf]) -> Result<()> {
    let Some(first) = dirs.first() else {
        bail!("dlab merge needs at least one shard directory")
    };
    let first_manifest = read_manifest(first)?;
    let mut records = BTreeMap::new();
    for dir in dirs {
        records.append(&mut shard_records(dir, first, &first_manifest)?);
    }
    let config = first_manifest
        .get("config")
        .and_then(|c| c.as_table())
        .context("manifest has no [config]")?
        .clone();
    let file = ExperimentFile::from_resolved(&first.join("manifest.toml"), config.clone());
    let experiment = file.resolve_from_table(config.clone())?;
    let cells = plan_cells(&file, &config)?;
    let missing: Vec<usize> = cells
        .iter()
        .filter(|c| !records.contains_key(&c.id))
        .map(|c| c.index)
        .collect();
    if !missing.is_empty() {
        bail!("{}", missing_shards_message(&missing, dirs));
    }
    let name = first.file_name().and_then(|n| n.to_str()).unwrap_or("run");
    let merged = first.with_file_name(name.split(".shard-").next().unwrap_or(name));
    let ordered: Vec<_> = cells.iter().map(|c| records[&c.id].clone()).collect();
    for record in &ordered {
        write_record(&merged.join("cells"), record)?;
    }
    let table = assemble_table(&ordered, &experiment)?;
    write_outputs(&merged, &table, &experiment)?;
    write_merged_manifest(&merged, first_manifest, dirs, cells.len())?;
    println!(
        "merged {} shards ({} cells) into {}",
        dirs.len(),
        cells.len(),
        merged.display()
    );
    Ok(())
}

/// Which shards (`<run>.shard-<i>-of-<n>`, cells assigned round-robin) hold the `missing`
/// cells, so that the user can rerun exactly those.
fn missing_shards_message(missing: &[usize], dirs: &[PathBuf]) -> String {
    let count = dirs.iter().find_map(|d| {
        let name = d.file_name()?.to_str()?;
        name.rsplit_once("-of-")?.1.parse::<usize>().ok()
    });
    match count {
        Some(n) => {
            let mut shards: Vec<usize> = missing.iter().map(|i| i % n).collect();
            shards.dedup();
            shards.sort_unstable();
            shards.dedup();
            format!(
                "shards {} of {n} are missing or unfinished ({} cells: {missing:?}); rerun them (dlab run … --shard i/{n}), then merge all {n}",
                shards.iter().map(|i| format!("{i}/{n}")).collect::<Vec<_>>().join(", "),
                missing.len()
            )
        }
        None => format!(
            "cells {missing:?} are in none of the given shards; run the missing shards first"
        ),
    }
}

/// A run directory's `manifest.toml`.
fn read_manifest(dir: &Path) -> Result<toml::Table> {
    let path = dir.join("manifest.toml");
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "{} has no manifest.toml (not a run directory)",
            dir.display()
        )
    })?;
    toml::from_str(&text).with_context(|| format!("{} is not a manifest", path.display()))
}

/// The finished cells of shard `dir`, which must share the configuration of `first`.
fn shard_records(
    dir: &Path,
    first: &Path,
    first_manifest: &toml::Table,
) -> Result<BTreeMap<String, crate::execute::CellRecord>> {
    let hash = |m: &toml::Table| {
        m.get("run")
            .and_then(|r| r.get("config_hash"))
            .and_then(|h| h.as_str())
            .map(str::to_string)
    };
    let m = read_manifest(dir)?;
    if hash(&m) != hash(first_manifest) {
        bail!(
            "{} has config hash {:?}, {} has {:?}: shards of different configurations",
            dir.display(),
            hash(&m),
            first.display(),
            hash(first_manifest)
        );
    }
    load_records(&dir.join("cells"))
}

/// The first shard's manifest, without its shard and with the shards it merges.
fn write_merged_manifest(
    merged: &Path,
    mut manifest: toml::Table,
    dirs: &[PathBuf],
    cells: usize,
) -> Result<()> {
    if let Some(run) = manifest.get_mut("run").and_then(|r| r.as_table_mut()) {
        run.remove("shard");
        let shards = dirs.iter().map(|d| d.display().to_string().into());
        run.insert("merged_from".into(), toml::Value::Array(shards.collect()));
        run.insert("cells".into(), (cells as i64).into());
    }
    let text = toml::to_string_pretty(&manifest)?;
    crate::files::write_bytes_atomically(&merged.join("manifest.toml"), text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::overrides::apply_all;

    const FILE: &str = r#"
model = { kind = "network", net = { arch = "mlp" } }
probe.reference = { kind = "network", device = "cpu" }
sampler = { kind = "heun" }
[sweep]
"schedule.steps" = [18, 40]
model = [{ kind = "network", train = { steps = 10 } }, { kind = "delta" }]
groups = [{ model = [{ kind = "network", device = "cuda:1" }] }]
"#;

    #[test]
    fn every_network_table_gets_the_device_and_nothing_else_changes() {
        let mut table: toml::Table = toml::from_str(FILE).unwrap();
        let overrides = device_overrides(&table, "cuda").unwrap();
        assert!(
            overrides.contains(&"model.device=\"cuda\"".to_string()),
            "{overrides:?}"
        );
        assert!(overrides.contains(&"probe.reference.device=\"cuda\"".to_string()));
        // `"schedule.steps"` holds no network: the lists are replaced one by one.
        assert!(
            overrides.iter().any(|o| o.starts_with("sweep.model=["))
                && overrides.iter().any(|o| o.starts_with("sweep.groups=[")),
            "{overrides:?}"
        );
        apply_all(&mut table, &overrides).unwrap();
        let device = |v: &toml::Value| v.get("device").and_then(|d| d.as_str()).map(String::from);
        assert_eq!(device(&table["model"]).as_deref(), Some("cuda"));
        assert_eq!(
            device(&table["probe"]["reference"]).as_deref(),
            Some("cuda")
        );
        let swept = table["sweep"]["model"].as_array().unwrap();
        assert_eq!(device(&swept[0]).as_deref(), Some("cuda"));
        assert_eq!(swept[0]["train"]["steps"].as_integer(), Some(10));
        assert_eq!(device(&swept[1]), None, "a delta model has no device");
        let grouped = &table["sweep"]["groups"][0]["model"][0];
        assert_eq!(device(grouped).as_deref(), Some("cuda"));
        assert_eq!(
            table["sweep"]["schedule.steps"].as_array().unwrap().len(),
            2
        );
        assert_eq!(table["sampler"]["kind"].as_str(), Some("heun"));
    }

    #[test]
    fn the_device_a_table_already_has_gives_no_override() {
        let table: toml::Table = toml::from_str(
            "model = { kind = \"network\" }\nprobe.reference = { kind = \"network\", device = \"cpu\" }",
        )
        .unwrap();
        assert!(device_overrides(&table, "cpu").unwrap().is_empty());
        assert_eq!(device_overrides(&table, "cuda").unwrap().len(), 2);
    }

    #[test]
    fn bad_devices_name_the_flag_and_the_value() {
        assert!(check_device("cpu").is_ok());
        let err = check_device("tpu").unwrap_err().to_string();
        assert!(
            err.starts_with("--device tpu:") && err.contains("cuda:N"),
            "{err}"
        );
        #[cfg(not(feature = "cuda"))]
        assert!(check_device("cuda:0")
            .unwrap_err()
            .to_string()
            .contains("--features cuda"));
    }
}
