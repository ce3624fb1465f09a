//! Per-document filters (quality heuristics, language id, perplexity, toxicity, code
//! heuristics and syntax). Each looks at one document, may rewrite its text or add metadata,
//! and returns a [`Verdict`]. Filters hold no state across documents, so the pipeline runs
//! them in parallel.

mod c4;
mod code;
mod fineweb;
mod gopher;
mod language;
mod perplexity;
mod syntax;
mod toxicity;

#[cfg(test)]
mod tests;

pub use c4::{C4Quality, count_sentences};
pub use code::CodeQuality;
pub use fineweb::FineWebQuality;
pub use gopher::{GOPHER_STOP_WORDS, GopherQuality, GopherRepetition};
pub use language::LanguageId;
pub use perplexity::{Bucket, Perplexity, PerplexityConfig, percentile};
pub use syntax::{CodeLanguage, CodeSyntax, SyntaxReport, UnknownLanguage, check_syntax};
pub use toxicity::{
    ClassifierConfig, ClassifierToxicity, DEFAULT_TOXIC_WORDS, LinearToxicityClassifier,
    ToxicityClassifier, WordListConfig, WordListToxicity,
};

use crate::document::{Document, Verdict};

/// A per-document quality rule.
///
/// ```
/// use vibee_data::{Document, Verdict, filters::{Filter, GopherQuality}};
/// let mut doc = Document::new("1", "too short");
/// assert!(matches!(GopherQuality::default().check(&mut doc), Verdict::Reject { .. }));
/// ```
pub trait Filter: Send + Sync + std::fmt::Debug {
    /// The stage name written into rejects and the summary.
    fn name(&self) -> &str;
    /// Decides about one document; may rewrite `doc.text` or add to `doc.metadata`.
    fn check(&self, doc: &mut Document) -> Verdict;
}

/// `num / den` as a float, `0` when `den` is zero (empty documents have no ratios).
pub(crate) fn ratio(num: usize, den: usize) -> f64 {
    if den == 0 {
        0.0
    } else {
        num as f64 / den as f64
    }
}
