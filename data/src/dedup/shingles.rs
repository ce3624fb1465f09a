//! Shingle hashing for MinHash: word n-grams and character n-grams, hashed to 32 bits.
//!
//! Word shingles are the hot path of a MinHash run (splitting and hashing every word of
//! the corpus), so words are found by one byte scan that also notes whether a word needs
//! lowercasing, instead of `str::split_whitespace` (which decodes every character) followed
//! by a second pass over each word. The scan splits exactly where `split_whitespace` does —
//! at every Unicode `White_Space` character — which a test checks over every code point.

use xxhash_rust::xxh3::xxh3_64;

/// Byte classes for the scan, as bit flags so a word's flags can be or-ed together.
/// Whitespace: ASCII whitespace, or the lead byte of a multi-byte sequence that may be
/// whitespace (U+0085, U+00A0, U+1680, U+2000–U+200A, U+2028, U+2029, U+202F, U+205F and
/// U+3000 start with C2, E1, E2 or E3).
const SPACE: u8 = 1;
const MAYBE_SPACE: u8 = 2;
/// ASCII capital: the word needs lowercasing.
const UPPER: u8 = 4;
/// Non-ASCII byte: the word needs Unicode lowercasing.
const NON_ASCII: u8 = 8;

const CLASS: [u8; 256] = {
    let mut class = [0; 256];
    let mut b = 0;
    while b < 256 {
        class[b] = match b as u8 {
            b'\t'..=b'\r' | b' ' => SPACE,
            0xC2 | 0xE1 | 0xE2 | 0xE3 => MAYBE_SPACE | NON_ASCII,
            b'A'..=b'Z' => UPPER,
            0x80..=0xFF => NON_ASCII,
            _ => 0,
        };
        b += 1;
    }
    class
};

/// Length of the whitespace character starting at `bytes[i]` (whose lead byte has class
/// `MAYBE_SPACE`), or 0 when it is not whitespace.
#[inline]
fn multibyte_space(bytes: &[u8], i: usize) -> usize {
    let next = |k: usize| bytes.get(i + k).copied().unwrap_or(0);
    let space = match (bytes[i], next(1), next(2)) {
        (0xC2, 0x85 | 0xA0, _) => return 2,
        (0xE1, 0x9A, 0x80) => true,
        (0xE2, 0x80, 0x80..=0x8A | 0xA8 | 0xA9 | 0xAF) => true,
        (0xE2, 0x81, 0x9F) => true,
        (0xE3, 0x80, 0x80) => true,
        _ => false,
    };
    if space { 3 } else { 0 }
}

/// Length of the whitespace character at `bytes[i]`, or 0 when it is part of a word.
#[inline(always)]
fn space_len(bytes: &[u8], i: usize, class: u8) -> usize {
    if class & SPACE != 0 {
        1
    } else if class & MAYBE_SPACE != 0 {
        multibyte_space(bytes, i)
    } else {
        0
    }
}

/// Calls `f(word, plain)` for each whitespace-separated word of `text`, in order, where
/// `plain` is true when the word is ASCII without capitals (lowercasing leaves it as is).
/// Splits exactly like `str::split_whitespace`.
pub(crate) fn for_each_word(text: &str, mut f: impl FnMut(&str, bool)) {
    let bytes = text.as_bytes();
    let mut i = 0;
    loop {
        // Skip whitespace.
        while i < bytes.len() {
            match space_len(bytes, i, CLASS[bytes[i] as usize]) {
                0 => break,
                n => i += n,
            }
        }
        if i >= bytes.len() {
            return;
        }
        // One word: the common byte costs a lookup, a rarely taken branch and an or.
        let (start, mut flags) = (i, 0u8);
        while i < bytes.len() {
            let class = CLASS[bytes[i] as usize];
            if class & (SPACE | MAYBE_SPACE) != 0 && space_len(bytes, i, class) > 0 {
                break;
            }
            flags |= class;
            i += 1;
        }
        // Both ends sit on character boundaries: `start` follows whitespace or the
        // start, and `i` is the end or begins a whitespace character.
        f(&text[start..i], flags & (UPPER | NON_ASCII) == 0);
    }
}

/// The hash of a word, lowercased if asked (`plain`: the word has nothing to lowercase).
/// Words are lowercased one at a time — the same result as lowercasing the text, since
/// case mapping never makes or removes whitespace — so the text is never copied.
fn word_hash(word: &str, plain: bool, lowercase: bool, buf: &mut Vec<u8>) -> u64 {
    if plain || !lowercase {
        return xxh3_64(word.as_bytes());
    }
    if word.is_ascii() {
        buf.clear();
        buf.extend(word.bytes().map(|b| b.to_ascii_lowercase()));
        return xxh3_64(buf);
    }
    xxh3_64(word.to_lowercase().as_bytes())
}

