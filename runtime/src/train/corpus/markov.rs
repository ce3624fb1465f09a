//! A seeded Markov source over bytes whose entropy rate is known exactly: the default
//! corpus, against which a trained model's validation loss has a floor to approach.
//!
//! The state is the last `order` symbols. Every row of the transition table reaches the
//! reset symbol (a space) with positive probability, so every state reaches the all-reset
//! state, which loops on itself: the chain has a single closed class and it is aperiodic.
//! Its stationary distribution is therefore unique, power iteration converges to it, and
//! the per-byte log-loss of any long generated text converges to the entropy rate
//! `H = Σ_s π(s) · H(P(· | s))`.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Why a transition table was rejected.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum MarkovError {
    /// The table is not a valid order-`k` chain over the alphabet.
    #[error("markov source: {0}")]
    Invalid(String),
    /// Power iteration did not settle (the chain is not ergodic).
    #[error("markov source: the stationary distribution did not converge in {0} iterations")]
    NoConvergence(usize),
}

/// An entropy rate, in nats per symbol.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EntropyRate {
    /// Nats per symbol (byte).
    pub nats: f64,
}

impl EntropyRate {
    /// Bits per symbol.
    pub fn bits(self) -> f64 {
        self.nats / std::f64::consts::LN_2
    }
}

/// How to draw a random chain: the `[corpus]` fields of the default (`kind = "markov"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MarkovSpec {
    /// Seeds the transition table (the text has its own seeds).
    #[serde(default = "defaults::seed")]
    pub seed: u64,
    /// Symbols of context (1 or 2 keep the table small).
    #[serde(default = "defaults::order")]
    pub order: usize,
    /// The bytes the source emits; the first is the reset symbol.
    #[serde(default = "defaults::alphabet")]
    pub alphabet: String,
    /// Successors drawn per row, besides the reset symbol.
    #[serde(default = "defaults::successors")]
    pub successors: usize,
    /// Probability of the reset symbol in every row.
    #[serde(default = "defaults::reset_prob")]
    pub reset_prob: f64,
    /// Bytes of training text.
    #[serde(default = "defaults::train_bytes")]
    pub train_bytes: usize,
    /// Bytes of validation text (generated with another seed).
    #[serde(default = "defaults::val_bytes")]
    pub val_bytes: usize,
}

mod defaults {
    pub fn seed() -> u64 {
        2024
    }
    pub fn order() -> usize {
        2
    }
    pub fn alphabet() -> String {
        " abcdefghijklmnopqrstuvwxyz.,;:!?'-()\n".into()
    }
    pub fn successors() -> usize {
        6
    }
    pub fn reset_prob() -> f64 {
        0.08
    }
    pub fn train_bytes() -> usize {
        1 << 20
    }
    pub fn val_bytes() -> usize {
        1 << 16
    }
}

impl Default for MarkovSpec {
    fn default() -> Self {
        Self {
            seed: defaults::seed(),
            order: defaults::order(),
            alphabet: defaults::alphabet(),
            successors: defaults::successors(),
            reset_prob: defaults::reset_prob(),
            train_bytes: defaults::train_bytes(),
            val_bytes: defaults::val_bytes(),
        }
    }
}

/// One row of the transition table: `(symbol index, probability)`, probabilities summing to 1.
pub type Row = Vec<(usize, f64)>;

/// An order-`k` Markov chain over a byte alphabet.
#[derive(Debug, Clone, PartialEq)]
pub struct MarkovSource {
    alphabet: Vec<u8>,
    order: usize,
    rows: Vec<Row>,
}

impl MarkovSource {
    /// A chain from its table: `rows[s]` is the next-symbol distribution of state `s`, where
    /// `s` is the last `order` symbol indices read as a base-`|alphabet|` number (most recent
    /// last).
    pub fn from_rows(alphabet: &[u8], order: usize, rows: Vec<Row>) -> Result<Self, MarkovError> {
        let invalid = |m: String| Err(MarkovError::Invalid(m));
        let a = alphabet.len();
        if a < 2 || order == 0 {
            return invalid(format!(
                "needs at least 2 symbols and order >= 1, got {a} and {order}"
            ));
        }
        let mut seen = [false; 256];
        for &b in alphabet {
            if std::mem::replace(&mut seen[b as usize], true) {
                return invalid(format!("byte {b:#04x} appears twice in the alphabet"));
            }
        }
        let states = a.checked_pow(order as u32).filter(|&s| s <= 1 << 20);
        if states != Some(rows.len()) {
            return invalid(format!(
                "order {order} over {a} symbols needs {a}^{order} rows (at most 2^20), got {}",
                rows.len()
            ));
        }
        for (s, row) in rows.iter().enumerate() {
            let total: f64 = row.iter().map(|&(_, p)| p).sum();
            if row.iter().any(|&(c, p)| c >= a || p.is_nan() || p < 0.0)
                || (total - 1.0).abs() > 1e-9
            {
                return invalid(format!("row {s} is not a distribution over symbols 0..{a}"));
            }
        }
        Ok(Self {
            alphabet: alphabet.to_vec(),
            order,
            rows,
        })
    }

