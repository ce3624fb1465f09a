//! Data-quality pipelines for pre-training corpora: read JSONL or Parquet shards, run
//! per-document filters (Gopher, C4, FineWeb, language id, n-gram perplexity with CCNet
//! buckets, toxicity word lists and classifiers, code heuristics, tree-sitter syntax
//! checks), remove exact, line-level, near (MinHash LSH) and semantic (SemDeDup)
//! duplicates, and write what is kept plus a rejects output saying, for every removed
//! document, which stage removed it, why, and with what score. Beside the pipeline:
//! [`lm`] trains and reads KenLM-compatible ARPA models, and [`mixing`] gives a training
//! loop source weights, temperature sampling and DoReMi's weight updates.
//!
//! A pipeline is a list of steps, declared in TOML ([`PipelineConfig`]) or built in Rust
//! ([`Pipeline::builder`]). Filters stream: each shard is read in batches, the batch is
//! filtered in parallel (rayon), and written in order. A deduplicator needs the whole
//! corpus first, so it splits the pipeline into *segments*: the previous segment's output
//! is indexed (fingerprints in parallel, index in corpus order), then read again while
//! the decisions and the following filters are applied. Every shard of every segment
//! ends with a completion marker, which is what makes a killed run resumable, and the
//! counts the markers hold are what the [`Summary`] adds up: kept plus every rejection
//! equals the number of input documents.
//!
//! ```no_run
//! use vibee_data::{Pipeline, RunOptions};
//! let pipeline = Pipeline::from_toml_file("pipeline.toml".as_ref())?;
//! let summary = pipeline.run(&RunOptions::default())?;
//! println!("{summary}");
//! # Ok::<(), vibee_data::DataError>(())
//! ```

pub mod cli;
pub mod config;
pub mod dedup;
pub mod document;
pub mod embed;
pub mod error;
pub mod filters;
pub mod io;
pub mod lm;
pub mod mixing;
pub mod pipeline;
pub mod text;

pub use config::PipelineConfig;
pub use document::{Document, Rejection, Verdict};
pub use error::{DataError, Result};
pub use pipeline::{Pipeline, PipelineBuilder, RunOptions, Step, Summary};
