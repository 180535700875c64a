//! Errors for sampler parameters given by a user.

/// A sampler parameter out of range, naming the key and the value.
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
#[error("sampler.{key} = {value} {reason}")]
pub struct SamplerError {
    pub key: String,
    pub value: String,
    pub reason: String,
}

impl SamplerError {
    pub fn invalid(key: &str, value: impl std::fmt::Display, reason: impl Into<String>) -> Self {
        Self {
            key: key.to_string(),
            value: value.to_string(),
            reason: reason.into(),
        }
    }
}
