//! The `vibee` command line: `vibee data …` (data-quality pipelines), `vibee eval …`
//! (the evaluation harness), `vibee train [config.toml]` (train a model). Errors are
//! reported with their context and a non-zero exit.

use std::path::PathBuf;

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
    Eval(Box<vibee_eval::cli::EvalArgs>),
    /// Train a model; with no config, on the embedded corpus whose entropy rate is known.
    Train(Box<TrainArgs>),
    /// Learning-rate schedules.
    #[command(subcommand)]
    Schedule(ScheduleCommand),
}

#[derive(Debug, Subcommand)]
enum ScheduleCommand {
    /// Draw a schedule (TOML: a `[schedule]` table's contents, or a training config with
    /// one) to a PNG.
    Plot {
        /// The schedule TOML.
        schedule: PathBuf,
        /// The PNG to write.
        #[arg(short, long, default_value = "lr.png")]
        output: PathBuf,
        /// Steps to draw (default: the schedule's own length).
        #[arg(long)]
        steps: Option<u64>,
    },
}

/// Reads a schedule from a file holding either the schedule itself or a training config
/// with a `[schedule]` table, and draws it.
fn schedule(cmd: ScheduleCommand) -> anyhow::Result<()> {
    use anyhow::Context;
    use vibee_runtime::schedule::Schedule;
    use vibee_runtime::train::plot::{draw_schedule_png, font_available, schedule_horizon};
    let ScheduleCommand::Plot {
        schedule,
        output,
        steps,
    } = cmd;
    let text =
        std::fs::read_to_string(&schedule).with_context(|| format!("{}", schedule.display()))?;
    let parsed = match Schedule::from_toml_str(&text) {
        Ok(s) => s,
        Err(direct) => match vibee_runtime::train::TrainConfig::from_toml_str(
            &text,
            &schedule.display().to_string(),
        ) {
            Ok(cfg) if text.contains("[schedule]") => cfg.lr_schedule(),
            _ => return Err(direct).with_context(|| format!("{}", schedule.display())),
        },
    };
    let steps = steps.unwrap_or_else(|| schedule_horizon(&parsed));
    draw_schedule_png(&output, &parsed, steps, font_available())?;
    println!(
        "wrote {} ({} steps, lr {:.3e} → {:.3e})",
        output.display(),
        steps,
        parsed.lr(0),
        parsed.lr(steps)
    );
    Ok(())
}

#[derive(Debug, clap::Args)]
struct TrainArgs {
    /// The training config (TOML); every table is optional.
    config: Option<PathBuf>,
    /// Continue from the run directory's latest checkpoint.
    #[arg(long, conflicts_with = "fresh")]
    resume: bool,
    /// Delete the run directory's checkpoints and metrics, and start over.
    #[arg(long)]
    fresh: bool,
    /// The run directory (overrides `output.dir`).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Optimizer steps (overrides `train.steps`).
    #[arg(long)]
    steps: Option<u64>,
    /// No progress bar.
    #[arg(short, long)]
    quiet: bool,
}

/// Loads the config, applies the flags, trains and prints the report and the sample.
fn train(args: TrainArgs) -> anyhow::Result<()> {
    use vibee_runtime::train::{ResumePolicy, RunOptions, TrainConfig};
    let mut cfg = match &args.config {
        Some(path) => TrainConfig::from_file(path)?,
        None => TrainConfig::demo(),
    };
    if let Some(out) = args.out {
        cfg.output.dir = out;
    }
    if let Some(steps) = args.steps {
        cfg.train.steps = steps;
        cfg.train.warmup_steps = cfg.train.warmup_steps.min(steps.saturating_sub(1));
    }
    let label = args
        .config
        .as_ref()
        .map_or("<built-in demo config>".into(), |p| p.display().to_string());
    cfg.validate(&label)?;
    let resume = match (args.resume, args.fresh) {
        (true, _) => ResumePolicy::Resume,
        (_, true) => ResumePolicy::Fresh,
        _ => ResumePolicy::Refuse,
    };
    let opts = RunOptions {
        config_file: args.config,
        resume,
        progress: !args.quiet,
        log: true,
        ..RunOptions::default()
    };
    let report = vibee_runtime::train::train(&cfg, &opts)?;
    if let Some(sample) = &report.sample {
        println!("--- sample ---\n{sample}\n--------------");
    }
    println!("{report}");
    Ok(())
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Data(cmd) => vibee_data::cli::run(cmd),
        Command::Eval(args) => vibee_eval::cli::run(*args),
        Command::Train(args) => train(*args),
        Command::Schedule(cmd) => schedule(cmd),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
