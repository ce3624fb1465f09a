//! [`Gpt`] on the CPU executor, as the training loop drives it: compiled [`Program`]s per
//! `(batch, seq)` shape (forward + backward, or forward only), cached.
//!
//! On several threads the batch is split by default ([`Split::Batch`]): each thread runs
//! its own single-threaded copy of the program over its share of the rows, and the shares'
//! losses and gradients are added with weights (rows share ÷ batch) in a fixed order. Data
//! parallelism across cores, as across GPUs: every product and every op runs at one
//! thread's full speed with no synchronisation inside the step, where splitting each op's
//! work ([`Split::Ops`]) pays for a fork and join per op and gives products half-sized
//! blocks. The math is the same; the sums are ordered differently, so results depend on
//! the thread count (and are deterministic for a fixed one).

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

/// How a [`CpuGpt`] on several threads uses them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Split {
    /// One single-threaded program per thread, each over an equal share of the batch's rows
    /// (shares differ by at most a row); losses and gradients added in a fixed order.
    #[default]
    Batch,
    /// One program over the whole batch; every op splits its own work across the threads.
    Ops,
}

/// One share of the batch: its first row, its rows, and the program that runs them.
#[derive(Debug)]
struct Part {
    row: usize,
    rows: usize,
    compiled: Compiled,
}

