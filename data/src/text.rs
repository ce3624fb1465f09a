//! Text statistics shared by the filters: word tokenization and duplicate counting.
//!
//! datatrove tokenizes words with NLTK/spaCy; we use a small rule that gives the same
//! tokens on ordinary prose: runs of alphanumeric characters (with inner `'`, `-`, `.`
//! kept, as in `don't`, `e-mail`, `3.14`) are words, and every other non-space character
//! is a token of its own. Counts can differ from NLTK's on unusual punctuation.

use std::collections::HashSet;

/// Splits text into word and punctuation tokens (see the module docs for the rule).
///
/// ```
/// assert_eq!(vibee_data::text::words("Don't stop, e-mail me!"),
///            vec!["Don't", "stop", ",", "e-mail", "me", "!"]);
/// ```
pub fn words(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut chars = text.char_indices().peekable();
    while let Some((start, c)) = chars.next() {
        if c.is_whitespace() {
            continue;
        }
        if !c.is_alphanumeric() {
            out.push(&text[start..start + c.len_utf8()]);
            continue;
        }
        let mut end = start + c.len_utf8();
        while let Some(&(i, d)) = chars.peek() {
            if d.is_alphanumeric() {
                end = i + d.len_utf8();
                chars.next();
            } else if matches!(d, '\'' | '’' | '-' | '.') && next_is_alnum(text, i + d.len_utf8())
            {
                chars.next();
            } else {
                break;
            }
        }
        out.push(&text[start..end]);
    }
    out
}

fn next_is_alnum(text: &str, at: usize) -> bool {
    text[at..].chars().next().is_some_and(char::is_alphanumeric)
}

/// True when a token has no letter or digit (datatrove's "symbol word").
pub fn is_symbol(token: &str) -> bool {
    !token.chars().any(char::is_alphanumeric)
}

/// Length in characters, as Python's `len` counts a `str`.
pub fn char_len(s: &str) -> usize {
    s.chars().count()
}

/// Counts repeated elements: `(number of repeats, characters in the repeats)`, where the
/// first occurrence of each element is not a repeat (Gopher's duplicate-line statistic).
pub fn find_duplicates<'a>(items: impl IntoIterator<Item = &'a str>) -> (usize, usize) {
    let mut seen = HashSet::new();
    let (mut elements, mut chars) = (0, 0);
    for item in items {
        if !seen.insert(item) {
            elements += 1;
            chars += char_len(item);
        }
    }
    (elements, chars)
}

/// Characters covered by the most frequent n-gram (joined with spaces) times its count;
/// ties go to the n-gram seen first, as Python's `Counter.most_common` does.
pub fn top_ngram_chars(words: &[&str], n: usize) -> Option<usize> {
    if n == 0 || words.len() < n {
        return None;
    }
    let mut counts: std::collections::HashMap<&[&str], (usize, usize)> =
        std::collections::HashMap::new();
    for (i, gram) in words.windows(n).enumerate() {
        counts.entry(gram).or_insert((0, i)).0 += 1;
    }
    let (gram, (count, _)) = counts
        .into_iter()
        .max_by(|a, b| a.1.0.cmp(&b.1.0).then(b.1.1.cmp(&a.1.1)))?;
    Some((gram.iter().map(|w| char_len(w)).sum::<usize>() + n - 1) * count)
}

/// Characters in n-grams that repeat an earlier n-gram, skipping past each repeat so
/// overlapping repeats are not counted twice (Gopher's duplicate n-gram fraction).
pub fn duplicate_ngram_chars(words: &[&str], n: usize) -> usize {
    let mut seen: HashSet<&[&str]> = HashSet::new();
    let (mut repeated, mut idx) = (0, 0);
    while n > 0 && idx + n <= words.len() {
        let gram = &words[idx..idx + n];
        if seen.contains(gram) {
            repeated += gram.iter().map(|w| char_len(w)).sum::<usize>();
            idx += n;
        } else {
            seen.insert(gram);
            idx += 1;
        }
    }
    repeated
}

/// Lowercases, drops punctuation and collapses whitespace, so that trivially different
/// copies of a text hash the same (the exact deduplicator's normalization).
pub fn normalize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut pending_space = false;
    for c in text.chars() {
        if c.is_alphanumeric() {
            if pending_space && !out.is_empty() {
                out.push(' ');
            }
            pending_space = false;
            out.extend(c.to_lowercase());
        } else if c.is_whitespace() {
            pending_space = true;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_split_punctuation_and_keep_inner_marks() {
        assert_eq!(
            words("a...b 3.14 x"),
            vec!["a", ".", ".", ".", "b", "3.14", "x"]
        );
        assert_eq!(words("  "), Vec::<&str>::new());
        assert_eq!(words("über—naïve"), vec!["über", "—", "naïve"]);
    }

    #[test]
    fn duplicates_count_every_repeat_after_the_first() {
        assert_eq!(find_duplicates(["ab", "c", "ab", "ab"]), (2, 4));
    }

    #[test]
    fn top_ngram_counts_spaces_between_words() {
        // "a b" appears twice: (1 + 1 + 1 space) * 2 = 6.
        assert_eq!(top_ngram_chars(&["a", "b", "a", "b"], 2), Some(6));
        assert_eq!(top_ngram_chars(&["a"], 2), None);
        // The most frequent gram wins even when a rarer one covers more characters.
        let w = [
            "ab", "c", "ab", "c", "ab", "c", "long", "word", "long", "word",
        ];
        assert_eq!(top_ngram_chars(&w, 2), Some(4 * 3));
    }

    #[test]
    fn duplicate_ngrams_skip_past_repeats() {
        // 2-grams: ab, bc, ca, ab(dup: +2, jump 2) -> at "c a"? words: a b c a b c
        // idx0 ab new, idx1 bc new, idx2 ca new, idx3 ab dup (+2) idx5 stop (needs 2 words).
        assert_eq!(duplicate_ngram_chars(&["a", "b", "c", "a", "b", "c"], 2), 2);
    }

    #[test]
    fn normalize_lowercases_and_drops_punctuation() {
        assert_eq!(normalize("  Hello,\n  WORLD!! "), "hello world");
    }
}
