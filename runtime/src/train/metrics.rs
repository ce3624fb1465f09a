//! Metrics as JSON Lines (`metrics.jsonl`): one object per training step, and one per
//! validation, each flushed as it is written so that a killed run leaves whole lines.
//!
//! On resume the log is cut back to the checkpoint's step (the killed run may have logged
//! steps the checkpoint does not contain) by an atomic rewrite, then appended to.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::atomic::write_atomic;
use super::error::{TrainError, TrainResult};

/// One line of `metrics.jsonl`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Record {
    /// Optimizer steps completed when this was measured.
    pub step: u64,
    /// Mean training loss of the step (nats per token).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loss: Option<f32>,
    /// Mean validation loss (nats per token).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub val_loss: Option<f32>,
    /// The learning rate the step used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lr: Option<f64>,
    /// Global gradient norm before clipping.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grad_norm: Option<f64>,
    /// Training tokens consumed so far.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens: Option<u64>,
    /// Throughput of this step (forward, backward and update).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens_per_s: Option<f64>,
}

/// An open `metrics.jsonl`, with every record of the run so far (for the plot).
#[derive(Debug)]
pub struct MetricsLog {
    path: PathBuf,
    file: File,
    /// Records of this run, including those before a resume.
    pub history: Vec<Record>,
}

impl MetricsLog {
    /// Starts an empty log (replacing any old one).
    pub fn create(path: &Path) -> TrainResult<Self> {
        write_atomic(path, b"")?;
        Self::open(path, Vec::new())
    }

    /// Keeps the records up to `step` (dropping torn or later lines) and appends after them.
    pub fn resume(path: &Path, step: u64) -> TrainResult<Self> {
        let history: Vec<Record> = match File::open(path) {
            Ok(f) => BufReader::new(f)
                .lines()
                .map_while(Result::ok)
                .filter_map(|line| serde_json::from_str::<Record>(&line).ok())
                .filter(|r| r.step <= step)
                .collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(TrainError::io(path, e)),
        };
        let mut text = String::new();
        for r in &history {
            text.push_str(&to_line(r, path)?);
        }
        write_atomic(path, text.as_bytes())?;
        Self::open(path, history)
    }

    fn open(path: &Path, history: Vec<Record>) -> TrainResult<Self> {
        let file = OpenOptions::new()
            .append(true)
            .open(path)
            .map_err(|e| TrainError::io(path, e))?;
        Ok(Self {
            path: path.to_path_buf(),
            file,
            history,
        })
    }

    /// Appends one record.
    pub fn write(&mut self, record: Record) -> TrainResult<()> {
        let line = to_line(&record, &self.path)?;
        self.file
            .write_all(line.as_bytes())
            .map_err(|e| TrainError::io(&self.path, e))?;
        self.history.push(record);
        Ok(())
    }
}

fn to_line(record: &Record, path: &Path) -> TrainResult<String> {
    serde_json::to_string(record)
        .map(|s| s + "\n")
        .map_err(|e| TrainError::io(path, std::io::Error::other(e)))
}
