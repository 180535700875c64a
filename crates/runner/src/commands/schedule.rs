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
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            let mut file: toml::Table = toml::from_str(&text)
                .with_context(|| format!("{} is not valid TOML", path.display()))?;
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
        anyhow::bail!(
            "schedule: missing key `kind` (one of: ddpm, edm, vp, ve); e.g. --set kind=edm"
        );
    }
    let spec: ScheduleSpec = keys
        .try_into()
        .map_err(|e: toml::de::Error| anyhow::anyhow!("schedule: {}", e.message()))?;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn args(set: &[&str]) -> ScheduleArgs {
        ScheduleArgs {
            config: None,
            set: set.iter().map(|s| s.to_string()).collect(),
            out: None,
        }
    }

    #[test]
    fn edm_table_has_the_karras_grid_and_a_final_zero() {
        let table = schedule_table(&resolve_spec(&args(&["kind=edm"])).unwrap()).unwrap();
        assert_eq!(table.height(), 19);
        let names: Vec<&str> = table.columns.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["i", "t", "sigma", "s", "alpha_bar", "beta"]);
        let Values::F64(sigma) = &table.columns[2].1 else {
            panic!()
        };
        assert!((sigma[1] - 57.586).abs() < 1e-3 && sigma[18] == 0.0);
    }

    #[test]
    fn ddpm_rows_follow_the_spacing_and_config_files_are_read() {
        let dir = std::env::temp_dir().join(format!("dlab-schedule-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("s.toml");
        std::fs::write(
            &path,
            "[schedule]\nkind = \"ddpm\"\nsteps = 10\nspacing = \"linspace\"\n",
        )
        .unwrap();
        let a = ScheduleArgs {
            config: Some(path),
            set: vec![],
            out: None,
        };
        let table = schedule_table(&resolve_spec(&a).unwrap()).unwrap();
        let Values::F64(t) = &table.columns[1].1 else {
            panic!()
        };
        assert_eq!(
            t,
            &[999.0, 888.0, 777.0, 666.0, 555.0, 444.0, 333.0, 222.0, 111.0, 0.0]
        );
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn bad_input_names_the_key_and_value() {
        let err = |set: &[&str]| resolve_spec(&args(set)).unwrap_err().to_string();
        assert!(err(&["kind=edm", "sigma_min=90"]).contains("sigma_min = 90"));
        assert!(err(&["kind=edm", "rho=-1"]).contains("rho = -1"));
        assert!(err(&["kind=edm", "sigmamin=1"]).contains("unknown field `sigmamin`"));
        assert!(err(&["steps=3"]).contains("missing key `kind`"));
        assert!(err(&["kind=ddpm", "beta_start=1.5"]).contains("beta_start = 1.5"));
        assert!(err(&["kind=ddpm", "steps=2000"]).contains("steps = 2000"));
    }
}
