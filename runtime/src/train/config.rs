//! The training config: one TOML file with `[model]`, `[corpus]`, `[train]`, an optional
//! `[schedule]` and `[output]`, every table optional (the defaults are the anchor's small GPT
//! on the embedded Markov corpus). Unknown keys are errors; values are checked together
//! (`d_model % n_heads == 0`, `warmup_steps < steps`, …) and every error names the file and
//! the field's dotted path.
//!
//! ```
//! use vibee_runtime::train::TrainConfig;
//! let cfg = TrainConfig::from_toml_str("[train]\nsteps = 50\nwarmup_steps = 5\n", "run.toml").unwrap();
//! assert_eq!(cfg.model.d_model, 128);
//! let err = TrainConfig::from_toml_str("[model]\nd_model = 130\n", "run.toml").unwrap_err();
//! assert!(err.to_string().contains("run.toml: field `model.d_model`"));
//! ```

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use vibee_dsl::graph::passes::Recompute;

use super::corpus::CorpusConfig;
use super::error::{TrainError, TrainResult};
use crate::schedule::{Cosine, LinearWarmup, Schedule, ScheduleError};

/// A whole training run.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    /// The model's shape.
    #[serde(default)]
    pub model: ModelConfig,
    /// The text to train on.
    #[serde(default)]
    pub corpus: CorpusConfig,
    /// The step loop and the optimizer.
    #[serde(default)]
    pub train: LoopConfig,
    /// A learning-rate schedule in `vibee_runtime::schedule`'s TOML form; when absent, linear
    /// warmup to `train.lr` then cosine decay to `train.min_lr`.
    #[serde(default)]
    pub schedule: Option<Schedule>,
    /// Where checkpoints, metrics, the plot and the sample go.
    #[serde(default)]
    pub output: OutputConfig,
}

/// Which model the trainer builds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelKind {
    /// The GPT of `torch_gpt.py` (pre-LN blocks, learned positions, GELU MLP) on the CPU
    /// executor.
    #[default]
    Gpt,
    /// A table of next-token logits indexed by the previous token (exact, tiny; the right
    /// model for an order-1 source).
    Bigram,
}

/// `[model]`: the GPT shape (the anchor's small shape by default).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ModelConfig {
    /// Which model.
    pub kind: ModelKind,
    /// Vocabulary size; by default the corpus's (256 for byte-level text).
    pub vocab_size: Option<usize>,
    /// Transformer blocks.
    pub n_layers: usize,
    /// Attention heads per block; must divide `d_model`.
    pub n_heads: usize,
    /// Width of the residual stream.
    pub d_model: usize,
    /// Context length (tokens per training sequence).
    pub block_size: usize,
    /// Activation recomputation in the backward: `"none"` (default), `"selective"` (the
    /// attention core and cheap ops) or `"full"` (all but each block's inputs). Gradients
    /// are unchanged; peak memory drops, compute grows.
    pub recompute: Recompute,
    /// Precision of the matrix products: `"f32"` (default), `"bf16"` or `"f16"` (autocast:
    /// operands cast down, results rounded there and cast back; everything else in f32,
    /// parameters and optimizer state in f32).
    pub precision: Precision,
    /// Rotary position embeddings with this base (e.g. `10000.0`) instead of learned
    /// absolute ones; absent by default (the anchor's GPT).
    pub rope_theta: Option<f64>,
}

impl ModelConfig {
    /// The GPT of this shape over `vocab_size` tokens.
    pub fn gpt_shape(&self, vocab_size: usize) -> crate::nn::GptConfig {
        crate::nn::GptConfig {
            vocab_size,
            n_layer: self.n_layers,
            n_head: self.n_heads,
            d_model: self.d_model,
            block_size: self.block_size,
            rope_theta: self.rope_theta,
        }
    }
}

/// `[model] precision`: the type matrix products run in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// Single precision throughout.
    #[default]
    F32,
    /// bfloat16 products (autocast).
    Bf16,
    /// IEEE half products (autocast).
    F16,
}

impl Precision {
    /// The graph dtype of the products, `None` for f32.
    pub fn autocast(self) -> Option<vibee_dsl::graph::DType> {
        match self {
            Precision::F32 => None,
            Precision::Bf16 => Some(vibee_dsl::graph::DType::BF16),
            Precision::F16 => Some(vibee_dsl::graph::DType::F16),
        }
    }
}

impl Default for ModelConfig {
    fn default() -> Self {
        Self {
            kind: ModelKind::default(),
            vocab_size: None,
            n_layers: 4,
            n_heads: 4,
            d_model: 128,
            block_size: 128,
            recompute: Recompute::None,
            precision: Precision::F32,
            rope_theta: None,
        }
    }
}

/// The update rule of `[train]`: `optimizer = "adamw" | "golden" | "lion"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OptimizerKind {
    /// AdamW with `betas`, `eps` and decoupled `weight_decay`.
    #[default]
    Adamw,
    /// vibee's golden-ratio optimizer (`optim::Golden`): β₁, β₂ fixed by φ; uses `eps`
    /// and `weight_decay`, ignores `betas`.
    Golden,
    /// Lion: `betas` and `weight_decay` (typically a 3–10× smaller `lr`); ignores `eps`.
    Lion,
}

