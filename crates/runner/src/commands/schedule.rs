//! `dlab schedule`: print a noise schedule as CSV, or write it as Parquet.

use crate::overrides::apply_all;
use crate::table::{Table, Values};
use anyhow::{Context, Result};
use schedules::ScheduleSpec;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct ScheduleArgs {
    /// A TOML file with the schedule's keys, top level or in a [schedule] table.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Override or add a key, e.g. --set kind=edm --set steps=18 (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Write Parquet to this file instead of CSV on stdout.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// Reads the schedule keys from `--config` and `--set` and checks them.
pub fn resolve_spec(args: &ScheduleArgs) -> Result<ScheduleSpec> {
    let mut keys = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
            let mut file: toml::Table = toml::from_str(&text).with_context(|| format!("{} is not valid TOML", path.display()))?;
            match file.remove("schedule") {
                Some(toml::Value::Table(t)) => t,
                Some(_) => anyhow::bail!("{}: `schedule` must be a table", path.display()),
                None => file,
            }
        }
        None => toml::Table::new(),
    };
    apply_all(&mut keys, &args.set)?;
    if !keys.contains_key("kind") {
        anyhow::bail!("schedule: missing key `kind` (one of: ddpm, edm, vp, ve); e.g. --set kind=edm");
    }
    let spec: ScheduleSpec = keys.try_into().map_err(|e: toml::de::Error| anyhow::anyhow!("schedule: {}", e.message()))?;
    spec.validate()?;
    Ok(spec)
}

/// The schedule's rows as a result table (`i, t, sigma, s, alpha_bar, beta`).
pub fn schedule_table(spec: &ScheduleSpec) -> Result<Table> {
    let rows = spec.table()?;
    let mut table = Table::default();
    table.push("i", Values::I64(rows.i.iter().map(|&i| i as i64).collect()))?;
    table.push("t", Values::F64(rows.t))?;
    table.push("sigma", Values::F64(rows.sigma))?;
    table.push("s", Values::F64(rows.s))?;
    table.push("alpha_bar", Values::F64(rows.alpha_bar))?;
    table.push("beta", Values::F64(rows.beta))?;
    Ok(table)
}

pub fn run(args: &ScheduleArgs) -> Result<()> {
    let table = schedule_table(&resolve_spec(args)?)?;
    match &args.out {
        Some(path) => {
            table.write_parquet(path)?;
            eprintln!("wrote {} rows to {}", table.height(), path.display());
        }
        None => table.write_csv(&mut std::io::stdout().lock())?,
    }
    Ok(())
}
