//! The `vibee data …` commands. The facade binary wires its `data` subcommand to
//! [`run`]; `vibee-data` is a thin binary over the same code.

use std::path::PathBuf;

use anyhow::Context;

use crate::lm::{LmNormalization, TrainConfig, arpa, lm_tokens};
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
    /// Train an n-gram language model (modified Kneser-Ney) and write it as ARPA.
    TrainLm(TrainLmArgs),
    /// Print perplexity cut-offs (percentiles) of documents under an ARPA model.
    LmCutoffs(LmCutoffsArgs),
}

/// Arguments of `vibee data train-lm`.
#[derive(Debug, clap::Args)]
pub struct TrainLmArgs {
    /// Training text: `.txt` files (one sentence per line), or JSONL/Parquet documents
    /// (each line of each text is a sentence).
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
    /// Where to write the ARPA file.
    #[arg(long, short)]
    pub output: PathBuf,
    /// Longest n-gram.
    #[arg(long, default_value_t = 5)]
    pub order: usize,
    /// Text field of JSONL/Parquet inputs.
    #[arg(long, default_value = "text")]
    pub text_field: String,
    /// Keep case (the default lowercases, as CCNet does).
    #[arg(long)]
    pub keep_case: bool,
    /// Keep digits (the default maps every digit to 0, as CCNet does).
    #[arg(long)]
    pub keep_digits: bool,
}

impl TrainLmArgs {
    fn normalization(&self) -> LmNormalization {
        LmNormalization {
            lowercase: !self.keep_case,
            digits_to_zero: !self.keep_digits,
        }
    }
}

/// Arguments of `vibee data lm-cutoffs`.
#[derive(Debug, clap::Args)]
pub struct LmCutoffsArgs {
    /// The ARPA model.
    #[arg(long, short)]
    pub model: PathBuf,
    /// Reference documents (JSONL or Parquet).
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
    /// Text field of the documents.
    #[arg(long, default_value = "text")]
    pub text_field: String,
    /// Percentiles to print (CCNet's head/middle/tail cuts are 30 and 60).
    #[arg(long, value_delimiter = ',', default_value = "30,60")]
    pub percentiles: Vec<f64>,
    /// Keep case (must match training).
    #[arg(long)]
    pub keep_case: bool,
    /// Keep digits (must match training).
    #[arg(long)]
    pub keep_digits: bool,
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
        DataCommand::TrainLm(args) => train_lm(&args),
        DataCommand::LmCutoffs(args) => lm_cutoffs(&args),
    }
}

/// The texts of the inputs: whole `.txt` files, or the text field of each record.
fn input_texts(inputs: &[PathBuf], text_field: &str) -> anyhow::Result<Vec<String>> {
    let mut texts = Vec::new();
    for path in inputs {
        if path.extension().is_some_and(|e| e == "txt") {
            texts.push(
                std::fs::read_to_string(path)
                    .with_context(|| format!("reading {}", path.display()))?,
            );
            continue;
        }
        for record in crate::io::read_records(path)? {
            if let Some(text) = record.get(text_field).and_then(|v| v.as_str()) {
                texts.push(text.to_string());
            }
        }
    }
    Ok(texts)
}

fn train_lm(args: &TrainLmArgs) -> anyhow::Result<()> {
    let texts = input_texts(&args.inputs, &args.text_field)?;
    let norm = args.normalization();
    let sentences = texts
        .iter()
        .flat_map(|t| t.lines())
        .map(|line| lm_tokens(line, norm))
        .filter(|tokens| !tokens.is_empty());
    let config = TrainConfig {
        order: args.order,
        ..TrainConfig::default()
    };
    let (model, discounts) = crate::lm::train(sentences, &config)?;
    arpa::save_arpa(&model, &args.output)?;
    for (n, d) in discounts.iter().enumerate() {
        let note = if d.fallback { " (fallback)" } else { "" };
        println!(
            "order {}: {} n-grams, discounts {:.4} {:.4} {:.4}{note}",
            n + 1,
            model.count(n + 1),
            d.d[0],
            d.d[1],
            d.d[2]
        );
    }
    println!("wrote {}", args.output.display());
    Ok(())
}

fn lm_cutoffs(args: &LmCutoffsArgs) -> anyhow::Result<()> {
    let model = arpa::load_arpa(&args.model)?;
    let norm = LmNormalization {
        lowercase: !args.keep_case,
        digits_to_zero: !args.keep_digits,
    };
    let values: Vec<f64> = input_texts(&args.inputs, &args.text_field)?
        .iter()
        .map(|t| model.perplexity(t, norm))
        .filter(|p| p.is_finite())
        .collect();
    anyhow::ensure!(!values.is_empty(), "no scorable documents in the inputs");
    let cuts: Vec<String> = args
        .percentiles
        .iter()
        .filter_map(|&p| crate::filters::percentile(&values, p))
        .map(|c| format!("{c:.2}"))
        .collect();
    println!(
        "cutoffs = [{}]  # percentiles {:?} of {} documents",
        cuts.join(", "),
        args.percentiles,
        values.len()
    );
    Ok(())
}
