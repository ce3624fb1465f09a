//! SemDeDup (Abbas et al. 2023): embed every document, cluster the embeddings with
//! k-means, and inside each cluster treat pairs whose cosine similarity reaches the
//! threshold as duplicates. Documents are visited in corpus order; each is compared with
//! the documents of its cluster kept so far, and rejected — naming the most similar kept
//! one — when that similarity reaches the threshold. So every kept id in the rejects is a
//! document that really was kept, and the first copy in corpus order survives.

use std::collections::HashMap;
use std::sync::Arc;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::dedup::kmeans::kmeans;
use crate::dedup::{DedupDecisions, DedupIndex, Deduplicator};
use crate::document::{Document, Rejection};
use crate::embed::{Embedder, HashedNgramConfig, HashedNgramEmbedder, cosine};

/// SemDeDup settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SemDedupConfig {
    /// Number of k-means clusters; `0` picks `⌈√n⌉` for `n` documents.
    pub clusters: usize,
    /// Cosine similarity at or above which two documents are duplicates (SemDeDup's
    /// `1 − ε`).
    pub threshold: f64,
    /// Most Lloyd iterations.
    pub max_iterations: usize,
    /// Seed of the k-means++ draws.
    pub seed: u64,
    /// The built-in embedder's settings (ignored when an embedder is plugged in).
    pub embedder: HashedNgramConfig,
}

impl Default for SemDedupConfig {
    fn default() -> Self {
        SemDedupConfig {
            clusters: 0,
            threshold: 0.9,
            max_iterations: 20,
            seed: 1,
            embedder: HashedNgramConfig::default(),
        }
    }
}

/// Semantic deduplication with a pluggable [`Embedder`].
#[derive(Debug, Clone)]
pub struct SemDedup {
    config: SemDedupConfig,
    embedder: Arc<dyn Embedder>,
}

impl SemDedup {
    /// SemDeDup with the built-in hashed n-gram embedder.
    pub fn new(config: SemDedupConfig) -> Self {
        let embedder = Arc::new(HashedNgramEmbedder::new(config.embedder.clone()));
        SemDedup { config, embedder }
    }

    /// SemDeDup with another embedder (a model, for instance).
    pub fn with_embedder(config: SemDedupConfig, embedder: Arc<dyn Embedder>) -> Self {
        SemDedup { config, embedder }
    }
}

/// Two `f32`s per fingerprint word, so embeddings travel through the `u64` fingerprint.
fn pack(v: &[f32]) -> Vec<u64> {
    v.chunks(2)
        .map(|c| {
            let lo = u64::from(c[0].to_bits());
            let hi = c.get(1).map_or(0, |x| u64::from(x.to_bits()));
            lo | hi << 32
        })
        .collect()
}

fn unpack(words: &[u64], dim: usize, out: &mut Vec<f32>) {
    let start = out.len();
    for &w in words {
        out.push(f32::from_bits(w as u32));
        out.push(f32::from_bits((w >> 32) as u32));
    }
    out.truncate(start + dim);
    out.resize(start + dim, 0.0);
}

impl Deduplicator for SemDedup {
    fn name(&self) -> &str {
        "semdedup"
    }

    fn decides_by_position(&self) -> bool {
        true
    }

    fn fingerprint(&self, doc: &Document) -> Vec<u64> {
        pack(&self.embedder.embed(&doc.text))
    }

    fn new_index(&self) -> Box<dyn DedupIndex> {
        Box::new(SemIndex {
            config: self.config.clone(),
            dim: self.embedder.dim(),
            ids: Vec::new(),
            points: Vec::new(),
        })
    }
}

struct SemIndex {
    config: SemDedupConfig,
    dim: usize,
    ids: Vec<Box<str>>,
    points: Vec<f32>,
}

impl DedupIndex for SemIndex {
    fn add(&mut self, id: &str, fingerprint: Vec<u64>) {
        self.ids.push(id.into());
        unpack(&fingerprint, self.dim, &mut self.points);
    }

    fn finish(self: Box<Self>) -> Box<dyn DedupDecisions> {
        let n = self.ids.len();
        let k = match self.config.clusters {
            0 => (n as f64).sqrt().ceil() as usize,
            k => k,
        };
        let clustering = kmeans(
            &self.points,
            self.dim,
            k,
            self.config.max_iterations,
            self.config.seed,
        );
        let mut members: HashMap<usize, Vec<usize>> = HashMap::new();
        for (i, &c) in clustering.assignment.iter().enumerate() {
            members.entry(c).or_default().push(i);
        }
        let row = |i: usize| &self.points[i * self.dim..(i + 1) * self.dim];
        let threshold = self.config.threshold as f32;
        let duplicate_of: HashMap<u64, (Box<str>, f64)> = members
            .into_par_iter()
            .flat_map_iter(|(_, docs)| {
                let mut kept: Vec<usize> = Vec::new();
                let mut dups = Vec::new();
                for i in docs {
                    let best = kept.iter().map(|&j| (j, cosine(row(i), row(j)))).fold(
                        None,
                        |b: Option<(usize, f32)>, x| match b {
                            Some(b) if b.1 >= x.1 => Some(b),
                            _ => Some(x),
                        },
                    );
                    match best {
                        Some((j, sim)) if sim >= threshold => {
                            dups.push((i as u64, (self.ids[j].clone(), f64::from(sim))));
                        }
                        _ => kept.push(i),
                    }
                }
                dups
            })
            .collect();
        Box::new(SemDecisions { duplicate_of })
    }
}

struct SemDecisions {
    duplicate_of: HashMap<u64, (Box<str>, f64)>,
}

impl DedupDecisions for SemDecisions {
    fn apply(&self, seq: u64, _doc: &mut Document) -> Option<Rejection> {
        let (kept, score) = self.duplicate_of.get(&seq)?;
        let mut rejection = Rejection::new("semdedup", "semantic_duplicate", Some(*score));
        rejection.kept_id = Some(kept.to_string());
        Some(rejection)
    }
}
