//! Perplexity tasks (`loglikelihood_rolling`): one log-likelihood per document,
//! reported per word and per byte, as the harness's `word_perplexity`,
//! `byte_perplexity` and `bits_per_byte`.
//!
//! Each document contributes a pair `(loglikelihood, weight)` where the weight
//! counts words (`re.split(r"\s+", text)`) or UTF-8 bytes; the corpus score is
//! the ratio of the sums, not a mean of ratios.

use crate::error::{EvalError, Result};
use crate::template::Doc;

/// The rolling metrics and the aggregation each one uses in the harness.
pub const ROLLING_METRICS: &[(&str, &str)] = &[
    ("word_perplexity", "weighted_perplexity"),
    ("byte_perplexity", "weighted_perplexity"),
    ("bits_per_byte", "bits_per_byte"),
];

/// The harness's default aggregation of a rolling metric.
pub fn default_aggregation(metric: &str) -> Option<&'static str> {
    ROLLING_METRICS
        .iter()
        .find(|(m, _)| *m == metric)
        .map(|(_, a)| *a)
}

/// `len(re.split(r"\s+", text))`: Python counts the empty pieces at a leading or
/// trailing run of whitespace too.
pub fn count_words(text: &str) -> usize {
    let mut pieces = 1;
    let mut in_space = false;
    for c in text.chars() {
        let space = is_py_whitespace(c);
        if space && !in_space {
            pieces += 1;
        }
        in_space = space;
    }
    pieces
}

/// Python `re`'s `\s` on str patterns: Unicode whitespace plus the ASCII
/// separators 0x1c-0x1f.
fn is_py_whitespace(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// `len(text.encode("utf-8"))`.
pub fn count_bytes(text: &str) -> usize {
    text.len()
}

/// The per-document weights of each requested rolling metric: from the scored
/// text, or (wikitext's `process_results`) from the document's original `page`.
pub fn weights(
    metrics: &[String],
    scored_text: &str,
    process_results: Option<&str>,
    task: &str,
    doc: &Doc,
    idx: usize,
) -> Result<Vec<(String, f64)>> {
    let counted = match process_results {
        None => scored_text,
        // The harness counts wikitext's words *before* detokenization.
        Some("wikitext") => doc
            .get("page")
            .and_then(serde_json::Value::as_str)
            .ok_or_else(|| EvalError::Document {
                task: task.into(),
                doc: idx,
                message: "field `page` missing or not a string".into(),
            })?,
        Some(other) => {
            return Err(EvalError::Unknown {
                kind: "process_results of a rolling task",
                name: other.into(),
                known: "wikitext".into(),
            });
        }
    };
    let mut out = Vec::new();
    for m in metrics {
        let w = match m.as_str() {
            "word_perplexity" => count_words(counted),
            "byte_perplexity" | "bits_per_byte" => count_bytes(counted),
            _ => continue,
        };
        out.push((m.clone(), w as f64));
    }
    Ok(out)
}

/// `sum(ll) / sum(weight)`, summed left to right as Python's `sum`.
pub fn weighted_mean(lls: &[f64], weights: &[f64]) -> f64 {
    let a = lls.iter().fold(0.0, |s, x| s + x);
    let b = weights.iter().fold(0.0, |s, x| s + x);
    a / b
}

/// `weighted_perplexity`: `exp(-weighted_mean)`.
pub fn weighted_perplexity(lls: &[f64], weights: &[f64]) -> f64 {
    (-weighted_mean(lls, weights)).exp()
}

/// `bits_per_byte`: `-weighted_mean / ln 2`.
pub fn bits_per_byte(lls: &[f64], weights: &[f64]) -> f64 {
    -weighted_mean(lls, weights) / std::f64::consts::LN_2
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_counted_as_python_splits() {
        assert_eq!(count_words("a b  c"), 3);
        assert_eq!(count_words(" a b\n"), 4); // ['', 'a', 'b', '']
        assert_eq!(count_words(""), 1);
        assert_eq!(count_bytes("été"), 5);
    }

    #[test]
    fn perplexity_of_a_known_corpus() {
        let (lls, w) = ([-2.0, -4.0], [1.0, 2.0]);
        assert!((weighted_perplexity(&lls, &w) - 2f64.exp()).abs() < 1e-12);
        assert!((bits_per_byte(&lls, &w) - 2.0 / std::f64::consts::LN_2).abs() < 1e-12);
    }
}
