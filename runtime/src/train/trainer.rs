//! The step loop: micro-batches with gradient accumulation, clipping, the learning-rate
//! schedule, AdamW, periodic validation and checkpoints.
//!
//! Every input of a step is a pure function of the step number and the checkpointed state
//! (the batch of micro-batch `n` comes from stream `n` of the seed; the learning rate from
//! the schedule at `step`), so a resumed run reproduces an uninterrupted one bit for bit.

use std::time::Instant;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::batch::{Batch, Batcher};
use super::checkpoint::{self, TrainState};
use super::config::OptimizerKind;
use super::config::TrainConfig;
use super::corpus::Corpus;
use super::error::{TrainError, TrainResult};
use super::metrics::{MetricsLog, Record};
use super::model::Trainable;
use super::run::{RunOptions, RunPaths};
use crate::optim::{
    Adam, AdamConfig, Golden, GoldenConfig, Lion, LionConfig, Optimizer, ParamSet, clip_grad_norm,
};
use crate::schedule::Schedule;

/// One training session over a model, from `state.step` to the configured end.
pub(crate) struct Trainer<'a> {
    pub(crate) cfg: &'a TrainConfig,
    pub(crate) model: &'a mut dyn Trainable,
    pub(crate) corpus: &'a Corpus,
    pub(crate) paths: &'a RunPaths,
    pub(crate) opt: Box<dyn Optimizer<f32> + Send>,
    pub(crate) schedule: Schedule,
    pub(crate) batcher: Batcher,
    pub(crate) val: Vec<Batch>,
    pub(crate) grads: Vec<Vec<f32>>,
    pub(crate) state: TrainState,
    pub(crate) metrics: MetricsLog,
}

/// What a session measured.
#[derive(Debug, Clone, Default)]
pub(crate) struct SessionStats {
    /// Training loss of every step this session ran.
    pub(crate) losses: Vec<f32>,
    /// `(step, validation loss)` of every validation this session ran.
    pub(crate) val_losses: Vec<(u64, f32)>,
    /// Tokens trained on this session.
    pub(crate) tokens: u64,
    /// Seconds spent in steps (forward, backward, update), not in validation or I/O.
    pub(crate) step_seconds: f64,
    /// True when `stop_after` ended the session before the last step.
    pub(crate) stopped_early: bool,
}

/// The optimizer the config asks for, over the model's parameters.
pub(crate) fn optimizer(
    cfg: &TrainConfig,
    model: &dyn Trainable,
) -> TrainResult<Box<dyn Optimizer<f32> + Send>> {
    let t = &cfg.train;
    let params = ParamSet::new(model.param_specs().into_iter().map(|s| (s.name, s.shape)));
    Ok(match t.optimizer {
        OptimizerKind::Adamw => {
            let mut c = AdamConfig::adamw(t.lr, t.weight_decay).betas(t.betas.0, t.betas.1);
            c.eps = t.eps;
            c.validate()?;
            Box::new(Adam::new(c, params))
        }
        OptimizerKind::Golden => {
            let mut c = GoldenConfig::new(t.lr, t.weight_decay);
            c.eps = t.eps;
            c.validate()?;
            Box::new(Golden::new(c, params))
        }
        OptimizerKind::Lion => {
            let mut c = LionConfig::new(t.lr, t.weight_decay);
            c.betas = t.betas;
            c.validate()?;
            Box::new(Lion::new(c, params))
        }
    })
}

