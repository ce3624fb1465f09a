//! `vibee-eval`: the evaluation harness on its own (`vibee eval` runs the same code).

use clap::Parser;

/// Evaluate a model on benchmark tasks, scored as lm-evaluation-harness scores them.
#[derive(Debug, Parser)]
#[command(name = "vibee-eval", version)]
struct Cli {
    #[command(flatten)]
    args: vibee_eval::cli::EvalArgs,
}

fn main() -> anyhow::Result<()> {
    vibee_eval::cli::run(Cli::parse().args)
}
