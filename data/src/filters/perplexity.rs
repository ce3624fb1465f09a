//! Perplexity filtering as in CCNet (Wenzek et al. 2020): a document's perplexity under
//! an n-gram model trained on high-quality text places it in the *head* (below the 30th
//! percentile of a reference distribution), *middle* (below the 60th) or *tail* bucket.
//! The bucket and perplexity are added to the metadata; buckets not in `keep` reject.

use std::path::PathBuf;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::document::{Document, Verdict};
use crate::error::{DataError, Result};
use crate::filters::Filter;
use crate::lm::{LmNormalization, NgramModel, arpa};

/// A CCNet quality bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Bucket {
    /// Lowest perplexity: most like the model's training text.
    Head,
    /// Between the two cut-offs.
    Middle,
    /// Highest perplexity.
    Tail,
}

impl Bucket {
    /// The name written to metadata.
    pub fn as_str(self) -> &'static str {
        match self {
            Bucket::Head => "head",
            Bucket::Middle => "middle",
            Bucket::Tail => "tail",
        }
    }
}

/// The `perplexity` step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PerplexityConfig {
    /// The ARPA model (from `vibee data train-lm` or KenLM's `lmplz`).
    pub model: PathBuf,
    /// Normalization used when the model was trained.
    #[serde(default)]
    pub normalization: LmNormalization,
    /// Explicit cut-offs `[head_max, middle_max]`; taken from `reference` when left out.
    #[serde(default)]
    pub cutoffs: Option<[f64; 2]>,
    /// Reference documents (JSONL or Parquet) whose perplexity percentiles give the
    /// cut-offs.
    #[serde(default)]
    pub reference: Option<PathBuf>,
    /// Text field of the reference documents.
    #[serde(default = "default_text_field")]
    pub reference_text_field: String,
    /// The two percentiles of the reference distribution (CCNet: 30 and 60).
    #[serde(default = "default_percentiles")]
    pub percentiles: [f64; 2],
    /// Buckets that are kept.
    #[serde(default = "default_keep")]
    pub keep: Vec<Bucket>,
}

fn default_text_field() -> String {
    "text".into()
}

fn default_percentiles() -> [f64; 2] {
    [30.0, 60.0]
}

fn default_keep() -> Vec<Bucket> {
    vec![Bucket::Head, Bucket::Middle]
}

/// The `p`-th percentile (0–100) of `values` with linear interpolation between closest
/// ranks (NumPy's default); `None` for no values.
///
/// ```
/// let p = vibee_data::filters::percentile(&[4.0, 1.0, 3.0, 2.0], 30.0);
/// assert_eq!(p, Some(1.9)); // rank 0.3 · 3 = 0.9 between 1 and 2
/// ```
pub fn percentile(values: &[f64], p: f64) -> Option<f64> {
    let mut sorted: Vec<f64> = values.iter().copied().filter(|v| !v.is_nan()).collect();
    if sorted.is_empty() {
        return None;
    }
    sorted.sort_by(f64::total_cmp);
    let rank = (p / 100.0).clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let (lo, hi) = (rank.floor() as usize, rank.ceil() as usize);
    Some(sorted[lo] + (sorted[hi] - sorted[lo]) * (rank - lo as f64))
}

/// Perplexity filter with CCNet buckets.
#[derive(Debug, Clone)]
pub struct Perplexity {
    model: Arc<NgramModel>,
    normalization: LmNormalization,
    cutoffs: [f64; 2],
    keep: Vec<Bucket>,
}

impl Perplexity {
    /// A filter from a model and explicit cut-offs.
    pub fn new(
        model: Arc<NgramModel>,
        normalization: LmNormalization,
        cutoffs: [f64; 2],
        keep: Vec<Bucket>,
    ) -> Self {
        Perplexity {
            model,
            normalization,
            cutoffs,
            keep,
        }
    }

    /// Loads the model and settles the cut-offs; `field` prefixes error field names.
    pub fn from_config(config: &PerplexityConfig, field: &str) -> Result<Self> {
        let model = Arc::new(arpa::load_arpa(&config.model)?);
        let cutoffs = match (config.cutoffs, &config.reference) {
            (Some(c), _) => c,
            (None, Some(reference)) => {
                let values = reference_perplexities(&model, config, reference)?;
                let cut = |p| percentile(&values, p).unwrap_or(f64::INFINITY);
                [cut(config.percentiles[0]), cut(config.percentiles[1])]
            }
            (None, None) => {
                return Err(DataError::InvalidValue {
                    field: format!("{field}.cutoffs"),
                    message: "give `cutoffs = [head_max, middle_max]` or a `reference` file".into(),
                });
            }
        };
        Ok(Self::new(
            model,
            config.normalization,
            cutoffs,
            config.keep.clone(),
        ))
    }

    /// The cut-offs in use.
    pub fn cutoffs(&self) -> [f64; 2] {
        self.cutoffs
    }

    /// The bucket of a perplexity.
    pub fn bucket(&self, perplexity: f64) -> Bucket {
        if perplexity < self.cutoffs[0] {
            Bucket::Head
        } else if perplexity < self.cutoffs[1] {
            Bucket::Middle
        } else {
            Bucket::Tail
        }
    }
}

fn reference_perplexities(
    model: &NgramModel,
    config: &PerplexityConfig,
    path: &std::path::Path,
) -> Result<Vec<f64>> {
    let records = crate::io::read_records(path)?;
    Ok(records
        .iter()
        .filter_map(|r| r.get(&config.reference_text_field)?.as_str())
        .map(|text| model.perplexity(text, config.normalization))
        .filter(|p| p.is_finite())
        .collect())
}

impl Filter for Perplexity {
    fn name(&self) -> &str {
        "perplexity"
    }

    fn check(&self, doc: &mut Document) -> Verdict {
        let perplexity = self.model.perplexity(&doc.text, self.normalization);
        let bucket = self.bucket(perplexity);
        if perplexity.is_finite() {
            doc.metadata.insert("perplexity".into(), perplexity.into());
        }
        doc.metadata
            .insert("perplexity_bucket".into(), bucket.as_str().into());
        if self.keep.contains(&bucket) {
            Verdict::Keep
        } else {
            Verdict::Reject {
                reason: format!("perplexity_{}", bucket.as_str()),
                score: Some(perplexity),
            }
        }
    }
}
