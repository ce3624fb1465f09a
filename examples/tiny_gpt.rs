//! Trains a small byte-level model on the embedded corpus — text from a seeded Markov
//! chain whose entropy rate is known exactly — and shows the validation loss approaching
//! that floor, then a sample of generated text. `vibee train` runs the same library code.
//!
//! ```text
//! cargo run --release --example tiny_gpt               # the default run
//! cargo run --release --example tiny_gpt -- my.toml    # any training config
//! ```
//!
//! The run directory (`runs/tiny_gpt_example`) receives `metrics.jsonl`, `loss.png`,
//! `sample.txt` and `checkpoints/`; a second run starts over.

use std::path::PathBuf;

use vibee::runtime::train::{ResumePolicy, RunOptions, TrainConfig, train};

fn main() -> anyhow::Result<()> {
    let config_file = std::env::args().nth(1).map(PathBuf::from);
    let mut cfg = match &config_file {
        Some(path) => TrainConfig::from_file(path)?,
        None => {
            let mut cfg = TrainConfig::demo();
            cfg.output.dir = PathBuf::from("runs/tiny_gpt_example");
            cfg
        }
    };
    if let Some(h) = vibee::runtime::train::Corpus::load(&cfg.corpus, std::path::Path::new("."))
        .ok()
        .and_then(|c| c.entropy)
    {
        println!(
            "corpus entropy rate: {:.4} nats/byte ({:.4} bits)",
            h.nats,
            h.bits()
        );
    }
    cfg.output.sample_tokens = cfg.output.sample_tokens.max(200);
    let opts = RunOptions {
        config_file,
        resume: ResumePolicy::Fresh,
        progress: true,
        log: true,
        ..RunOptions::default()
    };
    let report = train(&cfg, &opts)?;
    if let Some(sample) = &report.sample {
        println!("--- sample ---\n{sample}\n--------------");
    }
    println!("{report}");
    Ok(())
}
