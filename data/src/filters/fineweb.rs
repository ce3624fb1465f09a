//! FineWeb's extra quality rules (Penedo et al. 2024), with datatrove's defaults and its
//! comparisons (`<=`, `>=`) kept exactly, since they decide borderline documents.

use serde::{Deserialize, Serialize};

use crate::document::{Document, Verdict};
use crate::filters::{Filter, ratio};
use crate::text;

/// Line endings FineWeb counts as terminal punctuation.
const STOP_CHARS: [char; 5] = ['.', '\'', '"', '!', '?'];

/// FineWeb quality rules: line punctuation ratio, short lines, duplicated line characters
/// and the newline-per-word ("list") ratio.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FineWebQuality {
    /// Reject when at most this fraction of lines ends in terminal punctuation.
    pub line_punct_thr: f64,
    /// Do not apply the rule above to documents with no punctuated line at all.
    pub line_punct_exclude_zero: bool,
    /// Reject when at least this fraction of lines is short.
    pub short_line_thr: f64,
    /// A line of at most this many characters is short.
    pub short_line_length: usize,
    /// Reject when at least this fraction of characters is in repeated lines.
    pub char_duplicates_ratio: f64,
    /// Reject when newlines per word exceed this.
    pub new_line_ratio: f64,
}

impl Default for FineWebQuality {
    fn default() -> Self {
        FineWebQuality {
            line_punct_thr: 0.12,
            line_punct_exclude_zero: false,
            short_line_thr: 0.67,
            short_line_length: 30,
            char_duplicates_ratio: 0.01,
            new_line_ratio: 0.3,
        }
    }
}

impl Filter for FineWebQuality {
    fn name(&self) -> &str {
        "fineweb_quality"
    }

    fn check(&self, doc: &mut Document) -> Verdict {
        let text = doc.text.as_str();
        let lines: Vec<&str> = text.split('\n').collect();
        let punct = ratio(
            lines.iter().filter(|l| l.ends_with(STOP_CHARS)).count(),
            lines.len(),
        );
        if punct <= self.line_punct_thr && !(punct == 0.0 && self.line_punct_exclude_zero) {
            return Verdict::reject("line_punct_ratio", punct);
        }
        let short = lines
            .iter()
            .filter(|l| text::char_len(l) <= self.short_line_length)
            .count();
        let short = ratio(short, lines.len());
        if short >= self.short_line_thr {
            return Verdict::reject("short_line_ratio", short);
        }
        let non_empty = lines.iter().copied().filter(|l| !l.trim().is_empty());
        let (_, dup_chars) = text::find_duplicates(non_empty);
        let body_chars = text.chars().filter(|&c| c != '\n').count();
        let dup = ratio(dup_chars, body_chars);
        if dup >= self.char_duplicates_ratio {
            return Verdict::reject("char_dup_ratio", dup);
        }
        let words = text::words(text).len();
        let list = ratio(text.matches('\n').count(), words);
        if list > self.new_line_ratio {
            return Verdict::reject("list_ratio", list);
        }
        Verdict::Keep
    }
}
