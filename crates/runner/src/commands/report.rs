//! `dlab report`: `results/REPORT.md`, the page a researcher opens first — for every
//! experiment its latest run's table, plots, manifest summary and check status.

use super::experiment::{format_value, latest_run};
use crate::check::{baseline_path, compare};
use crate::config::ExperimentFile;
use crate::table::Table;
use anyhow::{Context, Result};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

pub fn report(experiments: &Path, results: &Path) -> Result<()> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(experiments)
        .with_context(|| format!("cannot read {}", experiments.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    let mut md = String::from("# Results\n\nWritten by `dlab report` from the latest run of each experiment under `results/runs/`.\n\n");
    for path in &files {
        let file = ExperimentFile::read(path)?;
        let Some(meta) = file.base.get("experiment") else {
            continue;
        };
        let name = meta
            .get("name")
            .and_then(|n| n.as_str())
            .unwrap_or("?")
            .to_string();
        let description = meta
            .get("description")
            .and_then(|d| d.as_str())
            .unwrap_or("");
        writeln!(
            md,
            "## {name}\n\n{description}\n\nFile: `{}`\n",
            path.display()
        )?;
        let Some(run) = latest_run(results, &name) else {
            writeln!(md, "No finished run yet: `dlab run {}`.\n", path.display())?;
            continue;
        };
        md.push_str(&section(&file, &run, results)?);
    }
    let out = results.join("REPORT.md");
    crate::files::write_atomically(&out, |f| Ok(std::io::Write::write_all(f, md.as_bytes())?))?;
    println!("wrote {}", out.display());
    Ok(())
}

fn section(file: &ExperimentFile, run: &Path, results: &Path) -> Result<String> {
    let mut md = String::new();
    let manifest_path = run.join("manifest.toml");
    let manifest: toml::Table = toml::from_str(
        &std::fs::read_to_string(&manifest_path)
            .with_context(|| format!("cannot read {}", manifest_path.display()))?,
    )
    .with_context(|| format!("{} is not a manifest", manifest_path.display()))?;
    let r = manifest
        .get("run")
        .and_then(|r| r.as_table())
        .cloned()
        .unwrap_or_default();
    let get = |k: &str| {
        r.get(k)
            .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string))
            .unwrap_or_default()
    };
    let profile = get("profile");
    writeln!(md, "Latest run: `{}` — profile `{profile}`, {} cells, commit `{}`, {} → {}, {} threads, backend: {}.\n", run.display(), get("cells"), get("git_commit"), get("started"), get("finished"), get("threads"), get("backend"))?;
    let table = Table::read_parquet(&run.join("table.parquet"))?;
    md.push_str(&check_status(file, &manifest, &table, results, &profile));
    md.push_str(&markdown_table(&table));
    let report_dir = results.to_path_buf();
    let mut plots: Vec<PathBuf> = std::fs::read_dir(run)
        .with_context(|| format!("cannot list {}", run.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "png"))
        .collect();
    plots.sort();
    for plot in plots {
        let rel = plot.strip_prefix(&report_dir).unwrap_or(&plot);
        writeln!(
            md,
            "![{}]({})\n",
            plot.file_stem().and_then(|s| s.to_str()).unwrap_or(""),
            rel.display()
        )?;
    }
    Ok(md)
}

fn check_status(
    file: &ExperimentFile,
    manifest: &toml::Table,
    table: &Table,
    results: &Path,
    profile: &str,
) -> String {
    let name = manifest
        .get("run")
        .and_then(|r| r.get("experiment"))
        .and_then(|n| n.as_str())
        .unwrap_or("");
    let baseline = baseline_path(results, name, Some(profile));
    if !baseline.exists() {
        return format!("Check: no baseline for profile `{profile}`.\n\n");
    }
    let Some(config) = manifest.get("config").and_then(|c| c.as_table()) else {
        return "Check: manifest has no config.\n\n".into();
    };
    let Ok(experiment) = file.resolve_from_table(config.clone()) else {
        return "Check: the run's config no longer parses.\n\n".into();
    };
    let keys = crate::execute::row_key_columns(&experiment).unwrap_or_default();
    match Table::read_parquet(&baseline) {
        Ok(base) => {
            let mismatches = compare(&base, table, &keys, &experiment.check);
            if mismatches.is_empty() {
                format!("Check: **pass** against `{}`.\n\n", baseline.display())
            } else {
                format!("Check: **{} value(s) out of tolerance** against `{}` (`dlab check` lists them).\n\n", mismatches.len(), baseline.display())
            }
        }
        Err(e) => format!("Check: cannot read baseline: {e}\n\n"),
    }
}

/// A table as GitHub Markdown.
pub fn markdown_table(table: &Table) -> String {
    let mut md = String::new();
    let names: Vec<&str> = table.columns.iter().map(|(n, _)| n.as_str()).collect();
    md.push_str(&format!(
        "| {} |\n|{}|\n",
        names.join(" | "),
        vec!["---"; names.len()].join("|")
    ));
    for i in 0..table.height() {
        let row: Vec<String> = table
            .columns
            .iter()
            .map(|(_, v)| format_value(v, i))
            .collect();
        md.push_str(&format!("| {} |\n", row.join(" | ")));
    }
    md.push('\n');
    md
}
