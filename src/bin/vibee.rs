//! The `vibee` command line: `vibee data …` (data-quality pipelines), `vibee eval …`
//! (the evaluation harness). Errors are reported with their context and a non-zero exit.

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "vibee",
    version,
    about = "A typed Rust DSL for the whole life of a large language model"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Data-quality pipelines: filtering and deduplication.
    #[command(subcommand)]
    Data(vibee_data::cli::DataCommand),
    /// Evaluate a model on benchmark tasks, scored as lm-evaluation-harness scores them.
    Eval(vibee_eval::cli::EvalArgs),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Data(cmd) => vibee_data::cli::run(cmd),
        Command::Eval(args) => vibee_eval::cli::run(args),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
