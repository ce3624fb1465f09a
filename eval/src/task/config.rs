//! The task file schema: the harness's YAML keys, with Python functions replaced
//! by named built-in functions.
//!
//! A harness task file ports by changing `dataset_path` to a local dataset
//! directory and each `!function utils.x` to `{function: <task>.x}` where vibee
//! has that function (see [`crate::task::functions`]).

use serde::{Deserialize, Serialize};

use crate::template::Doc;

/// How a task is scored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutputType {
    /// One log-likelihood request per choice; `acc`, `acc_norm`.
    MultipleChoice,
    /// Generation until a stop sequence (`repeats` samples); filters, then
    /// `exact_match` or code execution.
    GenerateUntil,
    /// The log-likelihood of a whole document (perplexity tasks).
    LoglikelihoodRolling,
}

/// A `doc_to_*` entry: a field name or template, a list, or a built-in function.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum DocSpec {
    /// `{function: winogrande.doc_to_text}`.
    Function {
        /// Name of a built-in function.
        function: String,
    },
    /// A literal list (e.g. MMLU's `["A", "B", "C", "D"]`).
    List(Vec<String>),
    /// A document field name, or a Jinja template.
    Template(String),
}

/// Few-shot settings (`fewshot_config` in the harness).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FewshotConfig {
    /// `first_n` (in order) or `default` (Python's `random.sample`, seed 1234).
    #[serde(default = "default_sampler")]
    pub sampler: String,
    /// Fixed few-shot documents, used as they are (not preprocessed).
    #[serde(default)]
    pub samples: Option<Vec<Doc>>,
}

fn default_sampler() -> String {
    "default".into()
}

/// One `metric_list` entry.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MetricSpec {
    /// `acc`, `acc_norm`, `exact_match`, or a metric a `process_results` returns.
    pub metric: String,
    /// Only `mean` is used by the built-in tasks; `median` bootstraps its stderr.
    #[serde(default = "default_aggregation")]
    pub aggregation: String,
    /// Whether larger is better (reported, not used in scoring).
    #[serde(default = "yes")]
    pub higher_is_better: bool,
    /// `exact_match`: lowercase both sides first.
    #[serde(default)]
    pub ignore_case: bool,
    /// `exact_match`: delete `string.punctuation` characters first.
    #[serde(default)]
    pub ignore_punctuation: bool,
    /// `exact_match`: delete ASCII digits first.
    #[serde(default)]
    pub ignore_numbers: bool,
    /// `exact_match`: Python regexes whose matches are deleted, in order.
    #[serde(default)]
    pub regexes_to_ignore: Vec<String>,
    /// `pass_at_k`: the k values reported (`pass@k` keys; a k above the number
    /// of samples is left out, as HF `code_eval` does).
    #[serde(default)]
    pub k: Vec<usize>,
}

fn default_aggregation() -> String {
    "mean".into()
}

fn yes() -> bool {
    true
}

/// Generation settings (`generation_kwargs`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GenerationKwargs {
    /// Stop sequences; the output is cut at the first of each, in order.
    #[serde(default)]
    pub until: Vec<String>,
    /// Maximum new tokens (the harness's default is 256).
    #[serde(default = "default_max_gen_toks")]
    pub max_gen_toks: usize,
    /// Sample instead of greedy decoding (with `temperature` and `top_p`).
    #[serde(default)]
    pub do_sample: bool,
    /// Softmax temperature when sampling.
    #[serde(default)]
    pub temperature: f64,
    /// Nucleus sampling mass (1.0: off).
    #[serde(default = "one")]
    pub top_p: f64,
}

fn one() -> f64 {
    1.0
}

fn default_max_gen_toks() -> usize {
    256
}

/// One step of a filter pipeline (`regex`, `take_first`, `lowercase`, ...).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FilterStep {
    /// The filter's name.
    pub function: String,
    /// `regex`: the Python pattern.
    #[serde(default)]
    pub regex_pattern: Option<String>,
    /// `regex`: which match of `findall` to keep (negative counts from the end).
    #[serde(default)]
    pub group_select: i64,
    /// `regex`: the answer when nothing matches.
    #[serde(default)]
    pub fallback: Option<String>,
    /// `custom`: the built-in filter function (`humaneval.build_predictions`, ...).
    #[serde(default)]
    pub filter_fn: Option<String>,
}

/// A named filter pipeline; its name becomes the metric key suffix.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FilterSpec {
    /// `strict-match`, `flexible-extract`, ...
    pub name: String,
    /// The steps, applied in order.
    pub filter: Vec<FilterStep>,
}

