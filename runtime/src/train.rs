//! The training scheduler: corpus, batching, the step loop (gradient accumulation,
//! clipping, the optimizer and its schedule), validation, checkpoints and metrics.
//!
//! The loop drives any model through the [`Trainable`] trait. A run goes
//! config ([`TrainConfig`], TOML) → corpus ([`Corpus`]: the embedded Markov text with its
//! exact entropy rate, a UTF-8 file, or a `tokenizer.json` encoding) → model
//! ([`build_model`]) → [`train_model`]: every check first, then the run directory
//! (`config.toml`, `metrics.jsonl`, `checkpoints/`, `loss.png`, `sample.txt`).
//!
//! ```no_run
//! use vibee_runtime::train::{RunOptions, TrainConfig, train};
//! let cfg = TrainConfig::from_toml_str("[train]\nsteps = 100\nwarmup_steps = 10\n", "run.toml")?;
//! let report = train(&cfg, &RunOptions::default())?;
//! println!("{report}");
//! # Ok::<(), vibee_runtime::train::TrainError>(())
//! ```

mod atomic;
pub mod batch;
pub mod bigram;
pub mod checkpoint;
pub mod config;
pub mod corpus;
pub mod error;
pub mod metrics;
pub mod model;
pub mod models;
pub mod plot;
pub mod run;
pub mod sample;
mod trainer;

pub use batch::{Batch, Batcher};
pub use bigram::Bigram;
pub use config::{
    LoopConfig, ModelConfig, ModelKind, OptimizerKind, OutputConfig, Precision, TrainConfig,
};
pub use corpus::{Corpus, CorpusConfig, EntropyRate, MarkovSource, MarkovSpec};
pub use error::{TrainError, TrainResult};
pub use model::{ModelResult, ParamSpec, Trainable};
pub use models::build_model;
pub use run::{ResumePolicy, RunOptions, RunPaths, TrainReport, resolve_model, train, train_model};
