//! Gopher's quality and repetition rules (Rae et al. 2021, table A1), with datatrove's
//! defaults. A threshold of `0` disables its rule, as `None`/`0` does in datatrove.

use serde::{Deserialize, Serialize};

use crate::document::{Document, Verdict};
use crate::filters::{Filter, ratio};
use crate::text::{self, char_len};

/// Stop words Gopher requires at least `min_stop_words` of.
pub const GOPHER_STOP_WORDS: [&str; 8] = ["the", "be", "to", "of", "and", "that", "have", "with"];

/// Gopher quality rules: word count, mean word length, symbol ratios, bullet and ellipsis
/// lines, alphabetic words and stop words.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GopherQuality {
    /// Fewest non-symbol words.
    pub min_doc_words: usize,
    /// Most non-symbol words.
    pub max_doc_words: usize,
    /// Smallest mean length of non-symbol words.
    pub min_avg_word_length: f64,
    /// Largest mean length of non-symbol words.
    pub max_avg_word_length: f64,
    /// Largest ratio of `#` (and, separately, of ellipses) to words.
    pub max_symbol_word_ratio: f64,
    /// Largest fraction of lines starting with a bullet.
    pub max_bullet_lines_ratio: f64,
    /// Largest fraction of lines ending with an ellipsis.
    pub max_ellipsis_lines_ratio: f64,
    /// Smallest fraction of words holding an alphabetic character (named as in datatrove).
    pub max_non_alpha_words_ratio: f64,
    /// Fewest stop-word occurrences.
    pub min_stop_words: usize,
    /// The stop words; Gopher's eight when left out.
    pub stop_words: Vec<String>,
}

impl Default for GopherQuality {
    fn default() -> Self {
        GopherQuality {
            min_doc_words: 50,
            max_doc_words: 100_000,
            min_avg_word_length: 3.0,
            max_avg_word_length: 10.0,
            max_symbol_word_ratio: 0.1,
            max_bullet_lines_ratio: 0.9,
            max_ellipsis_lines_ratio: 0.3,
            max_non_alpha_words_ratio: 0.8,
            min_stop_words: 2,
            stop_words: GOPHER_STOP_WORDS.iter().map(|s| s.to_string()).collect(),
        }
    }
}

impl Filter for GopherQuality {
    fn name(&self) -> &str {
        "gopher_quality"
    }

    fn check(&self, doc: &mut Document) -> Verdict {
        let text = doc.text.as_str();
        let words = text::words(text);
        let content: Vec<&str> = words
            .iter()
            .copied()
            .filter(|w| !text::is_symbol(w))
            .collect();
        let n_words = words.len().max(1) as f64;
        let n_content = content.len();
        if self.min_doc_words > 0 && n_content < self.min_doc_words {
            return Verdict::reject("gopher_short_doc", n_content as f64);
        }
        if self.max_doc_words > 0 && n_content > self.max_doc_words {
            return Verdict::reject("gopher_long_doc", n_content as f64);
        }
        let mean_len = ratio(
            content.iter().map(|w| char_len(w)).sum::<usize>(),
            n_content,
        );
        if self.min_avg_word_length > 0.0 && mean_len < self.min_avg_word_length {
            return Verdict::reject("gopher_below_avg_threshold", mean_len);
        }
        if self.max_avg_word_length > 0.0 && mean_len > self.max_avg_word_length {
            return Verdict::reject("gopher_above_avg_threshold", mean_len);
        }
        if let Some(v) = self.symbol_rules(text, n_words) {
            return v;
        }
        if let Some(v) = self.line_rules(text) {
            return v;
        }
        self.word_rules(&words, n_words)
    }
}

impl GopherQuality {
    fn symbol_rules(&self, text: &str, n_words: f64) -> Option<Verdict> {
        if self.max_symbol_word_ratio <= 0.0 {
            return None;
        }
        let hashes = text.matches('#').count() as f64 / n_words;
        if hashes > self.max_symbol_word_ratio {
            return Some(Verdict::reject("gopher_too_many_hashes", hashes));
        }
        let ellipses = (text.matches("...").count() + text.matches('…').count()) as f64 / n_words;
        (ellipses > self.max_symbol_word_ratio)
            .then(|| Verdict::reject("gopher_too_many_ellipsis", ellipses))
    }

    fn line_rules(&self, text: &str) -> Option<Verdict> {
        let lines: Vec<&str> = text.lines().collect();
        let bullets = lines
            .iter()
            .filter(|l| {
                let l = l.trim_start();
                l.starts_with('•') || l.starts_with('-')
            })
            .count();
        let bullet_ratio = ratio(bullets, lines.len());
        if self.max_bullet_lines_ratio > 0.0 && bullet_ratio > self.max_bullet_lines_ratio {
            return Some(Verdict::reject("gopher_too_many_bullets", bullet_ratio));
        }
        let ellipsis_lines = lines
            .iter()
            .filter(|l| {
                let l = l.trim_end();
                l.ends_with("...") || l.ends_with('…')
            })
            .count();
        let ellipsis_ratio = ratio(ellipsis_lines, lines.len());
        (self.max_ellipsis_lines_ratio > 0.0 && ellipsis_ratio > self.max_ellipsis_lines_ratio)
            .then(|| Verdict::reject("gopher_too_many_end_ellipsis", ellipsis_ratio))
    }

