//! What can go wrong before, during or after training, each case naming the file and the
//! field (or tensor) at fault so that the message alone says what to fix.

use std::path::{Path, PathBuf};

use thiserror::Error;

use crate::optim::OptimError;
use crate::schedule::ScheduleError;

/// Why a training run could not start, continue or finish.
#[derive(Debug, Error)]
pub enum TrainError {
    /// A file or directory could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// The config did not parse (syntax, unknown key, wrong type); the TOML message carries
    /// the line, the column and the key.
    #[error("{file}: {message}")]
    ConfigSyntax {
        /// The config file (or `<built-in>`).
        file: String,
        /// The parser's message.
        message: String,
    },
    /// A config value is out of range or inconsistent with another.
    #[error("{file}: field `{field}`: {reason}")]
    Config {
        /// The config file (or `<built-in>`).
        file: String,
        /// Dotted path of the field, e.g. `train.warmup_steps`.
        field: String,
        /// What is wrong and what would be accepted.
        reason: String,
    },
    /// The corpus is missing, unreadable, not UTF-8 or too short.
    #[error("corpus {}: {reason}", path.display())]
    Corpus {
        /// The corpus (or tokenizer) file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A checkpoint is corrupt or does not fit the model and config.
    #[error("checkpoint {}: {field}: {reason}", path.display())]
    Checkpoint {
        /// The checkpoint file.
        path: PathBuf,
        /// The tensor, state entry or config field at fault.
        field: String,
        /// What is wrong.
        reason: String,
    },
    /// The run directory holds a checkpoint and the caller neither resumes nor starts over.
    #[error(
        "{} already holds a checkpoint (step {step}); resume it (`--resume`) or start over (`--fresh`, which deletes it)",
        dir.display()
    )]
    RunExists {
        /// The run directory.
        dir: PathBuf,
        /// The step of its latest checkpoint.
        step: u64,
    },
    /// The model rejected a batch or failed in its backend.
    #[error("model: {0}")]
    Model(Box<dyn std::error::Error + Send + Sync>),
    /// The optimizer rejected its config, a step or its state.
    #[error(transparent)]
    Optim(#[from] OptimError),
    /// The learning-rate schedule is invalid.
    #[error(transparent)]
    Schedule(#[from] ScheduleError),
    /// The loss stopped being a number; no checkpoint is written past this point.
    #[error(
        "training diverged at step {step}: the loss is {loss}; lower `train.lr` or set `train.grad_clip`"
    )]
    Diverged {
        /// The step whose loss was not finite.
        step: u64,
        /// The loss.
        loss: f32,
    },
    /// The loss curve could not be drawn.
    #[error("plot {}: {reason}", path.display())]
    Plot {
        /// The PNG being written.
        path: PathBuf,
        /// What the plotting backend said.
        reason: String,
    },
}

/// Shorthand for results of the trainer.
pub type TrainResult<T> = Result<T, TrainError>;

impl TrainError {
    /// An I/O error on `path`.
    pub fn io(path: impl AsRef<Path>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.as_ref().to_path_buf(),
            source,
        }
    }

    /// A checkpoint error on `path` at `field`.
    pub fn checkpoint(
        path: impl AsRef<Path>,
        field: impl Into<String>,
        reason: impl Into<String>,
    ) -> Self {
        Self::Checkpoint {
            path: path.as_ref().to_path_buf(),
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// A corpus error on `path`.
    pub fn corpus(path: impl AsRef<Path>, reason: impl Into<String>) -> Self {
        Self::Corpus {
            path: path.as_ref().to_path_buf(),
            reason: reason.into(),
        }
    }
}
