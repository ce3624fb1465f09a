//! [`Gpt`] on the CPU executor, as the training loop drives it: one compiled [`Program`]
//! per `(batch, seq)` shape (forward + backward, or forward only), cached.

use std::collections::HashMap;

use vibee_dsl::graph::DType;
use vibee_dsl::graph::passes::Recompute;

use crate::exec::{CompileOptions, Feed, Program};
use crate::train::model::{ModelResult, ParamSpec, Trainable};

use super::NnError;
use super::gpt::{Gpt, GptConfig};
use super::param::Module;

/// Where a program input's values come from each step.
#[derive(Debug, Clone, Copy)]
enum Source {
    Param(usize),
    Tokens,
    Targets,
}

#[derive(Debug)]
struct Compiled {
    program: Program,
    sources: Vec<Source>,
}

/// A [`Gpt`] with its compiled programs; implements [`Trainable`].
///
/// ```
/// use vibee_runtime::nn::{CpuGpt, GptConfig};
/// use vibee_runtime::train::model::Trainable;
/// let cfg = GptConfig::new(16, 1, 2, 8, 4);
/// let mut m = CpuGpt::new(cfg, 0, 1).unwrap();
/// let loss = m.loss(&[1, 2, 3, 4], &[2, 3, 4, 5], 1, 4).unwrap();
/// assert!((loss - (16f32).ln()).abs() < 1.0);
/// ```
#[derive(Debug)]
pub struct CpuGpt {
    model: Gpt,
    threads: usize,
    recompute: Recompute,
    fuse: bool,
    precision: Option<DType>,
    programs: HashMap<(usize, usize, bool), Compiled>,
    logits: Option<Compiled>,
}

impl CpuGpt {
    /// A fresh model from `seed`, run on `threads` threads.
    pub fn new(config: GptConfig, seed: u64, threads: usize) -> Result<Self, NnError> {
        Ok(Self::from_model(Gpt::new(config, seed)?, threads))
    }

    /// Wraps an existing model.
    pub fn from_model(model: Gpt, threads: usize) -> Self {
        Self {
            model,
            threads: threads.max(1),
            recompute: Recompute::None,
            fuse: true,
            precision: None,
            programs: HashMap::new(),
            logits: None,
        }
    }

    /// Training programs compiled from now on run their matrix products in `precision`
    /// (`BF16`/`F16` autocast; `None` or `F32` for f32 throughout).
    pub fn set_precision(&mut self, precision: Option<DType>) {
        let precision = precision.filter(|d| *d != DType::F32);
        if precision != self.precision {
            self.precision = precision;
            self.programs.clear();
        }
    }

    /// Training programs compiled from now on recompute activations as `policy` says
    /// (gradients are unchanged; the planned peak memory drops).
    pub fn set_recompute(&mut self, policy: Recompute) {
        if policy != self.recompute {
            self.recompute = policy;
            self.programs.clear();
        }
    }

    /// Programs compiled from now on fuse chains of memory-bound elementwise ops into
    /// Cranelift kernels (`true`, the default: fewer passes over the activations) or run
    /// every op on its own (`false`); the results are the same bits either way.
    pub fn set_fusion(&mut self, on: bool) {
        if on != self.fuse {
            self.fuse = on;
            self.programs.clear();
            self.logits = None;
        }
    }

    /// The model (parameters, config).
    pub fn model(&self) -> &Gpt {
        &self.model
    }

    /// The planned intermediate storage of the training program for `[batch, seq]`
    /// (compiling it if needed), and the bytes without reuse.
    pub fn planned_memory(&mut self, batch: usize, seq: usize) -> ModelResult<(usize, usize)> {
        let c = self.program(batch, seq, true)?;
        Ok((c.program.planned_peak_bytes(), c.program.unplanned_bytes()))
    }

    /// The compiled training program for `[batch, seq]` (compiled if needed): its plan,
    /// its graph, and per-op timing with [`Program::set_profiling`].
    pub fn training_program(&mut self, batch: usize, seq: usize) -> Result<&mut Program, NnError> {
        Ok(&mut self.program(batch, seq, true)?.program)
    }

    fn compile(&self, graph: &vibee_dsl::graph::Graph) -> Result<Compiled, NnError> {
        let options = CompileOptions {
            recompute: self.recompute,
            fuse: self.fuse,
        };
        let program = Program::compile_with_options(graph, self.threads, options)?;
        let bound = self.model.bind_inputs(&program, &["tokens", "targets"])?;
        let sources = program
            .inputs()
            .iter()
            .zip(bound)
            .map(|(s, param)| match param {
                Some(i) => Source::Param(i),
                None if s.name == "tokens" => Source::Tokens,
                None => Source::Targets,
            })
            .collect();
        Ok(Compiled { program, sources })
    }

    fn program(&mut self, batch: usize, seq: usize, grads: bool) -> Result<&mut Compiled, NnError> {
        let key = (batch, seq, grads);
        if !self.programs.contains_key(&key) {
            let graph = self
                .model
                .trace_loss_in(batch, seq, grads, self.precision)?;
            let compiled = self.compile(&graph)?;
            self.programs.insert(key, compiled);
        }
        self.programs
            .get_mut(&key)
            .ok_or(NnError::UnknownInput("program cache".into()))
    }

