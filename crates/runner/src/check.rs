//! Regression checks: a run's table against `results/baselines/<experiment>.<profile>.parquet`
//! under the `[check]` tolerances, rows matched on the swept keys.

use crate::config::Tolerance;
use crate::table::{Table, Values};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The baseline file of an experiment and profile.
pub fn baseline_path(results: &Path, experiment: &str, profile: Option<&str>) -> PathBuf {
    results.join("baselines").join(format!(
        "{experiment}.{}.parquet",
        profile.unwrap_or("default")
    ))
}

/// One value outside its tolerance (or a row present on one side only).
#[derive(Clone, Debug, PartialEq)]
pub struct Mismatch {
    /// `key=value` of the swept keys that identify the row.
    pub row: String,
    pub column: String,
    pub baseline: String,
    pub new: String,
    pub tolerance: String,
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:<40} {:<22} baseline {:>14}  new {:>14}  tolerance {}",
            self.row, self.column, self.baseline, self.new, self.tolerance
        )
    }
}

fn cell(values: &Values, i: usize) -> String {
    match values {
        Values::F64(v) => format!("{:.6e}", v[i]),
        Values::I64(v) => v[i].to_string(),
        Values::Str(v) => v[i].clone(),
        Values::Bool(v) => v[i].to_string(),
    }
}

fn number(values: &Values, i: usize) -> Option<f64> {
    match values {
        Values::F64(v) => Some(v[i]),
        Values::I64(v) => Some(v[i] as f64),
        _ => None,
    }
}

/// Row keys: the values of `keys` joined, for every row.
fn row_keys(table: &Table, keys: &[String]) -> Vec<String> {
    (0..table.height())
        .map(|i| {
            keys.iter()
                .filter_map(|k| {
                    table
                        .columns
                        .iter()
                        .find(|(n, _)| n == k)
                        .map(|(_, v)| format!("{k}={}", cell(v, i)))
                })
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect()
}

/// |new − baseline| ≤ abs + rel·|baseline|; NaN matches only NaN.
pub fn within(tol: &Tolerance, baseline: f64, new: f64) -> bool {
    if baseline.is_nan() || new.is_nan() {
        return baseline.is_nan() && new.is_nan();
    }
    (new - baseline).abs() <= tol.abs + tol.rel * baseline.abs()
}

/// Compares `new` with `baseline` on the `[check]` columns; rows are matched on `keys`.
pub fn compare(
    baseline: &Table,
    new: &Table,
    keys: &[String],
    tolerances: &BTreeMap<String, Tolerance>,
) -> Vec<Mismatch> {
    let (base_keys, new_keys) = (row_keys(baseline, keys), row_keys(new, keys));
    let base_index: BTreeMap<&String, usize> =
        base_keys.iter().enumerate().map(|(i, k)| (k, i)).collect();
    let mut out = Vec::new();
    for (j, key) in new_keys.iter().enumerate() {
        let Some(&i) = base_index.get(key) else {
            out.push(row_mismatch(key, "missing", "present"));
            continue;
        };
        let row = MatchedRow {
            key,
            baseline,
            new,
            i,
            j,
        };
        for (column, tol) in tolerances {
            out.extend(compare_cell(&row, column, tol));
        }
    }
    out.extend(missing_rows(&base_keys, &new_keys));
    out
}

/// A row present in both tables: its key, row `i` of `baseline` and row `j` of `new`.
struct MatchedRow<'a> {
    key: &'a str,
    baseline: &'a Table,
    new: &'a Table,
    i: usize,
    j: usize,
}

/// A whole row present on one side only (`baseline` and `new` say which).
fn row_mismatch(key: &str, baseline: &str, new: &str) -> Mismatch {
    Mismatch {
        row: key.to_string(),
        column: "(row)".into(),
        baseline: baseline.into(),
        new: new.into(),
        tolerance: "-".into(),
    }
}

/// The values of `column` in `table`, if it has that column.
fn column_values<'t>(table: &'t Table, column: &str) -> Option<&'t Values> {
    table
        .columns
        .iter()
        .find(|(n, _)| n == column)
        .map(|(_, v)| v)
}

