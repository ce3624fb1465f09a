//! Exact deduplication on a hash of the normalized text (lowercased, punctuation dropped,
//! whitespace collapsed): the first copy in corpus order is kept.

use std::collections::HashMap;

use xxhash_rust::xxh3::xxh3_64;

use crate::dedup::{DedupDecisions, DedupIndex, Deduplicator};
use crate::document::{Document, Rejection};
use crate::text::normalize;

/// Exact duplicate removal on the normalized text.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ExactDedup {
    /// Hash the raw text instead of the normalized text.
    pub raw: bool,
}

impl Deduplicator for ExactDedup {
    fn name(&self) -> &str {
        "exact_dedup"
    }

    fn decides_by_position(&self) -> bool {
        true
    }

    fn fingerprint(&self, doc: &Document) -> Vec<u64> {
        let hash = if self.raw {
            xxh3_64(doc.text.as_bytes())
        } else {
            xxh3_64(normalize(&doc.text).as_bytes())
        };
        vec![hash]
    }

    fn new_index(&self) -> Box<dyn DedupIndex> {
        Box::new(ExactIndex::default())
    }
}

#[derive(Default)]
struct ExactIndex {
    first: HashMap<u64, u64>,
    ids: HashMap<u64, Box<str>>,
    duplicate_of: HashMap<u64, u64>,
    next_seq: u64,
}

impl DedupIndex for ExactIndex {
    fn add(&mut self, id: &str, fingerprint: Vec<u64>) {
        let seq = self.next_seq;
        self.next_seq += 1;
        let Some(&hash) = fingerprint.first() else {
            return;
        };
        match self.first.get(&hash) {
            Some(&kept) => {
                self.duplicate_of.insert(seq, kept);
            }
            None => {
                self.first.insert(hash, seq);
                self.ids.insert(seq, id.into());
            }
        }
    }

    fn finish(self: Box<Self>) -> Box<dyn DedupDecisions> {
        let duplicate_of = self
            .duplicate_of
            .into_iter()
            .map(|(seq, kept)| (seq, self.ids.get(&kept).cloned().unwrap_or_default()))
            .collect();
        Box::new(ExactDecisions { duplicate_of })
    }
}

struct ExactDecisions {
    duplicate_of: HashMap<u64, Box<str>>,
}

impl DedupDecisions for ExactDecisions {
    fn apply(&self, seq: u64, _doc: &mut Document) -> Option<Rejection> {
        let kept = self.duplicate_of.get(&seq)?;
        let mut rejection = Rejection::new("exact_dedup", "exact_duplicate", Some(1.0));
        rejection.kept_id = Some(kept.to_string());
        Some(rejection)
    }
}
