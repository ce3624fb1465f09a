//! Data mixing for training: fixed per-source weights, temperature sampling over source
//! sizes, a seeded sampler that picks the source of each next example, and DoReMi's
//! domain-weight update (Xie et al. 2023, Algorithm 1) for a training loop to call after
//! each step with its proxy and reference losses per domain.
//!
//! ```
//! use vibee_data::mixing::{DoReMi, MixtureSampler, temperature_weights};
//! let weights = temperature_weights(&[900.0, 100.0], 2.0)?; // ∝ √n: 0.75, 0.25
//! let mut sampler = MixtureSampler::new(&weights, 7)?;
//! let mut doremi = DoReMi::new(weights.len(), 1.0, 1e-3)?;
//! for _ in 0..3 {
//!     let source = sampler.next_source();
//!     // … train on a batch from `source`, measure per-domain excess losses …
//!     sampler.set_weights(doremi.update(&[0.2, 0.0])?)?;
//! }
//! assert!(doremi.weights()[0] > doremi.weights()[1]);
//! # Ok::<(), vibee_data::DataError>(())
//! ```

use serde::{Deserialize, Serialize};

use crate::error::{DataError, Result};

fn invalid(field: &str, message: impl Into<String>) -> DataError {
    DataError::InvalidValue {
        field: field.into(),
        message: message.into(),
    }
}

/// Normalizes non-negative weights to sum to one.
pub fn normalized(weights: &[f64]) -> Result<Vec<f64>> {
    if weights.iter().any(|w| !w.is_finite() || *w < 0.0) {
        return Err(invalid(
            "weights",
            format!("{weights:?} must be finite and ≥ 0"),
        ));
    }
    let total: f64 = weights.iter().sum();
    if total <= 0.0 {
        return Err(invalid("weights", "need at least one positive weight"));
    }
    Ok(weights.iter().map(|w| w / total).collect())
}

/// Temperature sampling: `p_i ∝ n_i^(1/T)` for source sizes `n_i` (T = 1: proportional
/// to size; larger T flattens towards uniform).
pub fn temperature_weights(sizes: &[f64], temperature: f64) -> Result<Vec<f64>> {
    if !(temperature.is_finite() && temperature > 0.0) {
        return Err(invalid("temperature", format!("{temperature} must be > 0")));
    }
    let scaled: Vec<f64> = sizes
        .iter()
        .map(|n| n.max(0.0).powf(1.0 / temperature))
        .collect();
    normalized(&scaled)
}

/// One source of a mixture, as written in TOML.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceSpec {
    /// The source's name.
    pub name: String,
    /// An explicit weight; when no source has one, weights come from `size` and the
    /// temperature.
    #[serde(default)]
    pub weight: Option<f64>,
    /// The source's size (documents or tokens).
    #[serde(default)]
    pub size: Option<f64>,
}

/// A mixture as written in TOML: `temperature` plus `[[sources]]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MixtureConfig {
    /// Sampling temperature used with sizes.
    #[serde(default = "one")]
    pub temperature: f64,
    /// The sources.
    pub sources: Vec<SourceSpec>,
}

fn one() -> f64 {
    1.0
}

impl MixtureConfig {
    /// The normalized weight of each source, in order: explicit weights when every
    /// source has one, else temperature sampling over sizes.
    pub fn weights(&self) -> Result<Vec<f64>> {
        if let Some(w) = self
            .sources
            .iter()
            .map(|s| s.weight)
            .collect::<Option<Vec<f64>>>()
        {
            return normalized(&w);
        }
        let sizes = self
            .sources
            .iter()
            .map(|s| {
                s.size.ok_or_else(|| {
                    invalid(&format!("sources.{}", s.name), "needs `weight` or `size`")
                })
            })
            .collect::<Result<Vec<f64>>>()?;
        temperature_weights(&sizes, self.temperature)
    }
}

/// Picks a source per example with the given probabilities; seeded and reproducible.
#[derive(Debug, Clone)]
pub struct MixtureSampler {
    cumulative: Vec<f64>,
    state: u64,
}

impl MixtureSampler {
    /// A sampler over normalized `weights`.
    pub fn new(weights: &[f64], seed: u64) -> Result<Self> {
        let mut sampler = MixtureSampler {
            cumulative: Vec::new(),
            state: seed.wrapping_add(0x9E37_79B9_7F4A_7C15),
        };
        sampler.set_weights(weights)?;
        Ok(sampler)
    }

