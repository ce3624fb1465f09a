//! A whole run: check everything, then (and only then) touch the run directory, resume or
//! start, train, validate, checkpoint, plot and sample.
//!
//! Every check that can fail on user input — the config, the corpus, sizes against each
//! other, the checkpoint and its fit to the model — runs before the first byte is written,
//! so a rejected run leaves an existing run directory exactly as it was.

use std::fmt;
use std::path::{Path, PathBuf};

use super::atomic::write_atomic;
use super::batch::Batcher;
use super::checkpoint::{self, FORMAT, TrainState};
use super::config::{ModelConfig, TrainConfig};
use super::corpus::{Corpus, EntropyRate};
use super::error::{TrainError, TrainResult};
use super::metrics::MetricsLog;
use super::model::Trainable;
use super::models::build_model;
use super::plot::{LossPlot, draw_loss_png, font_available};
use super::sample::generate;
use super::trainer::{Trainer, optimizer};

/// What to do when the run directory already holds a checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ResumePolicy {
    /// Stop with [`TrainError::RunExists`]: never overwrite a run by accident.
    #[default]
    Refuse,
    /// Continue from the latest checkpoint.
    Resume,
    /// Delete the old checkpoints and metrics and start over.
    Fresh,
}

/// How a run is driven (as opposed to what it trains, which is the config).
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// The config file, if any: errors name it and relative corpus paths start from its
    /// folder.
    pub config_file: Option<PathBuf>,
    /// What to do with an existing checkpoint.
    pub resume: ResumePolicy,
    /// Stop once this many steps are done, without the final checkpoint, plot or sample (as
    /// if the process were killed there).
    pub stop_after: Option<u64>,
    /// Draw a progress bar on the terminal.
    pub progress: bool,
    /// Print validation results to stderr as they come.
    pub log: bool,
}

impl RunOptions {
    fn file_label(&self) -> String {
        self.config_file
            .as_ref()
            .map_or_else(|| "<built-in config>".into(), |p| p.display().to_string())
    }
}

/// The files of a run directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunPaths {
    /// The run directory.
    pub dir: PathBuf,
    /// `metrics.jsonl`.
    pub metrics: PathBuf,
    /// `loss.png`.
    pub plot: PathBuf,
    /// `sample.txt`.
    pub sample: PathBuf,
    /// `config.toml`: the config the run used.
    pub config: PathBuf,
}

impl RunPaths {
    /// The files of run directory `dir`.
    pub fn new(dir: &Path) -> Self {
        Self {
            dir: dir.to_path_buf(),
            metrics: dir.join("metrics.jsonl"),
            plot: dir.join("loss.png"),
            sample: dir.join("sample.txt"),
            config: dir.join("config.toml"),
        }
    }
}

/// What a run did.
#[derive(Debug, Clone)]
pub struct TrainReport {
    /// The run directory.
    pub run_dir: PathBuf,
    /// The corpus's name.
    pub corpus: String,
    /// Trainable parameters.
    pub params: usize,
    /// The step this session started from (0, or the checkpoint's).
    pub start_step: u64,
    /// The step reached.
    pub step: u64,
    /// Training loss of every step of this session.
    pub losses: Vec<f32>,
    /// `(step, loss)` of every validation of this session.
    pub val_losses: Vec<(u64, f32)>,
    /// The latest validation loss (nats per token).
    pub final_val_loss: Option<f32>,
    /// The corpus's exact entropy rate, where known.
    pub entropy: Option<EntropyRate>,
    /// Training throughput of this session (tokens per second of step time).
    pub tokens_per_s: f64,
    /// The generated sample.
    pub sample: Option<String>,
    /// The loss-curve PNG, if drawn.
    pub plot: Option<PathBuf>,
    /// True when `stop_after` ended the session early.
    pub stopped_early: bool,
}

impl TrainReport {
    /// Final validation loss minus the entropy rate (nats), where both are known.
    pub fn gap(&self) -> Option<f64> {
        Some(f64::from(self.final_val_loss?) - self.entropy?.nats)
    }
}

