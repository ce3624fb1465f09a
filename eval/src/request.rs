//! What a task asks of a model.

use serde::{Deserialize, Serialize};

/// How a generation request samples: absent means greedy decoding.
///
/// `sample` numbers the repeats of one prompt (the harness's `repeats`), so that
/// `n` samples of the same prompt are `n` distinct requests — for the request
/// cache as for a model seeding its sampler.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub struct Sampling {
    /// Softmax temperature.
    pub temperature: f64,
    /// Nucleus mass (1.0: off).
    pub top_p: f64,
    /// Which of the prompt's samples this is (0-based).
    pub sample: usize,
}

// Bit equality, so that requests stay usable as hash-map keys.
impl PartialEq for Sampling {
    fn eq(&self, other: &Self) -> bool {
        self.temperature.to_bits() == other.temperature.to_bits()
            && self.top_p.to_bits() == other.top_p.to_bits()
            && self.sample == other.sample
    }
}

impl Eq for Sampling {}

impl std::hash::Hash for Sampling {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.temperature.to_bits().hash(state);
        self.top_p.to_bits().hash(state);
        self.sample.hash(state);
    }
}

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
        /// Sampling settings; `None` is greedy.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sampling: Option<Sampling>,
    },
    /// log P(text) over the whole text, from an empty context (perplexity tasks);
    /// a model splits long texts into the harness's rolling windows.
    LoglikelihoodRolling {
        /// The scored text.
        text: String,
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
            sampling: None,
        }
    }

    /// A sampled generation request (sample `sampling.sample` of its prompt).
    pub fn sampled(
        context: String,
        until: Vec<String>,
        max_gen_toks: usize,
        sampling: Sampling,
    ) -> Self {
        Request::GenerateUntil {
            context,
            until,
            max_gen_toks,
            sampling: Some(sampling),
        }
    }

    /// The prompt.
    pub fn context(&self) -> &str {
        match self {
            Request::Loglikelihood { context, .. } | Request::GenerateUntil { context, .. } => {
                context
            }
            Request::LoglikelihoodRolling { .. } => "",
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
