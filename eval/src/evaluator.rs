//! Running tasks against a model: requests → responses → per-document metrics →
//! aggregated scores with standard errors.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use crate::error::{EvalError, Result};
use crate::metrics;
use crate::model::LanguageModel;
use crate::request::{Request, Response};
use crate::sandbox::{Sandbox, SandboxConfig};
use crate::score::filters::FilterPipeline;
use crate::score::{self, SampleMetrics, code, perplexity};
use crate::task::{FewshotSampler, OutputType, Task};
use crate::template::{Doc, Templates};

/// Run settings.
#[derive(Clone, Debug)]
pub struct EvalOptions {
    /// Evaluate only the first N documents of each task.
    pub limit: Option<usize>,
    /// Bootstrap resamples for stderrs of non-mean aggregations (harness default 100000).
    pub bootstrap_iters: usize,
    /// Requests per model call (a cache flush point).
    pub batch_size: usize,
    /// Where code-task predictions run (HF `code_eval`'s 3 s timeout by default).
    pub sandbox: Sandbox,
}

impl Default for EvalOptions {
    fn default() -> Self {
        EvalOptions {
            limit: None,
            bootstrap_iters: 100_000,
            batch_size: 256,
            sandbox: Sandbox::new(SandboxConfig {
                timeout: std::time::Duration::from_secs(score::code::CODE_EVAL_TIMEOUT_SECS),
                ..SandboxConfig::default()
            }),
        }
    }
}

/// One document's record, for the per-sample JSONL log.
#[derive(Clone, Debug, Serialize)]
pub struct SampleLog {
    /// Index of the document in the evaluated split.
    pub doc_id: usize,
    /// The (preprocessed) document.
    pub doc: Doc,
    /// The gold answer as `doc_to_target` gives it.
    pub target: Value,
    /// The requests sent.
    pub arguments: Vec<Request>,
    /// The model's answers.
    pub resps: Vec<Response>,
    /// Filter name (`none` for multiple choice).
    pub filter: String,
    /// The extracted answers, one per sample (generation tasks).
    pub filtered_resps: Vec<String>,
    /// Metric values for this document.
    pub metrics: SampleMetrics,
    /// Rolling tasks: each metric's weight (words or bytes) beside its
    /// log-likelihood in `metrics`; the corpus score is a ratio of sums.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub weights: BTreeMap<String, f64>,
}

/// A task's scored run.
#[derive(Clone, Debug)]
pub struct TaskResult {
    /// Task name.
    pub name: String,
    /// Display name.
    pub alias: String,
    /// Documents in the split.
    pub n_original: usize,
    /// Documents evaluated.
    pub n_effective: usize,
    /// `"metric,filter"` → value and `"metric_stderr,filter"` → stderr (or "N/A").
    pub scores: BTreeMap<String, Value>,
    /// Metric → higher is better.
    pub higher_is_better: BTreeMap<String, bool>,
    /// Per-document logs.
    pub samples: Vec<SampleLog>,
}

/// Evaluates one task.
pub fn evaluate_task(
    task: &Task,
    model: &dyn LanguageModel,
    templates: &Templates,
    opts: &EvalOptions,
) -> Result<TaskResult> {
    let n = opts
        .limit
        .map_or(task.docs.len(), |l| l.min(task.docs.len()));
    let mut sampler = FewshotSampler::default();
    let per_doc: Vec<Vec<Request>> = (0..n)
        .map(|i| task.requests(templates, i, &mut sampler))
        .collect::<Result<_>>()?;
    let flat: Vec<Request> = per_doc.iter().flatten().cloned().collect();
    let mut responses = Vec::with_capacity(flat.len());
    for chunk in flat.chunks(opts.batch_size.max(1)) {
        let answers = model.answer(chunk)?;
        if answers.len() != chunk.len() {
            return Err(EvalError::Model(format!(
                "{} answers for {} requests",
                answers.len(),
                chunk.len()
            )));
        }
        responses.extend(answers);
    }
    let pipelines = compile_pipelines(task)?;
    let mut samples = Vec::new();
    let mut offset = 0;
    for (i, reqs) in per_doc.into_iter().enumerate() {
        let resps = responses[offset..offset + reqs.len()].to_vec();
        offset += reqs.len();
        samples.extend(score_doc(
            task, templates, i, reqs, resps, opts, &pipelines,
        )?);
    }
    Ok(aggregate(task, samples, opts))
}

