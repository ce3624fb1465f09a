//! What a task asks of a model.

use serde::{Deserialize, Serialize};

/// One request, as the harness's `Instance.arguments`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Request {
    /// log P(continuation | context), and whether greedy decoding would produce it.
    Loglikelihood {
        /// The prompt.
        context: String,
        /// The scored text (starts with the target delimiter).
        continuation: String,
    },
    /// Greedy generation from `context`, cut at the first stop sequence.
    GenerateUntil {
        /// The prompt.
        context: String,
        /// Stop sequences.
        until: Vec<String>,
        /// Token budget.
        max_gen_toks: usize,
    },
}

impl Request {
    /// A log-likelihood request.
    pub fn loglikelihood(context: String, continuation: String) -> Self {
        Request::Loglikelihood {
            context,
            continuation,
        }
    }

    /// A generation request.
    pub fn generate(context: String, until: Vec<String>, max_gen_toks: usize) -> Self {
        Request::GenerateUntil {
            context,
            until,
            max_gen_toks,
        }
    }

    /// The prompt.
    pub fn context(&self) -> &str {
        match self {
            Request::Loglikelihood { context, .. } | Request::GenerateUntil { context, .. } => {
                context
            }
        }
    }
}

/// A model's answer to one request.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Response {
    /// `(loglikelihood, is_greedy)`.
    Loglikelihood(f64, bool),
    /// Generated text, already cut at the stop sequences.
    Text(String),
}

/// Cuts generated text at each stop sequence in turn, as the harness's models do.
pub fn truncate_at_stops(text: &str, until: &[String]) -> String {
    let mut out = text;
    for stop in until.iter().filter(|s| !s.is_empty()) {
        if let Some(pos) = out.find(stop.as_str()) {
            out = &out[..pos];
        }
    }
    out.to_string()
}
