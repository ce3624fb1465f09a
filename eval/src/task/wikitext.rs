//! WikiText's detokenizer (the harness's `preprocess_wikitext.wikitext_detokenizer`):
//! undoes the dataset's tokenization (` @-@ `, spaced punctuation, spaced
//! brackets and quotes) before the page is scored.

use std::sync::OnceLock;

use crate::pyregex::PyRegex;

/// Bracket and quote pairs whose inner padding is removed, in the harness's order.
const PAIRS: &[(&str, &str)] = &[
    (r"\(\s*([^\)]*?)\s*\)", r"(\1)"),
    (r"\[\s*([^\]]*?)\s*\]", r"[\1]"),
    (r"{\s*([^}]*?)\s*}", r"{\1}"),
    (r#""\s*([^"]*?)\s*""#, r#""\1""#),
    (r"'\s*([^']*?)\s*'", r"'\1'"),
];

fn pair_regexes() -> &'static [PyRegex] {
    static RES: OnceLock<Vec<PyRegex>> = OnceLock::new();
    RES.get_or_init(|| {
        PAIRS
            .iter()
            .map(|(p, _)| PyRegex::new(p).expect("built-in pattern"))
            .collect()
    })
}

/// The detokenized page.
pub fn detokenize(page: &str) -> String {
    let mut s = page.replace("s '", "s'");
    // The harness's `re.sub(r"/' [0-9]/", r"/'[0-9]/", s)` matches the literal
    // text "/' " + digit + "/" and writes "/'[0-9]/" in its place.
    static SLASH: OnceLock<PyRegex> = OnceLock::new();
    let slash = SLASH.get_or_init(|| PyRegex::new(r"/' [0-9]/").expect("built-in pattern"));
    s = slash.sub(&s, r"/'[0-9]/", 0);
    for (from, to) in [
        (" @-@ ", "-"),
        (" @,@ ", ","),
        (" @.@ ", "."),
        (" : ", ": "),
        (" ; ", "; "),
        (" . ", ". "),
        (" ! ", "! "),
        (" ? ", "? "),
        (" , ", ", "),
    ] {
        s = s.replace(from, to);
    }
    for (re, (_, repl)) in pair_regexes().iter().zip(PAIRS) {
        s = re.sub(&s, repl, 0);
    }
    for (from, to) in [
        ("= = = =", "===="),
        ("= = =", "==="),
        ("= =", "=="),
        (" \u{b0} ", "\u{b0}"),
        (" \n", "\n"),
        ("\n ", "\n"),
        (" N ", " 1 "),
        (" 's", "'s"),
    ] {
        s = s.replace(from, to);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detokenizes_numbers_punctuation_and_brackets() {
        let page = " = Title = \n The 1 @,@ 000 km @-@ long road ( built 1 @.@ 5 ) , it 's \" quoted \" . \n";
        assert_eq!(
            detokenize(page),
            " = Title =\nThe 1,000 km-long road (built 1.5), it's \"quoted\".\n"
        );
    }
}
