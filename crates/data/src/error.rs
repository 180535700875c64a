//! The one error type of the crate: every message names the file or parameter at fault.

use std::path::PathBuf;

/// Why a data set could not be loaded or built.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// The file does not exist; `hint` tells the user how to get it.
    #[error("{}: file not found; {hint}", path.display())]
    Missing { path: PathBuf, hint: String },

    /// The file exists but its content is not what the format promises.
    #[error("{}: expected {expected}, found {found}", path.display())]
    Malformed {
        path: PathBuf,
        expected: String,
        found: String,
    },

    /// Reading the file failed for another reason (permissions, I/O error, bad gzip stream).
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A user-supplied parameter is out of range, e.g. `test_fraction = 1.5 must be in (0, 1)`.
    #[error("{name} = {value} {requirement}")]
    InvalidParameter {
        name: String,
        value: String,
        requirement: String,
    },

    /// A closed-form distribution rejected its parameters.
    #[error(transparent)]
    Analytic(#[from] analytic::AnalyticError),
}

/// Result alias of the crate.
pub type Result<T, E = DataError> = std::result::Result<T, E>;

impl DataError {
    /// The `[data]` key the error is about (`noise` of `moons.noise = …`), when it is about
    /// a parameter rather than a file.
    pub fn key(&self) -> Option<&str> {
        use analytic::AnalyticError as A;
        let name: &str = match self {
            Self::InvalidParameter { name, .. } => name,
            Self::Analytic(A::InvalidValue { name, .. }) => name,
            Self::Analytic(A::Shape { name, .. })
            | Self::Analytic(A::NotSymmetric { name, .. })
            | Self::Analytic(A::NotPsd { name, .. }) => name,
            _ => return None,
        };
        Some(name.rsplit('.').next().unwrap_or(name))
    }

    /// `InvalidParameter` from a name, a printable value and the violated requirement.
    pub fn invalid(name: &str, value: impl std::fmt::Debug, requirement: &str) -> Self {
        Self::InvalidParameter {
            name: name.to_string(),
            value: format!("{value:?}"),
            requirement: requirement.to_string(),
        }
    }

    pub(crate) fn malformed(
        path: &std::path::Path,
        expected: impl Into<String>,
        found: impl Into<String>,
    ) -> Self {
        Self::Malformed {
            path: path.to_path_buf(),
            expected: expected.into(),
            found: found.into(),
        }
    }
}