/// `[train]`: steps, batches and the optimizer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LoopConfig {
    /// Optimizer steps.
    pub steps: u64,
    /// Sequences per micro-batch.
    pub batch_size: usize,
    /// Micro-batches whose gradients are averaged into one step.
    pub grad_accum: usize,
    /// The update rule (`adamw`, `golden` or `lion`).
    pub optimizer: OptimizerKind,
    /// Peak learning rate.
    pub lr: f64,
    /// Learning rate at the end of the cosine decay.
    pub min_lr: f64,
    /// Steps of linear warmup from 0 to `lr` (fewer than `steps`).
    pub warmup_steps: u64,
    /// Decoupled weight decay (not applied to biases and norms).
    pub weight_decay: f64,
    /// `(β₁, β₂)` of AdamW and Lion.
    pub betas: (f64, f64),
    /// ε of AdamW and the golden-ratio optimizer.
    pub eps: f64,
    /// Clip the global gradient norm to this; 0 turns clipping off.
    pub grad_clip: f64,
    /// Validate every this many steps (and after the last).
    pub eval_every: u64,
    /// Validation batches (fixed windows spread over the validation text).
    pub eval_batches: usize,
    /// Seeds batch sampling, initialisation and text generation.
    pub seed: u64,
    /// CPU threads for the model (0: one per core).
    pub threads: usize,
}

impl Default for LoopConfig {
    fn default() -> Self {
        Self {
            steps: 600,
            batch_size: 16,
            grad_accum: 1,
            optimizer: OptimizerKind::Adamw,
            lr: 2e-3,
            min_lr: 2e-4,
            warmup_steps: 30,
            weight_decay: 0.1,
            betas: (0.9, 0.95),
            eps: 1e-8,
            grad_clip: 1.0,
            eval_every: 100,
            eval_batches: 8,
            seed: 0,
            threads: 0,
        }
    }
}

/// `[output]`: the run directory and what goes in it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OutputConfig {
    /// The run directory (relative to the working directory).
    pub dir: PathBuf,
    /// Write a checkpoint every this many steps (and after the last).
    pub checkpoint_every: u64,
    /// Checkpoints kept on disk (the newest ones).
    pub keep_checkpoints: usize,
    /// Draw `loss.png`.
    pub plot: bool,
    /// Tokens of generated text at the end (0 for none).
    pub sample_tokens: usize,
    /// Softmax temperature of the sample.
    pub sample_temperature: f64,
}

impl Default for OutputConfig {
    fn default() -> Self {
        Self {
            dir: PathBuf::from("runs/tiny_gpt"),
            checkpoint_every: 200,
            keep_checkpoints: 2,
            plot: true,
            sample_tokens: 400,
            sample_temperature: 1.0,
        }
    }
}

impl TrainConfig {
    /// What `vibee train` runs without a config file: the GPT of `torch_gpt.py` at 2 blocks
    /// of width 64 (4 heads), context 64, batch 16, 3000 AdamW steps at lr 1e-2 (warmup 50,
    /// cosine to 1e-3) on the embedded order-2 Markov corpus. Measured (2 cores, loaded
    /// machine, ~23k tokens/s, about 4 minutes): validation loss 3.20 at step 500 (the
    /// unigram plateau), 2.20 at 1000, 1.78 at 3000 against the entropy rate 1.609 (gap
    /// 0.17 nats). The anchor's small shape ([`TrainConfig::default`]) needs several times
    /// longer to leave that plateau: after its default 600 steps it is still at 3.42.
    pub fn demo() -> Self {
        let mut cfg = Self::default();
        cfg.model.n_layers = 2;
        cfg.model.d_model = 64;
        cfg.model.block_size = 64;
        cfg.train.steps = 3000;
        cfg.train.lr = 1e-2;
        cfg.train.min_lr = 1e-3;
        cfg.train.warmup_steps = 50;
        cfg.train.eval_every = 250;
        cfg
    }

