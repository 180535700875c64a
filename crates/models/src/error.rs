//! Errors of the `models` crate: invalid configuration and checkpoint I/O.

/// An invalid model configuration or a failed checkpoint read/write.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// A configuration field is out of its valid range.
    #[error("{name} = {value} must be {requirement}")]
    InvalidConfig {
        name: &'static str,
        value: usize,
        requirement: &'static str,
    },
    /// A user-facing parameter out of range, named with its value.
    #[error("{key} = {value} must be {requirement}")]
    Invalid {
        key: String,
        value: String,
        requirement: String,
    },
    /// Training produced a NaN or infinite loss.
    #[error("training diverged at step {step}: loss = {loss} (last finite loss: {last_finite})")]
    Diverged {
        step: usize,
        loss: f64,
        last_finite: f64,
    },
    /// Reading or applying a burnpack record failed.
    #[error("checkpoint {path}: {message}")]
    Record { path: String, message: String },
}

impl ModelError {
    /// An [`ModelError::Invalid`] naming `key` and `value`.
    pub fn invalid(key: &str, value: impl std::fmt::Display, requirement: &str) -> Self {
        ModelError::Invalid {
            key: key.to_string(),
            value: value.to_string(),
            requirement: requirement.to_string(),
        }
    }
}
