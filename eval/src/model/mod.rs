//! Models the harness can evaluate.
//!
//! A [`LanguageModel`] answers batches of requests. Implementations here: the
//! deterministic [`fake::FakeModel`] (tests and parity goldens), the
//! OpenAI-compatible HTTP client [`openai::OpenAiCompatible`], and the
//! [`cache::CachedModel`] wrapper that makes an interrupted run resume, and (cargo
//! feature `runtime`, on by default) vibee's own models, `vibee::VibeeModel`, loaded
//! from a `vibee train` run directory.

pub mod cache;
pub mod fake;
pub mod openai;
pub mod rolling;
pub mod tokenizer;
#[cfg(feature = "runtime")]
pub mod vibee;

use crate::error::Result;
use crate::request::{Request, Response};

/// A model that scores continuations and generates text.
pub trait LanguageModel: Send + Sync {
    /// A name for logs and the results file.
    fn name(&self) -> String;

    /// Answers every request, in order. Log-likelihood requests get
    /// [`Response::Loglikelihood`], generation requests [`Response::Text`].
    fn answer(&self, requests: &[Request]) -> Result<Vec<Response>>;
}

/// Moves trailing whitespace of the context onto the continuation, as the
/// harness's `TemplateLM._encode_pair` does before tokenizing, so that
/// "Answer: " + "B" is scored as "Answer:" + " B".
pub fn split_context(context: &str, continuation: &str) -> (String, String) {
    let trimmed = context.trim_end();
    let moved = &context[trimmed.len()..];
    (trimmed.to_string(), format!("{moved}{continuation}"))
}
