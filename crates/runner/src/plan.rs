//! From an experiment to its cells: the `[sweep]` axes, their product (or zip), each
//! cell's resolved configuration, seed and identity, and deterministic sharding.

use crate::config::{Experiment, ExperimentFile};
use crate::overrides::set_path;
use anyhow::{bail, Context, Result};
use samplers::rng::derive_seed;
use sha2::{Digest, Sha256};
use toml::{Table, Value};

/// One swept key: its dotted path in the config, its column name and its values.
#[derive(Clone, Debug, PartialEq)]
pub struct Axis {
    pub path: Vec<String>,
    pub column: String,
    pub values: Vec<Value>,
}

/// How the axes combine into cells.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SweepMode {
    /// Every combination (the default).
    Product,
    /// The i-th values of every axis together; all axes have equal length.
    Zip,
}

/// Reads `[sweep]`: every array leaf is an axis (`sampler.skip = [0, 1]` or nested
/// tables), `mode` selects product or zip. The axes of `[[sweep.groups]]` come last, each
/// with the union of its values over the groups (see [`sweep_cells`]).
pub fn sweep_axes(sweep: &Table) -> Result<(Vec<Axis>, SweepMode)> {
    let (axes, mode, _) = parse_sweep(sweep)?;
    Ok((axes, mode))
}

/// The value lists of every cell, in plan order, for the axes of [`sweep_axes`]: the
/// product (or zip) of the common axes, times each `[[sweep.groups]]` entry's own product,
/// the groups one after another. Groups pair keys that must not be crossed, e.g. the
/// 18-step grid with K ≤ 14 and the 40-step grid with K ≤ 30.
pub fn sweep_cells(sweep: &Table) -> Result<(Vec<Axis>, Vec<Vec<Value>>)> {
    let (axes, mode, groups) = parse_sweep(sweep)?;
    let common = axes.len() - groups.first().map_or(0, Vec::len);
    let common_cells = combinations(&axes[..common], mode);
    if groups.is_empty() {
        return Ok((axes, common_cells));
    }
    let mut cells = Vec::new();
    for group in &groups {
        for group_cell in combinations(group, SweepMode::Product) {
            for common_cell in &common_cells {
                cells.push(common_cell.iter().chain(&group_cell).cloned().collect());
            }
        }
    }
    Ok((axes, cells))
}

type Groups = Vec<Vec<Axis>>;

fn parse_sweep(sweep: &Table) -> Result<(Vec<Axis>, SweepMode, Groups)> {
    let mode = match sweep.get("mode") {
        None => SweepMode::Product,
        Some(Value::String(s)) if s == "product" => SweepMode::Product,
        Some(Value::String(s)) if s == "zip" => SweepMode::Zip,
        Some(other) => bail!("sweep.mode = {other} must be \"product\" or \"zip\""),
    };
    let mut axes = Vec::new();
    collect_axes(sweep, &mut Vec::new(), &mut axes)?;
    let groups = parse_groups(sweep)?;
    if let Some(first) = groups.first() {
        for axis in first {
            let values = groups
                .iter()
                .flat_map(|g| g.iter().filter(|a| a.path == axis.path))
                .flat_map(|a| a.values.iter().cloned())
                .fold(Vec::new(), |mut acc, v| {
                    if !acc.contains(&v) {
                        acc.push(v);
                    }
                    acc
                });
            if axes.iter().any(|a| a.path == axis.path) {
                bail!(
                    "sweep.{} is swept both in [sweep] and in [[sweep.groups]]",
                    axis.path.join(".")
                );
            }
            axes.push(Axis {
                values,
                ..axis.clone()
            });
        }
    }
    // Column names: `names."sampler.skip" = "K"` if given, else the last path segment, or
    // the whole path where that is ambiguous.
    let renames = match sweep.get("names") {
        None => Table::new(),
        Some(Value::Table(t)) => t.clone(),
        Some(other) => {
            bail!("sweep.names = {other} must be a table like {{ model = \"denoiser\" }}")
        }
    };
    let names: Vec<String> = axes
        .iter()
        .map(|a| a.path.last().cloned().unwrap_or_default())
        .collect();
    for (i, axis) in axes.iter_mut().enumerate() {
        let ambiguous = names.iter().filter(|n| **n == names[i]).count() > 1;
        axis.column = if ambiguous {
            axis.path.join("_")
        } else {
            names[i].clone()
        };
        if let Some(name) = renames.get(&axis.path.join(".")) {
            axis.column = name
                .as_str()
                .map(str::to_string)
                .with_context(|| format!("sweep.names.{} must be a string", axis.path.join(".")))?;
        }
    }
    let common = axes.len() - groups.first().map_or(0, Vec::len);
    if mode == SweepMode::Zip {
        if let Some(first) = axes.first() {
            for axis in &axes[..common] {
                if axis.values.len() != first.values.len() {
                    bail!(
                        "sweep.mode = \"zip\" needs equally long lists: {} has {}, {} has {}",
                        first.path.join("."),
                        first.values.len(),
                        axis.path.join("."),
                        axis.values.len()
                    );
                }
            }
        }
    }
    Ok((axes, mode, groups))
}

