//! C4's line and page rules (Raffel et al. 2020) with datatrove's defaults. The bad-words
//! rule of C4 is the [`WordListToxicity`](crate::filters::WordListToxicity) filter.
//!
//! Lines failing a line rule are dropped from the text; a page is rejected for
//! `lorem ipsum`, a curly brace, or fewer than `min_num_sentences` sentences left.

use std::sync::LazyLock;

use regex::Regex;
use serde::{Deserialize, Serialize};

use crate::document::{Document, Verdict};
use crate::filters::Filter;

#[allow(clippy::expect_used)] // reason: a constant pattern, checked by the tests
static CITATION: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\[\d*]|\[edit]|\[citation needed]").expect("valid citation regex")
});
const END_PUNCTUATION: [char; 5] = ['.', '?', '!', '"', '\''];
const POLICY_SUBSTRINGS: [&str; 6] = [
    "terms of use",
    "privacy policy",
    "cookie policy",
    "uses cookies",
    "use of cookies",
    "use cookies",
];

/// C4 quality rules; every field is named and defaulted as in datatrove's `C4QualityFilter`
/// (with `split_paragraph = true`, the C4 setting). `-1` disables the numeric rules.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct C4Quality {
    /// Remove Wikipedia-style citations (`[1]`, `[edit]`, `[citation needed]`).
    pub remove_citations: bool,
    /// Drop lines that do not end in terminal punctuation (or end in `...`).
    pub filter_no_terminal_punct: bool,
    /// Reject pages with fewer sentences left after line filtering.
    pub min_num_sentences: i64,
    /// Drop lines with fewer whitespace-separated words.
    pub min_words_per_line: i64,
    /// Drop lines holding a word longer than this.
    pub max_word_length: i64,
    /// Reject pages containing "lorem ipsum".
    pub filter_lorem_ipsum: bool,
    /// Drop lines mentioning "javascript".
    pub filter_javascript: bool,
    /// Reject pages containing `{`.
    pub filter_curly_bracket: bool,
    /// Drop lines with cookie and terms-of-use boilerplate.
    pub filter_policy: bool,
}

impl Default for C4Quality {
    fn default() -> Self {
        C4Quality {
            remove_citations: true,
            filter_no_terminal_punct: true,
            min_num_sentences: 5,
            min_words_per_line: 3,
            max_word_length: 1000,
            filter_lorem_ipsum: true,
            filter_javascript: true,
            filter_curly_bracket: true,
            filter_policy: true,
        }
    }
}

/// What the line rules decided for one line.
enum LineOutcome {
    Keep(String),
    Drop,
    RejectPage(&'static str),
}

/// Counts sentences as runs of `.`, `!` or `?` followed by whitespace or the end — a
/// stand-in for NLTK's Punkt that agrees on ordinary prose (abbreviations count extra).
pub fn count_sentences(line: &str) -> usize {
    let chars: Vec<char> = line.chars().collect();
    let mut count = 0;
    for (i, c) in chars.iter().enumerate() {
        let ends = matches!(c, '.' | '!' | '?');
        let next = chars.get(i + 1);
        let boundary = next.is_none_or(|n| n.is_whitespace() || *n == '"' || *n == '\'');
        if ends && boundary && next != Some(&'.') {
            count += 1;
        }
    }
    // A line with text but no terminal mark (possible when the punctuation rule is off)
    // is still one sentence, as Punkt would return it whole.
    if count == 0 && !line.trim().is_empty() {
        1
    } else {
        count
    }
}

impl C4Quality {
    fn check_line(&self, raw: &str) -> LineOutcome {
        let mut line = raw.trim().to_string();
        let words = line.split_whitespace().count();
        let too_long = line
            .split_whitespace()
            .any(|w| w.chars().count() as i64 > self.max_word_length);
        if self.max_word_length != -1 && too_long {
            return LineOutcome::Drop;
        }
        if self.remove_citations {
            line = CITATION.replace_all(&line, "").into_owned();
        }
        let terminal = line.ends_with(END_PUNCTUATION) && !line.ends_with("...");
        if self.filter_no_terminal_punct && !terminal {
            return LineOutcome::Drop;
        }
        if (words as i64) < self.min_words_per_line {
            return LineOutcome::Drop;
        }
        let lower = line.to_lowercase();
        if self.filter_lorem_ipsum && lower.contains("lorem ipsum") {
            return LineOutcome::RejectPage("lorem_ipsum");
        }
        if self.filter_javascript && lower.contains("javascript") {
            return LineOutcome::Drop;
        }
        if self.filter_curly_bracket && line.contains('{') {
            return LineOutcome::RejectPage("curly_bracket");
        }
        if self.filter_policy && POLICY_SUBSTRINGS.iter().any(|p| lower.contains(p)) {
            return LineOutcome::Drop;
        }
        LineOutcome::Keep(line)
    }
}

impl Filter for C4Quality {
    fn name(&self) -> &str {
        "c4_quality"
    }

    fn check(&self, doc: &mut Document) -> Verdict {
        let mut kept = Vec::new();
        let mut sentences = 0usize;
        for raw in doc.text.lines() {
            match self.check_line(raw) {
                LineOutcome::Keep(line) => {
                    sentences += count_sentences(&line);
                    kept.push(line);
                }
                LineOutcome::Drop => {}
                LineOutcome::RejectPage(reason) => {
                    return Verdict::Reject {
                        reason: reason.into(),
                        score: None,
                    };
                }
            }
        }
        if self.min_num_sentences != -1 && (sentences as i64) < self.min_num_sentences {
            return Verdict::reject("too_few_sentences", sentences as f64);
        }
        doc.text = kept.join("\n").trim().to_string();
        Verdict::Keep
    }
}
