//! The one error type of the crate: every variant names the offending input and its value.

/// Invalid input to a metric.
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum MetricError {
    /// Two sizes that must agree do not.
    #[error("{name} has size {got}, expected {expected}")]
    DimensionMismatch {
        name: &'static str,
        got: usize,
        expected: usize,
    },

    /// A sample set is too small for the statistic.
    #[error("{name} has {n} samples, needs at least {needed}")]
    TooFewSamples {
        name: &'static str,
        n: usize,
        needed: usize,
    },

    /// A count parameter is outside its domain.
    #[error("{name} = {value} is invalid: {reason}")]
    InvalidParameter {
        name: &'static str,
        value: usize,
        reason: &'static str,
    },

    /// A real-valued parameter is outside its domain.
    #[error("{name} = {value} is invalid: {reason}")]
    InvalidValue {
        name: &'static str,
        value: f64,
        reason: String,
    },

    /// An input holds NaN or ±∞.
    #[error("{name} contains a non-finite value at index {index}")]
    NonFinite { name: &'static str, index: usize },

    /// The symmetric eigen-solver did not converge.
    #[error("eigen-decomposition of {name} did not converge")]
    EigenNoConvergence { name: &'static str },
}

/// `Err(NonFinite)` naming the first NaN/∞ in `values`.
pub(crate) fn check_finite(name: &'static str, values: &[f64]) -> Result<(), MetricError> {
    match values.iter().position(|x| !x.is_finite()) {
        Some(index) => Err(MetricError::NonFinite { name, index }),
        None => Ok(()),
    }
}

/// `Err(DimensionMismatch)` when `got != expected`.
pub(crate) fn check_len(
    name: &'static str,
    got: usize,
    expected: usize,
) -> Result<(), MetricError> {
    if got == expected {
        Ok(())
    } else {
        Err(MetricError::DimensionMismatch {
            name,
            got,
            expected,
        })
    }
}

/// `Err(InvalidValue)` unless `value` is finite and > 0.
pub(crate) fn check_positive(name: &'static str, value: f64) -> Result<(), MetricError> {
    if value.is_finite() && value > 0.0 {
        Ok(())
    } else {
        Err(MetricError::InvalidValue {
            name,
            value,
            reason: "must be finite and > 0".to_string(),
        })
    }
}

/// `Err(InvalidParameter)` when a count is 0.
pub(crate) fn check_count(name: &'static str, value: usize) -> Result<(), MetricError> {
    if value == 0 {
        Err(MetricError::InvalidParameter {
            name,
            value,
            reason: "must be ≥ 1",
        })
    } else {
        Ok(())
    }
}
