//! `vibee-data`: the `vibee data` commands as a standalone binary.

use clap::Parser;

/// Data-quality pipelines: filtering and deduplication of JSONL corpora.
#[derive(Debug, Parser)]
#[command(name = "vibee-data", version)]
struct Cli {
    #[command(subcommand)]
    command: vibee_data::cli::DataCommand,
}

fn main() -> anyhow::Result<()> {
    vibee_data::cli::run(Cli::parse().command)
}
