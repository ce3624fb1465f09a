//! Answer-extraction filters (`filter_list`), as the harness's filter registry.

use crate::error::{EvalError, Result};
use crate::pyregex::{Found, PyRegex};
use crate::task::config::{FilterSpec, FilterStep};
use crate::template::Doc;

/// The `filter_fn`s of the harness's code tasks (`custom` filter steps).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CustomFilter {
    /// humaneval `utils.build_predictions`: the program is prompt + completion.
    HumanevalBuildPredictions,
    /// humaneval `utils.build_predictions_instruct`: prompt + completion up to "```".
    HumanevalBuildPredictionsInstruct,
    /// mbpp `utils.build_predictions`: the first fenced code block.
    MbppBuildPredictions,
    /// BigCodeBench (complete split): `complete_prompt` + completion.
    BigCodeBenchBuildPredictions,
}

/// Names accepted as `filter_fn`.
pub const CUSTOM_FILTERS: &[&str] = &[
    "humaneval.build_predictions",
    "humaneval.build_predictions_instruct",
    "mbpp.build_predictions",
    "bigcodebench.build_predictions",
];

impl CustomFilter {
    fn named(name: &str) -> Result<Self> {
        Ok(match name {
            "humaneval.build_predictions" => CustomFilter::HumanevalBuildPredictions,
            "humaneval.build_predictions_instruct" => {
                CustomFilter::HumanevalBuildPredictionsInstruct
            }
            "mbpp.build_predictions" => CustomFilter::MbppBuildPredictions,
            "bigcodebench.build_predictions" => CustomFilter::BigCodeBenchBuildPredictions,
            other => {
                return Err(EvalError::Unknown {
                    kind: "filter_fn",
                    name: other.into(),
                    known: CUSTOM_FILTERS.join(", "),
                });
            }
        })
    }

    fn apply(self, response: &str, doc: &Doc) -> Result<String, String> {
        let text = |f: &str| {
            doc.get(f)
                .and_then(serde_json::Value::as_str)
                .ok_or_else(|| format!("field `{f}` missing or not a string"))
        };
        let prompt = || text("prompt");
        Ok(match self {
            CustomFilter::HumanevalBuildPredictions => format!("{}{response}", prompt()?),
            CustomFilter::HumanevalBuildPredictionsInstruct => {
                let body = response.find("```").map_or(response, |i| &response[..i]);
                format!("{}{body}", prompt()?)
            }
            CustomFilter::MbppBuildPredictions => extract_code_block(response),
            CustomFilter::BigCodeBenchBuildPredictions => {
                format!("{}{response}", text("complete_prompt")?)
            }
        })
    }
}

/// mbpp's `extract_code_blocks`: the first fenced block of "```" + text (the
/// harness's generation prefix opened the fence), else of the text with
/// "```python" fences made plain; "" when there is none.
pub fn extract_code_block(text: &str) -> String {
    static FENCE: std::sync::OnceLock<PyRegex> = std::sync::OnceLock::new();
    let re = FENCE
        .get_or_init(|| PyRegex::new(r"(?s)```(?:\w+)?\n?(.*?)\n?```").expect("built-in pattern"));
    let first = |t: &str| match re.findall(t).into_iter().next() {
        Some(Found::Text(s)) => Some(s),
        Some(Found::Tuple(g)) => g.into_iter().next(),
        None => None,
    };
    first(&format!("```{text}"))
        .or_else(|| first(&text.replace("```python", "```")))
        .unwrap_or_default()
}

/// One compiled step.
#[derive(Debug)]
enum Step {
    Regex {
        re: PyRegex,
        group_select: i64,
        fallback: String,
    },
    TakeFirst,
    Custom(CustomFilter),
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

    /// Applies the pipeline to one document's responses; returns the first kept answer.
    pub fn apply(&self, responses: &[String], doc: &Doc) -> Result<String, String> {
        Ok(self
            .apply_all(responses, doc)?
            .into_iter()
            .next()
            .unwrap_or_default())
    }

    /// Applies the pipeline to one document's responses (all samples); a
    /// custom step that needs a missing document field is an error.
    pub fn apply_all(&self, responses: &[String], doc: &Doc) -> Result<Vec<String>, String> {
        let mut resps: Vec<String> = responses.to_vec();
        for step in &self.steps {
            resps = match step {
                Step::TakeFirst => resps.into_iter().take(1).collect(),
                Step::Custom(f) => resps
                    .iter()
                    .map(|r| f.apply(r, doc))
                    .collect::<Result<_, _>>()?,
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
        Ok(resps)
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
        "custom" => Step::Custom(CustomFilter::named(
            step.filter_fn.as_deref().unwrap_or(""),
        )?),
        "lowercase" => Step::Lowercase,
        "uppercase" => Step::Uppercase,
        "remove_whitespace" => Step::RemoveWhitespace,
        other => {
            return Err(EvalError::Unknown {
                kind: "filter",
                name: other.into(),
                known: "regex, take_first, custom, lowercase, uppercase, remove_whitespace".into(),
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
        let doc = Doc::new();
        let one = |t: &str| f.apply(&[t.into()], &doc).expect("no custom step");
        assert_eq!(one("So 3 apples cost $1,200."), "$1,200.");
        assert_eq!(one("no numbers"), "[invalid]");
        assert_eq!(one("a 7 b 9"), "9");
    }

    #[test]
    fn mbpp_code_blocks_as_the_harness_extracts_them() {
        // The harness prefixed "```python\n", so the text continues inside a fence.
        assert_eq!(
            extract_code_block("python\ndef f():\n    return 1\n```\nrest"),
            "def f():\n    return 1"
        );
        assert_eq!(extract_code_block("no fence here"), "");
        assert_eq!(extract_code_block("x"), "");
    }
}
