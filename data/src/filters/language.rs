//! Language identification with `whatlang`: the label and its confidence are written to the
//! document's metadata (`language`, `language_score`), and documents outside the allowed
//! languages or under the threshold are rejected.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::document::{Document, Verdict};
use crate::error::{DataError, Result};
use crate::filters::Filter;

/// Keeps documents in the allowed languages with enough confidence. Defaults follow
/// datatrove's `LanguageFilter` (English, threshold 0.65).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LanguageId {
    /// Allowed ISO 639-3 codes (`eng`, `fra`, …); empty keeps every language and only labels.
    pub languages: Vec<String>,
    /// Smallest whatlang confidence accepted.
    pub min_score: f64,
}

impl Default for LanguageId {
    fn default() -> Self {
        LanguageId {
            languages: vec!["eng".into()],
            min_score: 0.65,
        }
    }
}

impl LanguageId {
    /// Checks that every allowed code is one whatlang knows, naming the field if not.
    pub fn validate(&self, field: &str) -> Result<()> {
        for code in &self.languages {
            if whatlang::Lang::from_code(code.as_str()).is_none() {
                return Err(DataError::InvalidValue {
                    field: format!("{field}.languages"),
                    message: format!(
                        "`{code}` is not an ISO 639-3 code whatlang knows (try `eng`)"
                    ),
                });
            }
        }
        if !(0.0..=1.0).contains(&self.min_score) {
            return Err(DataError::InvalidValue {
                field: format!("{field}.min_score"),
                message: format!("{} is outside 0..=1", self.min_score),
            });
        }
        Ok(())
    }
}

impl Filter for LanguageId {
    fn name(&self) -> &str {
        "language"
    }

    fn check(&self, doc: &mut Document) -> Verdict {
        let Some(info) = whatlang::detect(&doc.text) else {
            return Verdict::Reject {
                reason: "language_unknown".into(),
                score: Some(0.0),
            };
        };
        let code = info.lang().code();
        let score = info.confidence();
        doc.metadata.insert("language".into(), Value::from(code));
        doc.metadata
            .insert("language_score".into(), Value::from(score));
        if !self.languages.is_empty() && !self.languages.iter().any(|l| l == code) {
            return Verdict::reject(format!("language_{code}"), score);
        }
        if score < self.min_score {
            return Verdict::reject("language_score", score);
        }
        Verdict::Keep
    }
}
