//! `[sweep]`: the swept keys (axes), how they combine (product, zip, `[[sweep.groups]]`)
//! and the value lists of every cell.

use anyhow::{bail, Context, Result};
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
    collect_axes(sweep, &[], &mut axes)?;
    let groups = parse_groups(sweep)?;
    append_group_axes(&mut axes, &groups)?;
    name_columns(&mut axes, sweep)?;
    let common = axes.len() - groups.first().map_or(0, Vec::len);
    if mode == SweepMode::Zip {
        check_zip_lengths(&axes[..common])?;
    }
    Ok((axes, mode, groups))
}

/// The keys of `[[sweep.groups]]` as axes after the common ones, each with the union of its
/// values over the groups; a key may not be swept both ways.
fn append_group_axes(axes: &mut Vec<Axis>, groups: &Groups) -> Result<()> {
    let Some(first) = groups.first() else {
        return Ok(());
    };
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
    Ok(())
}

/// Column names: `names."sampler.skip" = "K"` if given, else the last path segment, or
/// the whole path where that is ambiguous.
fn name_columns(axes: &mut [Axis], sweep: &Table) -> Result<()> {
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
    Ok(())
}

/// `mode = "zip"` pairs the i-th values of every axis: all lists equally long.
fn check_zip_lengths(axes: &[Axis]) -> Result<()> {
    let Some(first) = axes.first() else {
        return Ok(());
    };
    for axis in axes {
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
    Ok(())
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
        collect_axes(t, &[], &mut axes).with_context(|| format!("in sweep.groups[{i}]"))?;
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

fn collect_axes(table: &Table, prefix: &[String], axes: &mut Vec<Axis>) -> Result<()> {
    for (key, value) in table {
        if prefix.is_empty() && (key == "mode" || key == "names" || key == "groups") {
            continue;
        }
        let mut path = prefix.to_vec();
        path.extend(key.split('.').map(str::to_string));
        match value {
            Value::Table(t) => collect_axes(t, &path, axes)?,
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
}
