//! `dlab fd A B`: the Fréchet distance between two feature files made anywhere — 2-D
//! `.npy` arrays (f32 or f64, rows = samples) or Parquet tables with one numeric column
//! per feature.

use crate::table::{Table, Values};
use anyhow::{bail, Context, Result};
use samplers::Batch;
use std::path::Path;

/// Reads a feature file as a batch (rows = samples, columns = features): at least two
/// samples of at least one feature, all finite.
pub fn read_features(path: &Path) -> Result<Batch> {
    let batch = match path.extension().and_then(|e| e.to_str()) {
        Some("npy") => read_npy(path)?,
        Some("parquet") => read_parquet(path)?,
        _ => bail!(
            "{}: expected a .npy array or a .parquet table of features",
            path.display()
        ),
    };
    if batch.n() < 2 || batch.dim() == 0 {
        bail!(
            "{}: {} samples × {} features; a Fréchet distance needs at least 2 samples of at least 1 feature",
            path.display(),
            batch.n(),
            batch.dim()
        );
    }
    if !batch.is_finite() {
        bail!("{}: holds NaN or infinite values", path.display());
    }
    Ok(batch)
}

fn read_npy(path: &Path) -> Result<Batch> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let npy = npyz::NpyFile::new(&bytes[..])
        .with_context(|| format!("{} is not a .npy file", path.display()))?;
    let shape = npy.shape().to_vec();
    let [n, d] = shape[..] else {
        bail!(
            "{}: expected a 2-D array (samples × features), found shape {shape:?}",
            path.display()
        )
    };
    if npy.order() != npyz::Order::C {
        bail!(
            "{}: expected a C-ordered (row-major) array; save it with np.ascontiguousarray",
            path.display()
        );
    }
    let descr = npy.dtype().descr().trim_matches('\'').to_string();
    let values: Vec<f64> = match descr.as_str() {
        "<f8" => npy.into_vec::<f64>()?,
        "<f4" => npy.into_vec::<f32>()?.into_iter().map(f64::from).collect(),
        other => bail!(
            "{}: expected float32 or float64 (<f4, <f8), found {other}",
            path.display()
        ),
    };
    let (n, d) = (usize::try_from(n)?, usize::try_from(d)?);
    Batch::from_vec(n, d, values).with_context(|| {
        format!(
            "{}: the header's shape {shape:?} does not match its data",
            path.display()
        )
    })
}

fn read_parquet(path: &Path) -> Result<Batch> {
    let table = Table::read_parquet(path)?;
    let (n, d) = (table.height(), table.columns.len());
    let mut data = vec![0.0; n.saturating_mul(d)];
    for (j, (name, values)) in table.columns.iter().enumerate() {
        let column: Vec<f64> = match values {
            Values::F64(v) => v.clone(),
            Values::I64(v) => v.iter().map(|&x| x as f64).collect(),
            _ => bail!("{}: column {name} is not numeric; a feature table has one numeric column per feature", path.display()),
        };
        for (i, x) in column.into_iter().enumerate() {
            data[i * d + j] = x;
        }
    }
    Ok(Batch::from_vec(n, d, data)?)
}

pub fn fd(a: &Path, b: &Path) -> Result<()> {
    let (x, y) = (read_features(a)?, read_features(b)?);
    if x.dim() != y.dim() {
        bail!(
            "{} has {} features, {} has {}",
            a.display(),
            x.dim(),
            b.display(),
            y.dim()
        );
    }
    let value = metrics::frechet::frechet_distance(&x, &y)?;
    println!("{value}");
    eprintln!(
        "Fréchet distance between {} ({} × {}) and {} ({} × {})",
        a.display(),
        x.n(),
        x.dim(),
        b.display(),
        y.n(),
        y.dim()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn npy_f32(path: &Path, rows: &[[f32; 2]]) {
        let mut out = Vec::new();
        use npyz::WriterBuilder;
        let mut w = npyz::WriteOptions::<f32>::new()
            .default_dtype()
            .shape(&[rows.len() as u64, 2])
            .writer(&mut out)
            .begin_nd()
            .unwrap();
        for r in rows {
            w.extend(r.iter().copied()).unwrap();
        }
        w.finish().unwrap();
        std::fs::write(path, out).unwrap();
    }

    #[test]
    fn npy_and_parquet_features_read_and_compare() {
        let dir = std::env::temp_dir().join(format!("dlab-fd-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let a = dir.join("a.npy");
        npy_f32(&a, &[[0.0, 1.0], [2.0, 3.0], [4.0, 7.0]]);
        let batch = read_features(&a).unwrap();
        assert_eq!(batch.as_slice(), &[0.0, 1.0, 2.0, 3.0, 4.0, 7.0]);
        let mut t = Table::default();
        t.push("f0", Values::F64(vec![0.0, 2.0, 4.0])).unwrap();
        t.push("f1", Values::I64(vec![1, 3, 7])).unwrap();
        let b = dir.join("b.parquet");
        t.write_parquet(&b).unwrap();
        assert_eq!(read_features(&b).unwrap(), batch);
        assert!(
            metrics::frechet::frechet_distance(&batch, &read_features(&b).unwrap())
                .unwrap()
                .abs()
                < 1e-9
        );
        assert!(read_features(&dir.join("c.csv"))
            .unwrap_err()
            .to_string()
            .contains("expected a .npy"));
        std::fs::remove_dir_all(&dir).ok();
    }
}
