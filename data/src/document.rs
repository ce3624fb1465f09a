//! Documents as they travel through a pipeline, and the verdicts stages give them.

use serde_json::{Map, Value};

/// One document: its id, its text, every other field of the input record, and the metadata
/// stages add (language label, scores …), which writers merge into the record's `metadata`.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    /// Stable id: the input's id field, or `<shard stem>:<line>` when the record has none.
    pub id: String,
    /// The text that filters look at and may rewrite.
    pub text: String,
    /// The rest of the input record, kept as is so no metadata is lost.
    pub fields: Map<String, Value>,
    /// Metadata added by stages; written under the record's `metadata` object.
    pub metadata: Map<String, Value>,
}

impl Document {
    /// A document with no extra fields, handy in tests and builders.
    ///
    /// ```
    /// let doc = vibee_data::Document::new("a", "Some text.");
    /// assert_eq!(doc.text, "Some text.");
    /// ```
    pub fn new(id: impl Into<String>, text: impl Into<String>) -> Self {
        Document {
            id: id.into(),
            text: text.into(),
            fields: Map::new(),
            metadata: Map::new(),
        }
    }
}

/// Why a stage removed a document. Written beside the document into the rejects output.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejection {
    /// The stage that rejected it (`gopher_quality`, `minhash`, `reader` …).
    pub stage: String,
    /// A short machine-readable reason (`gopher_short_doc`, `near_duplicate` …).
    pub reason: String,
    /// The measured value that crossed the threshold, where there is one.
    pub score: Option<f64>,
    /// For duplicates: the id of the document kept in its place.
    pub kept_id: Option<String>,
}

impl Rejection {
    /// A rejection with a reason and an optional score.
    pub fn new(stage: &str, reason: impl Into<String>, score: Option<f64>) -> Self {
        Rejection {
            stage: stage.to_string(),
            reason: reason.into(),
            score,
            kept_id: None,
        }
    }

    /// The rejection as the JSON object stored under `_vibee_reject` in rejects files.
    pub fn to_json(&self) -> Value {
        let mut map = Map::new();
        map.insert("stage".into(), Value::from(self.stage.clone()));
        map.insert("reason".into(), Value::from(self.reason.clone()));
        if let Some(score) = self.score.filter(|s| s.is_finite()) {
            map.insert("score".into(), Value::from(score));
        }
        if let Some(kept) = &self.kept_id {
            map.insert("kept_id".into(), Value::from(kept.clone()));
        }
        Value::Object(map)
    }
}

/// What a filter decided about one document.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Keep the document (possibly rewritten by the filter).
    Keep,
    /// Remove the document for this reason, with the score that decided it.
    Reject {
        /// Machine-readable reason.
        reason: String,
        /// The value that crossed the threshold.
        score: Option<f64>,
    },
}

impl Verdict {
    /// Shorthand for a rejection with a score.
    pub fn reject(reason: impl Into<String>, score: f64) -> Self {
        Verdict::Reject {
            reason: reason.into(),
            score: Some(score),
        }
    }
}
