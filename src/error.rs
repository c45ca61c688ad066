//! The library's error type and the exit code each kind maps to.
//!
//! Invariant: no variant carries raw record content, key material or PII. Messages name
//! files, lines, rows, fields and what to do next; the caller decides how to print them.

use std::path::Path;

/// Every failure the library reports. The variant decides the process exit code
/// (see the contract in DESIGN.md); the message is for a person.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The command line was wrong (exit 64).
    #[error("{0}")]
    Usage(String),
    /// Bad or tampered data: malformed input under `--strict`, a reconciliation that does
    /// not hold (exit 65).
    #[error("{0}")]
    Data(String),
    /// An input path matched nothing (exit 66).
    #[error("{0}")]
    NotFound(String),
    /// The output exists and `--overwrite` was not given (exit 73).
    #[error("{0}")]
    OutputExists(String),
    /// Reading or writing a file failed (exit 74).
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    /// The output is in use by another run: try again later (exit 75, EX_TEMPFAIL).
    #[error("{0}")]
    Busy(String),
    /// The pipeline file or a key is wrong (exit 78).
    #[error("{0}")]
    Config(String),
    /// The export gate refused the export, or `verify` found a problem (exit 80).
    #[error("{0}")]
    Refused(String),
    /// A bug or an unexpected failure (exit 1).
    #[error("{0}")]
    Internal(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// The process exit code for this error, as listed in DESIGN.md.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Usage(_) => 64,
            Error::Data(_) => 65,
            Error::NotFound(_) => 66,
            Error::OutputExists(_) => 73,
            Error::Io { .. } => 74,
            Error::Busy(_) => 75,
            Error::Config(_) => 78,
            Error::Refused(_) => 80,
            Error::Internal(_) => 1,
        }
    }

    /// The same error with `prefix: ` before its message (Config and Refused only).
    pub fn prefixed(self, prefix: &str) -> Self {
        match self {
            Error::Config(m) => Error::Config(format!("{prefix}: {m}")),
            Error::Refused(m) => Error::Refused(format!("{prefix}: {m}")),
            e => e,
        }
    }

    /// An I/O error with the path it happened on.
    pub fn io(what: &str, path: &Path, source: std::io::Error) -> Self {
        Error::Io {
            context: format!("{what} {}", path.display()),
            source,
        }
    }
}

/// Maps an SQLite error on the file `path` (a vault, a ledger) to an I/O error naming
/// `what` and the file.
pub fn sqlite<'a>(what: &'a str, path: &'a Path) -> impl Fn(rusqlite::Error) -> Error + 'a {
    move |e| Error::Io {
        context: format!("{what} {}", path.display()),
        source: std::io::Error::other(e.to_string()),
    }
}

impl From<arrow::error::ArrowError> for Error {
    fn from(e: arrow::error::ArrowError) -> Self {
        Error::Internal(format!("arrow: {e}"))
    }
}

impl From<parquet::errors::ParquetError> for Error {
    fn from(e: parquet::errors::ParquetError) -> Self {
        Error::Internal(format!("parquet: {e}"))
    }
}
