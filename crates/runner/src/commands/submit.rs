//! `dlab submit`: an experiment as a Slurm array job (one shard per array task) and a merge
//! job that starts only when every shard succeeded (`--dependency=afterok:<array id>`).
//!
//! The scripts are written under `<results>/submit/<run id>/` (`array.sh`, `merge.sh`;
//! the shards' logs go beside them) and submitted with `sbatch --parsable`. Shards share
//! `<results>/cache` through its per-entry locks, so a network that several shards need
//! is trained once (the file system must give POSIX advisory locks; see the README).

use crate::commands::experiment::{options, ExperimentArgs};
use crate::execute::{resolve, run_dir};
use crate::plan::Shard;
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

#[derive(clap::Args, Debug)]
pub struct SubmitArgs {
    #[command(flatten)]
    pub experiment: ExperimentArgs,
    /// Number of shards: array tasks 0..N−1, each running `dlab run --shard i/N`.
    #[arg(long)]
    pub shards: usize,
    /// Submit only these array tasks (e.g. the shards that failed: --only-shards 1,3); the
    /// merge job still merges all N.
    #[arg(long, value_delimiter = ',', value_name = "I,J,…")]
    pub only_shards: Vec<usize>,
    /// Extra sbatch arguments for both jobs, e.g. "--partition=gpu --time=02:00:00".
    #[arg(long, value_name = "ARGS", allow_hyphen_values = true)]
    pub sbatch: Option<String>,
    /// Print the two job scripts instead of submitting them.
    #[arg(long)]
    pub dry_run: bool,
}

/// What the two jobs run, with absolute paths (a job starts in its own working directory).
struct Jobs {
    scripts_dir: PathBuf,
    merged_dir: PathBuf,
    array: String,
    merge: String,
}

pub fn submit(args: &SubmitArgs, results: &Path) -> Result<()> {
    if args.shards == 0 {
        bail!("--shards 0: give the number of array tasks, at least 1");
    }
    if let Some(bad) = args.only_shards.iter().find(|&&i| i >= args.shards) {
        bail!(
            "--only-shards {bad}: shard indices run from 0 to {} (--shards {})",
            args.shards - 1,
            args.shards
        );
    }
    let jobs = job_scripts(args, results)?;
    if args.dry_run {
        println!("# {}/array.sh\n{}", jobs.scripts_dir.display(), jobs.array);
        println!("# {}/merge.sh\n{}", jobs.scripts_dir.display(), jobs.merge);
        return Ok(());
    }
    crate::files::create_dir_all(&jobs.scripts_dir)?;
    let array_path = jobs.scripts_dir.join("array.sh");
    let merge_path = jobs.scripts_dir.join("merge.sh");
    crate::files::write_bytes_atomically(&array_path, jobs.array.as_bytes())?;
    crate::files::write_bytes_atomically(&merge_path, jobs.merge.as_bytes())?;
    let extra = extra_args(args.sbatch.as_deref())?;
    let array_id = sbatch(&extra, &[], &array_path)?;
    let dependency = format!("--dependency=afterok:{array_id}");
    let merge_id = sbatch(&extra, &[dependency.as_str()], &merge_path)?;
    println!(
        "array job {array_id} ({} shards), merge job {merge_id} (after every shard succeeded)",
        args.shards
    );
    println!("shard logs: {}/shard-<i>.log", jobs.scripts_dir.display());
    println!(
        "merged table: {}",
        jobs.merged_dir.join("table.parquet").display()
    );
    Ok(())
}

