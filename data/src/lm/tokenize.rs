//! How text becomes LM tokens: CCNet's normalization (lowercase, every digit to `0`)
//! and the crate's word tokenizer, one sentence per line.

use serde::{Deserialize, Serialize};

/// Normalization applied before tokenizing, identically when training and scoring.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LmNormalization {
    /// Lowercase the text.
    pub lowercase: bool,
    /// Replace every decimal digit by `0` (CCNet), so numbers share statistics.
    pub digits_to_zero: bool,
}

impl Default for LmNormalization {
    fn default() -> Self {
        LmNormalization {
            lowercase: true,
            digits_to_zero: true,
        }
    }
}

/// The tokens of one line: normalized, then split by [`crate::text::words`].
///
/// ```
/// use vibee_data::lm::{LmNormalization, lm_tokens};
/// assert_eq!(lm_tokens("In 1984, Orwell.", LmNormalization::default()),
///            vec!["in", "0000", ",", "orwell", "."]);
/// ```
pub fn lm_tokens(line: &str, norm: LmNormalization) -> Vec<String> {
    let mut text = if norm.lowercase {
        line.to_lowercase()
    } else {
        line.to_string()
    };
    if norm.digits_to_zero {
        text = text
            .chars()
            .map(|c| if c.is_ascii_digit() { '0' } else { c })
            .collect();
    }
    crate::text::words(&text)
        .into_iter()
        .map(str::to_string)
        .collect()
}