fn score_doc(
    task: &Task,
    t: &Templates,
    idx: usize,
    reqs: Vec<Request>,
    resps: Vec<Response>,
    opts: &EvalOptions,
    pipelines: &[FilterPipeline],
) -> Result<Vec<SampleLog>> {
    let doc = &task.docs[idx];
    let target = task.doc_to_target(t, doc, idx)?;
    let wanted: Vec<String> = task
        .config
        .metric_list
        .iter()
        .map(|m| m.metric.clone())
        .collect();
    let log = |filter: &str, filtered: Vec<String>, metrics: SampleMetrics| SampleLog {
        doc_id: idx,
        doc: doc.clone(),
        target: target.clone(),
        arguments: reqs.clone(),
        resps: resps.clone(),
        filter: filter.into(),
        filtered_resps: filtered,
        metrics,
        weights: BTreeMap::new(),
    };
    match task.config.output_type {
        OutputType::LoglikelihoodRolling => {
            let Some(Response::Loglikelihood(ll, _)) = resps.first() else {
                return Err(EvalError::Model(
                    "no log-likelihood answer to a rolling request".into(),
                ));
            };
            let text = target.as_str().unwrap_or_default();
            let weights = perplexity::weights(
                &wanted,
                text,
                task.config.process_results.as_deref(),
                task.name(),
                doc,
                idx,
            )?;
            let metrics = weights.iter().map(|(m, _)| (m.clone(), *ll)).collect();
            let mut sample = log("none", Vec::new(), metrics);
            sample.weights = weights.into_iter().collect();
            Ok(vec![sample])
        }
        OutputType::MultipleChoice => {
            let (mut lls, mut greedy) = (Vec::new(), Vec::new());
            for r in &resps {
                match r {
                    Response::Loglikelihood(ll, g) => {
                        lls.push(*ll);
                        greedy.push(*g);
                    }
                    Response::Text(_) => {
                        return Err(EvalError::Model(
                            "text answer to a log-likelihood request".into(),
                        ));
                    }
                }
            }
            let choices = task.doc_to_choice(t, doc, idx)?;
            let gold_value = if task.is_multiple_input() {
                task.doc_to_text(t, doc, idx)?
            } else {
                target.clone()
            };
            let gold = match &gold_value {
                Value::Number(n) => n
                    .as_u64()
                    .map(|g| g as usize)
                    .filter(|&g| g < choices.len()),
                Value::String(s) => choices.iter().position(|c| c == s),
                _ => None,
            };
            Ok(vec![log(
                "none",
                Vec::new(),
                score::multiple_choice(&lls, &greedy, &choices, gold, &wanted),
            )])
        }
        OutputType::GenerateUntil => {
            let texts: Vec<String> = resps
                .iter()
                .map(|r| match r {
                    Response::Text(s) => Ok(s.clone()),
                    Response::Loglikelihood(..) => Err(EvalError::Model(
                        "score answer to a generation request".into(),
                    )),
                })
                .collect::<Result<_>>()?;
            let gold = match (&task.config.doc_to_choice, &target) {
                (Some(_), Value::Number(n)) => {
                    let choices = task.doc_to_choice(t, doc, idx)?;
                    n.as_u64()
                        .and_then(|i| choices.get(i as usize).cloned())
                        .unwrap_or_default()
                }
                (_, Value::String(s)) => s.clone(),
                (_, other) => other.to_string(),
            };
            pipelines
                .iter()
                .map(|p| {
                    let answers =
                        p.apply_all(&texts, doc)
                            .map_err(|message| EvalError::Document {
                                task: task.name().into(),
                                doc: idx,
                                message,
                            })?;
                    let first = answers.first().cloned().unwrap_or_default();
                    let metrics = match &task.config.process_results {
                        Some(name) => score::process_results(name, task.name(), idx, doc, &first)?,
                        None => generation_metrics(task, &answers, &gold, opts)?,
                    };
                    Ok(log(&p.name, answers, metrics))
                })
                .collect()
        }
    }
}

/// The task's filter pipelines (generation tasks), compiled once per run.
fn compile_pipelines(task: &Task) -> Result<Vec<FilterPipeline>> {
    if task.config.filter_list.is_empty() {
        return Ok(vec![FilterPipeline::none()]);
    }
    task.config
        .filter_list
        .iter()
        .map(FilterPipeline::new)
        .collect()
}