    /// Reads and validates a config file.
    pub fn from_file(path: &Path) -> TrainResult<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| TrainError::io(path, e))?;
        Self::from_toml_str(&text, &path.display().to_string())
    }

    /// Parses and validates TOML; `file` names the source in errors.
    pub fn from_toml_str(text: &str, file: &str) -> TrainResult<Self> {
        let cfg: Self = toml::from_str(text).map_err(|e| TrainError::ConfigSyntax {
            file: file.into(),
            message: e.to_string(),
        })?;
        cfg.validate(file)?;
        Ok(cfg)
    }

    /// The learning-rate schedule the run follows.
    pub fn lr_schedule(&self) -> Schedule {
        if let Some(s) = &self.schedule {
            return s.clone();
        }
        let t = &self.train;
        let decay =
            Cosine::new(t.lr, t.steps.saturating_sub(t.warmup_steps).max(1)).min_lr(t.min_lr);
        match t.warmup_steps {
            0 => decay.into(),
            w => LinearWarmup::new(t.lr, w).then(decay, w),
        }
    }

    /// Checks every field and their consistency; `file` names the source in errors.
    pub fn validate(&self, file: &str) -> TrainResult<()> {
        let fail = |field: &str, reason: String| {
            Err(TrainError::Config {
                file: file.into(),
                field: field.into(),
                reason,
            })
        };
        let mut problems = self
            .model
            .problems()
            .into_iter()
            .chain(self.train.problems())
            .chain(self.output.problems());
        if let Some((field, why)) = problems.next() {
            return fail(field, why);
        }
        if let CorpusConfig::Text { val_fraction, .. }
        | CorpusConfig::Tokenizer { val_fraction, .. } = &self.corpus
            && !(*val_fraction > 0.0 && *val_fraction < 1.0)
        {
            return fail(
                "corpus.val_fraction",
                format!("must lie in (0, 1), got {val_fraction}"),
            );
        }
        if let Some(schedule) = &self.schedule {
            match schedule.validate() {
                Err(ScheduleError::Invalid { field, reason }) => {
                    return fail(&format!("schedule.{field}"), reason);
                }
                Err(e) => return fail("schedule", e.to_string()),
                Ok(()) => {}
            }
        }
        Ok(())
    }
}

/// `(field, reason)` for every rule a section breaks.
type Problems = Vec<(&'static str, String)>;

fn need(problems: &mut Problems, ok: bool, field: &'static str, reason: impl FnOnce() -> String) {
    if !ok {
        problems.push((field, reason()));
    }
}

impl ModelConfig {
    fn problems(&self) -> Problems {
        let mut p = Problems::new();
        need(
            &mut p,
            self.vocab_size != Some(0),
            "model.vocab_size",
            || "must be at least 1".into(),
        );
        need(&mut p, self.n_layers > 0, "model.n_layers", || {
            "must be at least 1".into()
        });
        need(&mut p, self.n_heads > 0, "model.n_heads", || {
            "must be at least 1".into()
        });
        need(
            &mut p,
            self.n_heads == 0 || self.d_model.is_multiple_of(self.n_heads),
            "model.d_model",
            || {
                format!(
                    "{} is not divisible by model.n_heads = {}",
                    self.d_model, self.n_heads
                )
            },
        );
        need(&mut p, self.d_model > 0, "model.d_model", || {
            "must be at least 1".into()
        });
        need(&mut p, self.block_size > 0, "model.block_size", || {
            "must be at least 1".into()
        });
        p
    }
}

impl LoopConfig {
    fn problems(&self) -> Problems {
        let rate = |v: f64| v.is_finite() && v > 0.0;
        let beta = |b: f64| (0.0..1.0).contains(&b);
        let mut p = Problems::new();
        need(&mut p, self.steps > 0, "train.steps", || {
            "must be at least 1".into()
        });
        need(&mut p, self.batch_size > 0, "train.batch_size", || {
            "must be at least 1".into()
        });
        need(&mut p, self.grad_accum > 0, "train.grad_accum", || {
            "must be at least 1".into()
        });
        need(&mut p, rate(self.lr), "train.lr", || {
            format!("must be a finite rate > 0, got {}", self.lr)
        });
        need(
            &mut p,
            self.min_lr >= 0.0 && self.min_lr <= self.lr,
            "train.min_lr",
            || {
                format!(
                    "must lie in [0, train.lr = {}], got {}",
                    self.lr, self.min_lr
                )
            },
        );
        need(
            &mut p,
            self.warmup_steps < self.steps,
            "train.warmup_steps",
            || {
                format!(
                    "must be fewer than train.steps = {}, got {}",
                    self.steps, self.warmup_steps
                )
            },
        );
        need(
            &mut p,
            self.weight_decay >= 0.0,
            "train.weight_decay",
            || "must be >= 0".into(),
        );
        need(
            &mut p,
            beta(self.betas.0) && beta(self.betas.1),
            "train.betas",
            || format!("both must lie in [0, 1), got {:?}", self.betas),
        );
        need(&mut p, self.eps >= 0.0, "train.eps", || {
            "must be >= 0".into()
        });
        need(&mut p, self.grad_clip >= 0.0, "train.grad_clip", || {
            "must be >= 0 (0 turns clipping off)".into()
        });
        need(&mut p, self.eval_every > 0, "train.eval_every", || {
            "must be at least 1".into()
        });
        need(&mut p, self.eval_batches > 0, "train.eval_batches", || {
            "must be at least 1".into()
        });
        p
    }
}

impl OutputConfig {
    fn problems(&self) -> Problems {
        let mut p = Problems::new();
        need(
            &mut p,
            self.checkpoint_every > 0,
            "output.checkpoint_every",
            || "must be at least 1".into(),
        );
        need(
            &mut p,
            self.keep_checkpoints > 0,
            "output.keep_checkpoints",
            || "must be at least 1".into(),
        );
        need(
            &mut p,
            self.sample_temperature > 0.0,
            "output.sample_temperature",
            || "must be > 0".into(),
        );
        p
    }
}
