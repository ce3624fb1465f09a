//! The `vibee data …` commands. The facade binary wires its `data` subcommand to
//! [`run`]; `vibee-data` is a thin binary over the same code.

use std::path::PathBuf;

use anyhow::Context;

use crate::pipeline::{Pipeline, RunOptions};

/// Subcommands of `vibee data`.
#[derive(Debug, clap::Subcommand)]
pub enum DataCommand {
    /// Run a pipeline file: read, filter, deduplicate, write kept and rejected documents.
    Run {
        /// The pipeline TOML file.
        pipeline: PathBuf,
        /// Discard the work folder of an earlier run instead of resuming it.
        #[arg(long)]
        fresh: bool,
        /// Hide progress bars.
        #[arg(long, short)]
        quiet: bool,
        /// Number of worker threads (default: all cores).
        #[arg(long, short = 'j')]
        threads: Option<usize>,
        /// Stop after this many shards, as if killed (to try resumption).
        #[arg(long, hide = true)]
        stop_after_shards: Option<usize>,
    },
    /// Check a pipeline file and print its steps without running it.
    Check {
        /// The pipeline TOML file.
        pipeline: PathBuf,
    },
}

/// Runs one `vibee data` command.
pub fn run(cmd: DataCommand) -> anyhow::Result<()> {
    match cmd {
        DataCommand::Run {
            pipeline,
            fresh,
            quiet,
            threads,
            stop_after_shards,
        } => {
            if let Some(n) = threads {
                // Only the first configuration of the global pool wins; later calls in
                // the same process keep the pool they have, which is harmless.
                let _ = rayon::ThreadPoolBuilder::new()
                    .num_threads(n)
                    .build_global();
            }
            let built = Pipeline::from_toml_file(&pipeline)
                .with_context(|| format!("loading {}", pipeline.display()))?;
            let options = RunOptions {
                progress: !quiet,
                fresh,
                stop_after_shards,
            };
            let summary = built
                .run(&options)
                .with_context(|| format!("running {}", pipeline.display()))?;
            println!("{summary}");
            anyhow::ensure!(
                summary.is_balanced(),
                "document counts do not add up (a bug)"
            );
            Ok(())
        }
        DataCommand::Check { pipeline } => {
            let built = Pipeline::from_toml_file(&pipeline)
                .with_context(|| format!("loading {}", pipeline.display()))?;
            for (i, step) in built.steps().iter().enumerate() {
                println!("steps[{i}] {step:?}");
            }
            Ok(())
        }
    }
}
