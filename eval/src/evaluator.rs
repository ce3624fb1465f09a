//! Running tasks against a model: requests → responses → per-document metrics →
//! aggregated scores with standard errors.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use crate::error::{EvalError, Result};
use crate::metrics;
use crate::model::LanguageModel;
use crate::request::{Request, Response};
use crate::score::filters::FilterPipeline;
use crate::score::{self, SampleMetrics};
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
}

impl Default for EvalOptions {
    fn default() -> Self {
        EvalOptions {
            limit: None,
            bootstrap_iters: 100_000,
            batch_size: 256,
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
    /// The extracted answer (generation tasks).
    pub filtered_resp: Option<String>,
    /// Metric values for this document.
    pub metrics: SampleMetrics,
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
    let mut samples = Vec::new();
    let mut offset = 0;
    for (i, reqs) in per_doc.into_iter().enumerate() {
        let resps = responses[offset..offset + reqs.len()].to_vec();
        offset += reqs.len();
        samples.extend(score_doc(task, templates, i, reqs, resps)?);
    }
    Ok(aggregate(task, samples, opts))
}

fn score_doc(
    task: &Task,
    t: &Templates,
    idx: usize,
    reqs: Vec<Request>,
    resps: Vec<Response>,
) -> Result<Vec<SampleLog>> {
    let doc = &task.docs[idx];
    let target = task.doc_to_target(t, doc, idx)?;
    let wanted: Vec<String> = task
        .config
        .metric_list
        .iter()
        .map(|m| m.metric.clone())
        .collect();
    let log = |filter: &str, filtered: Option<String>, metrics: SampleMetrics| SampleLog {
        doc_id: idx,
        doc: doc.clone(),
        target: target.clone(),
        arguments: reqs.clone(),
        resps: resps.clone(),
        filter: filter.into(),
        filtered_resp: filtered,
        metrics,
    };
    match task.config.output_type {
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
                None,
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
            let pipelines: Vec<FilterPipeline> = if task.config.filter_list.is_empty() {
                vec![FilterPipeline::none()]
            } else {
                task.config
                    .filter_list
                    .iter()
                    .map(FilterPipeline::new)
                    .collect::<Result<_>>()?
            };
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
                    let answer = p.apply(&texts);
                    let metrics = match &task.config.process_results {
                        Some(name) => score::process_results(name, task.name(), idx, doc, &answer)?,
                        None => {
                            let mut m = SampleMetrics::new();
                            for spec in task
                                .config
                                .metric_list
                                .iter()
                                .filter(|s| s.metric == "exact_match")
                            {
                                m.insert(
                                    spec.metric.clone(),
                                    score::exact_match(&answer, &gold, spec)?,
                                );
                            }
                            m
                        }
                    };
                    Ok(log(&p.name, Some(answer), metrics))
                })
                .collect()
        }
    }
}

fn aggregate(task: &Task, samples: Vec<SampleLog>, opts: &EvalOptions) -> TaskResult {
    // (metric, filter) → values in document order, keys in first-seen order.
    let mut order: Vec<(String, String)> = Vec::new();
    let mut values: BTreeMap<(String, String), Vec<f64>> = BTreeMap::new();
    for s in &samples {
        for (m, v) in &s.metrics {
            let key = (m.clone(), s.filter.clone());
            if !values.contains_key(&key) {
                order.push(key.clone());
            }
            values.entry(key).or_default().push(*v);
        }
    }
    let agg_of = |metric: &str| {
        task.config
            .metric_list
            .iter()
            .find(|m| m.metric == metric)
            .map_or("mean".to_string(), |m| m.aggregation.clone())
    };
    let mut scores = BTreeMap::new();
    let mut effective = 0;
    for (metric, filter) in order {
        let xs = &values[&(metric.clone(), filter.clone())];
        effective = effective.max(xs.len());
        let aggregation = agg_of(&metric);
        let value = if aggregation == "median" {
            metrics::median(xs)
        } else {
            metrics::mean(xs)
        };
        scores.insert(format!("{metric},{filter}"), Value::from(value));
        let stderr = metrics::stderr_for(&aggregation, xs, opts.bootstrap_iters)
            .map_or(Value::from("N/A"), Value::from);
        scores.insert(format!("{metric}_stderr,{filter}"), stderr);
    }
    let higher_is_better = task
        .config
        .metric_list
        .iter()
        .map(|m| (m.metric.clone(), m.higher_is_better))
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