    /// Replaces the weights (after a DoReMi update, for instance).
    pub fn set_weights(&mut self, weights: &[f64]) -> Result<()> {
        let w = normalized(weights)?;
        self.cumulative = w
            .iter()
            .scan(0.0, |acc, x| {
                *acc += x;
                Some(*acc)
            })
            .collect();
        Ok(())
    }

    /// The index of the source of the next example.
    pub fn next_source(&mut self) -> usize {
        // SplitMix64, then 53 bits to a uniform in [0, 1).
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        let u = ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64;
        let last = self.cumulative.len().saturating_sub(1);
        self.cumulative.iter().position(|&c| u < c).unwrap_or(last)
    }
}

/// A domain's excess loss as DoReMi defines it: per-token `max(ℓ_proxy − ℓ_ref, 0)`,
/// summed and divided by the number of tokens.
///
/// ```
/// let l = vibee_data::mixing::excess_loss(&[2.0, 1.0, 3.0], &[1.5, 1.5, 1.0]);
/// assert!((l - (0.5 + 0.0 + 2.0) / 3.0).abs() < 1e-12);
/// ```
pub fn excess_loss(proxy: &[f64], reference: &[f64]) -> f64 {
    let n = proxy.len().min(reference.len());
    if n == 0 {
        return 0.0;
    }
    let sum: f64 = proxy
        .iter()
        .zip(reference)
        .map(|(p, r)| (p - r).max(0.0))
        .sum();
    sum / n as f64
}

/// DoReMi's group-weight optimizer: `α ← α ⊙ exp(η λ)`, renormalized, then smoothed
/// with the uniform distribution, `α ← (1 − c) α + c u`; the weights returned at the end
/// of training are the average over steps.
#[derive(Debug, Clone, PartialEq)]
pub struct DoReMi {
    weights: Vec<f64>,
    sum: Vec<f64>,
    steps: usize,
    step_size: f64,
    smoothing: f64,
}

impl DoReMi {
    /// Starts from uniform weights over `domains`, with step size η and smoothing c
    /// (the paper uses η = 1, c = 1e-3).
    pub fn new(domains: usize, step_size: f64, smoothing: f64) -> Result<Self> {
        Self::with_weights(&vec![1.0; domains], step_size, smoothing)
    }

    /// Starts from given weights.
    pub fn with_weights(initial: &[f64], step_size: f64, smoothing: f64) -> Result<Self> {
        if !(0.0..=1.0).contains(&smoothing) {
            return Err(invalid(
                "smoothing",
                format!("{smoothing} is outside 0..=1"),
            ));
        }
        if !(step_size.is_finite() && step_size > 0.0) {
            return Err(invalid("step_size", format!("{step_size} must be > 0")));
        }
        Ok(DoReMi {
            weights: normalized(initial)?,
            sum: vec![0.0; initial.len()],
            steps: 0,
            step_size,
            smoothing,
        })
    }

    /// One update with each domain's excess loss λ_i (clipped at 0); returns the new
    /// weights.
    pub fn update(&mut self, excess: &[f64]) -> Result<&[f64]> {
        if excess.len() != self.weights.len() {
            let msg = format!("{} losses for {} domains", excess.len(), self.weights.len());
            return Err(invalid("excess", msg));
        }
        // Subtracting the largest exponent keeps exp() finite; it cancels in the ratio.
        let exps: Vec<f64> = self
            .weights
            .iter()
            .zip(excess)
            .map(|(w, l)| w.ln() + self.step_size * l.max(0.0))
            .collect();
        let top = exps.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let raw: Vec<f64> = exps.iter().map(|e| (e - top).exp()).collect();
        let total: f64 = raw.iter().sum();
        let uniform = 1.0 / self.weights.len() as f64;
        for (w, r) in self.weights.iter_mut().zip(&raw) {
            *w = (1.0 - self.smoothing) * r / total + self.smoothing * uniform;
        }
        for (s, w) in self.sum.iter_mut().zip(&self.weights) {
            *s += w;
        }
        self.steps += 1;
        Ok(&self.weights)
    }

    /// The current weights α_t.
    pub fn weights(&self) -> &[f64] {
        &self.weights
    }

    /// The average of the weights over all updates so far (DoReMi's output), or the
    /// current weights before any update.
    pub fn average_weights(&self) -> Vec<f64> {
        if self.steps == 0 {
            return self.weights.clone();
        }
        self.sum.iter().map(|s| s / self.steps as f64).collect()
    }
}
