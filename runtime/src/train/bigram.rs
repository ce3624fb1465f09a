//! A bigram language model: one row of next-token logits per previous token.
//!
//! Its loss and gradient are exact and cheap, so it drives the trainer end to end without
//! a graph compiler: on an order-1 Markov source its best possible validation loss is the
//! source's entropy rate, which makes a sharp test of the whole loop.

use super::model::{ModelResult, ParamSpec, Trainable};

/// Next-token logits indexed by the previous token: `logits[prev · vocab + next]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Bigram {
    vocab: usize,
    logits: Vec<f32>,
}

impl Bigram {
    /// A model that starts uniform (all logits zero).
    pub fn new(vocab: usize) -> Self {
        Self {
            vocab,
            logits: vec![0.0; vocab * vocab],
        }
    }

    /// Checks a batch's sizes and token range.
    fn check(&self, tokens: &[u32], targets: &[u32], batch: usize, seq: usize) -> ModelResult<()> {
        if tokens.len() != batch * seq || targets.len() != batch * seq {
            return Err(format!(
                "bigram: a [{batch}, {seq}] batch needs {} tokens and targets, got {} and {}",
                batch * seq,
                tokens.len(),
                targets.len()
            )
            .into());
        }
        match tokens
            .iter()
            .chain(targets)
            .find(|&&t| t as usize >= self.vocab)
        {
            Some(t) => Err(format!(
                "bigram: token {t} is outside the vocabulary of {}",
                self.vocab
            )
            .into()),
            None => Ok(()),
        }
    }

    /// `(log-sum-exp, row)` of the logits after token `prev`.
    fn row(&self, prev: u32) -> (f32, &[f32]) {
        let row = &self.logits[prev as usize * self.vocab..][..self.vocab];
        let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let sum: f32 = row.iter().map(|&l| (l - max).exp()).sum();
        (max + sum.ln(), row)
    }
}

impl Trainable for Bigram {
    fn param_specs(&self) -> Vec<ParamSpec> {
        vec![ParamSpec {
            name: "logits.weight".into(),
            shape: vec![self.vocab, self.vocab],
        }]
    }

    fn params(&self) -> Vec<&[f32]> {
        vec![&self.logits]
    }

    fn params_mut(&mut self) -> Vec<&mut [f32]> {
        vec![&mut self.logits]
    }

    fn loss_and_grad(
        &mut self,
        tokens: &[u32],
        targets: &[u32],
        batch: usize,
        seq: usize,
        grads: &mut [Vec<f32>],
    ) -> ModelResult<f32> {
        self.check(tokens, targets, batch, seq)?;
        let grad = match grads {
            [g] if g.len() == self.logits.len() => g,
            _ => return Err("bigram: expected one gradient buffer of vocab² values".into()),
        };
        let scale = 1.0 / tokens.len() as f32;
        let mut total = 0.0f64;
        for (&prev, &next) in tokens.iter().zip(targets) {
            let (lse, row) = self.row(prev);
            total += f64::from(lse - row[next as usize]);
            // d(mean CE)/d logit = (softmax − onehot) / N.
            let g = &mut grad[prev as usize * self.vocab..][..self.vocab];
            for (gi, &l) in g.iter_mut().zip(row) {
                *gi += (l - lse).exp() * scale;
            }
            g[next as usize] -= scale;
        }
        Ok((total / tokens.len() as f64) as f32)
    }

    fn loss(
        &mut self,
        tokens: &[u32],
        targets: &[u32],
        batch: usize,
        seq: usize,
    ) -> ModelResult<f32> {
        self.check(tokens, targets, batch, seq)?;
        let total: f64 = tokens
            .iter()
            .zip(targets)
            .map(|(&prev, &next)| {
                let (lse, row) = self.row(prev);
                f64::from(lse - row[next as usize])
            })
            .sum();
        Ok((total / tokens.len() as f64) as f32)
    }

    fn next_logits(&mut self, context: &[u32]) -> ModelResult<Vec<f32>> {
        let &prev = context
            .last()
            .ok_or("bigram: sampling needs at least one context token")?;
        if prev as usize >= self.vocab {
            return Err(format!(
                "bigram: token {prev} is outside the vocabulary of {}",
                self.vocab
            )
            .into());
        }
        Ok(self.row(prev).1.to_vec())
    }

    fn max_context(&self) -> usize {
        usize::MAX
    }

    fn vocab_size(&self) -> usize {
        self.vocab
    }
}
