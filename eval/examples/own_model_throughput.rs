//! Scoring throughput of vibee's own models (requests/s), batched against unbatched,
//! on the arc_easy and hellaswag fixtures (documents repeated to the size asked for,
//! each copy's question numbered so that no two prompts are the same).
//!
//! ```sh
//! cargo run --release -p vibee-eval --example own_model_throughput              # 40 docs per task
//! cargo run --release -p vibee-eval --example own_model_throughput -- 100 16 runs/tiny_gpt
//! ```
//!
//! Arguments: documents per task, rows per forward pass, and optionally a `vibee
//! train` run directory (otherwise a randomly initialised GPT of the anchor's small
//! shape: vocab 256, 4 layers, 4 heads, width 128, context 128). Unbatched means one
//! request per model call and one row per forward pass; batched sends the
//! evaluator's chunks of 256 requests and runs `rows` rows per forward pass
//! (inputs that are prefixes of other inputs share their row). Each mode runs once
//! untimed first, so that compiling its program shapes is not counted.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use vibee_eval::evaluator::{self, EvalOptions, TaskResult};
use vibee_eval::model::LanguageModel;
use vibee_eval::model::tokenizer::Tokenizer;
use vibee_eval::model::vibee::backend::GptBackend;
use vibee_eval::model::vibee::load::{RunArgs, load_run};
use vibee_eval::model::vibee::{VibeeModel, VibeeOptions};
use vibee_eval::task::Task;
use vibee_eval::task::registry::Registry;
use vibee_eval::template::Templates;
use vibee_runtime::nn::{Gpt, GptConfig};

/// (task, dataset dir, evaluated split)
const TASKS: &[(&str, &str, &str)] = &[
    ("arc_easy", "arc_easy", "test"),
    ("hellaswag", "hellaswag", "validation"),
];

/// Writes the fixture splits, cycled to `docs` documents, under `dst`.
fn replicate(src: &Path, dst: &Path, docs: usize) -> anyhow::Result<()> {
    for (_, dir, split) in TASKS {
        std::fs::create_dir_all(dst.join(dir))?;
        let from = src.join(dir).join(format!("{split}.jsonl"));
        let text = std::fs::read_to_string(&from).with_context(|| from.display().to_string())?;
        let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        // Copies are numbered in their question so that every prompt is distinct:
        // identical requests would share rows and flatter the batched path.
        let mut out = Vec::with_capacity(docs);
        for (i, line) in lines.iter().cycle().take(docs).enumerate() {
            let mut doc: serde_json::Value = serde_json::from_str(line)?;
            for key in ["question", "activity_label"] {
                if let Some(serde_json::Value::String(s)) = doc.get_mut(key) {
                    *s = format!("({i}) {s}");
                }
            }
            out.push(doc.to_string());
        }
        std::fs::write(
            dst.join(dir).join(format!("{split}.jsonl")),
            out.join("\n") + "\n",
        )?;
    }
    Ok(())
}

fn model(run: Option<&PathBuf>, rows: usize) -> anyhow::Result<VibeeModel> {
    let options = VibeeOptions {
        batch_size: rows,
        ..VibeeOptions::default()
    };
    Ok(match run {
        Some(dir) => {
            let mut args = RunArgs::parse(&format!("run={}", dir.display()))?;
            args.options = options;
            load_run(&args)?
        }
        None => {
            let backend = GptBackend::new(Gpt::new(GptConfig::small(), 0)?, 0);
            VibeeModel::new(
                "gpt-small(random)",
                Box::new(backend),
                Tokenizer::Bytes,
                options,
            )
        }
    })
}

/// Evaluates `task` (once untimed, once timed); returns the result and seconds.
fn timed(
    task: &Task,
    m: &VibeeModel,
    t: &Templates,
    chunk: usize,
) -> anyhow::Result<(TaskResult, f64)> {
    let opts = EvalOptions {
        bootstrap_iters: 0,
        batch_size: chunk,
        ..EvalOptions::default()
    };
    evaluator::evaluate_task(task, m, t, &opts)?;
    let start = Instant::now();
    let result = evaluator::evaluate_task(task, m, t, &opts)?;
    Ok((result, start.elapsed().as_secs_f64()))
}

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let docs: usize = args
        .next()
        .map_or(Ok(40), |a| a.parse())
        .context("docs per task")?;
    let rows: usize = args
        .next()
        .map_or(Ok(16), |a| a.parse())
        .context("rows per pass")?;
    let run = args.next().map(PathBuf::from);
    let data = std::env::temp_dir().join(format!("vibee-eval-own-bench-{}", std::process::id()));
    replicate(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures"),
        &data,
        docs,
    )?;
    let registry = Registry::builtin()?;
    let t = Templates::new();
    let (batched, single) = (model(run.as_ref(), rows)?, model(run.as_ref(), 1)?);
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    println!(
        "model: {}, {rows} rows per pass, {threads} threads",
        batched.name()
    );
    println!(
        "{:<10} {:>9} {:>16} {:>16} {:>7}",
        "task", "requests", "batched req/s", "unbatched req/s", "ratio"
    );
    for (name, _, _) in TASKS {
        let task = Task::load(registry.tasks[*name].clone(), &data, &t)?;
        let (a, secs_b) = timed(&task, &batched, &t, 256)?;
        let (b, secs_u) = timed(&task, &single, &t, 1)?;
        let n: usize = a.samples.iter().map(|s| s.arguments.len()).sum();
        for key in ["acc,none", "acc_norm,none"] {
            anyhow::ensure!(
                a.scores[key] == b.scores[key],
                "{name} {key}: batching changed the score"
            );
        }
        let (rb, ru) = (n as f64 / secs_b, n as f64 / secs_u);
        println!("{name:<10} {n:>9} {rb:>16.1} {ru:>16.1} {:>6.2}x", rb / ru);
    }
    std::fs::remove_dir_all(&data)?;
    Ok(())
}