/// The rows of each share of a batch of `batch` split `split`-wise over `threads` threads.
fn shares(batch: usize, threads: usize, split: Split) -> Vec<usize> {
    let n = match split {
        Split::Batch => threads.min(batch).max(1),
        Split::Ops => 1,
    };
    (0..n)
        .map(|k| batch / n + usize::from(k < batch % n))
        .collect()
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
    split: Split,
    programs: HashMap<(usize, usize, bool), Vec<Part>>,
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
            split: Split::default(),
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

    /// Programs compiled from now on use several threads as `split` says ([`Split::Batch`]
    /// by default). One thread, or a batch of one row, runs one program either way.
    pub fn set_split(&mut self, split: Split) {
        if split != self.split {
            self.split = split;
            self.programs.clear();
        }
    }

    /// The model (parameters, config).
    pub fn model(&self) -> &Gpt {
        &self.model
    }

    /// The planned intermediate storage of the training programs for `[batch, seq]`
    /// (compiling them if needed), all shares of a split batch together, and the bytes
    /// without reuse; both count what the programs keep outside their plans for the
    /// gradients ([`Program::kept_bytes`]).
    pub fn planned_memory(&mut self, batch: usize, seq: usize) -> ModelResult<(usize, usize)> {
        let parts = self.parts(batch, seq, true)?;
        Ok(parts.iter().fold((0, 0), |(p, u), part| {
            let program = &part.compiled.program;
            let kept = program.kept_bytes();
            (
                p + program.planned_peak_bytes() + kept,
                u + program.unplanned_bytes() + kept,
            )
        }))
    }

    /// The compiled training program for `[batch, seq]` (compiled if needed; with the batch
    /// split, the first share's): its plan, its graph, and per-op timing with
    /// [`Program::set_profiling`].
    pub fn training_program(&mut self, batch: usize, seq: usize) -> Result<&mut Program, NnError> {
        let parts = self.parts(batch, seq, true)?;
        match parts.first_mut() {
            Some(part) => Ok(&mut part.compiled.program),
            None => Err(NnError::Batch("an empty batch has no program".into())),
        }
    }

    fn compile(
        &self,
        graph: &vibee_dsl::graph::Graph,
        threads: usize,
    ) -> Result<Compiled, NnError> {
        let options = CompileOptions {
            recompute: self.recompute,
            fuse: self.fuse,
        };
        let program = Program::compile_with_options(graph, threads, options)?;
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

    /// The programs of `[batch, seq]`'s shares (compiled if needed): one per share, the
    /// shares of equal size copies of one compiled program.
    fn parts(&mut self, batch: usize, seq: usize, grads: bool) -> Result<&mut Vec<Part>, NnError> {
        let key = (batch, seq, grads);
        if !self.programs.contains_key(&key) {
            let rows = shares(batch, self.threads, self.split);
            let threads = if rows.len() > 1 { 1 } else { self.threads };
            let mut parts: Vec<Part> = Vec::with_capacity(rows.len());
            let mut row = 0;
            for &n in &rows {
                let compiled = match parts.iter().find(|p| p.rows == n) {
                    Some(p) => Compiled {
                        program: p.compiled.program.replica()?,
                        sources: p.compiled.sources.clone(),
                    },
                    None => {
                        let graph = self.model.trace_loss_in(n, seq, grads, self.precision)?;
                        self.compile(&graph, threads)?
                    }
                };
                parts.push(Part {
                    row,
                    rows: n,
                    compiled,
                });
                row += n;
            }
            self.programs.insert(key, parts);
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

    /// Runs the `(batch, seq, grads)` programs on this batch, the shares at the same time
    /// (the first on this thread); a replica that panics re-raises its panic here.
    fn run(
        &mut self,
        tokens: &[u32],
        targets: &[u32],
        batch: usize,
        seq: usize,
        grads: bool,
    ) -> Result<(), NnError> {
        self.check_batch(tokens, targets, batch, seq)?;
        self.parts(batch, seq, grads)?;
        let params = self.model.parameters();
        let Some(parts) = self.programs.get_mut(&(batch, seq, grads)) else {
            return Ok(());
        };
        let run_part = |part: &mut Part| {
            let rows = part.row * seq..(part.row + part.rows) * seq;
            let (tokens, targets) = (&tokens[rows.clone()], &targets[rows]);
            let c = &mut part.compiled;
            let feeds: Vec<Feed<'_>> = c
                .sources
                .iter()
                .map(|s| match s {
                    Source::Param(i) => Feed::F32(&params[*i].data),
                    Source::Tokens => Feed::U32(tokens),
                    Source::Targets => Feed::U32(targets),
                })
                .collect();
            c.program.run(&feeds, 0)
        };
        let Some((first, rest)) = parts.split_first_mut() else {
            return Ok(());
        };
        std::thread::scope(|s| {
            let others: Vec<_> = rest.iter_mut().map(|p| s.spawn(|| run_part(p))).collect();
            let mut result = run_part(first);
            for h in others {
                let r = h
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
                result = result.and(r);
            }
            result
        })?;
        Ok(())
    }

    /// The loss (output 0) of the whole batch `(batch, seq, grads)`: the shares' means
    /// added with their weights, in share order.
    fn mean_loss(&self, key: (usize, usize, bool)) -> f32 {
        let parts = &self.programs[&key];
        match parts.as_slice() {
            [one] => one.compiled.program.output(0)[0],
            _ => parts.iter().fold(0.0, |acc, p| {
                acc + weight(p, key.0) * p.compiled.program.output(0)[0]
            }),
        }
    }
}

/// A share's weight in the batch's mean: its rows over the batch's.
fn weight(part: &Part, batch: usize) -> f32 {
    part.rows as f32 / batch as f32
}

/// `grads[k] += Σ weight · gradient k` over the shares, in share order (a single share's
/// gradients added as they are), the parameters split over `threads` scoped threads. The
/// shares are added a chunk at a time, so each chunk of `grads` is read and written once.
fn accumulate(grads: &mut [Vec<f32>], parts: &[Part], batch: usize, threads: usize) {
    const CHUNK: usize = 2048;
    let add = |k: usize, g: &mut [f32]| {
        let shares: Vec<(f32, &[f32])> = parts
            .iter()
            .map(|p| (weight(p, batch), p.compiled.program.output(1 + k)))
            .collect();
        for (c, g) in g.chunks_mut(CHUNK).enumerate() {
            let at = c * CHUNK;
            for &(w, d) in &shares {
                let d = d.get(at..).unwrap_or_default();
                if parts.len() == 1 {
                    g.iter_mut().zip(d).for_each(|(g, d)| *g += d);
                } else {
                    g.iter_mut().zip(d).for_each(|(g, d)| *g += w * d);
                }
            }
        }
    };
    let total: usize = grads.iter().map(Vec::len).sum();
    let per_thread = total.div_ceil(threads.max(1)).max(1 << 16);
    // Contiguous runs of parameters of about `per_thread` values each.
    let mut groups: Vec<(usize, &mut [Vec<f32>])> = Vec::new();
    let (mut rest, mut first) = (grads, 0);
    while !rest.is_empty() {
        let mut n = 0;
        let mut len = 0;
        while n < rest.len() && (n == 0 || len + rest[n].len() <= per_thread) {
            len += rest[n].len();
            n += 1;
        }
        let (group, tail) = std::mem::take(&mut rest).split_at_mut(n);
        groups.push((first, group));
        first += n;
        rest = tail;
    }
    let run = |(first, group): (usize, &mut [Vec<f32>])| {
        for (k, g) in group.iter_mut().enumerate() {
            add(first + k, g);
        }
    };
    if groups.len() == 1 {
        groups.into_iter().for_each(run);
        return;
    }
    std::thread::scope(|s| {
        for group in groups {
            s.spawn(move || run(group));
        }
    });
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
        let key = (batch, seq, true);
        let parts = &self.programs[&key];
        let program = &parts[0].compiled.program;
        for (k, g) in grads.iter().enumerate() {
            let need = program.output(1 + k).len();
            if g.len() != need {
                return Err(Box::new(NnError::Batch(format!(
                    "gradient buffer {k} holds {}, needs {need}",
                    g.len()
                ))));
            }
        }
        accumulate(grads, parts, batch, self.threads);
        Ok(self.mean_loss(key))
    }

    fn loss(
        &mut self,
        tokens: &[u32],
        targets: &[u32],
        batch: usize,
        seq: usize,
    ) -> ModelResult<f32> {
        self.run(tokens, targets, batch, seq, false)?;
        Ok(self.mean_loss((batch, seq, false)))
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
            self.logits = Some(self.compile(&g, self.threads)?);
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
