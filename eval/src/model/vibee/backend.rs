//! Forward passes of vibee's own models: the logits at every position of a batch of
//! token rows.
//!
//! There is no KV cache yet: every call recomputes its rows from their first token.

use std::collections::HashMap;

use vibee_runtime::exec::{Feed, Program};
use vibee_runtime::nn::{Gpt, Module};
use vibee_runtime::train::Trainable;

use crate::error::{EvalError, Result};

/// Receives row `i`'s logits, `[row_len × vocab]` row-major.
pub type Visit<'a> = dyn FnMut(usize, &[f32]) -> Result<()> + 'a;

/// A model that gives next-token logits at every position of several rows at once.
pub trait Backend: Send + std::fmt::Debug {
    /// The longest row it accepts.
    fn max_context(&self) -> usize;
    /// Logits per position.
    fn vocab_size(&self) -> usize;
    /// Runs `rows` (each `1..=max_context` tokens) and hands each row's logits to `visit`.
    fn forward(&mut self, rows: &[&[u32]], visit: &mut Visit<'_>) -> Result<()>;
}

fn model_err(e: impl std::fmt::Display) -> EvalError {
    EvalError::Model(e.to_string())
}

/// Checks row lengths and token ids against the model's sizes.
fn check_rows(rows: &[&[u32]], max_context: usize, vocab: usize) -> Result<()> {
    for row in rows {
        if row.is_empty() || row.len() > max_context {
            let n = row.len();
            return Err(model_err(format!(
                "a row of {n} tokens; the model takes 1..={max_context}"
            )));
        }
        if let Some(bad) = row.iter().find(|&&t| t as usize >= vocab) {
            return Err(model_err(format!(
                "token {bad} is outside the model's vocabulary of {vocab}"
            )));
        }
    }
    Ok(())
}

/// Where each program input's values come from.
#[derive(Debug)]
struct Compiled {
    program: Program,
    /// `None`: the token rows; `Some(i)`: parameter `i` in [`Module`] order.
    sources: Vec<Option<usize>>,
}

/// vibee's GPT as one compiled logits program per `(rows, padded length)` shape.
///
/// Rows are padded on the right to a power of two (at least 8, at most the block
/// size), so a handful of shapes serve every request; causal attention keeps the
/// padding from changing the logits of the real positions.
#[derive(Debug)]
pub struct GptBackend {
    gpt: Gpt,
    threads: usize,
    programs: HashMap<(usize, usize), Compiled>,
}

impl GptBackend {
    /// `gpt` run on `threads` CPU threads (0: one per core).
    pub fn new(gpt: Gpt, threads: usize) -> Self {
        let threads = match threads {
            0 => std::thread::available_parallelism().map_or(1, usize::from),
            n => n,
        };
        Self {
            gpt,
            threads,
            programs: HashMap::new(),
        }
    }

    /// The padded length of a batch whose longest row has `len` tokens.
    fn padded(&self, len: usize) -> usize {
        len.next_power_of_two().max(8).min(self.gpt.block_size)
    }

    fn compile(&self, batch: usize, seq: usize) -> Result<Compiled> {
        let g = self.gpt.trace_logits_for(batch, seq).map_err(model_err)?;
        let program = Program::compile(&g, self.threads).map_err(model_err)?;
        let sources = self
            .gpt
            .bind_inputs(&program, &["tokens"])
            .map_err(model_err)?;
        Ok(Compiled { program, sources })
    }
}

impl Backend for GptBackend {
    fn max_context(&self) -> usize {
        self.gpt.block_size
    }

    fn vocab_size(&self) -> usize {
        self.gpt.vocab_size
    }

    fn forward(&mut self, rows: &[&[u32]], visit: &mut Visit<'_>) -> Result<()> {
        let v = self.vocab_size();
        check_rows(rows, self.max_context(), v)?;
        let Some(longest) = rows.iter().map(|r| r.len()).max() else {
            return Ok(());
        };
        let (b, t) = (rows.len(), self.padded(longest));
        let mut tokens = vec![0u32; b * t];
        for (i, row) in rows.iter().enumerate() {
            tokens[i * t..i * t + row.len()].copy_from_slice(row);
        }
        if !self.programs.contains_key(&(b, t)) {
            let compiled = self.compile(b, t)?;
            self.programs.insert((b, t), compiled);
        }
        let params = self.gpt.parameters();
        let c = self
            .programs
            .get_mut(&(b, t))
            .ok_or_else(|| model_err("program cache lost a program"))?;
        let feeds: Vec<Feed<'_>> = c
            .sources
            .iter()
            .map(|s| match s {
                Some(i) => Feed::F32(&params[*i].data),
                None => Feed::U32(&tokens),
            })
            .collect();
        c.program.run(&feeds, 0).map_err(model_err)?;
        let out = c.program.output(0);
        for (i, row) in rows.iter().enumerate() {
            visit(i, &out[i * t * v..(i * t + row.len()) * v])?;
        }
        Ok(())
    }
}

/// Any trainer model, through [`Trainable::next_logits`] once per position (the
/// bigram model; slow for a transformer, whose [`GptBackend`] runs whole rows).
#[derive(Debug)]
pub struct NextLogitsBackend<M>(pub M);

impl<M: Trainable + Send + std::fmt::Debug> Backend for NextLogitsBackend<M> {
    fn max_context(&self) -> usize {
        self.0.max_context()
    }

    fn vocab_size(&self) -> usize {
        self.0.vocab_size()
    }

    fn forward(&mut self, rows: &[&[u32]], visit: &mut Visit<'_>) -> Result<()> {
        check_rows(rows, self.max_context(), self.vocab_size())?;
        for (i, row) in rows.iter().enumerate() {
            let mut logits = Vec::with_capacity(row.len() * self.vocab_size());
            for end in 1..=row.len() {
                logits.extend(self.0.next_logits(&row[..end]).map_err(model_err)?);
            }
            visit(i, &logits)?;
        }
        Ok(())
    }
}
