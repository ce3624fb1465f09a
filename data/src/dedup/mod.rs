//! Corpus-wide deduplication. Unlike filters, a deduplicator needs to see the whole corpus
//! before it can decide, so the pipeline runs it in two passes:
//!
//! 1. *index*: [`Deduplicator::fingerprint`] runs in parallel over documents, and the
//!    fingerprints are fed to a [`DedupIndex`] in corpus order (shard order, then line
//!    order) — so "the first copy is kept" means the same thing on every run;
//! 2. *apply*: the finished [`DedupDecisions`] are consulted per document, again in
//!    parallel, using the document's position in that same order.

mod exact;
mod kmeans;
mod lines;
mod lsh;
mod minhash;
mod semantic;
mod shingles;

pub use exact::ExactDedup;
pub use kmeans::{Clustering, kmeans};
pub use lines::{LineDedup, LineDedupConfig, LineUnit};
pub use lsh::{UnionFind, collision_probability, optimal_bands_rows};
pub use minhash::{
    Linkage, MinHashConfig, MinHashDedup, MinHasher, ShingleKind, estimated_jaccard,
};
pub use semantic::{SemDedup, SemDedupConfig};

use crate::document::{Document, Rejection};

/// A corpus-wide deduplication method.
pub trait Deduplicator: Send + Sync + std::fmt::Debug {
    /// Stage name written into rejects and the summary.
    fn name(&self) -> &str;
    /// What the index needs to know about one document; pure, so it runs in parallel.
    fn fingerprint(&self, doc: &Document) -> Vec<u64>;
    /// A fresh index for one pass over the corpus.
    fn new_index(&self) -> Box<dyn DedupIndex>;
    /// Whether applying decisions may rewrite a kept document (line dedup does); when
    /// not, kept records can be copied through byte for byte.
    fn rewrites_documents(&self) -> bool {
        false
    }
    /// Whether [`DedupDecisions::apply`] decides from the document's position alone and
    /// never reads the document. Then the apply pass of a segment without filters does
    /// not parse kept records at all: it copies them by position, parsing only rejects.
    fn decides_by_position(&self) -> bool {
        false
    }
}

/// Collects fingerprints in corpus order; the n-th call to `add` is document `n`.
pub trait DedupIndex: Send {
    /// Adds the next document's id and fingerprint.
    fn add(&mut self, id: &str, fingerprint: Vec<u64>);
    /// Settles which documents are duplicates.
    fn finish(self: Box<Self>) -> Box<dyn DedupDecisions>;
}

/// The outcome of an index: consulted once per document in the apply pass.
pub trait DedupDecisions: Send + Sync {
    /// Decides about document number `seq` (its position in corpus order); may rewrite it
    /// (line-level dedup removes lines) or reject it.
    fn apply(&self, seq: u64, doc: &mut Document) -> Option<Rejection>;
}
