//! Typed result tables and their files: CSV on stdout, Parquet on disk (atomic writes).

use anyhow::{bail, Context, Result};
use polars::prelude::{Column as PlColumn, DataFrame, ParquetReader, ParquetWriter, SerReader};
use std::io::Write;
use std::path::Path;

/// The values of one column.
#[derive(Clone, Debug, PartialEq)]
pub enum Values {
    F64(Vec<f64>),
    I64(Vec<i64>),
    Str(Vec<String>),
    Bool(Vec<bool>),
}

impl Values {
    /// Each value repeated `counts[i]` times (`counts.len()` must equal the length).
    pub fn repeat_rows(&self, counts: &[usize]) -> Values {
        fn rep<T: Clone>(v: &[T], counts: &[usize]) -> Vec<T> {
            v.iter()
                .zip(counts)
                .flat_map(|(x, &c)| std::iter::repeat_n(x.clone(), c))
                .collect()
        }
        match self {
            Values::F64(v) => Values::F64(rep(v, counts)),
            Values::I64(v) => Values::I64(rep(v, counts)),
            Values::Str(v) => Values::Str(rep(v, counts)),
            Values::Bool(v) => Values::Bool(rep(v, counts)),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn len(&self) -> usize {
        match self {
            Values::F64(v) => v.len(),
            Values::I64(v) => v.len(),
            Values::Str(v) => v.len(),
            Values::Bool(v) => v.len(),
        }
    }

    /// The value in row `i` as CSV text (NaN as `NaN`).
    fn csv_cell(&self, i: usize) -> String {
        match self {
            Values::F64(v) => format!("{}", v[i]),
            Values::I64(v) => v[i].to_string(),
            Values::Str(v) => csv_quote(&v[i]),
            Values::Bool(v) => v[i].to_string(),
        }
    }
}

fn csv_quote(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// A table of named, equally long, typed columns.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Table {
    pub columns: Vec<(String, Values)>,
}

impl Table {
    /// Appends a column; fails if its length differs from the others'.
    pub fn push(&mut self, name: &str, values: Values) -> Result<()> {
        if let Some((first, v)) = self.columns.first() {
            if v.len() != values.len() {
                bail!(
                    "column {name} has {} rows, column {first} has {}",
                    values.len(),
                    v.len()
                );
            }
        }
        self.columns.push((name.to_string(), values));
        Ok(())
    }

    pub fn height(&self) -> usize {
        self.columns.first().map_or(0, |(_, v)| v.len())
    }

    /// Writes the table as CSV with a header row.
    pub fn write_csv(&self, out: &mut dyn Write) -> Result<()> {
        let header: Vec<&str> = self.columns.iter().map(|(n, _)| n.as_str()).collect();
        writeln!(out, "{}", header.join(","))?;
        for i in 0..self.height() {
            let row: Vec<String> = self.columns.iter().map(|(_, v)| v.csv_cell(i)).collect();
            writeln!(out, "{}", row.join(","))?;
        }
        Ok(())
    }

    fn to_frame(&self) -> Result<DataFrame> {
        let columns = self
            .columns
            .iter()
            .map(|(name, values)| match values {
                Values::F64(v) => PlColumn::new(name.as_str().into(), v),
                Values::I64(v) => PlColumn::new(name.as_str().into(), v),
                Values::Str(v) => PlColumn::new(name.as_str().into(), v),
                Values::Bool(v) => PlColumn::new(name.as_str().into(), v),
            })
            .collect();
        Ok(DataFrame::new(self.height(), columns)?)
    }

    /// Writes Parquet atomically: to a temporary file beside `path`, then renamed, so an
    /// interrupted write never leaves a truncated table.
    pub fn write_parquet(&self, path: &Path) -> Result<()> {
        let mut frame = self.to_frame()?;
        crate::files::write_atomically(path, |file| {
            ParquetWriter::new(file).finish(&mut frame)?;
            Ok(())
        })
    }

    /// Reads a Parquet file written by [`Table::write_parquet`] (or any flat table of
    /// f64/f32, integer, string and bool columns).
    pub fn read_parquet(path: &Path) -> Result<Table> {
        let file =
            std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
        let frame = ParquetReader::new(file)
            .finish()
            .with_context(|| format!("{} is not a Parquet table", path.display()))?;
        let mut table = Table::default();
        for column in frame.columns() {
            let name = column.name().to_string();
            let series = column.as_materialized_series();
            if series.null_count() > 0 {
                anyhow::bail!(
                    "{}: column `{name}` has {} null values (of {}); fill or drop them first",
                    path.display(),
                    series.null_count(),
                    series.len()
                );
            }
            let values = match series.dtype() {
                d if d.is_float() => Values::F64(
                    series
                        .cast(&polars::prelude::DataType::Float64)?
                        .f64()?
                        .into_no_null_iter()
                        .collect(),
                ),
                d if d.is_integer() => Values::I64(
                    series
                        .cast(&polars::prelude::DataType::Int64)?
                        .i64()?
                        .into_no_null_iter()
                        .collect(),
                ),
                polars::prelude::DataType::String => Values::Str(
                    (0..series.len())
                        .map(|i| series.str_value(i).map(|s| s.to_string()))
                        .collect::<Result<_, _>>()?,
                ),
                polars::prelude::DataType::Boolean => Values::Bool(
                    series
                        .cast(&polars::prelude::DataType::Int64)?
                        .i64()?
                        .into_no_null_iter()
                        .map(|v| v != 0)
                        .collect(),
                ),
                other => bail!(
                    "{}: column {name} has unsupported type {other}",
                    path.display()
                ),
            };
            table.push(&name, values)?;
        }
        Ok(table)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parquet_round_trip_keeps_types_and_nan() {
        let mut t = Table::default();
        t.push("i", Values::I64(vec![0, 1])).unwrap();
        t.push("sigma", Values::F64(vec![80.0, f64::NAN])).unwrap();
        t.push("name", Values::Str(vec!["a".into(), "b,c".into()]))
            .unwrap();
        t.push("ok", Values::Bool(vec![true, false])).unwrap();
        assert!(t.push("short", Values::I64(vec![1])).is_err());
        let path = std::env::temp_dir().join(format!("dlab-table-{}.parquet", std::process::id()));
        t.write_parquet(&path).unwrap();
        let back = Table::read_parquet(&path).unwrap();
        std::fs::remove_file(&path).ok();
        assert_eq!(back.columns.len(), 4);
        assert_eq!(back.columns[0], t.columns[0]);
        match &back.columns[1].1 {
            Values::F64(v) => assert!(v[0] == 80.0 && v[1].is_nan()),
            other => panic!("{other:?}"),
        }
        assert_eq!(back.columns[2], t.columns[2]);
        let mut csv = Vec::new();
        t.write_csv(&mut csv).unwrap();
        assert_eq!(
            String::from_utf8(csv).unwrap(),
            "i,sigma,name,ok\n0,80,a,true\n1,NaN,\"b,c\",false\n"
        );
    }

    #[test]
    fn parquet_nulls_are_refused_naming_the_file_and_column() {
        let column = PlColumn::new("fd".into(), &[Some(1.0f64), None, Some(3.0)]);
        let mut frame = DataFrame::new(3, vec![column]).unwrap();
        let path = std::env::temp_dir().join(format!("dlab-nulls-{}.parquet", std::process::id()));
        let file = std::fs::File::create(&path).unwrap();
        ParquetWriter::new(file).finish(&mut frame).unwrap();
        let err = Table::read_parquet(&path).unwrap_err().to_string();
        std::fs::remove_file(&path).ok();
        assert!(
            err.contains("dlab-nulls") && err.contains("`fd` has 1 null values"),
            "{err}"
        );
    }
}
