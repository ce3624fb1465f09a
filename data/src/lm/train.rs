//! Training with interpolated modified Kneser-Ney smoothing (Chen & Goodman 1998, §3.5),
//! the estimate KenLM's `lmplz` makes:
//!
//! - the highest order uses raw counts; a lower-order n-gram's *adjusted* count is the
//!   number of distinct words seen to its left, except for n-grams starting with `<s>`,
//!   which nothing precedes and which keep their raw counts;
//! - each order has three discounts from its counts-of-counts `t1..t4`:
//!   `Y = t1 / (t1 + 2 t2)`, `D_k = k − (k + 1) Y t_{k+1} / t_k` for `k = 1, 2, 3+`;
//! - `p(w | h) = (a(hw) − D(a(hw))) / Σ_x a(hx) + γ(h) p(w | h')`, with
//!   `γ(h) = (D1 N1(h·) + D2 N2(h·) + D3 N3+(h·)) / Σ_x a(hx)`, and unigrams interpolated
//!   with the uniform distribution over the vocabulary (`<unk>` included, `<s>` not).
//!
//! The model stores `log10 p(w | h)` for every n-gram seen and `log10 γ(h)` as the
//! backoff of every context, which is exactly what ARPA holds.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::error::{DataError, Result};
use crate::lm::{BOS, EOS, NgramEntry, NgramModel};

/// Training settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainConfig {
    /// Longest n-gram (CCNet uses 5).
    pub order: usize,
    /// Discounts `D1, D2, D3+` used for an order whose counts-of-counts do not give
    /// valid ones (small corpora); KenLM's `--discount_fallback` defaults.
    pub fallback_discounts: [f64; 3],
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            order: 5,
            fallback_discounts: [0.5, 1.0, 1.5],
        }
    }
}

/// The three modified Kneser-Ney discounts of one order.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Discounts {
    /// `D1`, `D2`, `D3+`.
    pub d: [f64; 3],
    /// Whether the fallback was used because the estimate was undefined or out of range.
    pub fallback: bool,
}

impl Discounts {
    /// Chen & Goodman's estimate from the counts of n-grams seen exactly 1, 2, 3, 4 times.
    ///
    /// ```
    /// let d = vibee_data::lm::Discounts::estimate([10, 4, 2, 1], [0.5, 1.0, 1.5]);
    /// // Y = 10 / 18; D1 = 1 − 2·Y·4/10, D2 = 2 − 3·Y·2/4, D3 = 3 − 4·Y·1/2.
    /// let y = 10.0 / 18.0;
    /// assert!((d.d[0] - (1.0 - 2.0 * y * 0.4)).abs() < 1e-12);
    /// assert!((d.d[2] - (3.0 - 2.0 * y)).abs() < 1e-12);
    /// ```
    pub fn estimate(t: [u64; 4], fallback: [f64; 3]) -> Self {
        let t = t.map(|v| v as f64);
        let y = t[0] / (t[0] + 2.0 * t[1]);
        let d: [f64; 3] = std::array::from_fn(|i| {
            let k = (i + 1) as f64;
            k - (k + 1.0) * y * t[i + 1] / t[i]
        });
        let valid = d
            .iter()
            .enumerate()
            .all(|(i, &v)| v.is_finite() && v > 0.0 && v < (i + 1) as f64 + 1e-12);
        if valid {
            Discounts { d, fallback: false }
        } else {
            Discounts {
                d: fallback,
                fallback: true,
            }
        }
    }

    /// The discount for an adjusted count.
    pub fn for_count(&self, count: u64) -> f64 {
        match count {
            0 => 0.0,
            1 => self.d[0],
            2 => self.d[1],
            _ => self.d[2],
        }
    }
}

type Counts = HashMap<Vec<u32>, u64>;

/// Trains a model on sentences of tokens (one sentence per item).
pub fn train<I, S>(sentences: I, config: &TrainConfig) -> Result<(NgramModel, Vec<Discounts>)>
where
    I: IntoIterator<Item = Vec<S>>,
    S: AsRef<str>,
{
    let order = config.order;
    if !(1..=8).contains(&order) {
        return Err(DataError::InvalidValue {
            field: "order".into(),
            message: format!("{order} is outside 1..=8"),
        });
    }
    let mut model = NgramModel::empty(order);
    let counts = adjusted_counts(&mut model, sentences, order);
    let discounts: Vec<Discounts> = counts
        .iter()
        .map(|c| Discounts::estimate(counts_of_counts(c), config.fallback_discounts))
        .collect();
    let bos = model.id(BOS);
    // Σ_x a(hx) and N1/N2/N3+ per context, order by order.
    let stats: Vec<HashMap<Vec<u32>, ContextStats>> =
        counts.iter().map(|c| context_stats(c, bos)).collect();
    let vocab = (model.vocab_size() - 1) as f64; // every word but `<s>`
    let mut probs: Vec<HashMap<Vec<u32>, f64>> = Vec::with_capacity(order);
    for n in 1..=order {
        let mut level = HashMap::with_capacity(counts[n - 1].len());
        for (gram, &count) in &counts[n - 1] {
            let (history, word) = gram.split_at(n - 1);
            if word[0] == bos {
                continue; // `<s>` is never predicted
            }
            let stats = &stats[n - 1][history];
            let discounted = (count as f64 - discounts[n - 1].for_count(count)) / stats.total;
            let gamma = stats.gamma(&discounts[n - 1]);
            let lower = if n == 1 {
                1.0 / vocab
            } else {
                probs[n - 2].get(&gram[1..]).copied().unwrap_or(0.0)
            };
            level.insert(gram.clone(), discounted + gamma * lower);
        }
        probs.push(level);
    }
    fill_model(&mut model, &counts, &probs, &stats, &discounts);
    Ok((model, discounts))
}