/// `[[sweep.groups]]`: each entry a table of swept keys; every entry sweeps the same keys.
fn parse_groups(sweep: &Table) -> Result<Groups> {
    let Some(value) = sweep.get("groups") else {
        return Ok(Vec::new());
    };
    let Value::Array(entries) = value else {
        bail!("sweep.groups = {value} must be a list of tables ([[sweep.groups]])")
    };
    if entries.is_empty() {
        bail!("sweep.groups is an empty list");
    }
    let mut groups: Groups = Vec::new();
    for (i, entry) in entries.iter().enumerate() {
        let Value::Table(t) = entry else {
            bail!("sweep.groups[{i}] = {entry} must be a table of swept keys")
        };
        let mut axes = Vec::new();
        collect_axes(t, &mut vec![], &mut axes).with_context(|| format!("in sweep.groups[{i}]"))?;
        axes.sort_by(|a, b| a.path.cmp(&b.path));
        if let Some(first) = groups.first() {
            let keys = |g: &[Axis]| g.iter().map(|a| a.path.join(".")).collect::<Vec<_>>();
            if keys(first) != keys(&axes) {
                bail!(
                    "sweep.groups[{i}] sweeps {:?} but sweep.groups[0] sweeps {:?}: every group must sweep the same keys",
                    keys(&axes),
                    keys(first)
                );
            }
        }
        groups.push(axes);
    }
    Ok(groups)
}

fn collect_axes(table: &Table, prefix: &mut Vec<String>, axes: &mut Vec<Axis>) -> Result<()> {
    for (key, value) in table {
        if prefix.is_empty() && (key == "mode" || key == "names" || key == "groups") {
            continue;
        }
        let mut path = prefix.clone();
        path.extend(key.split('.').map(str::to_string));
        match value {
            Value::Table(t) => collect_axes(t, &mut path, axes)?,
            Value::Array(values) if !values.is_empty() => axes.push(Axis {
                path,
                column: String::new(),
                values: values.clone(),
            }),
            Value::Array(_) => bail!("sweep.{} is an empty list", path.join(".")),
            other => bail!(
                "sweep.{} = {other} must be a list of values",
                path.join(".")
            ),
        }
    }
    Ok(())
}

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

/// The value lists of every cell, in plan order.
fn combinations(axes: &[Axis], mode: SweepMode) -> Vec<Vec<Value>> {
    match mode {
        SweepMode::Zip => {
            let n = axes.first().map_or(1, |a| a.values.len());
            (0..n)
                .map(|i| axes.iter().map(|a| a.values[i].clone()).collect())
                .collect()
        }
        SweepMode::Product => axes.iter().fold(vec![vec![]], |acc, axis| {
            acc.iter()
                .flat_map(|prefix| {
                    axis.values.iter().map(move |v| {
                        let mut next = prefix.clone();
                        next.push(v.clone());
                        next
                    })
                })
                .collect()
        }),
    }
}

/// The part of a configuration that determines results: everything but presentation
/// (`plot`, `check`), execution limits (`run`) and the description.
pub fn result_defining(table: &Table) -> Table {
    let mut t = table.clone();
    for key in ["plot", "check", "run"] {
        t.remove(key);
    }
    if let Some(Value::Table(meta)) = t.get_mut("experiment") {
        meta.remove("description");
    }
    t
}

