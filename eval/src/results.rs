//! Results in lm-evaluation-harness's shape: the `results.json` document, the
//! printed table, and per-sample JSONL logs.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use serde_json::{Map, Value, json};

use crate::error::{EvalError, Result};
use crate::evaluator::TaskResult;
use crate::metrics;
use crate::task::config::GroupConfig;

/// Aggregated scores of one group over its leaf tasks.
#[derive(Clone, Debug)]
pub struct GroupResult {
    /// Group name.
    pub name: String,
    /// Display name.
    pub alias: String,
    /// Leaf tasks aggregated.
    pub leaves: Vec<String>,
    /// `"metric,filter"` and `"metric_stderr,filter"`, plus `sample_len`.
    pub scores: BTreeMap<String, Value>,
}

/// Aggregates a group as the harness's `Group.aggregate`: size-weighted mean of
/// the leaf scores, pooled-variance stderr (or `sqrt(sum se²)/k` unweighted).
pub fn aggregate_group(
    group: &GroupConfig,
    leaves: &[String],
    tasks: &[TaskResult],
) -> GroupResult {
    let by_name: BTreeMap<&str, &TaskResult> = tasks.iter().map(|t| (t.name.as_str(), t)).collect();
    let present: Vec<&TaskResult> = leaves
        .iter()
        .filter_map(|l| by_name.get(l.as_str()).copied())
        .collect();
    let mut scores = BTreeMap::new();
    scores.insert(
        "sample_len".into(),
        Value::from(present.iter().map(|t| t.n_effective).sum::<usize>()),
    );
    for spec in &group.aggregate_metric_list {
        let prefix = format!("{},", spec.metric);
        let mut filters: Vec<String> = match &spec.filter_list {
            Some(f) => f.clone(),
            None => present
                .iter()
                .flat_map(|t| t.scores.keys())
                .filter_map(|k| k.strip_prefix(&prefix).map(str::to_string))
                .collect(),
        };
        filters.sort();
        filters.dedup();
        for filter in filters {
            let key = format!("{}{filter}", prefix);
            let stderr_key = format!("{}_stderr,{filter}", spec.metric);
            let (mut vals, mut sizes, mut ses) = (Vec::new(), Vec::new(), Vec::new());
            for t in &present {
                if let Some(v) = t.scores.get(&key).and_then(Value::as_f64) {
                    vals.push(v);
                    sizes.push(t.n_effective);
                    if let Some(se) = t.scores.get(&stderr_key).and_then(Value::as_f64) {
                        ses.push(se);
                    }
                }
            }
            if vals.is_empty() {
                continue;
            }
            scores.insert(
                key,
                Value::from(metrics::aggregate_subtask_metrics(
                    &vals,
                    &sizes,
                    spec.weight_by_size,
                )),
            );
            let se = if ses.len() != vals.len() {
                Value::from("N/A")
            } else if spec.weight_by_size {
                Value::from(metrics::pooled_sample_stderr(&ses, &sizes))
            } else {
                Value::from(metrics::unweighted_mean_stderr(&ses))
            };
            scores.insert(stderr_key, se);
        }
    }
    GroupResult {
        name: group.group.clone(),
        alias: group
            .group_alias
            .clone()
            .unwrap_or_else(|| group.group.clone()),
        leaves: leaves.to_vec(),
        scores,
    }
}

/// Everything one run produced.
#[derive(Debug, Clone)]
pub struct RunResults {
    /// Model name.
    pub model: String,
    /// Per-task results, in run order.
    pub tasks: Vec<TaskResult>,
    /// Group results, children before parents.
    pub groups: Vec<GroupResult>,
    /// Task name → its config as JSON.
    pub configs: BTreeMap<String, Value>,
    /// Task name → number of few-shot examples.
    pub n_shot: BTreeMap<String, usize>,
    /// Task name → version.
    pub versions: BTreeMap<String, Value>,
    /// Document limit, if any.
    pub limit: Option<usize>,
    /// Bootstrap iterations.
    pub bootstrap_iters: usize,
}

