//! Answer-extraction filters (`filter_list`), as the harness's filter registry.

use crate::error::{EvalError, Result};
use crate::pyregex::{Found, PyRegex};
use crate::task::config::{FilterSpec, FilterStep};

/// One compiled step.
#[derive(Debug)]
enum Step {
    Regex {
        re: PyRegex,
        group_select: i64,
        fallback: String,
    },
    TakeFirst,
    Lowercase,
    Uppercase,
    RemoveWhitespace,
}

/// A compiled filter pipeline.
#[derive(Debug)]
pub struct FilterPipeline {
    /// The name used as the metric key suffix (`exact_match,strict-match`).
    pub name: String,
    steps: Vec<Step>,
}

impl FilterPipeline {
    /// Compiles a `filter_list` entry.
    pub fn new(spec: &FilterSpec) -> Result<Self> {
        let steps = spec.filter.iter().map(compile).collect::<Result<_>>()?;
        Ok(FilterPipeline {
            name: spec.name.clone(),
            steps,
        })
    }

    /// The harness's default when a generation task has no filters: `none`, take_first.
    pub fn none() -> Self {
        FilterPipeline {
            name: "none".into(),
            steps: vec![Step::TakeFirst],
        }
    }

    /// Applies the pipeline to one document's responses; returns the kept answer.
    pub fn apply(&self, responses: &[String]) -> String {
        let mut resps: Vec<String> = responses.to_vec();
        for step in &self.steps {
            resps = match step {
                Step::TakeFirst => resps.into_iter().take(1).collect(),
                Step::Lowercase => resps.iter().map(|r| r.to_lowercase()).collect(),
                Step::Uppercase => resps.iter().map(|r| r.to_uppercase()).collect(),
                Step::RemoveWhitespace => resps
                    .iter()
                    .map(|r| r.strip_prefix(' ').unwrap_or(r).to_string())
                    .collect(),
                Step::Regex {
                    re,
                    group_select,
                    fallback,
                } => resps
                    .iter()
                    .map(|r| regex_extract(re, *group_select, fallback, r))
                    .collect(),
            };
        }
        resps.into_iter().next().unwrap_or_default()
    }
}

fn compile(step: &FilterStep) -> Result<Step> {
    Ok(match step.function.as_str() {
        "regex" => Step::Regex {
            re: PyRegex::new(
                step.regex_pattern
                    .as_deref()
                    .unwrap_or(r"#### (\-?[0-9\.\,]+)"),
            )?,
            group_select: step.group_select,
            fallback: step.fallback.clone().unwrap_or_else(|| "[invalid]".into()),
        },
        "take_first" => Step::TakeFirst,
        "lowercase" => Step::Lowercase,
        "uppercase" => Step::Uppercase,
        "remove_whitespace" => Step::RemoveWhitespace,
        other => {
            return Err(EvalError::Unknown {
                kind: "filter",
                name: other.into(),
                known: "regex, take_first, lowercase, uppercase, remove_whitespace".into(),
            });
        }
    })
}

/// The harness's `RegexFilter`: `findall`, pick `group_select` (negative from the
/// end), first non-empty group of a tuple, strip; the fallback if nothing matched.
fn regex_extract(re: &PyRegex, group_select: i64, fallback: &str, text: &str) -> String {
    let found = re.findall(text);
    if found.is_empty() {
        return fallback.to_string();
    }
    let len = found.len() as i64;
    let idx = if group_select < 0 {
        len + group_select
    } else {
        group_select
    };
    // Python would raise IndexError out of range; the fallback is the kind reading.
    let Some(item) = usize::try_from(idx).ok().and_then(|i| found.get(i)) else {
        return fallback.to_string();
    };
    match item {
        Found::Text(s) => s.trim().to_string(),
        Found::Tuple(groups) => match groups.iter().find(|g| !g.is_empty()) {
            Some(g) => g.trim().to_string(),
            None => fallback.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gsm8k_flexible() -> FilterPipeline {
        let spec: FilterSpec = serde_yaml::from_str(
            "name: flexible-extract\nfilter:\n  - function: regex\n    group_select: -1\n    regex_pattern: \"(-?[$0-9.,]{2,})|(-?[0-9]+)\"\n  - function: take_first\n",
        )
        .expect("valid spec");
        FilterPipeline::new(&spec).expect("compiles")
    }

    #[test]
    fn flexible_extract_takes_the_last_number() {
        let f = gsm8k_flexible();
        assert_eq!(f.apply(&["So 3 apples cost $1,200.".into()]), "$1,200.");
        assert_eq!(f.apply(&["no numbers".into()]), "[invalid]");
        assert_eq!(f.apply(&["a 7 b 9".into()]), "9");
    }
}
