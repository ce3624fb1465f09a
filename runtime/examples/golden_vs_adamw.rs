//! The golden-ratio optimizer against AdamW on the training example: the same GPT, the same
//! embedded Markov corpus (known entropy rate), the same step budget and the same seeds.
//! Each optimizer gets the same small learning-rate sweep and is judged at its best rate,
//! so neither wins by a lucky default.
//!
//! ```text
//! cargo run --release -p vibee-runtime --example golden_vs_adamw            # the default
//! cargo run --release -p vibee-runtime --example golden_vs_adamw -- 300 5   # steps, seeds
//! cargo run --release -p vibee-runtime --example golden_vs_adamw -- 500 3 0.01 0.03  # and rates
//! ```
//!
//! Prints every run's final validation loss and, per optimizer and rate, the mean and
//! standard deviation over seeds and the gap to the corpus's entropy rate.

use std::path::PathBuf;

use vibee_runtime::train::{
    ModelKind, OptimizerKind, ResumePolicy, RunOptions, TrainConfig, TrainError, train,
};

/// A GPT small enough for a sweep on two cores: 2 blocks, width 64, context 64.
fn config(kind: OptimizerKind, lr: f64, steps: u64, seed: u64, dir: PathBuf) -> TrainConfig {
    let mut cfg = TrainConfig::default();
    cfg.model.kind = ModelKind::Gpt;
    (cfg.model.n_layers, cfg.model.n_heads) = (2, 4);
    (cfg.model.d_model, cfg.model.block_size) = (64, 64);
    let t = &mut cfg.train;
    (t.optimizer, t.lr, t.min_lr, t.seed) = (kind, lr, lr / 10.0, seed);
    (t.steps, t.warmup_steps, t.batch_size) = (steps, steps / 10, 16);
    (t.eval_every, t.eval_batches) = (steps, 16);
    cfg.output.dir = dir;
    cfg.output.checkpoint_every = steps;
    cfg.output.plot = false;
    cfg.output.sample_tokens = 0;
    cfg
}

fn mean_std(xs: &[f64]) -> (f64, f64) {
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0);
    (mean, var.sqrt())
}

fn main() -> Result<(), TrainError> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let number =
        |i: usize, default: u64| args.get(i).and_then(|a| a.parse().ok()).unwrap_or(default);
    let (steps, seeds) = (number(0, 300), number(1, 3));
    let root = std::env::temp_dir().join("vibee_golden_vs_adamw");
    let rates: Vec<f64> = args.iter().skip(2).filter_map(|a| a.parse().ok()).collect();
    let sweep = if rates.is_empty() {
        vec![1e-3, 3e-3, 1e-2]
    } else {
        rates
    };
    let opts = RunOptions {
        resume: ResumePolicy::Fresh,
        ..RunOptions::default()
    };
    println!("GPT 2x64, context 64, batch 16, {steps} steps, seeds 0..{seeds}, cosine schedule");
    let mut summary = Vec::new();
    let mut entropy = None;
    for kind in [OptimizerKind::Adamw, OptimizerKind::Golden] {
        for &lr in &sweep {
            let mut finals = Vec::new();
            for seed in 0..seeds {
                let dir = root.join(format!("{kind:?}_{lr}_{seed}"));
                let report = train(&config(kind, lr, steps, seed, dir), &opts)?;
                entropy = report.entropy.map(|h| h.nats).or(entropy);
                let val = report.final_val_loss.map_or(f64::NAN, f64::from);
                println!("{kind:?} lr {lr:e} seed {seed}: validation loss {val:.4}");
                finals.push(val);
            }
            summary.push((kind, lr, mean_std(&finals)));
        }
    }
    let h = entropy.unwrap_or(f64::NAN);
    println!("\nentropy rate of the corpus: {h:.4} nats/byte");
    println!(
        "{:<8} {:>8} {:>10} {:>8} {:>8}",
        "optim", "lr", "val mean", "std", "gap"
    );
    for (kind, lr, (mean, std)) in &summary {
        let gap = mean - h;
        println!("{kind:<8?} {lr:>8.0e} {mean:>10.4} {std:>8.4} {gap:>8.4}");
    }
    for kind in [OptimizerKind::Adamw, OptimizerKind::Golden] {
        let best = summary
            .iter()
            .filter(|s| s.0 == kind)
            .min_by(|a, b| a.2.0.total_cmp(&b.2.0));
        if let Some((_, lr, (mean, std))) = best {
            println!("best {kind:?}: lr {lr:e}, validation loss {mean:.4} ± {std:.4}");
        }
    }
    let _ = std::fs::remove_dir_all(&root);
    Ok(())
}
