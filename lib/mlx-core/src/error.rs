//! The library error type and the exit-code contract shared by every binary.

use std::io;
use std::path::Path;

use mlx_contracts::ContractError;

use crate::config::diagnostic::Diagnostics;

/// Exit codes, the same for every binary; CI pipelines rely on them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum ExitStatus {
    /// Everything went well.
    Ok = 0,
    /// A check said no: validation failed, the gate refused, a drift trigger fired.
    CheckFailed = 1,
    /// The user asked for something invalid: bad flags, bad config.
    Usage = 2,
    /// Something broke at run time: I/O, network, corrupt input.
    Runtime = 3,
}

/// Errors of mlx operations.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The config is invalid.
    #[error("{0}")]
    Config(#[from] Diagnostics),
    /// The command line or a request is invalid.
    #[error("{0}")]
    Usage(String),
    /// An I/O operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What mlx was doing, naming the file.
        context: String,
        /// The OS error.
        source: io::Error,
    },
    /// A file written by mlx could not be read back.
    #[error("{path}: {source}")]
    Contract {
        /// The file.
        path: String,
        /// What is wrong with it.
        source: ContractError,
    },
    /// Any other run-time failure.
    #[error("{0}")]
    Runtime(String),
    /// A policy refused the request (an approval of one's own model, a decision on
    /// stale evidence, a promotion without a passing gate): exit 1.
    #[error("{0}")]
    Refused(String),
    /// The registry changed between reading and writing its state: exit 3; running the
    /// command again decides on the new state.
    #[error("{0}")]
    Conflict(String),
}

impl From<mlx_data::DataError> for Error {
    /// A file mlx cannot tell the format of is the user's to fix (exit 2); one it cannot
    /// open or parse is a run-time error (exit 3).
    fn from(e: mlx_data::DataError) -> Self {
        match e {
            mlx_data::DataError::UnknownFormat { .. } => Error::Usage(e.to_string()),
            other => Error::Runtime(other.to_string()),
        }
    }
}

impl From<candle_core::Error> for Error {
    /// A tensor operation of a neural network failed: shapes that do not fit a model
    /// file, or memory.
    fn from(e: candle_core::Error) -> Self {
        Error::Runtime(format!("neural network: {e}"))
    }
}

impl Error {
    /// The exit code this error maps to.
    pub fn exit_status(&self) -> ExitStatus {
        match self {
            Error::Config(_) | Error::Usage(_) => ExitStatus::Usage,
            Error::Refused(_) => ExitStatus::CheckFailed,
            Error::Io { .. } | Error::Contract { .. } | Error::Runtime(_) | Error::Conflict(_) => {
                ExitStatus::Runtime
            }
        }
    }

    /// The same error with secrets (interpolated values, URL passwords) masked in its
    /// message, for errors that may quote a source URI.
    /// `mask` is the config's ([`crate::config::LoadedConfig::mask`]).
    pub fn masked(self, mask: impl Fn(&str) -> String) -> Self {
        match self {
            Error::Usage(m) => Error::Usage(mask(&m)),
            Error::Runtime(m) => Error::Runtime(mask(&m)),
            Error::Refused(m) => Error::Refused(mask(&m)),
            Error::Io { context, source } => Error::Io {
                context: mask(&context),
                source,
            },
            other => other,
        }
    }

    /// An I/O error with a sentence saying what was being done to which file.
    pub fn io(context: impl Into<String>, source: io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An error and its sources, joined by `: ` (what an HTTP client's one-line message
/// leaves out: the connection refused, the certificate rejected).
pub fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// Adds file context to `io::Result`s.
pub trait IoContext<T> {
    /// `reading <path>` / `writing <path>` style context.
    fn with_path(self, verb: &str, path: &Path) -> Result<T>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn with_path(self, verb: &str, path: &Path) -> Result<T> {
        self.map_err(|e| Error::io(format!("{verb} {}", path.display()), e))
    }
}