    fn word_rules(&self, words: &[&str], n_words: f64) -> Verdict {
        let alpha = words
            .iter()
            .filter(|w| w.chars().any(char::is_alphabetic))
            .count();
        let alpha_ratio = alpha as f64 / n_words;
        if self.max_non_alpha_words_ratio > 0.0 && alpha_ratio < self.max_non_alpha_words_ratio {
            return Verdict::reject("gopher_below_alpha_threshold", alpha_ratio);
        }
        // Stop words are matched case-sensitively, as datatrove does.
        let stops = words
            .iter()
            .filter(|w| self.stop_words.iter().any(|s| s == *w))
            .count();
        if self.min_stop_words > 0 && stops < self.min_stop_words {
            return Verdict::reject("gopher_enough_stop_words", stops as f64);
        }
        Verdict::Keep
    }
}

/// Gopher repetition rules: duplicate lines and paragraphs, the most frequent 2–4-grams,
/// and characters in repeated 5–10-grams.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GopherRepetition {
    /// Largest fraction of lines that repeat an earlier line.
    pub dup_line_frac: f64,
    /// Largest fraction of paragraphs that repeat an earlier paragraph.
    pub dup_para_frac: f64,
    /// Largest fraction of characters in repeated lines.
    pub dup_line_char_frac: f64,
    /// Largest fraction of characters in repeated paragraphs.
    pub dup_para_char_frac: f64,
    /// `(n, max fraction)`: characters covered by the most frequent n-gram.
    pub top_n_grams: Vec<(usize, f64)>,
    /// `(n, max fraction)`: characters in n-grams repeating an earlier one.
    pub dup_n_grams: Vec<(usize, f64)>,
}

impl Default for GopherRepetition {
    fn default() -> Self {
        GopherRepetition {
            dup_line_frac: 0.3,
            dup_para_frac: 0.3,
            dup_line_char_frac: 0.2,
            dup_para_char_frac: 0.2,
            top_n_grams: vec![(2, 0.2), (3, 0.18), (4, 0.16)],
            dup_n_grams: vec![
                (5, 0.15),
                (6, 0.14),
                (7, 0.13),
                (8, 0.12),
                (9, 0.11),
                (10, 0.10),
            ],
        }
    }
}

/// Splits on runs of at least `min` newlines, like the regex `\n{min,}`.
fn split_newline_runs(text: &str, min: usize) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut start, mut i) = (0, 0);
    let bytes = text.as_bytes();
    while i < bytes.len() {
        if bytes[i] == b'\n' {
            let run_start = i;
            while i < bytes.len() && bytes[i] == b'\n' {
                i += 1;
            }
            if i - run_start >= min {
                parts.push(&text[start..run_start]);
                start = i;
            }
        } else {
            i += 1;
        }
    }
    parts.push(&text[start..]);
    parts
}

impl Filter for GopherRepetition {
    fn name(&self) -> &str {
        "gopher_repetition"
    }

    fn check(&self, doc: &mut Document) -> Verdict {
        let text = doc.text.as_str();
        let text_chars = char_len(text).max(1);
        let paragraphs = split_newline_runs(text.trim(), 2);
        let rules = [
            (
                paragraphs,
                self.dup_para_frac,
                self.dup_para_char_frac,
                "dup_para",
            ),
            (
                split_newline_runs(text, 1),
                self.dup_line_frac,
                self.dup_line_char_frac,
                "dup_line",
            ),
        ];
        for (parts, frac, char_frac, what) in rules {
            let (dups, dup_chars) = text::find_duplicates(parts.iter().copied());
            let f = ratio(dups, parts.len());
            if frac > 0.0 && f > frac {
                return Verdict::reject(format!("{what}_frac"), f);
            }
            let cf = ratio(dup_chars, text_chars);
            if char_frac > 0.0 && cf > char_frac {
                return Verdict::reject(format!("{what}_char_frac"), cf);
            }
        }
        let words = text::words(text);
        for &(n, frac) in &self.top_n_grams {
            let Some(top) = text::top_ngram_chars(&words, n) else {
                continue;
            };
            let f = ratio(top, text_chars);
            if f > frac {
                return Verdict::reject(format!("top_{n}_gram"), f);
            }
        }
        for &(n, frac) in &self.dup_n_grams {
            let f = ratio(text::duplicate_ngram_chars(&words, n), text_chars);
            if f > frac {
                return Verdict::reject(format!("duplicated_{n}_n_grams"), f);
            }
        }
        Verdict::Keep
    }
}
