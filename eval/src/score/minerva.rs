//! Minerva's final-answer normalization (Lewkowycz et al. 2022, appendix D), as
//! the harness's `minerva_math` task applies it.
//!
//! The harness then compares normalized answers with sympy (`parse_latex` and
//! `simplify`), which vibee does not have; vibee reports the string comparison of
//! the normalized answers as the separate metric `exact_match_minerva_norm`. It
//! is the harness's first test (identical normalized strings count as correct)
//! and so a lower bound of the harness's `minerva_math` `exact_match`.

use std::sync::OnceLock;

use crate::pyregex::PyRegex;

const INVALID_ANSWER: &str = "[invalidanswer]";

/// Unit words and markup deleted from answers (the appendix's list).
const REMOVED_EXPRESSIONS: &[&str] = &[
    "square",
    "ways",
    "integers",
    "dollars",
    "mph",
    "inches",
    "ft",
    "hours",
    "km",
    "units",
    "\\ldots",
    "sue",
    "points",
    "feet",
    "minutes",
    "digits",
    "cents",
    "degrees",
    "cm",
    "gm",
    "pounds",
    "meters",
    "meals",
    "edges",
    "students",
    "childrentickets",
    "multiples",
    "\\text{s}",
    "\\text{.}",
    "\\text{\ns}",
    "\\text{}^2",
    "\\text{}^3",
    "\\text{\n}",
    "\\text{}",
    "\\mathrm{th}",
    "^\\circ",
    "^{\\circ}",
    "\\;",
    ",\\!",
    "{,}",
    "\"",
    "\\dots",
];

/// Plain replacements, in order.
const SUBSTITUTIONS: &[(&str, &str)] = &[
    ("an ", ""),
    ("a ", ""),
    (".$", "$"),
    ("\\$", ""),
    ("\\ ", ""),
    (" ", ""),
    ("mbox", "text"),
    (",\\text{and}", ","),
    ("\\text{and}", ","),
    ("\\text{m}", "\\text{}"),
];

struct Patterns {
    unit_words: Vec<(&'static str, PyRegex)>,
    command: PyRegex,
    rewrites: Vec<(PyRegex, &'static str)>,
    thousands: PyRegex,
    final_answer: PyRegex,
}

fn patterns() -> &'static Patterns {
    static P: OnceLock<Patterns> = OnceLock::new();
    P.get_or_init(|| {
        let re = |p: &str| PyRegex::new(p).expect("built-in pattern compiles");
        let unit_words = REMOVED_EXPRESSIONS
            .iter()
            .filter(|e| is_alpha(e))
            .map(|e| (*e, re(&format!(r"(?<!\\)\b{e}\b"))))
            .collect();
        let rewrites = vec![
            (re(r"(.*?)(\$)(.*?)(\$)(.*)"), "$\\3$"),
            (re(r"(\\text\{)(.*?)(\})"), "\\2"),
            (re(r"(\\textbf\{)(.*?)(\})"), "\\2"),
            (re(r"(\\overline\{)(.*?)(\})"), "\\2"),
            (re(r"(\\boxed\{)(.*)(\})"), "\\2"),
            (re(r"(frac)([^{])(.)"), "frac{\\2}{\\3}"),
            (re(r"(sqrt)(\[[^\]]*\])(\w)"), "\\1\\2{\\3}"),
            (re(r"(sqrt)(?!\[)([^{])"), "sqrt{\\2}"),
        ];
        Patterns {
            unit_words,
            command: re(r"(\\[a-zA-Z]+)"),
            rewrites,
            thousands: re(r"-?\d{1,3}(,\d{3})+"),
            final_answer: re(r"Final Answer: The final answer is(.*?). I hope it is correct."),
        }
    })
}

/// Python's `str.isalpha` (non-empty, all alphabetic).
fn is_alpha(s: &str) -> bool {
    !s.is_empty() && s.chars().all(char::is_alphabetic)
}

/// The text after "Final Answer: The final answer is", up to ". I hope it is correct."
pub fn get_unnormalized_answer(text: &str) -> String {
    let text = format!("{text}I hope it is correct.");
    match patterns().final_answer.search(&text) {
        Some(groups) => groups
            .get(1)
            .cloned()
            .flatten()
            .unwrap_or_default()
            .trim()
            .to_string(),
        None => INVALID_ANSWER.to_string(),
    }
}

/// `normalize_final_answer` from the harness's `minerva_math/utils.py`.
pub fn normalize_final_answer(answer: &str) -> String {
    let p = patterns();
    let mut s = answer.rsplit('=').next().unwrap_or("").to_string();
    for (_, re) in &p.unit_words {
        s = re.sub(&s, "", 0);
    }
    for (before, after) in SUBSTITUTIONS {
        s = s.replace(before, after);
    }
    for expr in REMOVED_EXPRESSIONS {
        if is_alpha(expr) {
            // Only outside LaTeX command names, so "ft" cannot eat "\left".
            let mut segments = p.command.split(&s);
            for seg in segments.iter_mut().step_by(2) {
                *seg = seg.replace(expr, "");
            }
            s = segments.concat();
        } else {
            s = s.replace(expr, "");
        }
    }
    for (re, repl) in &p.rewrites {
        s = re.sub(&s, repl, 0);
    }
    s = s.replace('$', "");
    if p.thousands.fullmatch(&s) {
        s = s.replace(',', "");
    }
    s
}

/// `exact_match_minerva_norm`: normalized generation answer equals normalized gold.
pub fn normalized_match(generation: &str, normalized_gold: &str) -> bool {
    normalize_final_answer(&get_unnormalized_answer(generation)) == normalized_gold
}
