//! Text embedders for semantic deduplication. [`Embedder`] is the plug-in point (the
//! project's own models later); [`HashedNgramEmbedder`] is built in: character and word
//! n-grams feature-hashed into a fixed number of signed buckets (the hashing trick of
//! Weinberger et al. 2009), then L2-normalized so that a dot product is a cosine.

use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::xxh3_64_with_seed;

/// Turns a text into a unit-length vector.
pub trait Embedder: Send + Sync + std::fmt::Debug {
    /// Length of every embedding.
    fn dim(&self) -> usize;
    /// The embedding of a text (unit length, or all zeros for an empty text).
    fn embed(&self, text: &str) -> Vec<f32>;
}

/// Settings of the hashed n-gram embedder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HashedNgramConfig {
    /// Number of buckets (embedding length).
    pub dim: usize,
    /// Shortest and longest character n-gram (inclusive); `[0, 0]` turns them off.
    pub char_ngrams: [usize; 2],
    /// Longest word n-gram (1: single words; 0: off).
    pub word_ngrams: usize,
    /// Lowercase before extracting n-grams.
    pub lowercase: bool,
    /// Seed of the bucket hash.
    pub seed: u64,
}

impl Default for HashedNgramConfig {
    fn default() -> Self {
        HashedNgramConfig {
            dim: 256,
            char_ngrams: [3, 5],
            word_ngrams: 2,
            lowercase: true,
            seed: 0,
        }
    }
}

/// The built-in embedder: feature-hashed character and word n-grams.
///
/// ```
/// use vibee_data::embed::{Embedder, HashedNgramEmbedder, cosine};
/// let e = HashedNgramEmbedder::default();
/// let a = e.embed("the quick brown fox jumps over the lazy dog");
/// let b = e.embed("the quick brown fox jumped over the lazy dog");
/// let c = e.embed("completely unrelated words about tax law");
/// assert!(cosine(&a, &b) > 0.8 && cosine(&a, &c) < 0.5);
/// ```
#[derive(Debug, Clone, Default)]
pub struct HashedNgramEmbedder {
    config: HashedNgramConfig,
}

impl HashedNgramEmbedder {
    /// An embedder with these settings (`dim` of at least 1).
    pub fn new(mut config: HashedNgramConfig) -> Self {
        config.dim = config.dim.max(1);
        HashedNgramEmbedder { config }
    }

    fn add(&self, v: &mut [f32], bytes: &[u8], kind: u64) {
        let h = xxh3_64_with_seed(bytes, self.config.seed ^ kind);
        let bucket = (h % self.config.dim as u64) as usize;
        // The top bit decides the sign, so colliding features cancel out on average.
        v[bucket] += if h >> 63 == 0 { 1.0 } else { -1.0 };
    }
}

impl Embedder for HashedNgramEmbedder {
    fn dim(&self) -> usize {
        self.config.dim
    }

    fn embed(&self, text: &str) -> Vec<f32> {
        let text = if self.config.lowercase {
            text.to_lowercase()
        } else {
            text.to_string()
        };
        let words: Vec<&str> = text.split_whitespace().collect();
        let mut v = vec![0f32; self.config.dim];
        let joined = words.join(" ");
        let bounds: Vec<usize> = joined
            .char_indices()
            .map(|(i, _)| i)
            .chain([joined.len()])
            .collect();
        let [lo, hi] = self.config.char_ngrams;
        for n in lo.max(1)..=hi {
            for w in bounds.windows(n + 1) {
                self.add(&mut v, &joined.as_bytes()[w[0]..w[n]], n as u64);
            }
        }
        for n in 1..=self.config.word_ngrams {
            for gram in words.windows(n) {
                self.add(&mut v, gram.join(" ").as_bytes(), 0x100 + n as u64);
            }
        }
        normalize(&mut v);
        v
    }
}

/// Scales a vector to unit length (a zero vector stays zero).
pub fn normalize(v: &mut [f32]) {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
}

/// Cosine similarity of two unit vectors (their dot product).
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}
