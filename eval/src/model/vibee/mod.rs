//! vibee's own models as a [`LanguageModel`]: a GPT (or bigram) trained by
//! `vibee train`, loaded from its run directory ([`load`]).
//!
//! - `loglikelihood`: the context's trailing whitespace moves onto the
//!   continuation ([`crate::model::split_context`]), the pair is tokenized as the
//!   harness's `_encode_pair` does, and the continuation's token log-probabilities
//!   are summed ([`score`]).
//! - `loglikelihood_rolling`: the harness's rolling windows
//!   ([`crate::model::rolling::rolling_windows`]) at the model's context length,
//!   conditioned first on the prefix token, window scores summed.
//! - `generate_until`: greedy or seeded temperature/top-p sampling ([`generate`]).
//!
//! Requests of one [`LanguageModel::answer`] call are batched: up to
//! `batch_size` rows per forward pass, and inputs that are prefixes of other
//! inputs read their logits off the longer row. There is no KV cache yet, so
//! generation recomputes each row's window at every step.

pub mod backend;
pub mod generate;
pub mod load;
pub mod score;

use std::sync::Mutex;

use backend::Backend;
use generate::GenJob;
use score::TokenRequest;

use super::tokenizer::Tokenizer;
use super::{LanguageModel, rolling::rolling_windows, split_context};
use crate::error::{EvalError, Result};
use crate::request::{Request, Response};

/// How requests are run.
#[derive(Clone, Debug)]
pub struct VibeeOptions {
    /// Rows per forward pass.
    pub batch_size: usize,
    /// Base seed of sampled generation (the harness's default seed).
    pub seed: u64,
}

impl Default for VibeeOptions {
    fn default() -> Self {
        Self {
            batch_size: 16,
            seed: 1234,
        }
    }
}

/// A vibee model with its tokenizer.
#[derive(Debug)]
pub struct VibeeModel {
    name: String,
    backend: Mutex<Box<dyn Backend>>,
    tokenizer: Tokenizer,
    options: VibeeOptions,
}

/// Where one request's answer comes from.
enum Plan {
    /// Score `[start, end)` of the token requests and sum them.
    Scored(usize, usize),
    /// Generation job `i`.
    Generated(usize),
}

impl VibeeModel {
    /// A model from its parts.
    pub fn new(
        name: impl Into<String>,
        backend: Box<dyn Backend>,
        tokenizer: Tokenizer,
        options: VibeeOptions,
    ) -> Self {
        Self {
            name: name.into(),
            backend: Mutex::new(backend),
            tokenizer,
            options,
        }
    }

    /// The tokenizer.
    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    /// Turns the requests into token requests and generation jobs.
    fn plan(
        &self,
        requests: &[Request],
        max_context: usize,
    ) -> Result<(Vec<Plan>, Vec<TokenRequest>, Vec<GenJob>)> {
        let (mut plans, mut scored, mut jobs) = (Vec::new(), Vec::new(), Vec::new());
        let prefix = self.tokenizer.prefix_token();
        for r in requests {
            let start = scored.len();
            match r {
                Request::Loglikelihood {
                    context,
                    continuation,
                } => {
                    let (ctx, cont) = split_context(context, continuation);
                    let (context, continuation) = self.tokenizer.encode_pair(&ctx, &cont)?;
                    scored.push(TokenRequest {
                        context,
                        continuation,
                    });
                }
                Request::LoglikelihoodRolling { text } => {
                    let tokens = self.tokenizer.encode(text)?;
                    scored.extend(
                        rolling_windows(&tokens, prefix, max_context)
                            .into_iter()
                            .map(|w| TokenRequest {
                                context: w.context,
                                continuation: w.predicted,
                            }),
                    );
                }
                Request::GenerateUntil {
                    context,
                    until,
                    max_gen_toks,
                    sampling,
                } => {
                    let mut tokens = self.tokenizer.encode(context)?;
                    if tokens.is_empty() {
                        tokens.push(prefix);
                    }
                    let sample = sampling.map_or(0, |s| s.sample);
                    jobs.push(GenJob {
                        context: tokens,
                        until: until.clone(),
                        max_gen_toks: *max_gen_toks,
                        sampling: *sampling,
                        seed: generate::sample_seed(self.options.seed, context, sample),
                    });
                    plans.push(Plan::Generated(jobs.len() - 1));
                    continue;
                }
            }
            plans.push(Plan::Scored(start, scored.len()));
        }
        Ok((plans, scored, jobs))
    }
}

impl LanguageModel for VibeeModel {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn answer(&self, requests: &[Request]) -> Result<Vec<Response>> {
        let mut backend = self
            .backend
            .lock()
            .map_err(|_| EvalError::Model("an earlier request panicked in the model".into()))?;
        let (plans, scored, jobs) = self.plan(requests, backend.max_context())?;
        let batch = self.options.batch_size;
        let scores = score::score(&mut **backend, &scored, batch)?;
        let texts = generate::generate(&mut **backend, &self.tokenizer, &jobs, batch)?;
        Ok(plans
            .into_iter()
            .map(|p| match p {
                Plan::Scored(a, b) => {
                    let s = &scores[a..b];
                    Response::Loglikelihood(
                        s.iter().map(|x| x.loglikelihood).sum(),
                        s.iter().all(|x| x.is_greedy),
                    )
                }
                Plan::Generated(i) => Response::Text(texts[i].clone()),
            })
            .collect())
    }
}
