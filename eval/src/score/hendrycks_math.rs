//! Hendrycks MATH answer checking: `last_boxed_only_string`, `remove_boxed`,
//! `strip_string` and `is_equiv`, with the harness's behaviour on odd input.
//!
//! The harness's `is_equiv` wraps `strip_string` in `try/except Exception` and
//! falls back to raw string equality; `strip_string` raises on inputs such as a
//! trailing `\frac`, `\sqrt` at the end, two `\text{ ` units, or `a/b` where `a`
//! is not an integer. Those cases are [`Raised`] here so `is_equiv` can fall back
//! the same way.

/// Marks an input on which the harness's Python code raises an exception.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Raised;

/// The last `\boxed{...}` (or `\boxed ...`, `\fbox{...}`) of a solution.
pub fn last_boxed_only_string(s: &str) -> Option<String> {
    if s.contains("\\boxed ") {
        let tail = s.rsplit("\\boxed ").next().unwrap_or("");
        return Some(format!("\\boxed {}", tail.split('$').next().unwrap_or("")));
    }
    let idx = s.rfind("\\boxed").or_else(|| s.rfind("\\fbox"))?;
    let mut depth = 0i64;
    for (offset, b) in s.as_bytes()[idx..].iter().enumerate() {
        match b {
            b'{' => depth += 1,
            b'}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(s[idx..=idx + offset].to_string());
                }
            }
            _ => {}
        }
    }
    None
}

/// `\boxed{x}` → `x`; `\boxed x` → `x`. Anything else is an assertion failure.
pub fn remove_boxed(s: &str) -> Result<String, Raised> {
    if s.contains("\\boxed ") {
        return s.strip_prefix("\\boxed ").map(str::to_string).ok_or(Raised);
    }
    s.strip_prefix("\\boxed{")
        .and_then(|r| r.strip_suffix('}'))
        .map(str::to_string)
        .ok_or(Raised)
}

/// `is_equiv(a, b)`: equal after `strip_string`, or raw-equal if it raises.
pub fn is_equiv(a: Option<&str>, b: Option<&str>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => match (strip_string(a), strip_string(b)) {
            (Ok(x), Ok(y)) => x == y,
            _ => a == b,
        },
        _ => false,
    }
}

/// The harness's `process_results` for `hendrycks_math`: the answer is what lies
/// between the first and last `$` of the generation (or all of it).
pub fn score_generation(generation: &str, solution: &str) -> Result<bool, Raised> {
    let first = generation.find('$');
    let last = generation.rfind('$');
    let answer = match (first, last) {
        (Some(f), Some(l)) if f != l => &generation[f + 1..l],
        _ => generation,
    };
    let gold = remove_boxed(&last_boxed_only_string(solution).ok_or(Raised)?)?;
    Ok(is_equiv(Some(answer), Some(&gold)))
}

/// Hendrycks' `strip_string` normalization.
pub fn strip_string(s: &str) -> Result<String, Raised> {
    let mut s = s.replace('\n', "").replace("\\!", "").replace("\\\\", "\\");
    s = s.replace("tfrac", "frac").replace("dfrac", "frac");
    s = s.replace("\\left", "").replace("\\right", "");
    s = s.replace("^{\\circ}", "").replace("^\\circ", "");
    s = s.replace("\\$", "");
    s = remove_right_units(&s)?;
    s = s.replace("\\%", "");
    s = s.replace(" .", " 0.").replace("{.", "{0.");
    if s.is_empty() {
        return Ok(s);
    }
    if s.starts_with('.') {
        s.insert(0, '0');
    }
    let parts: Vec<&str> = s.split('=').collect();
    if parts.len() == 2 && parts[0].chars().count() <= 2 {
        s = parts[1].to_string();
    }
    s = fix_sqrt(&s)?;
    s = s.replace(' ', "");
    s = fix_fracs(&s)?;
    if s == "0.5" {
        s = "\\frac{1}{2}".into();
    }
    fix_a_slash_b(&s)
}