impl fmt::Display for TrainReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "trained {} parameters on {} to step {}",
            self.params, self.corpus, self.step
        )?;
        if self.tokens_per_s > 0.0 {
            writeln!(
                f,
                "throughput:            {:.0} tokens/s",
                self.tokens_per_s
            )?;
        }
        let bits = |nats: f64| nats / std::f64::consts::LN_2;
        if let Some(v) = self.final_val_loss.map(f64::from) {
            writeln!(
                f,
                "final validation loss: {v:.4} nats/token ({:.4} bits)",
                bits(v)
            )?;
        }
        if let Some(h) = self.entropy {
            writeln!(
                f,
                "source entropy rate:   {:.4} nats/byte ({:.4} bits)",
                h.nats,
                h.bits()
            )?;
        }
        if let Some(gap) = self.gap() {
            writeln!(
                f,
                "gap:                   {gap:+.4} nats ({:+.4} bits)",
                bits(gap)
            )?;
        }
        write!(f, "run directory:         {}", self.run_dir.display())
    }
}

/// Trains the model the config describes on the corpus it names.
pub fn train(cfg: &TrainConfig, opts: &RunOptions) -> TrainResult<TrainReport> {
    let base = opts
        .config_file
        .as_deref()
        .map_or(Path::new("."), super::atomic::parent);
    let corpus = Corpus::load(&cfg.corpus, base)?;
    let model_cfg = resolve_model(cfg, &corpus, opts)?;
    let mut model = build_model(&model_cfg, cfg.train.seed, cfg.train.threads)?;
    train_model(cfg, opts, &corpus, model.as_mut())
}

/// The config's model shape with the vocabulary filled in from the corpus, checked against
/// the corpus's vocabulary and length.
pub fn resolve_model(
    cfg: &TrainConfig,
    corpus: &Corpus,
    opts: &RunOptions,
) -> TrainResult<ModelConfig> {
    let fail = |field: &str, reason: String| TrainError::Config {
        file: opts.file_label(),
        field: field.into(),
        reason,
    };
    let vocab = cfg.model.vocab_size.unwrap_or(corpus.vocab_size);
    if vocab < corpus.vocab_size {
        let why = format!(
            "{vocab} is smaller than the corpus's vocabulary ({} tokens in {})",
            corpus.vocab_size, corpus.name
        );
        return Err(fail("model.vocab_size", why));
    }
    let block = cfg.model.block_size;
    for (split, len) in [
        ("training", corpus.train.len()),
        ("validation", corpus.val.len()),
    ] {
        if len <= block + 1 {
            let why = format!(
                "{block} needs more than {} tokens of {split} text; {} has {len}",
                block + 1,
                corpus.name
            );
            return Err(fail("model.block_size", why));
        }
    }
    Ok(ModelConfig {
        vocab_size: Some(vocab),
        ..cfg.model.clone()
    })
}

/// Trains `model` (already built to the config's shape) on `corpus`.
pub fn train_model(
    cfg: &TrainConfig,
    opts: &RunOptions,
    corpus: &Corpus,
    model: &mut dyn Trainable,
) -> TrainResult<TrainReport> {
    let model_cfg = resolve_model(cfg, corpus, opts)?;
    if model.vocab_size() < corpus.vocab_size || model.max_context() < cfg.model.block_size {
        let why = format!(
            "the model takes {} tokens of context over {} ids; the run needs {} over {}",
            model.max_context(),
            model.vocab_size(),
            cfg.model.block_size,
            corpus.vocab_size
        );
        return Err(TrainError::Config {
            file: opts.file_label(),
            field: "model".into(),
            reason: why,
        });
    }
    let paths = RunPaths::new(&cfg.output.dir);
    let mut opt = optimizer(cfg, model)?;
    let resumed = resume_point(cfg, opts, &paths, &model_cfg, model, opt.as_mut())?;
    prepare_dir(cfg, opts, &paths, resumed.is_none())?;
    let metrics = match &resumed {
        Some(state) => MetricsLog::resume(&paths.metrics, state.step)?,
        None => MetricsLog::create(&paths.metrics)?,
    };
    let state = resumed.unwrap_or_else(|| fresh_state(cfg, model_cfg));
    let batcher = Batcher {
        seed: cfg.train.seed,
        batch: cfg.train.batch_size,
        seq: cfg.model.block_size,
    };
    let start_step = state.step;
    let mut trainer = Trainer {
        cfg,
        schedule: cfg.lr_schedule(),
        val: batcher.val_batches(&corpus.val, cfg.train.eval_batches),
        grads: model.params().iter().map(|p| vec![0.0; p.len()]).collect(),
        batcher,
        model,
        corpus,
        paths: &paths,
        opt,
        state,
        metrics,
    };
    let stats = trainer.run(opts)?;
    let mut report = TrainReport {
        run_dir: paths.dir.clone(),
        corpus: corpus.name.clone(),
        params: trainer.model.params().iter().map(|p| p.len()).sum(),
        start_step,
        step: trainer.state.step,
        final_val_loss: trainer.state.last_val_loss,
        losses: stats.losses,
        val_losses: stats.val_losses,
        entropy: corpus.entropy,
        tokens_per_s: stats.tokens as f64 / stats.step_seconds.max(1e-9),
        sample: None,
        plot: None,
        stopped_early: stats.stopped_early,
    };
    if !report.stopped_early {
        finish(&mut trainer, &mut report)?;
    }
    Ok(report)
}

