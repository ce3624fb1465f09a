//! Scoring throughput of the harness itself: requests/s with the fake model
//! (no model cost), so the number is vibee's overhead — prompt building,
//! request batching, scoring, aggregation — beside lm-evaluation-harness's own
//! overhead on the same requests when `lm_eval` is importable.
//!
//! ```sh
//! cargo run --release -p vibee-eval --example throughput            # 2000 docs per task
//! VIBEE_EVAL_PYTHON=.venv/bin/python cargo run --release -p vibee-eval --example throughput -- 500
//! ```
//!
//! The fixture documents are repeated to the size asked for in a temporary
//! data directory that both harnesses read.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::Context;
use vibee_eval::evaluator::{self, EvalOptions};
use vibee_eval::model::fake::FakeModel;
use vibee_eval::task::Task;
use vibee_eval::task::registry::Registry;
use vibee_eval::template::Templates;

/// (task, dataset dir, evaluated split, few-shot examples)
const TASKS: &[(&str, &str, &str, usize)] = &[
    ("arc_easy", "arc_easy", "test", 5),
    ("hellaswag", "hellaswag", "validation", 0),
    ("gsm8k", "gsm8k", "test", 5),
];

fn replicate(src: &Path, dst: &Path, docs: usize) -> anyhow::Result<()> {
    for (_, dir, split, _) in TASKS {
        std::fs::create_dir_all(dst.join(dir))?;
        for s in [*split, "train"] {
            let from = src.join(dir).join(format!("{s}.jsonl"));
            let Ok(text) = std::fs::read_to_string(&from) else {
                continue;
            };
            let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
            let n = if s == *split { docs } else { lines.len() };
            let out: Vec<&str> = lines.iter().cycle().take(n).copied().collect();
            std::fs::write(
                dst.join(dir).join(format!("{s}.jsonl")),
                out.join("\n") + "\n",
            )?;
        }
    }
    Ok(())
}

fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("VIBEE_EVAL_PYTHON") {
        return p.into();
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python");
    if venv.exists() {
        venv
    } else {
        "python3".into()
    }
}

/// lm-eval's (requests, seconds) per task, or why it could not run.
fn harness_times(data: &Path) -> Result<Vec<(u64, f64)>, String> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/eval_bench.py");
    let args: Vec<String> = TASKS
        .iter()
        .map(|(t, _, s, k)| format!("{t}:{s}:{k}"))
        .collect();
    let out = Command::new(python())
        .arg(&script)
        .arg(data)
        .args(&args)
        .output()
        .map_err(|e| format!("cannot run {}: {e}", python().display()))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let last = err.lines().last().unwrap_or("no output").to_string();
        return Err(format!(
            "lm_eval not runnable with {} ({last})",
            python().display()
        ));
    }
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .map(|v| {
            Ok((
                v["requests"].as_u64().unwrap_or(0),
                v["seconds"].as_f64().unwrap_or(f64::NAN),
            ))
        })
        .collect()
}

fn main() -> anyhow::Result<()> {
    let docs: usize = std::env::args()
        .nth(1)
        .map_or(Ok(2000), |a| a.parse())
        .context("docs per task")?;
    let data = std::env::temp_dir().join(format!("vibee-eval-bench-{}", std::process::id()));
    replicate(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures"),
        &data,
        docs,
    )?;
    let registry = Registry::builtin()?;
    let t = Templates::new();
    let opts = EvalOptions {
        bootstrap_iters: 0,
        ..EvalOptions::default()
    };
    let mut ours = Vec::new();
    for (name, _, _, shots) in TASKS {
        let mut config = registry.tasks[*name].clone();
        config.num_fewshot = *shots;
        let start = Instant::now();
        let task = Task::load(config, &data, &t)?;
        let result = evaluator::evaluate_task(&task, &FakeModel, &t, &opts)?;
        let secs = start.elapsed().as_secs_f64();
        let requests: usize = result
            .samples
            .iter()
            .filter(|s| s.filter == result.samples[0].filter)
            .map(|s| s.arguments.len())
            .sum();
        ours.push((*name, requests as u64, secs));
    }
    let theirs = harness_times(&data);
    println!(
        "{:<10} {:>9} {:>14} {:>14} {:>8}",
        "task", "requests", "vibee req/s", "lm-eval req/s", "ratio"
    );
    for (i, (name, n, secs)) in ours.iter().enumerate() {
        let rate = *n as f64 / secs;
        match theirs.as_ref().ok().and_then(|v| v.get(i)) {
            Some((m, s)) => {
                let other = *m as f64 / s;
                let same = if m == n {
                    ""
                } else {
                    " (request counts differ!)"
                };
                println!(
                    "{name:<10} {n:>9} {rate:>14.0} {other:>14.0} {:>7.1}x{same}",
                    rate / other
                );
            }
            None => println!("{name:<10} {n:>9} {rate:>14.0} {:>14} {:>8}", "-", "-"),
        }
    }
    if let Err(reason) = theirs {
        println!("lm-eval comparison skipped: {reason}");
    }
    let _ = std::fs::remove_dir_all(&data);
    Ok(())
}