fn remove_right_units(s: &str) -> Result<String, Raised> {
    if !s.contains("\\text{ ") {
        return Ok(s.to_string());
    }
    let splits: Vec<&str> = s.split("\\text{ ").collect();
    if splits.len() != 2 {
        return Err(Raised);
    }
    Ok(splits[0].to_string())
}

fn fix_sqrt(s: &str) -> Result<String, Raised> {
    if !s.contains("\\sqrt") {
        return Ok(s.to_string());
    }
    let mut splits = s.split("\\sqrt");
    let mut out = splits.next().unwrap_or("").to_string();
    for split in splits {
        let mut chars = split.chars();
        let first = chars.next().ok_or(Raised)?;
        if first == '{' {
            out.push_str("\\sqrt");
            out.push_str(split);
        } else {
            out.push_str(&format!("\\sqrt{{{first}}}{}", chars.as_str()));
        }
    }
    Ok(out)
}

fn fix_fracs(s: &str) -> Result<String, Raised> {
    let mut substrs = s.split("\\frac");
    let mut out = substrs.next().unwrap_or("").to_string();
    for substr in substrs {
        out.push_str("\\frac");
        let chars: Vec<char> = substr.chars().collect();
        let first = *chars.first().ok_or(Raised)?;
        if first == '{' {
            out.push_str(substr);
            continue;
        }
        if chars.len() < 2 {
            // The harness returns the input unchanged on this assertion.
            return Ok(s.to_string());
        }
        let (a, b) = (chars[0], chars[1]);
        let post: String = chars[2..].iter().collect();
        if b != '{' {
            out.push_str(&format!("{{{a}}}{{{b}}}{post}"));
        } else {
            out.push_str(&format!("{{{a}}}{b}{post}"));
        }
    }
    Ok(out)
}

fn fix_a_slash_b(s: &str) -> Result<String, Raised> {
    let parts: Vec<&str> = s.split('/').collect();
    if parts.len() != 2 {
        return Ok(s.to_string());
    }
    let a = python_int(parts[0]).ok_or(Raised)?;
    let b = python_int(parts[1]).ok_or(Raised)?;
    if s == format!("{a}/{b}") {
        Ok(format!("\\frac{{{a}}}{{{b}}}"))
    } else {
        Ok(s.to_string())
    }
}

/// Python's `str(int(s))` for ASCII input, `None` where `int()` raises.
fn python_int(s: &str) -> Option<String> {
    let t = s.trim();
    let (neg, digits) = match t.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let valid = !digits.is_empty()
        && !digits.starts_with('_')
        && !digits.ends_with('_')
        && !digits.contains("__")
        && digits.chars().all(|c| c.is_ascii_digit() || c == '_');
    if !valid {
        return None;
    }
    let plain: String = digits.chars().filter(|c| *c != '_').collect();
    let trimmed = plain.trim_start_matches('0');
    Some(match (trimmed.is_empty(), neg) {
        (true, _) => "0".to_string(),
        (false, true) => format!("-{trimmed}"),
        (false, false) => trimmed.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equivalences_the_metric_is_known_for() {
        assert!(is_equiv(Some("\\frac12"), Some("\\frac{1}{2}")));
        assert!(is_equiv(Some("0.5"), Some("\\frac{1}{2}")));
        assert!(is_equiv(Some("1/2"), Some("\\frac{1}{2}")));
        assert!(is_equiv(Some("90^\\circ"), Some("90")));
        assert!(!is_equiv(Some("3"), Some("4")));
        // `a/b` raises in int(): raw comparison.
        assert!(!is_equiv(Some("a/b"), Some("\\frac{a}{b}")));
    }

    #[test]
    fn boxed_extraction() {
        assert_eq!(
            last_boxed_only_string("so $\\boxed{\\frac{1}{2}}$."),
            Some("\\boxed{\\frac{1}{2}}".into())
        );
        assert_eq!(remove_boxed("\\boxed{3}"), Ok("3".into()));
        assert_eq!(last_boxed_only_string("none"), None);
    }
}
