//! The one error type of the crate: a parameter, its value, and what is wrong with it.

use std::fmt::Display;

use thiserror::Error;

/// A schedule parameter that cannot be used, e.g.
/// `schedule.sigma_min = 90 must be < sigma_max = 80`.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum ScheduleError {
    /// `key` (a `[schedule]` key or constructor argument) has an unusable `value`.
    #[error("schedule.{key} = {value} {reason}")]
    Invalid {
        /// Name of the parameter.
        key: String,
        /// Its value as the user wrote it.
        value: String,
        /// What it must satisfy.
        reason: String,
    },
}

/// Result with [`ScheduleError`].
pub type Result<T> = std::result::Result<T, ScheduleError>;

impl ScheduleError {
    pub(crate) fn invalid(key: &str, value: impl Display, reason: impl Into<String>) -> Self {
        ScheduleError::Invalid {
            key: key.to_string(),
            value: value.to_string(),
            reason: reason.into(),
        }
    }
}

// Small checks shared by constructors and `ScheduleSpec::validate`. Written with negated
// comparisons so that NaN is rejected too.

/// `value > 0` and finite.
pub(crate) fn check_positive(key: &str, value: f64) -> Result<()> {
    if !(value > 0.0 && value.is_finite()) {
        return Err(ScheduleError::invalid(
            key,
            value,
            "must be a finite number > 0",
        ));
    }
    Ok(())
}

/// `value` is finite.
pub(crate) fn check_finite(key: &str, value: f64) -> Result<()> {
    if !value.is_finite() {
        return Err(ScheduleError::invalid(
            key,
            value,
            "must be a finite number",
        ));
    }
    Ok(())
}

/// `0 < value < 1`.
pub(crate) fn check_open_unit(key: &str, value: f64) -> Result<()> {
    if !(value > 0.0 && value < 1.0) {
        return Err(ScheduleError::invalid(key, value, "must be in (0, 1)"));
    }
    Ok(())
}

/// `low < high` (both already checked finite).
pub(crate) fn check_less(key_low: &str, low: f64, key_high: &str, high: f64) -> Result<()> {
    if low.is_nan() || high.is_nan() || low >= high {
        return Err(ScheduleError::invalid(
            key_low,
            low,
            format!("must be < {key_high} = {high}"),
        ));
    }
    Ok(())
}

/// `low <= high` (both already checked finite).
pub(crate) fn check_at_most(key_low: &str, low: f64, key_high: &str, high: f64) -> Result<()> {
    if low.is_nan() || high.is_nan() || low > high {
        return Err(ScheduleError::invalid(
            key_low,
            low,
            format!("must be <= {key_high} = {high}"),
        ));
    }
    Ok(())
}

/// The largest step or timestep count accepted: a grid of it takes 80 MB per f64 array.
pub const MAX_COUNT: usize = 10_000_000;

/// `1 <= value <= MAX_COUNT` for counts.
pub(crate) fn check_count(key: &str, value: usize) -> Result<()> {
    if value == 0 || value > MAX_COUNT {
        return Err(ScheduleError::invalid(
            key,
            value,
            format!("must be between 1 and {MAX_COUNT}"),
        ));
    }
    Ok(())
}
