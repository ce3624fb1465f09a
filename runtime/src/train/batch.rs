//! Batches of `[batch, seq]` token windows with their next-token targets.
//!
//! Training windows are drawn at random positions by a counter-based generator: micro-batch
//! `n` of a run comes from ChaCha8 stream `n` of the run's seed, so it depends on nothing but
//! `(seed, n)`. Resuming therefore needs only the count of micro-batches drawn so far, and a
//! resumed run sees exactly the batches an uninterrupted one would have.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// One batch: `tokens[b·seq + t]` is followed by `targets[b·seq + t]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    /// Input tokens, row-major `[batch, seq]`.
    pub tokens: Vec<u32>,
    /// The token after each input token.
    pub targets: Vec<u32>,
}

/// Cuts batches of a fixed shape out of a token stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Batcher {
    /// Seeds the training windows.
    pub seed: u64,
    /// Sequences per batch.
    pub batch: usize,
    /// Tokens per sequence.
    pub seq: usize,
}

impl Batcher {
    /// Micro-batch number `index` of the run: `batch` windows at random offsets. `tokens`
    /// must hold more than `seq` tokens.
    pub fn train_batch(&self, tokens: &[u32], index: u64) -> Batch {
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        rng.set_stream(index);
        let last_start = tokens.len() - self.seq - 1;
        let starts: Vec<usize> = (0..self.batch)
            .map(|_| rng.random_range(0..=last_start))
            .collect();
        self.windows(tokens, &starts)
    }

    /// `count` validation batches of windows spread evenly over `tokens` (the same every
    /// time, so successive validation losses are comparable).
    pub fn val_batches(&self, tokens: &[u32], count: usize) -> Vec<Batch> {
        let last_start = tokens.len() - self.seq - 1;
        let windows = (count * self.batch).max(2);
        let starts: Vec<usize> = (0..windows)
            .map(|i| i * last_start / (windows - 1))
            .collect();
        starts
            .chunks(self.batch)
            .take(count)
            .map(|s| self.windows(tokens, s))
            .collect()
    }

    fn windows(&self, tokens: &[u32], starts: &[usize]) -> Batch {
        let mut batch = Batch {
            tokens: Vec::with_capacity(starts.len() * self.seq),
            targets: Vec::with_capacity(starts.len() * self.seq),
        };
        for &s in starts {
            batch.tokens.extend_from_slice(&tokens[s..s + self.seq]);
            batch
                .targets
                .extend_from_slice(&tokens[s + 1..s + self.seq + 1]);
        }
        batch
    }
}
