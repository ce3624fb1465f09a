//! Typed errors of the data pipeline. Every variant names the file, line or field at fault.

use std::path::PathBuf;

/// Everything that can go wrong while configuring or running a data pipeline.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// Reading or writing a file failed.
    #[error("{action} `{path}`: {source}")]
    Io {
        /// What was being done (`reading`, `writing`, `creating`, …).
        action: &'static str,
        /// The file or folder involved.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The pipeline TOML could not be parsed; the message names the field and position.
    #[error("pipeline config `{path}`: {message}")]
    Config {
        /// The config file (or `<builder>` for configs built in Rust).
        path: PathBuf,
        /// The parser's message, naming the offending field.
        message: String,
    },
    /// A config value is syntactically fine but not usable.
    #[error("invalid value for `{field}`: {message}")]
    InvalidValue {
        /// Dotted path of the field, e.g. `steps[2].bands`.
        field: String,
        /// What is wrong and what would be accepted.
        message: String,
    },
    /// An input line could not be turned into a document and the run is configured to fail.
    #[error("{path}:{line}: {message}")]
    BadInput {
        /// The input file.
        path: PathBuf,
        /// 1-based line number.
        line: u64,
        /// What was wrong with the line.
        message: String,
    },
    /// A file's contents could not be read or written in its format (Parquet, ARPA …).
    #[error("{path}: {message}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong, naming the row, column or line where known.
        message: String,
    },
    /// No input files matched the configured paths.
    #[error("no input files match {patterns:?}")]
    NoInput {
        /// The configured patterns.
        patterns: Vec<String>,
    },
    /// The work folder holds results of a different config or input set.
    #[error(
        "work folder `{path}` belongs to a different config or input set; \
         rerun with --fresh to discard it"
    )]
    StaleWorkDir {
        /// The work folder.
        path: PathBuf,
    },
    /// A run was stopped on purpose after a number of shards (see `RunOptions::stop_after_shards`).
    #[error("stopped after {0} shards as requested; rerun to resume")]
    Interrupted(usize),
}

impl DataError {
    /// Wraps an I/O error with the action and path that caused it.
    pub fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        DataError::Io {
            action,
            path: path.into(),
            source,
        }
    }
}

impl DataError {
    /// A format error for `path`.
    pub fn format(path: impl Into<PathBuf>, message: impl std::fmt::Display) -> Self {
        DataError::Format {
            path: path.into(),
            message: message.to_string(),
        }
    }
}

/// Result alias for this crate.
pub type Result<T, E = DataError> = std::result::Result<T, E>;
