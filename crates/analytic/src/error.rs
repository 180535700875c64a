//! The one error type of the crate: every variant names the offending parameter and value.

/// Invalid input to a constructor or fit of this crate.
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum AnalyticError {
    /// A parameter had a value outside its domain.
    #[error("{name} = {value} is invalid: {reason}")]
    InvalidValue {
        name: &'static str,
        value: String,
        reason: String,
    },

    /// Two sizes that must agree do not.
    #[error("{name} has size {got}, expected {expected}")]
    Shape {
        name: String,
        got: usize,
        expected: usize,
    },

    /// A matrix that must be symmetric is not.
    #[error("{name} is not symmetric: [{i}][{j}] = {a} but [{j}][{i}] = {b}")]
    NotSymmetric {
        name: String,
        i: usize,
        j: usize,
        a: f64,
        b: f64,
    },

    /// A matrix that must be positive semi-definite has a negative eigenvalue.
    #[error("{name} is not positive semi-definite: eigenvalue {eigenvalue} < -{tol} (largest {largest})")]
    NotPsd {
        name: String,
        eigenvalue: f64,
        tol: f64,
        largest: f64,
    },

    /// Columns that must be orthonormal are not.
    #[error("{name} does not have orthonormal columns: max |UᵀU − I| = {deviation}")]
    NotOrthonormal { name: String, deviation: f64 },

    /// A faer decomposition did not converge.
    #[error("{what} did not converge")]
    NoConvergence { what: &'static str },
}

impl AnalyticError {
    /// Shorthand for [`AnalyticError::InvalidValue`].
    pub(crate) fn invalid(name: &'static str, value: impl ToString, reason: impl ToString) -> Self {
        Self::InvalidValue {
            name,
            value: value.to_string(),
            reason: reason.to_string(),
        }
    }

    /// Shorthand for [`AnalyticError::Shape`].
    pub(crate) fn shape(name: impl ToString, got: usize, expected: usize) -> Self {
        Self::Shape {
            name: name.to_string(),
            got,
            expected,
        }
    }
}