fn entry(name: &str, alias: &str, scores: &BTreeMap<String, Value>) -> Value {
    let mut m = Map::new();
    m.insert("alias".into(), alias.into());
    m.insert("name".into(), name.into());
    for (k, v) in scores {
        m.insert(k.clone(), v.clone());
    }
    Value::Object(m)
}

impl RunResults {
    /// The `results.json` document in the harness's shape.
    pub fn to_json(&self) -> Value {
        let mut results = Map::new();
        let mut groups = Map::new();
        let mut subtasks = Map::new();
        let mut higher = Map::new();
        let mut n_samples = Map::new();
        for t in &self.tasks {
            let mut scores = t.scores.clone();
            scores.insert("sample_len".into(), t.n_effective.into());
            results.insert(t.name.clone(), entry(&t.name, &t.alias, &scores));
            higher.insert(t.name.clone(), json!(t.higher_is_better));
            n_samples.insert(
                t.name.clone(),
                json!({"original": t.n_original, "effective": t.n_effective}),
            );
        }
        for g in &self.groups {
            let e = entry(&g.name, &g.alias, &g.scores);
            results.insert(g.name.clone(), e.clone());
            groups.insert(g.name.clone(), e);
            subtasks.insert(g.name.clone(), json!(g.leaves));
        }
        json!({
            "results": results,
            "groups": groups,
            "group_subtasks": subtasks,
            "configs": self.configs,
            "versions": self.versions,
            "n-shot": self.n_shot,
            "higher_is_better": higher,
            "n-samples": n_samples,
            "config": {"model": self.model, "limit": self.limit, "bootstrap_iters": self.bootstrap_iters},
        })
    }

    /// The harness's results table (Markdown): one row per metric and filter.
    pub fn table(&self) -> String {
        let mut out = String::from(
            "|Tasks|Version|Filter|n-shot|Metric| |Value| |Stderr|\n|---|---|---|---|---|---|---:|---|---:|\n",
        );
        let rows = self
            .groups
            .iter()
            .map(|g| (g.name.as_str(), g.alias.as_str(), &g.scores))
            .chain(
                self.tasks
                    .iter()
                    .map(|t| (t.name.as_str(), t.alias.as_str(), &t.scores)),
            );
        for (name, alias, scores) in rows {
            let version = self
                .versions
                .get(name)
                .map(|v| v.to_string())
                .unwrap_or_else(|| "N/A".into());
            let shots = self
                .n_shot
                .get(name)
                .map(|n| n.to_string())
                .unwrap_or_default();
            for (key, value) in scores
                .iter()
                .filter(|(k, _)| k.contains(',') && !k.contains("_stderr,"))
            {
                let (metric, filter) = key.split_once(',').unwrap_or((key, "none"));
                let se = scores.get(&format!("{metric}_stderr,{filter}"));
                let se = se
                    .and_then(Value::as_f64)
                    .map_or("N/A".to_string(), |s| format!("{s:.4}"));
                let v = value
                    .as_f64()
                    .map_or("N/A".to_string(), |v| format!("{v:.4}"));
                out.push_str(&format!(
                    "|{alias}|{version}|{filter}|{shots}|{metric}|↑|{v}|±|{se}|\n"
                ));
            }
        }
        out
    }

    /// Writes `results.json` and one `samples_<task>.jsonl` per task into `dir`.
    pub fn write(&self, dir: &Path) -> Result<()> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| EvalError::Io {
                path: path.clone(),
                source,
            }
        };
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let results = dir.join("results.json");
        let text = serde_json::to_string_pretty(&self.to_json()).unwrap_or_default();
        std::fs::write(&results, text).map_err(io(&results))?;
        for t in &self.tasks {
            let path = dir.join(format!("samples_{}.jsonl", t.name));
            let mut f = std::io::BufWriter::new(std::fs::File::create(&path).map_err(io(&path))?);
            for s in &t.samples {
                let line = serde_json::to_string(s).unwrap_or_default();
                writeln!(f, "{line}").map_err(io(&path))?;
            }
            f.flush().map_err(io(&path))?;
        }
        Ok(())
    }
}