impl Trainer<'_> {
    /// Runs steps until the configured end (or `opts.stop_after`).
    pub(crate) fn run(&mut self, opts: &RunOptions) -> TrainResult<SessionStats> {
        let total = self.cfg.train.steps;
        let bar = progress_bar(total, self.state.step, opts.progress);
        let mut stats = SessionStats::default();
        while self.state.step < total {
            if opts.stop_after.is_some_and(|k| self.state.step >= k) {
                stats.stopped_early = true;
                break;
            }
            self.step(&mut stats, &bar)?;
            let step = self.state.step;
            if step.is_multiple_of(self.cfg.train.eval_every) || step == total {
                let val = self.validate()?;
                stats.val_losses.push((step, val));
                let line = format!(
                    "step {step:>6}: validation loss {val:.4}{}",
                    gap_note(self.corpus, val)
                );
                if opts.log {
                    bar.suspend(|| eprintln!("{line}"));
                }
            }
            if step.is_multiple_of(self.cfg.output.checkpoint_every) || step == total {
                self.checkpoint()?;
            }
        }
        bar.finish_and_clear();
        Ok(stats)
    }

    /// One optimizer step over `grad_accum` micro-batches.
    fn step(&mut self, stats: &mut SessionStats, bar: &ProgressBar) -> TrainResult<()> {
        let t = &self.cfg.train;
        let started = Instant::now();
        self.grads.iter_mut().for_each(|g| g.fill(0.0));
        let mut loss = 0.0f64;
        for _ in 0..t.grad_accum {
            let batch = self
                .batcher
                .train_batch(&self.corpus.train, self.state.micro_batches);
            self.state.micro_batches += 1;
            let l = self
                .model
                .loss_and_grad(
                    &batch.tokens,
                    &batch.targets,
                    t.batch_size,
                    self.batcher.seq,
                    &mut self.grads,
                )
                .map_err(TrainError::Model)?;
            loss += f64::from(l);
        }
        let loss = (loss / t.grad_accum as f64) as f32;
        if !loss.is_finite() {
            return Err(TrainError::Diverged {
                step: self.state.step + 1,
                loss,
            });
        }
        // Each micro-batch added a mean gradient; their average is the step's gradient.
        let inv = 1.0 / t.grad_accum as f32;
        let mut grads: Vec<&mut [f32]> = self.grads.iter_mut().map(|g| g.as_mut_slice()).collect();
        if t.grad_accum > 1 {
            grads
                .iter_mut()
                .for_each(|g| g.iter_mut().for_each(|v| *v *= inv));
        }
        // Clipping to an infinite norm only measures it.
        let max_norm = if t.grad_clip > 0.0 {
            t.grad_clip
        } else {
            f64::INFINITY
        };
        let grad_norm = clip_grad_norm(&mut grads, max_norm);
        self.opt.follow_schedule(&self.schedule, self.state.step)?;
        let lr = self.opt.lr();
        let grads: Vec<&[f32]> = self.grads.iter().map(Vec::as_slice).collect();
        self.opt.step(&mut self.model.params_mut(), &grads)?;
        self.state.step += 1;

        let tokens = (t.grad_accum * t.batch_size * self.batcher.seq) as u64;
        let seconds = started.elapsed().as_secs_f64();
        self.state.tokens_seen += tokens;
        stats.losses.push(loss);
        stats.tokens += tokens;
        stats.step_seconds += seconds;
        let tokens_per_s = tokens as f64 / seconds.max(1e-9);
        self.metrics.write(Record {
            step: self.state.step,
            loss: Some(loss),
            lr: Some(lr),
            grad_norm: Some(grad_norm),
            tokens: Some(self.state.tokens_seen),
            tokens_per_s: Some(tokens_per_s),
            ..Record::default()
        })?;
        bar.set_position(self.state.step);
        let avg = stats.tokens as f64 / stats.step_seconds.max(1e-9);
        bar.set_message(format!("loss {loss:.4} · {:.1}k tok/s", avg / 1e3));
        Ok(())
    }

    /// Mean loss over the fixed validation batches.
    pub(crate) fn validate(&mut self) -> TrainResult<f32> {
        let (b, s) = (self.batcher.batch, self.batcher.seq);
        let mut total = 0.0f64;
        for batch in &self.val {
            total += f64::from(
                self.model
                    .loss(&batch.tokens, &batch.targets, b, s)
                    .map_err(TrainError::Model)?,
            );
        }
        let val = (total / self.val.len() as f64) as f32;
        self.state.last_val_loss = Some(val);
        self.metrics.write(Record {
            step: self.state.step,
            val_loss: Some(val),
            ..Record::default()
        })?;
        Ok(val)
    }

    /// Writes a checkpoint of the model, the optimizer and the loop state.
    fn checkpoint(&mut self) -> TrainResult<()> {
        let dict = self.opt.state_dict();
        self.state.optimizer = dict.optimizer.clone();
        self.state.optimizer_step = dict.step;
        self.state.optimizer_scalars = dict.scalars.clone();
        checkpoint::save(
            &self.paths.dir,
            &*self.model,
            &dict,
            &self.state,
            self.cfg.output.keep_checkpoints,
        )?;
        Ok(())
    }
}

/// `" (entropy rate 1.2345, gap 0.0123)"` where the corpus's entropy rate is known.
pub(crate) fn gap_note(corpus: &Corpus, val: f32) -> String {
    match corpus.entropy {
        Some(h) => format!(
            " (entropy rate {:.4}, gap {:+.4})",
            h.nats,
            f64::from(val) - h.nats
        ),
        None => String::new(),
    }
}

fn progress_bar(total: u64, start: u64, visible: bool) -> ProgressBar {
    let bar = if visible {
        ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr())
    } else {
        ProgressBar::hidden()
    };
    let style = ProgressStyle::with_template(
        "{bar:32.cyan/blue} {pos}/{len} steps  {msg}  [{elapsed}<{eta}]",
    )
    .map(|s| s.progress_chars("=> "));
    if let Ok(style) = style {
        bar.set_style(style);
    }
    bar.set_position(start);
    bar
}
