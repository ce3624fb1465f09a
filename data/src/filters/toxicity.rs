//! Toxicity: a word-list filter with a shipped default list, and a hook for classifiers.
//!
//! The default list (`data/assets/toxic_words_en.txt`) was written for this project: a
//! short list of English slurs and explicit terms, lowercase, one per line. Matching is
//! on whole words after lowercasing, so "Scunthorpe" does not match a listed substring.

use std::collections::HashSet;
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

/// Rejects documents a [`ToxicityClassifier`] scores above a threshold (Rust builder only).
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