/// A task file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskConfig {
    /// The task's name.
    pub task: String,
    /// Display name in tables.
    #[serde(default)]
    pub task_alias: Option<String>,
    /// Tags, for selecting several tasks at once.
    #[serde(default)]
    pub tag: Vec<String>,
    /// Dataset directory under the data directory.
    pub dataset_path: String,
    /// Split names; the evaluated split is `test_split`, else `validation_split`.
    #[serde(default)]
    pub training_split: Option<String>,
    /// See `training_split`.
    #[serde(default)]
    pub validation_split: Option<String>,
    /// See `training_split`.
    #[serde(default)]
    pub test_split: Option<String>,
    /// Split the few-shot examples come from (else training, else validation).
    #[serde(default)]
    pub fewshot_split: Option<String>,
    /// Scoring kind.
    pub output_type: OutputType,
    /// A built-in document preprocessor (`hellaswag`, `hendrycks_math`, ...).
    #[serde(default)]
    pub process_docs: Option<String>,
    /// The question text.
    pub doc_to_text: DocSpec,
    /// The answer: an index into the choices, or text.
    pub doc_to_target: DocSpec,
    /// The answer options of a multiple-choice task.
    #[serde(default)]
    pub doc_to_choice: Option<DocSpec>,
    /// The start of the answer, written for the model (a field name or template):
    /// an assistant turn it continues, e.g. "Here is the completed function:".
    #[serde(default)]
    pub gen_prefix: Option<String>,
    /// Text (a template) put before everything, e.g. MMLU's subject line.
    #[serde(default)]
    pub description: String,
    /// Between a question and its answer.
    #[serde(default = "space")]
    pub target_delimiter: String,
    /// After each few-shot answer.
    #[serde(default = "blank_line")]
    pub fewshot_delimiter: String,
    /// Number of few-shot examples.
    #[serde(default)]
    pub num_fewshot: usize,
    /// Few-shot sampler and fixed samples.
    #[serde(default)]
    pub fewshot_config: Option<FewshotConfig>,
    /// Metrics and their options.
    #[serde(default)]
    pub metric_list: Vec<MetricSpec>,
    /// Generation settings of a `generate_until` task.
    #[serde(default)]
    pub generation_kwargs: Option<GenerationKwargs>,
    /// Samples per document (`pass@k` with n = `repeats`).
    #[serde(default = "one_repeat")]
    pub repeats: usize,
    /// The harness's marker for tasks that execute model-written code (they
    /// run in vibee's sandbox either way).
    #[serde(default)]
    pub unsafe_code: bool,
    /// Answer extraction pipelines of a `generate_until` task.
    #[serde(default)]
    pub filter_list: Vec<FilterSpec>,
    /// A built-in scorer replacing the metric functions (`hendrycks_math`, ...).
    #[serde(default)]
    pub process_results: Option<String>,
    /// `version` and free-form notes.
    #[serde(default)]
    pub metadata: Option<serde_json::Value>,
}

fn one_repeat() -> usize {
    1
}

fn space() -> String {
    " ".into()
}

fn blank_line() -> String {
    "\n\n".into()
}

impl TaskConfig {
    /// The split that is evaluated: `test_split`, else `validation_split`.
    pub fn eval_split(&self) -> Option<&str> {
        self.test_split
            .as_deref()
            .or(self.validation_split.as_deref())
    }

    /// `metadata.version`, as the harness reports it.
    pub fn version(&self) -> serde_json::Value {
        self.metadata
            .as_ref()
            .and_then(|m| m.get("version").cloned())
            .unwrap_or(serde_json::Value::Null)
    }
}

/// A group of tasks whose scores are aggregated (`group` files in the harness).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupConfig {
    /// The group's name.
    pub group: String,
    /// Display name.
    #[serde(default)]
    pub group_alias: Option<String>,
    /// Member task or group names.
    pub task: Vec<String>,
    /// How member metrics combine.
    #[serde(default)]
    pub aggregate_metric_list: Vec<AggregateSpec>,
    /// `version`.
    #[serde(default)]
    pub metadata: Option<serde_json::Value>,
}

/// One aggregated group metric.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AggregateSpec {
    /// The metric to aggregate.
    pub metric: String,
    /// Weight each leaf task by its number of documents.
    #[serde(default = "yes")]
    pub weight_by_size: bool,
    /// Filters to aggregate (default: every filter the metric appears under).
    #[serde(default)]
    pub filter_list: Option<Vec<String>>,
}
