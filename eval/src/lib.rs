//! vibee's evaluation harness: scores that mean what lm-evaluation-harness's mean.
//!
//! The pipeline: a task file ([`task::TaskConfig`], YAML in the harness's own
//! vocabulary) is bound to local documents ([`data`]) and preprocessed
//! ([`task::functions`]); each document becomes a prompt — description, few-shot
//! examples, question — and requests ([`request`]) that a [`model::LanguageModel`]
//! answers (through the on-disk [`model::cache`]); answers are scored per document
//! ([`score`]: multiple-choice `acc`/`acc_norm`, filters and `exact_match`, MATH
//! checkers), aggregated with the harness's standard errors ([`metrics`]) and
//! written in the harness's results shape ([`results`]). Code tasks run in the
//! [`sandbox`]. Parity with the harness is checked against goldens recorded by
//! `scripts/eval_goldens.py` from the real harness.
//!
//! ```
//! use vibee_eval::{evaluator, model::fake::FakeModel, task::{registry::Registry, Task}, template::Templates};
//! let registry = Registry::builtin().unwrap();
//! let config = registry.tasks["arc_easy"].clone();
//! let data = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
//! let templates = Templates::new();
//! let task = Task::load(config, &data, &templates).unwrap();
//! let result = evaluator::evaluate_task(&task, &FakeModel, &templates, &Default::default()).unwrap();
//! assert!(result.scores.contains_key("acc,none"));
//! ```

pub mod chat;
pub mod cli;
pub mod data;
pub mod error;
pub mod evaluator;
pub mod metrics;
pub mod model;
pub mod parquet_data;
pub mod py_random;
pub mod pyregex;
pub mod request;
pub mod results;
pub mod sandbox;
pub mod score;
pub mod task;
pub mod template;

pub use error::{EvalError, Result};
