//! Toxicity: a word-list filter with a shipped default list, and a hook for classifiers.
//!
//! The default list (`data/assets/toxic_words_en.txt`) was written for this project: a
//! short list of English slurs and explicit terms, lowercase, one per line. Matching is
//! on whole words after lowercasing, so "Scunthorpe" does not match a listed substring.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::document::{Document, Verdict};
use crate::error::{DataError, Result};
use crate::filters::Filter;
use crate::text;

/// The shipped default word list.
pub const DEFAULT_TOXIC_WORDS: &str = include_str!("../../assets/toxic_words_en.txt");

/// Something that scores a text's toxicity in `0..=1`, e.g. a classifier model.
pub trait ToxicityClassifier: Send + Sync + std::fmt::Debug {
    /// The probability that the text is toxic.
    fn score(&self, text: &str) -> f64;
}

/// Configuration of the word-list filter.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WordListConfig {
    /// A file with one word or phrase per line; the shipped list when left out.
    pub words_file: Option<PathBuf>,
    /// Most listed-word occurrences a kept document may have (C4 uses 0).
    pub max_matches: usize,
}

/// Rejects documents holding more than `max_matches` listed words or phrases.
#[derive(Debug, Clone)]
pub struct WordListToxicity {
    words: HashSet<String>,
    phrases: Vec<Vec<String>>,
    max_matches: usize,
}

impl WordListToxicity {
    /// Builds the filter from a list (one entry per line, `#` starts a comment).
    pub fn from_list(list: &str, max_matches: usize) -> Self {
        let mut words = HashSet::new();
        let mut phrases = Vec::new();
        for entry in list
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
        {
            let tokens: Vec<String> = text::words(&entry.to_lowercase())
                .into_iter()
                .map(String::from)
                .collect();
            match tokens.len() {
                0 => {}
                1 => {
                    words.extend(tokens);
                }
                _ => phrases.push(tokens),
            }
        }
        WordListToxicity {
            words,
            phrases,
            max_matches,
        }
    }

    /// Builds the filter from its config, reading `words_file` if given.
    pub fn from_config(config: &WordListConfig) -> Result<Self> {
        let list = match &config.words_file {
            Some(path) => {
                std::fs::read_to_string(path).map_err(|e| DataError::io("reading", path, e))?
            }
            None => DEFAULT_TOXIC_WORDS.to_string(),
        };
        Ok(Self::from_list(&list, config.max_matches))
    }

    /// Number of listed words and phrases occurring in the text.
    pub fn count_matches(&self, text: &str) -> usize {
        let lower = text.to_lowercase();
        let tokens = text::words(&lower);
        let single = tokens.iter().filter(|t| self.words.contains(**t)).count();
        let multi: usize = self
            .phrases
            .iter()
            .map(|p| {
                tokens
                    .windows(p.len())
                    .filter(|w| w.iter().eq(p.iter()))
                    .count()
            })
            .sum();
        single + multi
    }
}

impl Filter for WordListToxicity {
    fn name(&self) -> &str {
        "toxicity"
    }

    fn check(&self, doc: &mut Document) -> Verdict {
        let matches = self.count_matches(&doc.text);
        if matches > self.max_matches {
            Verdict::reject("toxic_words", matches as f64)
        } else {
            Verdict::Keep
        }
    }
}

/// A logistic-regression classifier over lowercased word tokens:
/// `p = σ(bias + Σ_tokens weight(token))`, with weights from a file of `token<TAB>weight`
/// lines (and one `<bias><TAB>value` line) — the form a linear model trained elsewhere
/// (scikit-learn, fastText's linear layer) is easily exported to.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LinearToxicityClassifier {
    /// The intercept.
    pub bias: f64,
    /// Weight per token.
    pub weights: HashMap<String, f64>,
}

impl LinearToxicityClassifier {
    /// Parses the weights text; `origin` names it in errors (which give the line).
    pub fn parse(text: &str, origin: &std::path::Path) -> Result<Self> {
        let mut model = LinearToxicityClassifier::default();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let parsed = line
                .rsplit_once(['\t', ' '])
                .and_then(|(k, v)| Some((k.trim(), v.trim().parse::<f64>().ok()?)));
            let Some((token, weight)) = parsed else {
                let message = format!(
                    "line {}: expected `token<TAB>weight`, found `{line}`",
                    i + 1
                );
                return Err(DataError::format(origin, message));
            };
            if token == "<bias>" {
                model.bias = weight;
            } else {
                model.weights.insert(token.to_lowercase(), weight);
            }
        }
        Ok(model)
    }
}

impl ToxicityClassifier for LinearToxicityClassifier {
    fn score(&self, text: &str) -> f64 {
        let lower = text.to_lowercase();
        let logit = self.bias
            + text::words(&lower)
                .iter()
                .filter_map(|t| self.weights.get(*t))
                .sum::<f64>();
        1.0 / (1.0 + (-logit).exp())
    }
}

/// The `toxicity_classifier` step: a [`LinearToxicityClassifier`] read from `model`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClassifierConfig {
    /// The weights file.
    pub model: PathBuf,
    /// Highest score a kept document may have.
    #[serde(default = "half")]
    pub max_score: f64,
}

fn half() -> f64 {
    0.5
}

impl ClassifierToxicity<LinearToxicityClassifier> {
    /// Loads the classifier a config names.
    pub fn from_config(config: &ClassifierConfig) -> Result<Self> {
        let text = std::fs::read_to_string(&config.model)
            .map_err(|e| DataError::io("reading", &config.model, e))?;
        Ok(ClassifierToxicity {
            classifier: LinearToxicityClassifier::parse(&text, &config.model)?,
            max_score: config.max_score,
        })
    }
}

/// Rejects documents a [`ToxicityClassifier`] scores above a threshold; any classifier
/// plugs in from Rust, the linear one from TOML (`kind = "toxicity_classifier"`).
#[derive(Debug)]
pub struct ClassifierToxicity<C> {
    /// The classifier.
    pub classifier: C,
    /// Highest score a kept document may have.
    pub max_score: f64,
}

impl<C: ToxicityClassifier> Filter for ClassifierToxicity<C> {
    fn name(&self) -> &str {
        "toxicity_classifier"
    }

    fn check(&self, doc: &mut Document) -> Verdict {
        let score = self.classifier.score(&doc.text);
        doc.metadata
            .insert("toxicity_score".into(), serde_json::Value::from(score));
        if score > self.max_score {
            Verdict::reject("toxic", score)
        } else {
            Verdict::Keep
        }
    }
}
