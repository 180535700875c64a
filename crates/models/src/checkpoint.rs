//! Saving and loading module parameters as burnpack (`.bpk`) records.
//!
//! burn's own `Module::load_file` / `ModuleRecord::load` keep tensor data *file-backed and
//! lazy*: the bytes are read from the path on first use, so deleting or overwriting the file
//! after "loading" breaks (or silently changes) the model. [`load`] reads the whole file into
//! memory first.

use std::path::Path;

use burn::module::Module;
use burn::store::ModuleRecord;
use burn::tensor::Bytes;

use crate::error::ModelError;

fn record_error(path: &Path, message: impl ToString) -> ModelError {
    ModelError::Record {
        path: path.display().to_string(),
        message: message.to_string(),
    }
}

/// Writes `module`'s parameters (in their current dtype) to a burnpack file at `path`.
pub fn save<M: Module>(module: M, path: &Path) -> Result<(), ModelError> {
    module
        .into_record()
        .save(path)
        .map_err(|e| record_error(path, e))
}

/// Applies the parameters stored at `path` to `module` (same architecture), reading the file
/// eagerly. Fails on missing, unused or mis-shaped tensors.
pub fn load<M: Module>(module: M, path: &Path) -> Result<M, ModelError> {
    let bytes = std::fs::read(path).map_err(|e| record_error(path, e))?;
    let record = ModuleRecord::from_bytes(Bytes::from_bytes_vec(bytes))
        .map_err(|e| record_error(path, e))?;
    module
        .try_load_record(record)
        .map_err(|e| record_error(path, e))
}
