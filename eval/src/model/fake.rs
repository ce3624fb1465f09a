//! A deterministic fake model: every score is a function of a hash of the text.
//!
//! `scripts/eval_goldens.py` implements the same functions as an lm-eval `LM`
//! subclass (`HashLM`), so the harness and vibee see identical model outputs and
//! any difference in the goldens is a difference in prompts or scoring.

use super::LanguageModel;
use crate::error::Result;
use crate::request::{Request, Response, truncate_at_stops};

/// 64-bit FNV-1a over UTF-8 bytes.
pub fn fnv1a64(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// `(loglikelihood, is_greedy)` for a continuation: a hash-derived score in
/// [-50, 0) minus a quarter per character (so `acc` and `acc_norm` differ).
pub fn fake_loglikelihood(context: &str, continuation: &str) -> (f64, bool) {
    let h = fnv1a64(&format!("{context}\0{continuation}"));
    let ll = -((h % 50_000) as f64 / 1000.0) - 0.25 * continuation.chars().count() as f64;
    (ll, (h >> 20) & 3 == 0)
}

const GEN_TEMPLATES: &[&str] = &[
    "Let me think. The total is {n}.\n#### {n}\n\nQuestion: ignored",
    "We get {n} after adding 1 and 2.",
    "I am not sure.",
    "The answer is ${n}.",
    "So x = \\boxed{{n}}.\nFinal Answer: The final answer is ${n}$. I hope it is correct.\n\nProblem: next",
    "#### {n}.",
];
const GEN_ANSWERS: &[&str] = &[
    "1",
    "3",
    "2",
    "4,000",
    "5",
    "-6",
    "\\frac{1}{2}",
    "3.0",
    "1000",
    "90^\\circ",
    "\\frac12",
    "5/2",
];

/// The generation for a context (before stop sequences are applied).
pub fn fake_generation(context: &str) -> String {
    let h = fnv1a64(context);
    let template = GEN_TEMPLATES[((h >> 4) % GEN_TEMPLATES.len() as u64) as usize];
    let answer = GEN_ANSWERS[((h >> 16) % GEN_ANSWERS.len() as u64) as usize];
    template.replace("{n}", answer)
}

/// The fake model's context length for rolling windows (small, so that the
/// fixture pages span several windows).
pub const FAKE_MAX_LENGTH: usize = 16;
/// The fake tokenizer's end-of-text token (one past the byte values).
pub const FAKE_EOT: u32 = 256;

/// The score of one rolling window over byte tokens.
pub fn fake_window_loglikelihood(context: &[u32], predicted: &[u32]) -> f64 {
    let join = |t: &[u32]| t.iter().map(u32::to_string).collect::<Vec<_>>().join(",");
    let h = fnv1a64(&format!("{}|{}", join(context), join(predicted)));
    -((h % 5000) as f64 / 1000.0) - 0.5 * predicted.len() as f64
}

/// `loglikelihood_rolling` of the fake model: UTF-8 bytes as tokens, the
/// harness's rolling windows of [`FAKE_MAX_LENGTH`], window scores summed.
pub fn fake_rolling_loglikelihood(text: &str) -> f64 {
    let tokens: Vec<u32> = text.bytes().map(u32::from).collect();
    super::rolling::rolling_windows(&tokens, FAKE_EOT, FAKE_MAX_LENGTH)
        .iter()
        .fold(0.0, |acc, w| {
            acc + fake_window_loglikelihood(&w.context, &w.predicted)
        })
}

/// The generation of sample `sample` of a prompt: sample 0 is the greedy
/// [`fake_generation`]; later samples hash the sample number in.
pub fn fake_sample(context: &str, sample: usize) -> String {
    if sample == 0 {
        fake_generation(context)
    } else {
        fake_generation(&format!("{context}\0{sample}"))
    }
}

/// The fake model.
#[derive(Debug, Default, Clone)]
pub struct FakeModel;

impl LanguageModel for FakeModel {
    fn name(&self) -> String {
        "fake".into()
    }

    fn answer(&self, requests: &[Request]) -> Result<Vec<Response>> {
        Ok(requests
            .iter()
            .map(|r| match r {
                Request::Loglikelihood {
                    context,
                    continuation,
                } => {
                    let (ll, greedy) = fake_loglikelihood(context, continuation);
                    Response::Loglikelihood(ll, greedy)
                }
                Request::GenerateUntil {
                    context,
                    until,
                    sampling,
                    ..
                } => {
                    let sample = sampling.map_or(0, |s| s.sample);
                    Response::Text(truncate_at_stops(&fake_sample(context, sample), until))
                }
                Request::LoglikelihoodRolling { text } => {
                    Response::Loglikelihood(fake_rolling_loglikelihood(text), false)
                }
            })
            .collect())
    }
}
