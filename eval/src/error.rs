//! The one error type of the harness; every variant names what to look at.

use std::path::PathBuf;

/// Everything that can go wrong while loading tasks and data or scoring.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A JSONL line is not a JSON object.
    #[error("{path}:{line}: not a JSON object: {message}")]
    Jsonl {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What the parser said.
        message: String,
    },
    /// A task file does not parse or is inconsistent.
    #[error("task file {path}: {message}")]
    TaskFile {
        /// The file (or `<builtin>/name.yaml`).
        path: String,
        /// What is wrong.
        message: String,
    },
    /// A task, group or preprocessor name is not known.
    #[error("unknown {kind} `{name}`; known: {known}")]
    Unknown {
        /// "task", "process_docs", "filter", ...
        kind: &'static str,
        /// The name asked for.
        name: String,
        /// The names that would be accepted.
        known: String,
    },
    /// A template failed to render or evaluate against a document.
    #[error("task `{task}`, {field} of document {doc}: {message}")]
    Template {
        /// Task name.
        task: String,
        /// `doc_to_text`, `doc_to_target`, ...
        field: &'static str,
        /// Index of the document in its split.
        doc: usize,
        /// The template engine's message.
        message: String,
    },
    /// A document lacks a field or holds the wrong type.
    #[error("task `{task}`, document {doc}: {message}")]
    Document {
        /// Task name.
        task: String,
        /// Index of the document in its split.
        doc: usize,
        /// What is missing or wrong.
        message: String,
    },
    /// A regular expression from a task file does not compile.
    #[error("regex `{pattern}`: {message}")]
    Regex {
        /// The pattern as written.
        pattern: String,
        /// The compiler's message.
        message: String,
    },
    /// The model failed or broke its contract.
    #[error("model: {0}")]
    Model(String),
    /// A chat template failed to load or render (including its own `raise_exception`).
    #[error("chat template {origin}: {message}")]
    ChatTemplate {
        /// The tokenizer_config.json (or `<chat template>`).
        origin: String,
        /// What went wrong.
        message: String,
    },
    /// A Parquet file cannot be read or does not hold what the task needs.
    #[error("parquet {path}: {message}")]
    Parquet {
        /// The file.
        path: PathBuf,
        /// What is wrong (names the column where there is one).
        message: String,
    },
    /// A `vibee train` run directory (or one of its checkpoint files) is missing
    /// something or holds something malformed.
    #[error("vibee run: {path}: `{field}`: {message}")]
    RunDir {
        /// The file or directory at fault.
        path: PathBuf,
        /// The entry, tensor or config field at fault (`file` for the file itself).
        field: String,
        /// What is wrong.
        message: String,
    },
    /// The code sandbox could not run a sample at all (not a failed sample).
    #[error("sandbox: {0}")]
    Sandbox(String),
}

/// Result alias for the harness.
pub type Result<T, E = EvalError> = std::result::Result<T, E>;