/// SHA-256 of the canonical TOML text of a table (keys sorted), as 16 hex digits.
pub fn content_hash(table: &Table) -> String {
    let text = toml::to_string(table).expect("a TOML table serializes");
    let digest = Sha256::digest(text.as_bytes());
    digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
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

    fn axes(text: &str) -> Result<(Vec<Axis>, SweepMode)> {
        sweep_axes(&toml::from_str(text).unwrap())
    }

    #[test]
    fn product_and_zip_give_the_expected_cells() {
        let (a, mode) = axes("sampler.skip = [0, 1, 2]\n[schedule]\nsteps = [18, 40]").unwrap();
        assert_eq!(mode, SweepMode::Product);
        assert_eq!(
            a.iter().map(|x| x.column.as_str()).collect::<Vec<_>>(),
            ["skip", "steps"]
        );
        assert_eq!(combinations(&a, mode).len(), 6);
        let (z, mode) = axes("mode = \"zip\"\na.x = [1, 2]\nb.y = [3, 4]").unwrap();
        let cells = combinations(&z, mode);
        assert_eq!(
            cells,
            vec![
                vec![Value::Integer(1), Value::Integer(3)],
                vec![Value::Integer(2), Value::Integer(4)]
            ]
        );
        assert!(axes("mode = \"zip\"\na.x = [1, 2]\nb.y = [3]")
            .unwrap_err()
            .to_string()
            .contains("equally long"));
        assert!(axes("a.x = 3")
            .unwrap_err()
            .to_string()
            .contains("sweep.a.x = 3 must be a list"));
        assert!(axes("mode = \"diagonal\"").is_err());
        let (amb, _) = axes("a.steps = [1]\nb.steps = [2]").unwrap();
        assert_eq!(amb[0].column, "a_steps");
    }

    #[test]
    fn groups_pair_keys_without_crossing_them() {
        let sweep: Table = toml::from_str(
            "model = [\"a\", \"b\"]\n\
             [[groups]]\nschedule.steps = [18]\nsampler.skip = [0, 14]\n\
             [[groups]]\nschedule.steps = [40]\nsampler.skip = [0, 30, 14]\n",
        )
        .unwrap();
        let (axes, cells) = sweep_cells(&sweep).unwrap();
        let columns: Vec<&str> = axes.iter().map(|a| a.column.as_str()).collect();
        assert_eq!(columns, ["model", "skip", "steps"]);
        assert_eq!(
            axes[1].values.len(),
            3,
            "union of the groups' skips: 0, 14, 30"
        );
        assert_eq!(cells.len(), 2 * 2 + 2 * 3);
        let as_text = |c: &Vec<Value>| {
            c.iter()
                .map(|v| v.to_string())
                .collect::<Vec<_>>()
                .join(",")
        };
        assert_eq!(as_text(&cells[0]), "\"a\",0,18");
        assert_eq!(as_text(&cells[3]), "\"b\",14,18");
        assert_eq!(as_text(&cells[9]), "\"b\",14,40");
        assert!(!cells.iter().any(|c| as_text(c).ends_with("30,18")));
        let bad: Table = toml::from_str("[[groups]]\na = [1]\n[[groups]]\nb = [2]\n").unwrap();
        assert!(sweep_cells(&bad)
            .unwrap_err()
            .to_string()
            .contains("every group must sweep the same keys"));
        let twice: Table = toml::from_str("a = [1]\n[[groups]]\na = [2]\n").unwrap();
        assert!(sweep_cells(&twice)
            .unwrap_err()
            .to_string()
            .contains("both"));
    }

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

    #[test]
    fn content_hash_ignores_presentation_and_key_order() {
        let a: Table = toml::from_str("[x]\na = 1\nb = 2\n[plot]\nq = 1").unwrap();
        let b: Table = toml::from_str("[x]\nb = 2\na = 1").unwrap();
        assert_eq!(
            content_hash(&result_defining(&a)),
            content_hash(&result_defining(&b))
        );
        let c: Table = toml::from_str("[x]\nb = 3\na = 1").unwrap();
        assert_ne!(
            content_hash(&result_defining(&a)),
            content_hash(&result_defining(&c))
        );
    }
}