/// "present" or "no such column", for a column missing on either side.
fn presence(values: Option<&Values>) -> String {
    if values.is_some() {
        "present"
    } else {
        "no such column"
    }
    .into()
}

/// Compares one `[check]` column of a matched row: numbers within `tol`, other values equal.
fn compare_cell(row: &MatchedRow, column: &str, tol: &Tolerance) -> Option<Mismatch> {
    let (i, j) = (row.i, row.j);
    let tolerance = format!("abs {} + rel {}", tol.abs, tol.rel);
    match (
        column_values(row.baseline, column),
        column_values(row.new, column),
    ) {
        (Some(b), Some(n)) => {
            let ok = match (number(b, i), number(n, j)) {
                (Some(bv), Some(nv)) => within(tol, bv, nv),
                _ => cell(b, i) == cell(n, j),
            };
            (!ok).then(|| Mismatch {
                row: row.key.to_string(),
                column: column.to_string(),
                baseline: cell(b, i),
                new: cell(n, j),
                tolerance,
            })
        }
        (b, n) => Some(Mismatch {
            row: row.key.to_string(),
            column: column.to_string(),
            baseline: presence(b),
            new: presence(n),
            tolerance,
        }),
    }
}

/// The baseline rows whose key no row of the new table has.
fn missing_rows<'a>(
    base_keys: &'a [String],
    new_keys: &'a [String],
) -> impl Iterator<Item = Mismatch> + 'a {
    base_keys
        .iter()
        .filter(|k| !new_keys.contains(k))
        .map(|key| row_mismatch(key, "present", "missing"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(skip: Vec<i64>, fd: Vec<f64>) -> Table {
        let mut t = Table::default();
        t.push("skip", Values::I64(skip)).unwrap();
        t.push("frechet_to_data", Values::F64(fd)).unwrap();
        t
    }

    #[test]
    fn a_one_percent_change_fails_a_tighter_tolerance_and_passes_a_looser_one() {
        let keys = vec!["skip".to_string()];
        let base = table(vec![0, 1, 2], vec![1.0, 2.0, 3.0]);
        let new = table(vec![2, 0, 1], vec![3.0, 1.0, 2.0 * 1.01]); // row order differs
        let tight = BTreeMap::from([(
            "frechet_to_data".to_string(),
            Tolerance {
                abs: 0.0,
                rel: 0.005,
            },
        )]);
        let loose = BTreeMap::from([(
            "frechet_to_data".to_string(),
            Tolerance {
                abs: 0.0,
                rel: 0.02,
            },
        )]);
        let mismatches = compare(&base, &new, &keys, &tight);
        assert_eq!(mismatches.len(), 1);
        assert_eq!(mismatches[0].row, "skip=1");
        assert_eq!(mismatches[0].new, "2.020000e0");
        assert!(compare(&base, &new, &keys, &loose).is_empty());
    }

    #[test]
    fn missing_rows_and_columns_are_reported() {
        let keys = vec!["skip".to_string()];
        let base = table(vec![0, 1], vec![1.0, 2.0]);
        let new = table(vec![0, 5], vec![1.0, 2.0]);
        let tol = BTreeMap::from([
            (
                "frechet_to_data".to_string(),
                Tolerance {
                    abs: 1e-9,
                    rel: 0.0,
                },
            ),
            ("cov_err".to_string(), Tolerance::default()),
        ]);
        let m = compare(&base, &new, &keys, &tol);
        assert!(m
            .iter()
            .any(|x| x.row == "skip=5" && x.baseline == "missing"));
        assert!(m.iter().any(|x| x.row == "skip=1" && x.new == "missing"));
        assert!(m
            .iter()
            .any(|x| x.column == "cov_err" && x.baseline == "no such column"));
        assert!(within(&Tolerance::default(), f64::NAN, f64::NAN));
        assert!(!within(&Tolerance { abs: 1.0, rel: 1.0 }, 1.0, f64::NAN));
    }
}
