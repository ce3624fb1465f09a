//! Per-document scoring: multiple-choice accuracy, answer-extraction filters and
//! `exact_match`, and the named `process_results` of the math tasks.

pub mod code;
pub mod filters;
pub mod hendrycks_math;
pub mod minerva;
pub mod minerva_equiv;
pub mod perplexity;

use std::collections::BTreeMap;

use serde_json::Value;

use crate::error::{EvalError, Result};
use crate::pyregex::PyRegex;
use crate::task::config::MetricSpec;

/// Metric name → value for one document (under one filter).
pub type SampleMetrics = BTreeMap<String, f64>;

/// The index of the first maximum (`numpy.argmax`; a NaN wins, as in numpy).
pub fn argmax(xs: &[f64]) -> usize {
    let mut best = 0;
    for (i, &x) in xs.iter().enumerate() {
        if x.is_nan() {
            return i;
        }
        if x > xs[best] {
            best = i;
        }
    }
    best
}

/// Multiple-choice scoring of one document. `gold` is the answer index (or
/// `None` when the label was out of range — scored wrong, as the harness does).
pub fn multiple_choice(
    lls: &[f64],
    is_greedy: &[bool],
    choices: &[String],
    gold: Option<usize>,
    wanted: &[String],
) -> SampleMetrics {
    let pred = argmax(lls);
    // acc_norm divides by the length in characters (Python `len`), not bytes.
    let by_chars: Vec<f64> = lls
        .iter()
        .zip(choices)
        .map(|(ll, c)| ll / c.chars().count() as f64)
        .collect();
    let by_bytes: Vec<f64> = lls
        .iter()
        .zip(choices)
        .map(|(ll, c)| ll / c.len() as f64)
        .collect();
    let (pred_norm, pred_bytes) = (argmax(&by_chars), argmax(&by_bytes));
    let hit = |p: usize| if gold == Some(p) { 1.0 } else { 0.0 };
    let mut out = SampleMetrics::new();
    for m in wanted {
        let v = match m.as_str() {
            "acc" => hit(pred),
            "acc_norm" => hit(pred_norm),
            "acc_bytes" => hit(pred_bytes),
            "exact_match" => gold
                .and_then(|g| is_greedy.get(g))
                .map_or(0.0, |&g| if g { 1.0 } else { 0.0 }),
            _ => continue,
        };
        out.insert(m.clone(), v);
    }
    out
}

/// A task file's regex, compiled once per thread (scoring calls `exact_match`
/// per document and filter with the same few patterns).
fn compiled(pattern: &str) -> Result<PyRegex> {
    thread_local! {
        static CACHE: std::cell::RefCell<std::collections::HashMap<String, PyRegex>> =
            std::cell::RefCell::new(std::collections::HashMap::new());
    }
    CACHE.with(|c| {
        if let Some(re) = c.borrow().get(pattern) {
            return Ok(re.clone());
        }
        let re = PyRegex::new(pattern)?;
        c.borrow_mut().insert(pattern.to_string(), re.clone());
        Ok(re)
    })
}

/// The harness's `exact_match` with its options, for one prediction/reference.
pub fn exact_match(prediction: &str, reference: &str, spec: &MetricSpec) -> Result<f64> {
    let (mut p, mut r) = (prediction.to_string(), reference.to_string());
    for pattern in &spec.regexes_to_ignore {
        let re = compiled(pattern)?;
        p = re.sub(&p, "", 0);
        r = re.sub(&r, "", 0);
    }
    if spec.ignore_case {
        p = p.to_lowercase();
        r = r.to_lowercase();
    }
    let drop = |s: &str, f: fn(&char) -> bool| s.chars().filter(|c| !f(c)).collect::<String>();
    if spec.ignore_punctuation {
        p = drop(&p, char::is_ascii_punctuation);
        r = drop(&r, char::is_ascii_punctuation);
    }
    if spec.ignore_numbers {
        p = drop(&p, char::is_ascii_digit);
        r = drop(&r, char::is_ascii_digit);
    }
    Ok(if p == r { 1.0 } else { 0.0 })
}

/// Names accepted by `process_results`.
pub const PROCESS_RESULTS: &[&str] = &["hendrycks_math", "minerva_math"];

/// A named `process_results`: scores a generation against the document.
pub fn process_results(
    name: &str,
    task: &str,
    idx: usize,
    doc: &crate::template::Doc,
    generation: &str,
) -> Result<SampleMetrics> {
    let field = |f: &str| {
        doc.get(f)
            .and_then(Value::as_str)
            .ok_or_else(|| EvalError::Document {
                task: task.into(),
                doc: idx,
                message: format!("field `{f}` missing or not a string"),
            })
    };
    let mut out = SampleMetrics::new();
    match name {
        "hendrycks_math" => {
            let ok =
                hendrycks_math::score_generation(generation, field("solution")?).map_err(|_| {
                    EvalError::Document {
                        task: task.into(),
                        doc: idx,
                        message: "solution has no \\boxed{} answer".into(),
                    }
                })?;
            out.insert("exact_match".into(), f64::from(u8::from(ok)));
        }
        "minerva_math" => {
            let gold = field("answer")?;
            let ok = minerva::normalized_match(generation, gold);
            out.insert("exact_match_minerva_norm".into(), f64::from(u8::from(ok)));
            // The harness's own metrics, when the sympy helper runs.
            let answer =
                minerva::normalize_final_answer(&minerva::get_unnormalized_answer(generation));
            let verdict = minerva_equiv::shared()
                .lock()
                .map_err(|_| EvalError::Model("the sympy checker lock is poisoned".into()))?
                .judge(&answer, gold, field("solution")?, generation);
            if let Some(v) = verdict {
                out.insert("exact_match".into(), f64::from(u8::from(v.exact_match)));
                if let Some(mv) = v.math_verify {
                    out.insert("math_verify".into(), f64::from(u8::from(mv)));
                }
            }
        }
        _ => {
            return Err(EvalError::Unknown {
                kind: "process_results",
                name: name.into(),
                known: PROCESS_RESULTS.join(", "),
            });
        }
    }
    Ok(out)
}
