//! Python `re` semantics on top of `fancy_regex`.
//!
//! Task files carry the harness's patterns verbatim, so they are Python patterns:
//! lookaround, `$` that also matches before a final newline, `\Z`, `findall`
//! returning groups, `sub` templates written `\1` or `\g<1>`. This module
//! translates what differs and implements those three operations as `re` does.

use crate::error::{EvalError, Result};

/// A compiled Python-style regular expression.
#[derive(Debug, Clone)]
pub struct PyRegex {
    re: fancy_regex::Regex,
    pattern: String,
}

/// One `findall` item: the whole match, one group, or all groups (a tuple).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    /// No groups in the pattern, or exactly one: a string.
    Text(String),
    /// Several groups: a tuple; groups that did not take part are "".
    Tuple(Vec<String>),
}

impl PyRegex {
    /// Compiles a Python pattern.
    pub fn new(pattern: &str) -> Result<Self> {
        let translated = translate(pattern);
        let re = fancy_regex::Regex::new(&translated).map_err(|e| EvalError::Regex {
            pattern: pattern.to_string(),
            message: e.to_string(),
        })?;
        Ok(PyRegex {
            re,
            pattern: pattern.to_string(),
        })
    }

    /// The pattern as written.
    pub fn pattern(&self) -> &str {
        &self.pattern
    }

    /// `re.findall`.
    pub fn findall(&self, text: &str) -> Vec<Found> {
        let groups = self.re.captures_len() - 1;
        let mut out = Vec::new();
        for caps in self.re.captures_iter(text).flatten() {
            let group = |i: usize| {
                caps.get(i)
                    .map(|m| m.as_str().to_string())
                    .unwrap_or_default()
            };
            out.push(match groups {
                0 => Found::Text(group(0)),
                1 => Found::Text(group(1)),
                _ => Found::Tuple((1..=groups).map(group).collect()),
            });
        }
        out
    }

    /// `re.search(...)`: the groups of the first match (index 0 = whole match).
    pub fn search(&self, text: &str) -> Option<Vec<Option<String>>> {
        let caps = self.re.captures(text).ok().flatten()?;
        Some(
            (0..caps.len())
                .map(|i| caps.get(i).map(|m| m.as_str().to_string()))
                .collect(),
        )
    }

    /// `re.fullmatch(...) is not None`.
    pub fn fullmatch(&self, text: &str) -> bool {
        let anchored = format!("^(?:{})\\z", translate(&self.pattern));
        fancy_regex::Regex::new(&anchored)
            .ok()
            .and_then(|re| re.is_match(text).ok())
            .unwrap_or(false)
    }

    /// `re.sub(pattern, repl, text, count)` with a Python replacement template.
    pub fn sub(&self, text: &str, repl: &str, count: usize) -> String {
        let template = parse_template(repl);
        let mut out = String::with_capacity(text.len());
        let mut last = 0;
        for (n, caps) in self.re.captures_iter(text).flatten().enumerate() {
            if count != 0 && n >= count {
                break;
            }
            let Some(whole) = caps.get(0) else { continue };
            out.push_str(&text[last..whole.start()]);
            for piece in &template {
                match piece {
                    Piece::Lit(s) => out.push_str(s),
                    Piece::Group(g) => out.push_str(caps.get(*g).map(|m| m.as_str()).unwrap_or("")),
                }
            }
            last = whole.end();
        }
        out.push_str(&text[last..]);
        out
    }

    /// `re.split` (captured groups are kept between the pieces, as Python does).
    pub fn split(&self, text: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut last = 0;
        for caps in self.re.captures_iter(text).flatten() {
            let Some(whole) = caps.get(0) else { continue };
            out.push(text[last..whole.start()].to_string());
            for i in 1..caps.len() {
                out.push(
                    caps.get(i)
                        .map(|m| m.as_str().to_string())
                        .unwrap_or_default(),
                );
            }
            last = whole.end();
        }
        out.push(text[last..].to_string());
        out
    }
}

enum Piece {
    Lit(String),
    Group(usize),
}

/// Parses `\1`, `\g<1>` and the common escapes of a Python replacement string.
fn parse_template(repl: &str) -> Vec<Piece> {
    let mut pieces = Vec::new();
    let mut lit = String::new();
    let mut chars = repl.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            lit.push(c);
            continue;
        }
        let group = match chars.peek().copied() {
            Some(d) if d.is_ascii_digit() => {
                chars.next();
                let mut num = d.to_digit(10).unwrap_or(0) as usize;
                if let Some(e) = chars.peek().and_then(|e| e.to_digit(10)) {
                    chars.next();
                    num = num * 10 + e as usize;
                }
                Some(num)
            }
            Some('g') => {
                chars.next();
                let name: String = chars.by_ref().skip(1).take_while(|&ch| ch != '>').collect();
                name.parse().ok()
            }
            Some('n') => {
                chars.next();
                lit.push('\n');
                None
            }
            Some('t') => {
                chars.next();
                lit.push('\t');
                None
            }
            Some('\\') => {
                chars.next();
                lit.push('\\');
                None
            }
            _ => {
                lit.push('\\');
                None
            }
        };
        if let Some(g) = group {
            pieces.push(Piece::Lit(std::mem::take(&mut lit)));
            pieces.push(Piece::Group(g));
        }
    }
    pieces.push(Piece::Lit(lit));
    pieces
}

/// Rewrites the Python-only spellings: `$` (end, or before a final newline, unless
/// `(?m)`) and `\Z`.
fn translate(pattern: &str) -> String {
    let multiline = pattern.starts_with("(?m") || pattern.contains("(?m)");
    let mut out = String::with_capacity(pattern.len() + 8);
    let mut chars = pattern.chars();
    let mut in_class = false;
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('Z') => out.push_str("\\z"),
                Some(n) => {
                    out.push('\\');
                    out.push(n);
                }
                None => out.push('\\'),
            },
            '[' if !in_class => {
                in_class = true;
                out.push('[');
                if chars.as_str().starts_with('^') {
                    chars.next();
                    out.push('^');
                }
                // A `]` first in a class is a literal in Python.
                if chars.as_str().starts_with(']') {
                    chars.next();
                    out.push_str("\\]");
                }
            }
            ']' if in_class => {
                in_class = false;
                out.push(c);
            }
            '$' if !in_class && !multiline => out.push_str("(?=\\n?\\z)"),
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dollar_matches_before_final_newline_like_python() {
        let re = PyRegex::new(r"\.$").expect("compiles");
        assert_eq!(re.sub("12.\n", "", 0), "12\n");
        assert_eq!(re.sub("1.2", "", 0), "1.2");
    }

    #[test]
    fn findall_returns_groups_like_python() {
        let re = PyRegex::new(r"(-?[$0-9.,]{2,})|(-?[0-9]+)").expect("compiles");
        let found = re.findall("a 12 b 3");
        assert_eq!(
            found,
            vec![
                Found::Tuple(vec!["12".into(), String::new()]),
                Found::Tuple(vec![String::new(), "3".into()])
            ]
        );
    }

    #[test]
    fn sub_expands_python_templates() {
        let re = PyRegex::new(r"(\\text\{)(.*?)(\})").expect("compiles");
        assert_eq!(re.sub(r"5\text{cm}", r"\2", 0), "5cm");
        let re = PyRegex::new(r"(.*?)(\$)(.*?)(\$)(.*)").expect("compiles");
        assert_eq!(re.sub("is $5$.", "$\\3$", 0), "$5$");
    }
}