/// Hashes of the word `n`-grams of `text` (with repeats), appended to `out`; `words` is
/// scratch space. A text of fewer than `n` words yields one shingle of all of them.
pub(crate) fn word_shingles_into(
    text: &str,
    n: usize,
    lowercase: bool,
    words: &mut Vec<u64>,
    out: &mut Vec<u32>,
) {
    let mut buf = Vec::new();
    words.clear();
    for_each_word(text, |w, plain| {
        words.push(word_hash(w, plain, lowercase, &mut buf));
    });
    if words.is_empty() {
        return;
    }
    let n = n.min(words.len());
    // The word hashes are already uniform 64-bit values, so an order-sensitive
    // multiply-rotate fold plus a final mix hashes an n-gram without re-reading bytes.
    out.extend(words.windows(n).map(|gram| {
        let folded = gram.iter().fold(0u64, |h, &w| {
            (h.rotate_left(23) ^ w).wrapping_mul(0x9E37_79B9_7F4A_7C15)
        });
        fmix64(folded) as u32
    }));
}

/// MurmurHash3's 64-bit finalizer.
fn fmix64(mut v: u64) -> u64 {
    v ^= v >> 33;
    v = v.wrapping_mul(0xff51_afd7_ed55_8ccd);
    v ^= v >> 33;
    v = v.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    v ^ (v >> 33)
}

/// Hashes of the character `n`-grams of `text` (with repeats).
pub(crate) fn char_shingles(text: &str, n: usize) -> Vec<u32> {
    let mut bounds: Vec<usize> = text.char_indices().map(|(i, _)| i).collect();
    if bounds.is_empty() {
        return Vec::new();
    }
    bounds.push(text.len());
    let n = n.min(bounds.len() - 1);
    bounds
        .windows(n + 1)
        .map(|w| xxh3_64(&text.as_bytes()[w[0]..w[n]]) as u32)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<(String, bool)> {
        let mut out = Vec::new();
        for_each_word(text, |w, plain| out.push((w.to_string(), plain)));
        out
    }

    fn expected(text: &str) -> Vec<(String, bool)> {
        text.split_whitespace()
            .map(|w| {
                (
                    w.to_string(),
                    !w.bytes().any(|b| b.is_ascii_uppercase() || !b.is_ascii()),
                )
            })
            .collect()
    }

    #[test]
    fn splits_like_split_whitespace_at_every_code_point() {
        // Every code point up to U+3100 (all whitespace lives below it) between two
        // words, then glued to one, so both "separator" and "inside a word" are tried.
        for c in (0..0x3100u32).filter_map(char::from_u32) {
            let text = format!("ab{c}Cd é{c}{c}x{c}");
            assert_eq!(words(&text), expected(&text), "U+{:04X}", c as u32);
        }
    }

    #[test]
    fn splits_like_split_whitespace_on_mixed_text() {
        let texts = [
            "",
            "   ",
            "one",
            "  lead and trail  ",
            "tabs\tand\nnewlines\r\nand\x0bvt\x0cff",
            "nbsp\u{a0}here\u{2003}em\u{3000}ideo\u{85}nel",
            "Größe ÄRGER straße \u{2028}line\u{2029}para",
            "lookalike letters \u{e2}\u{c2}\u{e3}\u{e1}",
            "near misses \u{2010}\u{200b}\u{205e}\u{1680}end",
        ];
        for text in texts {
            assert_eq!(words(text), expected(text), "{text:?}");
        }
    }

    /// The definition the fused scan must match: lowercase the whole text, split it
    /// with `split_whitespace`, hash each word with xxh3, fold each n-gram.
    fn reference_shingles(text: &str, n: usize) -> Vec<u32> {
        let lower = text.to_lowercase();
        let words: Vec<u64> = lower
            .split_whitespace()
            .map(|w| xxh3_64(w.as_bytes()))
            .collect();
        if words.is_empty() {
            return Vec::new();
        }
        let fold = |gram: &[u64]| {
            let h = gram.iter().fold(0u64, |h, &w| {
                (h.rotate_left(23) ^ w).wrapping_mul(0x9E37_79B9_7F4A_7C15)
            });
            fmix64(h) as u32
        };
        words.windows(n.min(words.len())).map(fold).collect()
    }

    #[test]
    fn fused_scan_equals_lowercase_split_hash() {
        let texts = [
            "The quick brown fox jumps over the lazy dog",
            "def f(x):\n    return X.Upper() + 'É' # Größe\t\tend",
            "ΟΔΟΣ ΣΑΣ ΑΒΓ αβγ\u{3000}İstanbul ǅungla ß SS\u{2029}ﬁn",
            "a",
            "  \n\t ",
            "",
        ];
        for text in texts {
            for n in [1, 2, 5] {
                let (mut words, mut out) = (Vec::new(), vec![7]);
                out.clear();
                word_shingles_into(text, n, true, &mut words, &mut out);
                assert_eq!(out, reference_shingles(text, n), "{text:?}, n = {n}");
            }
        }
    }

    #[test]
    fn shingles_hash_lowercased_words() {
        let shingles = |t: &str| {
            let (mut words, mut out) = (Vec::new(), Vec::new());
            word_shingles_into(t, 2, true, &mut words, &mut out);
            out
        };
        assert_eq!(
            shingles("The Quick\u{a0}BROWN fox"),
            shingles("the quick brown fox")
        );
        assert_eq!(shingles("ÄRGER über"), shingles("ärger über"));
        assert_eq!(shingles("one two three").len(), 2);
        assert_eq!(shingles("one").len(), 1);
        assert!(shingles(" \n ").is_empty());
        assert_ne!(shingles("a b"), shingles("b a"));
    }
}