/// The checkpoint to continue from, loaded into `model` and `opt`, if the policy says so.
fn resume_point(
    cfg: &TrainConfig,
    opts: &RunOptions,
    paths: &RunPaths,
    model_cfg: &ModelConfig,
    model: &mut dyn Trainable,
    opt: &mut (dyn crate::optim::Optimizer<f32> + Send),
) -> TrainResult<Option<TrainState>> {
    let Some((step, dir)) = checkpoint::latest(&paths.dir)? else {
        return Ok(None);
    };
    match opts.resume {
        ResumePolicy::Refuse => Err(TrainError::RunExists {
            dir: paths.dir.clone(),
            step,
        }),
        ResumePolicy::Fresh => Ok(None),
        ResumePolicy::Resume => {
            let (state, dict) = checkpoint::load(&dir, model, model_cfg)?;
            let state_file = dir.0.join("state.json");
            if state.seed != cfg.train.seed {
                let why = format!(
                    "the checkpoint was trained with seed {}, the config says {}",
                    state.seed, cfg.train.seed
                );
                return Err(TrainError::checkpoint(state_file, "train.seed", why));
            }
            opt.load_state_dict(&dict).map_err(|e| {
                TrainError::checkpoint(dir.0.join("optimizer.safetensors"), "state", e.to_string())
            })?;
            Ok(Some(state))
        }
    }
}

/// Creates the run directory (clearing an old run when starting fresh) and records the
/// config it runs with.
fn prepare_dir(
    cfg: &TrainConfig,
    opts: &RunOptions,
    paths: &RunPaths,
    fresh: bool,
) -> TrainResult<()> {
    if fresh && opts.resume == ResumePolicy::Fresh {
        let old = checkpoint::checkpoints_dir(&paths.dir);
        if old.exists() {
            std::fs::remove_dir_all(&old).map_err(|e| TrainError::io(&old, e))?;
        }
        for file in [&paths.plot, &paths.sample] {
            if file.exists() {
                std::fs::remove_file(file).map_err(|e| TrainError::io(file, e))?;
            }
        }
    }
    std::fs::create_dir_all(&paths.dir).map_err(|e| TrainError::io(&paths.dir, e))?;
    let text = toml::to_string_pretty(cfg)
        .map_err(|e| TrainError::io(&paths.config, std::io::Error::other(e)))?;
    write_atomic(&paths.config, text.as_bytes())
}

fn fresh_state(cfg: &TrainConfig, model: ModelConfig) -> TrainState {
    TrainState {
        format: FORMAT,
        step: 0,
        micro_batches: 0,
        seed: cfg.train.seed,
        tokens_seen: 0,
        model,
        optimizer: String::new(),
        optimizer_step: 0,
        optimizer_scalars: Default::default(),
        last_val_loss: None,
    }
}

/// After the last step: the validation loss if none was measured, the plot, the sample.
fn finish(trainer: &mut Trainer<'_>, report: &mut TrainReport) -> TrainResult<()> {
    if report.final_val_loss.is_none() {
        report.final_val_loss = Some(trainer.validate()?);
    }
    let out = &trainer.cfg.output;
    if out.plot {
        let entropy = trainer.corpus.entropy.map(|h| h.nats);
        let plot = LossPlot {
            records: &trainer.metrics.history,
            entropy,
            text: font_available(),
        };
        draw_loss_png(&trainer.paths.plot, plot)?;
        report.plot = Some(trainer.paths.plot.clone());
    }
    if out.sample_tokens > 0 {
        let prompt = &trainer.corpus.val[..1];
        let seed = trainer.cfg.train.seed ^ 0x5eed;
        let tokens = generate(
            &mut *trainer.model,
            prompt,
            out.sample_tokens,
            out.sample_temperature,
            seed,
        )
        .map_err(TrainError::Model)?;
        let text = trainer.corpus.decode(&[prompt, &tokens].concat());
        write_atomic(&trainer.paths.sample, text.as_bytes())?;
        report.sample = Some(text);
    }
    Ok(())
}
