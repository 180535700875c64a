//! The result table of a run: one row per cell (or per detail row), swept parameters,
//! metrics and derived columns (convergence orders, values relative to a first setting).

use crate::config::sweep::Axis;
use crate::config::{Experiment, ExperimentFile};
use crate::execute::records::CellRecord;
use crate::plan::Cell;
use crate::table::{Table, Values};
use crate::tasks::convergence_order;
use anyhow::{bail, Context, Result};
use toml::Value;

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
    let (axes, _) = crate::config::sweep::sweep_axes(&e.sweep)?;
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
        let values: Vec<f64> = records
            .iter()
            .map(|r| r.metrics.get(metric).copied().unwrap_or(f64::NAN))
            .collect();
        table.push(metric, metric_values(metric, values))?;
    }
    push_derived_columns(&mut table, records, e, &axes, &metric_order)?;
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

/// `order_<metric>` (the convergence order over `metrics.convergence_over`) and
/// `<metric>_rel` (relative to the first value of `metrics.relative_over`), for every
/// metric but the `_std` columns.
fn push_derived_columns(
    table: &mut Table,
    records: &[CellRecord],
    e: &Experiment,
    axes: &[Axis],
    metric_order: &[String],
) -> Result<()> {
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
    Ok(())
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
    let mut keys: Vec<String> = crate::config::sweep::sweep_axes(&e.sweep)?
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

/// A metric column: a flag (`diverged`) as booleans when every cell has one, else f64.
fn metric_values(name: &str, values: Vec<f64>) -> Values {
    let flag = crate::tasks::FLAG_COLUMNS.contains(&name);
    if flag && values.iter().all(|&v| v == 0.0 || v == 1.0) {
        Values::Bool(values.iter().map(|&v| v == 1.0).collect())
    } else {
        Values::F64(values)
    }
}

/// The columns of the run's table, known before it runs: the swept keys, every cell's
/// metric columns, the derived columns, `nfe`, `seed`, `wall_s` and the detail columns.
pub fn predicted_columns(cells: &[Cell], e: &Experiment) -> Result<Vec<String>> {
    let mut out: Vec<String> = crate::config::sweep::sweep_axes(&e.sweep)?
        .0
        .into_iter()
        .map(|a| a.column)
        .collect();
    let mut metrics: Vec<String> = Vec::new();
    let mut details: Vec<String> = Vec::new();
    for cell in cells {
        let (m, d) = crate::tasks::output_columns(&cell.config);
        for (list, names) in [(&mut metrics, m), (&mut details, d)] {
            for name in names {
                if !list.contains(&name) {
                    list.push(name);
                }
            }
        }
    }
    let derived: Vec<&String> = metrics.iter().filter(|m| !m.ends_with("_std")).collect();
    let orders = e
        .metrics
        .convergence_over
        .as_ref()
        .map(|_| derived.iter().map(|m| format!("order_{m}")));
    let relative = e
        .metrics
        .relative_over
        .as_ref()
        .map(|_| derived.iter().map(|m| format!("{m}_rel")));
    let derived: Vec<String> = orders
        .into_iter()
        .flatten()
        .chain(relative.into_iter().flatten())
        .collect();
    out.extend(metrics);
    out.extend(derived);
    out.extend(details);
    out.extend(["nfe", "seed", "wall_s"].map(String::from));
    Ok(out)
}

/// Checks `[check]` and `[[plot]]` against the columns the run will write, before it
/// runs: each error names the key and its line.
pub fn check_outputs(file: &ExperimentFile, e: &Experiment, cells: &[Cell]) -> Result<()> {
    let (axes, _) = crate::config::sweep::sweep_axes(&e.sweep)?;
    for (key, over) in [
        ("metrics.convergence_over", &e.metrics.convergence_over),
        ("metrics.relative_over", &e.metrics.relative_over),
    ] {
        let Some(over) = over else { continue };
        if !axes
            .iter()
            .any(|a| a.path.join(".") == *over || a.column == *over)
        {
            let swept: Vec<String> = axes.iter().map(|a| a.path.join(".")).collect();
            bail!(
                "{}: {key} = {over:?} is not a swept key (swept: {})",
                file.locate_key(key, false),
                if swept.is_empty() {
                    "none".to_string()
                } else {
                    swept.join(", ")
                }
            );
        }
    }
    let columns = predicted_columns(cells, e)?;
    if let Some((_, twice)) = columns
        .iter()
        .enumerate()
        .find(|(i, c)| columns[..*i].contains(c))
    {
        bail!(
            "{}: the table would have two columns named `{twice}` (a swept key's column, renamed by sweep.names or not, meets another column); rename it in sweep.names",
            file.locate_key("sweep.names", false),
        );
    }
    for column in e.check.keys() {
        if !columns.contains(column) {
            let key = format!("check.{column}");
            bail!(
                "{}: {key}: the table has no column `{column}` (columns: {})",
                file.locate_key(&key, false),
                columns.join(", ")
            );
        }
    }
    for plot in &e.plot {
        plot.check_before_run(&columns)
            .with_context(|| file.locate_key("plot", false))?;
    }
    Ok(())
}
