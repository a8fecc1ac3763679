//! The one error type of the command line: a message and the exit code it means.

use super::{EXIT_DEGRADED, EXIT_USAGE};

/// Why a command stopped, and with which exit code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct CliError {
    /// The process exit code.
    pub code: i32,
    /// What to print after `error: `.
    pub message: String,
}

impl CliError {
    /// A usage or configuration error (exit 2): nothing was started.
    pub fn usage(e: impl std::fmt::Display) -> Self {
        Self {
            code: EXIT_USAGE,
            message: e.to_string(),
        }
    }

    /// The action could not be done (exit 1).
    pub fn failed(e: impl std::fmt::Display) -> Self {
        Self {
            code: EXIT_DEGRADED,
            message: e.to_string(),
        }
    }

    /// Prints the error and gives its exit code.
    pub fn report(&self) -> i32 {
        super::term::error(&self.message);
        self.code
    }
}
