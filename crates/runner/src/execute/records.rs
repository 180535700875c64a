//! Finished cells as records on disk: `cells/<cell-id>.toml`, each written atomically
//! when its cell finishes, so a run killed part-way resumes with every finished cell.

use crate::files::write_bytes_atomically;
use crate::plan::Cell;
use crate::tasks::Measured;
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// A finished cell as stored on disk.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct CellRecord {
    pub index: usize,
    pub id: String,
    pub seed: u64,
    pub params: toml::Table,
    pub metrics: BTreeMap<String, f64>,
    /// Metric column order as computed.
    pub metric_order: Vec<String>,
    pub nfe: usize,
    pub wall_s: f64,
    /// Detail rows (tasks that measure a curve per cell), with their column order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rows: Vec<BTreeMap<String, f64>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub row_order: Vec<String>,
}

/// The record of a finished cell.
pub fn record(cell: &Cell, measured: Measured, wall_s: f64) -> CellRecord {
    CellRecord {
        index: cell.index,
        id: cell.id.clone(),
        seed: cell.seed,
        params: cell.params.iter().cloned().collect(),
        metric_order: measured.metrics.iter().map(|(k, _)| k.clone()).collect(),
        metrics: measured.metrics.into_iter().collect(),
        nfe: measured.nfe,
        wall_s,
        row_order: measured
            .rows
            .first()
            .map(|r| r.iter().map(|(k, _)| k.clone()).collect())
            .unwrap_or_default(),
        rows: measured
            .rows
            .into_iter()
            .map(|r| r.into_iter().collect())
            .collect(),
    }
}

/// Writes `cells/<id>.toml` atomically.
pub fn write_record(dir: &Path, record: &CellRecord) -> Result<()> {
    let text = toml::to_string(record)?;
    write_bytes_atomically(&dir.join(format!("{}.toml", record.id)), text.as_bytes())
}

/// Finished cells in a `cells/` directory, by id. Temporary files and unreadable records
/// (never produced by an atomic write) are ignored, and their cells run again.
pub fn load_records(dir: &Path) -> Result<BTreeMap<String, CellRecord>> {
    let mut out = BTreeMap::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(out);
    };
    for entry in entries {
        let path = entry
            .with_context(|| format!("cannot list {}", dir.display()))?
            .path();
        if crate::files::is_temp_path(&path)
            || path.extension().and_then(|e| e.to_str()) != Some("toml")
        {
            continue;
        }
        if let Some(r) = std::fs::read_to_string(&path)
            .ok()
            .and_then(|t| toml::from_str::<CellRecord>(&t).ok())
        {
            out.insert(r.id.clone(), r);
        }
    }
    Ok(out)
}
