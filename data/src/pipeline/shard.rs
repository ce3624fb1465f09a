//! One shard through one segment: read in batches, parse and decide in parallel, write in
//! input order to the kept and rejects files.

use std::path::PathBuf;
use std::sync::Arc;

use rayon::prelude::*;

use crate::config::BadInputPolicy;
use crate::dedup::{DedupDecisions, Deduplicator};
use crate::document::{Document, Rejection, Verdict};
use crate::error::{DataError, Result};
use crate::filters::Filter;
use crate::io::{Compression, OutputFile, ParsedLine, RecordFormat, ShardReader};
use crate::pipeline::ShardStats;
use crate::pipeline::progress::PassProgress;

/// Batches are bounded by lines and bytes so memory stays bounded on huge shards.
pub(crate) const BATCH_LINES: usize = 4096;
pub(crate) const BATCH_BYTES: usize = 32 << 20;

/// A deduplicator followed by filters: the part of a pipeline one pass can run.
#[derive(Debug, Clone, Default)]
pub(crate) struct Segment {
    pub(crate) dedup: Option<Arc<dyn Deduplicator>>,
    pub(crate) filters: Vec<Arc<dyn Filter>>,
}

/// Everything one shard's pass needs.
pub(crate) struct ShardJob<'a> {
    pub(crate) source: PathBuf,
    pub(crate) stem: &'a str,
    pub(crate) dest: PathBuf,
    pub(crate) rejects: PathBuf,
    pub(crate) compression: Compression,
    /// Rejects always use the output's compression, even from intermediate segments.
    pub(crate) rejects_compression: Compression,
    pub(crate) format: &'a RecordFormat,
    pub(crate) policy: BadInputPolicy,
    pub(crate) decisions: Option<(&'a dyn DedupDecisions, u64)>,
    pub(crate) progress: &'a PassProgress,
}

/// Where one input line ended up, already serialized.
enum Outcome {
    Kept(Vec<u8>),
    Rejected {
        line: Vec<u8>,
        stage: String,
        reason: String,
    },
}

impl Segment {
    /// Applies the dedup decision for `seq`, then each filter, stopping at the first
    /// rejection.
    fn decide(
        &self,
        doc: &mut Document,
        decision: Option<(&dyn DedupDecisions, u64)>,
    ) -> Option<Rejection> {
        if let Some((decisions, seq)) = decision
            && let Some(rejection) = decisions.apply(seq, doc)
        {
            return Some(rejection);
        }
        for filter in &self.filters {
            if let Verdict::Reject { reason, score } = filter.check(doc) {
                return Some(Rejection::new(filter.name(), reason, score));
            }
        }
        None
    }
}

fn encode(record: &serde_json::Map<String, serde_json::Value>) -> Vec<u8> {
    // Serializing a map of JSON values cannot fail (all keys are strings).
    serde_json::to_vec(record).unwrap_or_default()
}

/// Runs one shard through a segment and returns its counts.
pub(crate) fn process_shard(segment: &Segment, job: &ShardJob) -> Result<ShardStats> {
    let mut reader = ShardReader::open(&job.source)?;
    let mut kept = OutputFile::create(&job.dest, job.compression)?;
    let mut rejects = OutputFile::create(&job.rejects, job.rejects_compression)?;
    let mut stats = ShardStats::default();
    let mut next_seq = job.decisions.map_or(0, |(_, offset)| offset);
    loop {
        let batch = reader.next_batch(BATCH_LINES, BATCH_BYTES)?;
        if batch.is_empty() {
            break;
        }
        let bytes: u64 = batch.iter().map(|(_, b)| b.len() as u64).sum();
        let parsed: Vec<ParsedLine> = batch
            .par_iter()
            .map(|(line, raw)| job.format.parse(raw, job.stem, *line))
            .collect();
        // Sequence numbers count documents only, exactly as the index pass did.
        let mut seqs = Vec::with_capacity(parsed.len());
        for (p, (line, _)) in parsed.iter().zip(&batch) {
            if let ParsedLine::Bad { reason, .. } = p
                && job.policy == BadInputPolicy::Fail
            {
                let path = job.source.clone();
                return Err(DataError::BadInput {
                    path,
                    line: *line,
                    message: reason.clone(),
                });
            }
            seqs.push(matches!(p, ParsedLine::Doc(_)).then(|| {
                next_seq += 1;
                next_seq - 1
            }));
        }
        let outcomes: Vec<Outcome> = parsed
            .into_par_iter()
            .zip(seqs)
            .zip(&batch)
            .map(|((p, seq), (line, _))| outcome(segment, job, p, seq, *line))
            .collect();
        for o in outcomes {
            stats.input_docs += 1;
            match o {
                Outcome::Kept(line) => {
                    stats.kept += 1;
                    kept.write_line(&line)?;
                }
                Outcome::Rejected {
                    line,
                    stage,
                    reason,
                } => {
                    stats.reject(&stage, &reason);
                    rejects.write_line(&line)?;
                }
            }
        }
        stats.bytes += bytes;
        job.progress.advance(batch.len() as u64, bytes);
    }
    kept.commit()?;
    rejects.commit()?;
    Ok(stats)
}

fn outcome(
    segment: &Segment,
    job: &ShardJob,
    parsed: ParsedLine,
    seq: Option<u64>,
    line: u64,
) -> Outcome {
    match parsed {
        ParsedLine::Bad { kind, reason, raw } => {
            let record = crate::io::bad_line_record(&job.source, line, kind, &reason, &raw);
            Outcome::Rejected {
                line: encode(&record),
                stage: "reader".into(),
                reason: kind.into(),
            }
        }
        ParsedLine::Doc(mut doc) => {
            let decision = job.decisions.zip(seq).map(|((d, _), s)| (d, s));
            match segment.decide(&mut doc, decision) {
                None => Outcome::Kept(encode(&job.format.to_record(&doc))),
                Some(why) => Outcome::Rejected {
                    line: encode(&job.format.to_reject_record(&doc, &why)),
                    stage: why.stage,
                    reason: why.reason,
                },
            }
        }
    }
}