/// The array and merge scripts for this experiment, profile and overrides.
fn job_scripts(args: &SubmitArgs, results: &Path) -> Result<Jobs> {
    let cwd = std::env::current_dir().context("cannot read the working directory")?;
    let absolute = |p: &Path| {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            cwd.join(p)
        }
    };
    let results = absolute(results);
    let file = absolute(&args.experiment.file);
    let run_options = options(&args.experiment, &results, None)?;
    let resolved = resolve(&file, &run_options)?;
    let profile = args.experiment.profile.as_deref();
    let merged_dir = run_dir(
        &results,
        &resolved.experiment,
        &resolved.table,
        profile,
        None,
    );
    let run_id = merged_dir
        .file_name()
        .and_then(|n| n.to_str())
        .context("a run directory has a name")?
        .to_string();
    let scripts_dir = results
        .join("submit")
        .join(&resolved.experiment.experiment.name)
        .join(&run_id);
    let dlab = std::env::current_exe().context("cannot locate the dlab executable")?;
    let n = args.shards;
    let mut run = vec![
        quote(&dlab.display().to_string()),
        "-v".into(),
        "--results".into(),
        quote(&results.display().to_string()),
        "run".into(),
        quote(&file.display().to_string()),
    ];
    if let Some(p) = profile {
        run.extend(["--profile".into(), quote(p)]);
    }
    for assignment in &args.experiment.set {
        run.extend(["--set".into(), quote(assignment)]);
    }
    if args.experiment.fresh {
        run.push("--fresh".into());
    }
    if let Some(device) = &args.experiment.device {
        run.extend(["--device".into(), quote(device)]);
    }
    run.push(format!("--shard \"${{SLURM_ARRAY_TASK_ID}}/{n}\""));
    let shard_dirs: Vec<String> = (0..n)
        .map(|index| {
            let dir = run_dir(
                &results,
                &resolved.experiment,
                &resolved.table,
                profile,
                Some(Shard { index, count: n }),
            );
            quote(&dir.display().to_string())
        })
        .collect();
    let name = &resolved.experiment.experiment.name;
    let logs = scripts_dir.display().to_string();
    let header = |job: &str, extra: &str| {
        format!(
            "#!/usr/bin/env bash\n# Written by `dlab submit` for {name} ({run_id}).\n#SBATCH --job-name={job}\n{extra}set -euo pipefail\ncd {}\n",
            quote(&cwd.display().to_string())
        )
    };
    let array = format!(
        "{}exec {}\n",
        header(
            &format!("dlab-{name}"),
            &format!(
                "#SBATCH --array={}\n#SBATCH --output={logs}/shard-%a.log\n",
                array_indices(n, &args.only_shards)
            )
        ),
        run.join(" ")
    );
    let merge = format!(
        "{}exec {} --results {} merge {}\n",
        header(
            &format!("dlab-{name}-merge"),
            &format!("#SBATCH --output={logs}/merge.log\n")
        ),
        quote(&dlab.display().to_string()),
        quote(&results.display().to_string()),
        shard_dirs.join(" ")
    );
    Ok(Jobs {
        scripts_dir,
        merged_dir,
        array,
        merge,
    })
}

/// sbatch's `--array` list: `0-(n−1)`, or the given indices.
fn array_indices(n: usize, only: &[usize]) -> String {
    if only.is_empty() {
        format!("0-{}", n - 1)
    } else {
        only.iter()
            .map(usize::to_string)
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// `--sbatch "…"` split into arguments (whitespace-separated; no shell quoting inside).
fn extra_args(sbatch: Option<&str>) -> Result<Vec<String>> {
    let args: Vec<String> = sbatch
        .unwrap_or("")
        .split_whitespace()
        .map(str::to_string)
        .collect();
    if let Some(bad) = args.iter().find(|a| a.contains(['\'', '"'])) {
        bail!("--sbatch {bad:?}: quotes are not interpreted; give plain arguments such as --partition=gpu");
    }
    Ok(args)
}

/// Submits `script` with `sbatch --parsable` and returns the job id.
fn sbatch(extra: &[String], more: &[&str], script: &Path) -> Result<String> {
    let output = Command::new("sbatch")
        .arg("--parsable")
        .args(extra)
        .args(more)
        .arg(script)
        .output()
        .context("cannot run sbatch (is Slurm installed and on PATH?)")?;
    if !output.status.success() {
        bail!(
            "sbatch {} failed: {}",
            script.display(),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    let text = String::from_utf8_lossy(&output.stdout);
    let id = text.trim().split(';').next().unwrap_or("").to_string();
    if id.is_empty() || !id.chars().all(|c| c.is_ascii_digit()) {
        bail!("sbatch {} printed no job id: {text:?}", script.display());
    }
    Ok(id)
}

/// `text` as one single-quoted shell word.
fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_words_survive_quotes_and_spaces() {
        assert_eq!(quote("a b"), "'a b'");
        assert_eq!(quote("it's"), r"'it'\''s'");
        assert!(
            extra_args(Some("--partition=gpu  --time=01:00:00"))
                .unwrap()
                .len()
                == 2
        );
        assert!(extra_args(Some("--comment='x y'")).is_err());
        assert_eq!(array_indices(3, &[]), "0-2");
        assert_eq!(array_indices(4, &[1, 3]), "1,3");
    }
}