/// The metric functions of a generation task without `process_results`.
fn generation_metrics(
    task: &Task,
    answers: &[String],
    gold: &str,
    opts: &EvalOptions,
) -> Result<SampleMetrics> {
    let first = answers.first().map_or("", String::as_str);
    let mut m = SampleMetrics::new();
    for spec in &task.config.metric_list {
        match spec.metric.as_str() {
            "exact_match" => {
                m.insert(spec.metric.clone(), score::exact_match(first, gold, spec)?);
            }
            // humaneval's utils.pass_at_k: every sample of the document.
            "pass_at_k" => {
                let passed = code::run_predictions(&opts.sandbox, answers, gold)?;
                let ks = if spec.k.is_empty() { &[1][..] } else { &spec.k };
                m.extend(code::pass_at_k_metrics(&passed, ks));
            }
            // mbpp's utils.pass_at_1: the (first) prediction passes or not.
            "pass_at_1" => {
                let passed =
                    code::run_predictions(&opts.sandbox, &answers[..answers.len().min(1)], gold)?;
                m.insert(
                    spec.metric.clone(),
                    code::pass_at_k_metrics(&passed, &[1])
                        .get("pass@1")
                        .copied()
                        .unwrap_or(0.0),
                );
            }
            other => {
                return Err(EvalError::Unknown {
                    kind: "generation metric",
                    name: other.into(),
                    known: "exact_match, pass_at_k, pass_at_1 (or a process_results)".into(),
                });
            }
        }
    }
    Ok(m)
}

fn aggregate(task: &Task, samples: Vec<SampleLog>, opts: &EvalOptions) -> TaskResult {
    // (metric, filter) → values in document order, keys in first-seen order.
    let mut order: Vec<(String, String)> = Vec::new();
    let mut values: BTreeMap<(String, String), (Vec<f64>, Vec<f64>)> = BTreeMap::new();
    for s in &samples {
        for (m, v) in &s.metrics {
            let key = (m.clone(), s.filter.clone());
            if !values.contains_key(&key) {
                order.push(key.clone());
            }
            let entry = values.entry(key).or_default();
            entry.0.push(*v);
            if let Some(w) = s.weights.get(m) {
                entry.1.push(*w);
            }
        }
    }
    let agg_of = |metric: &str| {
        let spec = task.config.metric_list.iter().find(|m| m.metric == metric);
        match (spec, perplexity::default_aggregation(metric)) {
            // An unset aggregation of a rolling metric is the harness's registered one.
            (Some(m), Some(default)) if m.aggregation == "mean" => default.to_string(),
            (Some(m), _) => m.aggregation.clone(),
            (None, default) => default.unwrap_or("mean").to_string(),
        }
    };
    let mut scores = BTreeMap::new();
    let mut effective = 0;
    for (metric, filter) in order {
        let (xs, ws) = &values[&(metric.clone(), filter.clone())];
        effective = effective.max(xs.len());
        let aggregation = agg_of(&metric);
        let value = match aggregation.as_str() {
            "median" => metrics::median(xs),
            "weighted_perplexity" => perplexity::weighted_perplexity(xs, ws),
            "bits_per_byte" => perplexity::bits_per_byte(xs, ws),
            _ => metrics::mean(xs),
        };
        scores.insert(format!("{metric},{filter}"), Value::from(value));
        let stderr = metrics::stderr_for(&aggregation, xs, opts.bootstrap_iters)
            .map_or(Value::from("N/A"), Value::from);
        scores.insert(format!("{metric}_stderr,{filter}"), stderr);
    }
    // A metric function returning several keys (`pass_at_k` → `pass@1`, ...)
    // lends them its direction, as the harness propagates it.
    let higher_is_better = task
        .config
        .metric_list
        .iter()
        .flat_map(|m| {
            let keys: Vec<String> = if m.metric == "pass_at_k" {
                m.k.iter().map(|k| format!("pass@{k}")).collect()
            } else {
                vec![m.metric.clone()]
            };
            keys.into_iter().map(move |k| (k, m.higher_is_better))
        })
        .collect();
    TaskResult {
        name: task.name().to_string(),
        alias: task
            .config
            .task_alias
            .clone()
            .unwrap_or_else(|| task.name().to_string()),
        n_original: task.docs.len(),
        n_effective: effective,
        scores,
        higher_is_better,
        samples,
    }
}