/// Counts every n-gram of every order: raw at the highest order and for n-grams that
/// start with `<s>`, distinct left extensions otherwise.
fn adjusted_counts<I, S>(model: &mut NgramModel, sentences: I, order: usize) -> Vec<Counts>
where
    I: IntoIterator<Item = Vec<S>>,
    S: AsRef<str>,
{
    let mut counts: Vec<Counts> = vec![Counts::new(); order];
    let bos = model.intern(BOS);
    let eos = model.intern(EOS);
    for sentence in sentences {
        let mut ids = vec![bos];
        ids.extend(sentence.iter().map(|w| model.intern(w.as_ref())));
        ids.push(eos);
        for gram in ids.windows(order.min(ids.len())) {
            if gram.len() == order {
                *counts[order - 1].entry(gram.to_vec()).or_default() += 1;
            }
        }
        // n-grams starting with `<s>` (shorter than the highest order) keep raw counts.
        for n in 1..order.min(ids.len() + 1) {
            *counts[n - 1].entry(ids[..n].to_vec()).or_default() += 1;
        }
    }
    for n in (1..order).rev() {
        let (lower, higher) = counts.split_at_mut(n);
        for gram in higher[0].keys() {
            if gram[1] != bos {
                *lower[n - 1].entry(gram[1..].to_vec()).or_default() += 1;
            }
        }
    }
    counts
}

fn counts_of_counts(counts: &Counts) -> [u64; 4] {
    let mut t = [0u64; 4];
    for &c in counts.values() {
        if (1..=4).contains(&c) {
            t[c as usize - 1] += 1;
        }
    }
    t
}

/// What the formulas need about one context at one order.
#[derive(Debug, Default, Clone, Copy)]
struct ContextStats {
    total: f64,
    n: [u64; 3],
}

impl ContextStats {
    fn gamma(&self, d: &Discounts) -> f64 {
        (d.d[0] * self.n[0] as f64 + d.d[1] * self.n[1] as f64 + d.d[2] * self.n[2] as f64)
            / self.total
    }
}

fn context_stats(counts: &Counts, bos: u32) -> HashMap<Vec<u32>, ContextStats> {
    let mut stats: HashMap<Vec<u32>, ContextStats> = HashMap::new();
    for (gram, &count) in counts {
        let (history, word) = gram.split_at(gram.len() - 1);
        if word[0] == bos {
            continue;
        }
        let s = stats.entry(history.to_vec()).or_default();
        s.total += count as f64;
        s.n[(count.min(3) - 1) as usize] += 1;
    }
    stats
}

fn fill_model(
    model: &mut NgramModel,
    counts: &[Counts],
    probs: &[HashMap<Vec<u32>, f64>],
    stats: &[HashMap<Vec<u32>, ContextStats>],
    discounts: &[Discounts],
) {
    let order = counts.len();
    for n in 1..=order {
        for gram in counts[n - 1].keys() {
            let log_prob = match probs[n - 1].get(gram) {
                Some(&p) => p.log10(),
                None => crate::lm::arpa::LOG_ZERO, // `<s>`
            };
            let log_backoff = match stats.get(n).and_then(|s| s.get(gram)) {
                Some(s) => s.gamma(&discounts[n]).log10(),
                None => 0.0,
            };
            model.insert(
                gram,
                NgramEntry {
                    log_prob,
                    log_backoff,
                },
            );
        }
    }
    // `<unk>` was never counted: it gets only the uniform share of the unigram mass.
    let unk = [0u32];
    if model.get(&unk).is_none() {
        let vocab = (model.vocab_size() - 1) as f64;
        let gamma = stats[0]
            .get(&Vec::new())
            .map_or(1.0, |s| s.gamma(&discounts[0]));
        model.insert(
            &unk,
            NgramEntry {
                log_prob: (gamma / vocab).log10(),
                log_backoff: 0.0,
            },
        );
    }
}
