//! Counts per shard (stored in completion markers) and their sum over a run.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// What happened to one shard in one segment.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardStats {
    /// Documents (and malformed lines) read.
    pub input_docs: u64,
    /// Documents written to the segment's output.
    pub kept: u64,
    /// Rejections by stage, then by reason.
    pub rejected: BTreeMap<String, BTreeMap<String, u64>>,
    /// Bytes of input lines read (after decompression).
    pub bytes: u64,
}

impl ShardStats {
    /// Records one rejection.
    pub fn reject(&mut self, stage: &str, reason: &str) {
        *self
            .rejected
            .entry(stage.into())
            .or_default()
            .entry(reason.into())
            .or_default() += 1;
    }

    /// All rejections.
    pub fn rejected_total(&self) -> u64 {
        self.rejected.values().flat_map(BTreeMap::values).sum()
    }

    /// Adds another shard's counts.
    pub fn absorb(&mut self, other: &ShardStats) {
        self.input_docs += other.input_docs;
        self.kept += other.kept;
        self.bytes += other.bytes;
        for (stage, reasons) in &other.rejected {
            let mine = self.rejected.entry(stage.clone()).or_default();
            for (reason, n) in reasons {
                *mine.entry(reason.clone()).or_default() += n;
            }
        }
    }
}

/// The result of a run: every input document is counted once, as kept or rejected.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Documents and malformed lines in the input.
    pub input_docs: u64,
    /// Documents in the final output.
    pub kept: u64,
    /// Rejections by stage and reason, over all segments.
    pub rejected: BTreeMap<String, BTreeMap<String, u64>>,
    /// Stage names in pipeline order (`reader` first), for display.
    pub stage_order: Vec<String>,
    /// Input bytes of the first segment.
    pub input_bytes: u64,
    /// Shards completed by an earlier run and reused.
    pub resumed_shards: usize,
    /// Wall-clock seconds of this run.
    pub seconds: f64,
}

impl Summary {
    /// All rejections.
    pub fn rejected_total(&self) -> u64 {
        self.rejected.values().flat_map(BTreeMap::values).sum()
    }

    /// Rejections by one stage.
    pub fn rejected_by(&self, stage: &str) -> u64 {
        self.rejected.get(stage).map_or(0, |r| r.values().sum())
    }

    /// True when kept plus rejected equals the input: nothing was lost.
    pub fn is_balanced(&self) -> bool {
        self.kept + self.rejected_total() == self.input_docs
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pct = |n: u64| 100.0 * n as f64 / self.input_docs.max(1) as f64;
        writeln!(
            f,
            "{:<22} {:<28} {:>12} {:>8}",
            "stage", "reason", "documents", "%"
        )?;
        writeln!(f, "{}", "-".repeat(73))?;
        writeln!(
            f,
            "{:<22} {:<28} {:>12} {:>7.2}%",
            "input", "", self.input_docs, 100.0
        )?;
        for stage in &self.stage_order {
            let Some(reasons) = self.rejected.get(stage) else {
                continue;
            };
            for (reason, n) in reasons {
                writeln!(
                    f,
                    "{:<22} {:<28} {:>12} {:>7.2}%",
                    stage,
                    reason,
                    n,
                    pct(*n)
                )?;
            }
        }
        writeln!(
            f,
            "{:<22} {:<28} {:>12} {:>7.2}%",
            "kept",
            "",
            self.kept,
            pct(self.kept)
        )?;
        writeln!(f, "{}", "-".repeat(73))?;
        let rate = self.input_docs as f64 / self.seconds.max(1e-9);
        let mb = self.input_bytes as f64 / 1e6;
        write!(
            f,
            "{} balanced: {} kept + {} rejected = {} input; {:.1}s, {:.0} docs/s, {:.1} MB/s{}",
            if self.is_balanced() { "✓" } else { "✗ NOT" },
            self.kept,
            self.rejected_total(),
            self.input_docs,
            self.seconds,
            rate,
            mb / self.seconds.max(1e-9),
            if self.resumed_shards > 0 {
                format!(" ({} shards resumed)", self.resumed_shards)
            } else {
                String::new()
            }
        )
    }
}