    fn check_batch(
        &self,
        tokens: &[u32],
        targets: &[u32],
        batch: usize,
        seq: usize,
    ) -> Result<(), NnError> {
        let cfg = &self.model;
        if seq == 0 || seq > cfg.block_size {
            return Err(NnError::Batch(format!(
                "seq = {seq} must be in 1..={}",
                cfg.block_size
            )));
        }
        if tokens.len() != batch * seq || targets.len() != batch * seq {
            let (t, y) = (tokens.len(), targets.len());
            return Err(NnError::Batch(format!(
                "{t} tokens and {y} targets for batch {batch} × seq {seq}"
            )));
        }
        if let Some(bad) = tokens
            .iter()
            .chain(targets)
            .find(|&&t| t as usize >= cfg.vocab_size)
        {
            return Err(NnError::Batch(format!(
                "token {bad} is outside the vocabulary of {}",
                cfg.vocab_size
            )));
        }
        Ok(())
    }

    /// Runs the `(batch, seq, grads)` program on this batch.
    fn run(
        &mut self,
        tokens: &[u32],
        targets: &[u32],
        batch: usize,
        seq: usize,
        grads: bool,
    ) -> Result<(), NnError> {
        self.check_batch(tokens, targets, batch, seq)?;
        let key = (batch, seq, grads);
        self.program(batch, seq, grads)?;
        let params = self.model.parameters();
        let Some(c) = self.programs.get_mut(&key) else {
            return Ok(());
        };
        let feeds: Vec<Feed<'_>> = c
            .sources
            .iter()
            .map(|s| match s {
                Source::Param(i) => Feed::F32(&params[*i].data),
                Source::Tokens => Feed::U32(tokens),
                Source::Targets => Feed::U32(targets),
            })
            .collect();
        c.program.run(&feeds, 0)?;
        Ok(())
    }
}

impl Trainable for CpuGpt {
    fn param_specs(&self) -> Vec<ParamSpec> {
        self.model
            .parameters()
            .iter()
            .map(|p| ParamSpec {
                name: p.name.clone(),
                shape: p.shape.clone(),
            })
            .collect()
    }

    fn params(&self) -> Vec<&[f32]> {
        self.model
            .parameters()
            .into_iter()
            .map(|p| p.data.as_slice())
            .collect()
    }

    fn params_mut(&mut self) -> Vec<&mut [f32]> {
        let mut out = Vec::new();
        self.model
            .visit_params_mut(&mut |p| out.push(p.data.as_mut_slice()));
        out
    }

    fn loss_and_grad(
        &mut self,
        tokens: &[u32],
        targets: &[u32],
        batch: usize,
        seq: usize,
        grads: &mut [Vec<f32>],
    ) -> ModelResult<f32> {
        let n = self.model.parameters().len();
        if grads.len() != n {
            return Err(Box::new(NnError::Batch(format!(
                "{} gradient buffers for {n} parameters",
                grads.len()
            ))));
        }
        self.run(tokens, targets, batch, seq, true)?;
        let c = &self.programs[&(batch, seq, true)];
        for (k, g) in grads.iter_mut().enumerate() {
            let d = c.program.output(1 + k);
            if g.len() != d.len() {
                return Err(Box::new(NnError::Batch(format!(
                    "gradient buffer {k} holds {}, needs {}",
                    g.len(),
                    d.len()
                ))));
            }
            g.iter_mut().zip(d).for_each(|(g, d)| *g += d);
        }
        Ok(c.program.output(0)[0])
    }

    fn loss(
        &mut self,
        tokens: &[u32],
        targets: &[u32],
        batch: usize,
        seq: usize,
    ) -> ModelResult<f32> {
        self.run(tokens, targets, batch, seq, false)?;
        Ok(self.programs[&(batch, seq, false)].program.output(0)[0])
    }

    fn next_logits(&mut self, context: &[u32]) -> ModelResult<Vec<f32>> {
        let (t, v) = (self.model.block_size, self.model.vocab_size);
        // Causal attention: positions after the context do not affect its last logits, so
        // one program at the full block size serves every context length.
        let ctx = &context[context.len().saturating_sub(t)..];
        if ctx.is_empty() {
            return Err(Box::new(NnError::Batch(
                "next_logits needs at least one token".into(),
            )));
        }
        let mut tokens = vec![0u32; t];
        tokens[..ctx.len()].copy_from_slice(ctx);
        if let Some(bad) = ctx.iter().find(|&&x| x as usize >= v) {
            return Err(Box::new(NnError::Batch(format!(
                "token {bad} is outside the vocabulary of {v}"
            ))));
        }
        if self.logits.is_none() {
            let g = self.model.trace_logits()?;
            self.logits = Some(self.compile(&g)?);
        }
        let params = self.model.parameters();
        let Some(c) = self.logits.as_mut() else {
            return Ok(vec![]);
        };
        let feeds: Vec<Feed<'_>> = c
            .sources
            .iter()
            .map(|s| match s {
                Source::Param(i) => Feed::F32(&params[*i].data),
                Source::Tokens | Source::Targets => Feed::U32(&tokens),
            })
            .collect();
        c.program.run(&feeds, 0)?;
        let row = ctx.len() - 1;
        Ok(c.program.output(0)[row * v..(row + 1) * v].to_vec())
    }

    fn max_context(&self) -> usize {
        self.model.block_size
    }

    fn vocab_size(&self) -> usize {
        self.model.vocab_size
    }
}