    /// A random sparse chain drawn from `spec`: each row gives `reset_prob` to the first
    /// alphabet symbol and splits the rest over `successors` other symbols with Dirichlet(1)
    /// weights.
    pub fn random(spec: &MarkovSpec) -> Result<Self, MarkovError> {
        let alphabet = spec.alphabet.as_bytes();
        let a = alphabet.len();
        let reset_ok = spec.reset_prob > 0.0 && spec.reset_prob < 1.0;
        if spec.successors == 0 || spec.successors >= a || !reset_ok {
            return Err(MarkovError::Invalid(format!(
                "`successors` must lie in 1..{a} and `reset_prob` in (0, 1), got {} and {}",
                spec.successors, spec.reset_prob
            )));
        }
        let states = a
            .checked_pow(spec.order as u32)
            .filter(|&s| s <= 1 << 20)
            .ok_or_else(|| {
                MarkovError::Invalid(format!(
                    "order {} over {a} symbols is too large a table",
                    spec.order
                ))
            })?;
        let mut rng = ChaCha8Rng::seed_from_u64(spec.seed);
        let rows = (0..states).map(|_| random_row(&mut rng, a, spec)).collect();
        Self::from_rows(alphabet, spec.order, rows)
    }

    /// The symbols, in index order.
    pub fn alphabet(&self) -> &[u8] {
        &self.alphabet
    }

    /// Symbols of context.
    pub fn order(&self) -> usize {
        self.order
    }

    /// Probability of every state in the long run, by power iteration to 1e-14 (L1).
    pub fn stationary(&self) -> Result<Vec<f64>, MarkovError> {
        const MAX_ITERS: usize = 200_000;
        let n = self.rows.len();
        let mut pi = vec![1.0 / n as f64; n];
        let mut next = vec![0.0; n];
        for _ in 0..MAX_ITERS {
            next.fill(0.0);
            for (s, row) in self.rows.iter().enumerate() {
                for &(c, p) in row {
                    next[self.successor(s, c)] += pi[s] * p;
                }
            }
            let change: f64 = pi.iter().zip(&next).map(|(a, b)| (a - b).abs()).sum();
            std::mem::swap(&mut pi, &mut next);
            if change < 1e-14 {
                return Ok(pi);
            }
        }
        Err(MarkovError::NoConvergence(MAX_ITERS))
    }

    /// The exact entropy rate: the stationary average of the rows' entropies.
    pub fn entropy_rate(&self) -> Result<EntropyRate, MarkovError> {
        let pi = self.stationary()?;
        let nats = self
            .rows
            .iter()
            .zip(&pi)
            .map(|(row, w)| w * row_entropy(row))
            .sum();
        Ok(EntropyRate { nats })
    }

    /// `len` bytes of text, starting from the all-reset state.
    pub fn generate(&self, len: usize, seed: u64) -> Vec<u8> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut state = 0;
        (0..len)
            .map(|_| {
                let c = sample(&self.rows[state], rng.random::<f64>());
                state = self.successor(state, c);
                self.alphabet[c]
            })
            .collect()
    }

    /// Mean negative log-probability (nats) the source itself gives each byte of `text`
    /// after the first `order` (which set the state). `None` if `text` leaves the alphabet,
    /// takes a transition of probability 0, or is no longer than `order`.
    pub fn log_loss(&self, text: &[u8]) -> Option<f64> {
        let index = |b: u8| self.alphabet.iter().position(|&x| x == b);
        let symbols: Vec<usize> = text.iter().map(|&b| index(b)).collect::<Option<_>>()?;
        let (head, tail) = symbols.split_at_checked(self.order)?;
        let mut state = head.iter().fold(0, |s, &c| self.successor(s, c));
        let mut total = 0.0;
        for &c in tail {
            let p = self.rows[state]
                .iter()
                .find(|&&(x, _)| x == c)
                .map(|&(_, p)| p)?;
            total -= p.ln();
            state = self.successor(state, c);
        }
        (!tail.is_empty()).then(|| total / tail.len() as f64)
    }

    /// The state after `state` emits symbol `c`.
    fn successor(&self, state: usize, c: usize) -> usize {
        (state * self.alphabet.len() + c) % self.rows.len()
    }
}

/// One random row: `reset_prob` on symbol 0, Dirichlet(1) weights on `successors` others.
fn random_row(rng: &mut ChaCha8Rng, a: usize, spec: &MarkovSpec) -> Row {
    let mut picks: Vec<usize> = Vec::with_capacity(spec.successors);
    while picks.len() < spec.successors {
        let c = rng.random_range(1..a);
        if !picks.contains(&c) {
            picks.push(c);
        }
    }
    picks.sort_unstable();
    // Exponential draws normalised: a uniform draw from the simplex.
    let weights: Vec<f64> = picks
        .iter()
        .map(|_| -(1.0 - rng.random::<f64>()).ln())
        .collect();
    let total: f64 = weights.iter().sum();
    let rest = 1.0 - spec.reset_prob;
    let mut row = vec![(0, spec.reset_prob)];
    row.extend(
        picks
            .iter()
            .zip(&weights)
            .map(|(&c, w)| (c, rest * w / total)),
    );
    row
}

/// Entropy of one row, in nats.
fn row_entropy(row: &Row) -> f64 {
    row.iter()
        .filter(|&&(_, p)| p > 0.0)
        .map(|&(_, p)| -p * p.ln())
        .sum()
}

/// Inverse-CDF draw from `row` with `u` uniform in `[0, 1)`.
fn sample(row: &Row, u: f64) -> usize {
    let mut acc = 0.0;
    for &(c, p) in row {
        acc += p;
        if u < acc {
            return c;
        }
    }
    // Rounding can leave the cumulative sum a hair below 1.
    row.iter()
        .rev()
        .find(|&&(_, p)| p > 0.0)
        .map_or(0, |&(c, _)| c)
}
