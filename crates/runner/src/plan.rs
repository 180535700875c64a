//! From an experiment to its cells: each cell of the `[sweep]` ([`crate::config::sweep`])
//! with its resolved configuration, seed and identity, and deterministic sharding.

use crate::config::sweep::{sweep_cells, Axis};
use crate::config::{Experiment, ExperimentFile};
use crate::hash::{content_hash, result_defining};
use crate::overrides::set_path;
use anyhow::{bail, Result};
use samplers::rng::derive_seed;
use toml::{Table, Value};

/// One cell of an experiment.
#[derive(Clone, Debug)]
pub struct Cell {
    /// Position in the full plan (stable for a given experiment file and profile).
    pub index: usize,
    /// (column, value) of every swept key.
    pub params: Vec<(String, Value)>,
    /// The cell's configuration, sweep applied.
    pub config: Experiment,
    /// Derived from the experiment seed and the cell's parameters only.
    pub seed: u64,
    /// Content hash of everything that determines the cell's result.
    pub id: String,
}

impl Cell {
    /// `key=value_…` of the swept parameters, safe as a file name (for a cell's images).
    pub fn file_label(&self) -> String {
        self.params
            .iter()
            .map(|(k, v)| {
                format!(
                    "{k}={}",
                    v.as_str().map_or_else(|| v.to_string(), str::to_string)
                )
            })
            .collect::<Vec<_>>()
            .join("_")
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "=._-".contains(c) {
                    c
                } else {
                    '-'
                }
            })
            .collect()
    }
}

/// The cells of a resolved experiment table, in plan order.
pub fn plan_cells(file: &ExperimentFile, table: &Table) -> Result<Vec<Cell>> {
    let base: Experiment = file.resolve_from_table(table.clone())?;
    let (axes, combos) = sweep_cells(&base.sweep)?;
    let cells: Vec<Cell> = combos
        .into_iter()
        .enumerate()
        .map(|(index, choice)| {
            let mut cell_table = table.clone();
            cell_table.remove("sweep");
            let mut params = Vec::new();
            for (axis, value) in axes.iter().zip(choice) {
                let (value, label) = take_label(value);
                params.push((
                    axis.column.clone(),
                    label.unwrap_or_else(|| column_value(&value)),
                ));
                set_path(&mut cell_table, &axis.path, value)?;
            }
            let config = file.resolve_cell_table(cell_table.clone())?;
            let label = params
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(";");
            let seed = derive_seed(base.experiment.seed, &label) & (i64::MAX as u64);
            let id = content_hash(&result_defining(&cell_table));
            Ok(Cell {
                index,
                params,
                config,
                seed,
                id,
            })
        })
        .collect::<Result<_>>()?;
    refuse_duplicate_cells(file, &axes, &cells)?;
    Ok(cells)
}

/// Two cells with one configuration (a value listed twice in a sweep) would compute and
/// write the same result twice: an error naming both and the sweep key that repeats a
/// value.
fn refuse_duplicate_cells(file: &ExperimentFile, axes: &[Axis], cells: &[Cell]) -> Result<()> {
    let mut seen: std::collections::HashMap<&str, &Cell> = Default::default();
    for cell in cells {
        let Some(first) = seen.insert(&cell.id, cell) else {
            continue;
        };
        let repeating = axes.iter().find(|a| {
            a.values
                .iter()
                .enumerate()
                .any(|(i, v)| a.values[..i].contains(v))
        });
        let key = repeating.map_or_else(|| "sweep".to_string(), |a| a.path.join("."));
        let show = |c: &Cell| {
            c.params
                .iter()
                .map(|(k, v)| format!("{k} = {v}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        bail!(
            "{}: sweep.{key} repeats a value: cells {} ({}) and {} ({}) have the same configuration; remove the duplicate",
            file.locate_key(&key, true),
            first.index,
            show(first),
            cell.index,
            show(cell)
        );
    }
    Ok(())
}

/// A swept table may name itself in the result table with `label = "…"` (e.g. two
/// networks that differ only in nested keys); the label is not part of the configuration.
fn take_label(value: Value) -> (Value, Option<Value>) {
    match value {
        Value::Table(mut t) => {
            let label = t.remove("label");
            (Value::Table(t), label)
        }
        other => (other, None),
    }
}

/// A swept value as it appears in the table: scalars as they are; a table (e.g. a whole
/// `sampler = { kind = "ddim", eta = 0.5 }`) as `ddim(eta=0.5)`.
pub fn column_value(value: &Value) -> Value {
    match value {
        Value::Table(t) => {
            let kind = t.get("kind").and_then(Value::as_str).unwrap_or("");
            // Scalar arguments only: nested tables (e.g. a network's [model.train]) would
            // make unreadable labels.
            let args: Vec<String> = t
                .iter()
                .filter(|(k, v)| {
                    k.as_str() != "kind" && !matches!(v, Value::Table(_) | Value::Array(_))
                })
                .map(|(k, v)| format!("{k}={}", column_value(v)))
                .collect();
            Value::String(if args.is_empty() {
                kind.to_string()
            } else {
                format!("{kind}({})", args.join(","))
            })
        }
        Value::Array(_) | Value::Datetime(_) => Value::String(value.to_string()),
        other => other.clone(),
    }
}

/// A deterministic slice of the plan: shard `i` of `n` takes cells i, i + n, i + 2n, …
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl std::str::FromStr for Shard {
    type Err = String;

    /// Parses `i/n` with 0 ≤ i < n.
    fn from_str(text: &str) -> Result<Self, String> {
        let err = || {
            format!("--shard {text:?}: expected i/n with 0 ≤ i < n, e.g. 0/4 (Slurm: $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT)")
        };
        let (i, n) = text.split_once('/').ok_or_else(err)?;
        let (index, count) = (
            i.trim().parse::<usize>().map_err(|_| err())?,
            n.trim().parse::<usize>().map_err(|_| err())?,
        );
        if count == 0 || index >= count {
            return Err(err());
        }
        Ok(Shard { index, count })
    }
}

impl Shard {
    pub fn contains(&self, cell: &Cell) -> bool {
        cell.index % self.count == self.index
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_values_are_labelled_by_kind_and_arguments() {
        let v: Value =
            toml::from_str::<Table>("s = { kind = \"ddim\", eta = 0.5 }").unwrap()["s"].clone();
        assert_eq!(column_value(&v), Value::String("ddim(eta=0.5)".into()));
        let v: Value = toml::from_str::<Table>("s = { kind = \"heun\" }").unwrap()["s"].clone();
        assert_eq!(column_value(&v), Value::String("heun".into()));
    }

    #[test]
    fn shards_partition_the_plan() {
        let shard: Shard = "1/3".parse().unwrap();
        assert_eq!(shard, Shard { index: 1, count: 3 });
        assert!("3/3".parse::<Shard>().is_err());
        assert!("x".parse::<Shard>().is_err());
        assert!("0/0".parse::<Shard>().is_err());
    }
}
