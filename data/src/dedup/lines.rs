//! Line- or paragraph-level exact dedup across the corpus (CCNet-style): a line whose
//! normalized text appeared in an earlier document is removed; a document left with no
//! non-blank line is rejected. Repeats inside one document are left to the Gopher
//! repetition filter.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::xxh3_64;

use crate::dedup::{DedupDecisions, DedupIndex, Deduplicator};
use crate::document::{Document, Rejection};
use crate::text::normalize;

/// The unit being deduplicated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LineUnit {
    /// Lines split on `\n`.
    #[default]
    Line,
    /// Paragraphs split on blank lines (`\n\n`).
    Paragraph,
}

impl LineUnit {
    fn separator(self) -> &'static str {
        match self {
            LineUnit::Line => "\n",
            LineUnit::Paragraph => "\n\n",
        }
    }
}

/// Configuration of line/paragraph dedup.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LineDedupConfig {
    /// Lines or paragraphs.
    pub unit: LineUnit,
    /// Units shorter than this many characters (after trimming) are never removed.
    pub min_chars: usize,
}

/// Line/paragraph dedup across the corpus.
#[derive(Debug, Clone, Default)]
pub struct LineDedup {
    config: LineDedupConfig,
}

impl LineDedup {
    /// A line deduplicator with this configuration.
    pub fn new(config: LineDedupConfig) -> Self {
        LineDedup { config }
    }

    /// The hash of each unit of `text`, `None` for units exempt from dedup.
    fn unit_hashes<'a>(&self, text: &'a str) -> impl Iterator<Item = (&'a str, Option<u64>)> {
        let min = self.config.min_chars;
        text.split(self.config.unit.separator()).map(move |unit| {
            let trimmed = unit.trim();
            let exempt = trimmed.is_empty() || trimmed.chars().count() < min;
            (
                unit,
                (!exempt).then(|| xxh3_64(normalize(trimmed).as_bytes())),
            )
        })
    }
}

impl Deduplicator for LineDedup {
    fn name(&self) -> &str {
        match self.config.unit {
            LineUnit::Line => "line_dedup",
            LineUnit::Paragraph => "paragraph_dedup",
        }
    }

    fn fingerprint(&self, doc: &Document) -> Vec<u64> {
        self.unit_hashes(&doc.text).filter_map(|(_, h)| h).collect()
    }

    fn rewrites_documents(&self) -> bool {
        true
    }

    fn new_index(&self) -> Box<dyn DedupIndex> {
        Box::new(LineIndex {
            dedup: self.clone(),
            first: HashMap::new(),
            next_seq: 0,
        })
    }
}

struct LineIndex {
    dedup: LineDedup,
    first: HashMap<u64, u64>,
    next_seq: u64,
}

impl DedupIndex for LineIndex {
    fn add(&mut self, _id: &str, fingerprint: Vec<u64>) {
        for hash in fingerprint {
            self.first.entry(hash).or_insert(self.next_seq);
        }
        self.next_seq += 1;
    }

    fn finish(self: Box<Self>) -> Box<dyn DedupDecisions> {
        Box::new(LineDecisions {
            dedup: self.dedup,
            first: self.first,
        })
    }
}

struct LineDecisions {
    dedup: LineDedup,
    first: HashMap<u64, u64>,
}

impl DedupDecisions for LineDecisions {
    fn apply(&self, seq: u64, doc: &mut Document) -> Option<Rejection> {
        let (mut kept, mut removed, mut total) = (Vec::new(), 0usize, 0usize);
        for (unit, hash) in self.dedup.unit_hashes(&doc.text) {
            total += usize::from(!unit.trim().is_empty());
            match hash {
                Some(h) if self.first.get(&h).is_some_and(|&first| first != seq) => removed += 1,
                _ => kept.push(unit),
            }
        }
        if removed == 0 {
            return None;
        }
        if kept.iter().all(|u| u.trim().is_empty()) {
            let name = self.dedup.name();
            return Some(Rejection::new(name, "all_units_duplicated", Some(1.0)));
        }
        doc.text = kept.join(self.dedup.config.unit.separator());
        let key = format!("{}_removed", self.dedup.name());
        doc.metadata.insert(
            key,
            serde_json::Value::from(removed as f64 / total.max(1) as f64),
        );
        None
    }
}
