//! One shard through one segment: read in batches, parse and decide in parallel, write in
//! input order to the kept and rejects files.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use rayon::prelude::*;

use crate::config::BadInputPolicy;
use crate::dedup::{DedupDecisions, Deduplicator};
use crate::document::{Document, Rejection, Verdict};
use crate::error::{DataError, Result};
use crate::filters::Filter;
use crate::io::{Encoding, OutputFile, ParsedLine, Peeked, RecordFormat, ShardReader};
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
    pub(crate) encoding: Encoding,
    /// Rejects always use the output's encoding, even from intermediate segments.
    pub(crate) rejects_encoding: Encoding,
    pub(crate) fsync: bool,
    pub(crate) format: &'a RecordFormat,
    pub(crate) policy: BadInputPolicy,
    pub(crate) decisions: Option<(&'a dyn DedupDecisions, u64)>,
    /// Set when the segment only applies a dedup that decides by position: then every
    /// line not listed here is a document with its own id, copied without parsing.
    pub(crate) positional: Option<&'a HashMap<u64, Irregular>>,
    pub(crate) progress: &'a PassProgress,
}

/// A line the index pass found not to be a plain document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Irregular {
    /// Malformed, or missing its text.
    NotADocument,
    /// A document whose id is made up from the shard and line.
    NoOwnId,
}

/// What the index pass learned about one shard.
#[derive(Debug)]
pub(crate) struct ShardIndex {
    /// Sequence number of the shard's first document.
    pub(crate) offset: u64,
    /// Lines that are not documents with their own id.
    pub(crate) irregular: HashMap<u64, Irregular>,
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

/// With `on_bad_input = "fail"`, a Parquet shard whose schema has no usable text column
/// fails before its first row, naming the file and the column; with `reject`, each of its
/// rows is routed to rejects with its row number instead.
pub(crate) fn check_parquet_schema(
    source: &std::path::Path,
    format: &RecordFormat,
    policy: BadInputPolicy,
) -> Result<()> {
    if policy != BadInputPolicy::Fail || !crate::io::is_parquet(source) {
        return Ok(());
    }
    let schema = crate::io::ParquetRows::open(source)?.schema();
    match crate::io::schema_problem(&schema, &format.text_field) {
        Some(message) => Err(DataError::BadInput {
            path: source.to_path_buf(),
            line: 1,
            message: format!("wrong schema: {message}"),
        }),
        None => Ok(()),
    }
}

/// Runs one shard through a segment and returns its counts.
pub(crate) fn process_shard(segment: &Segment, job: &ShardJob) -> Result<ShardStats> {
    check_parquet_schema(&job.source, job.format, job.policy)?;
    let mut reader = ShardReader::open(&job.source)?;
    let mut kept = OutputFile::create(&job.dest, job.encoding)?;
    let mut rejects = OutputFile::create(&job.rejects, job.rejects_encoding)?;
    let mut stats = ShardStats::default();
    let mut next_seq = job.decisions.map_or(0, |(_, offset)| offset);
    let mut current = reader.next_batch(BATCH_LINES, BATCH_BYTES)?;
    let mut pending: Vec<Outcome> = Vec::new();
    // A two-stage pipeline: one thread reads the next batch while the other writes the
    // previous batch's outcomes and then decides the current batch (in parallel, with
    // the reading thread joining in once it is done).
    while !current.is_empty() || !pending.is_empty() {
        let batch = std::mem::take(&mut current);
        let (next, decided) = rayon::join(
            || reader.next_batch(BATCH_LINES, BATCH_BYTES),
            || -> Result<Vec<Outcome>> {
                let outcomes = std::mem::take(&mut pending);
                write_outcomes(outcomes, &mut kept, &mut rejects, &mut stats)?;
                let bytes: u64 = batch.iter().map(|(_, b)| b.len() as u64).sum();
                let lines = batch.len() as u64;
                let decided = decide_batch(segment, job, batch, &mut next_seq)?;
                stats.bytes += bytes;
                job.progress.advance(lines, bytes);
                Ok(decided)
            },
        );
        // A bad line of this batch is reported before a read error after it.
        pending = decided?;
        current = next?;
    }
    kept.commit(job.fsync)?;
    rejects.commit(job.fsync)?;
    Ok(stats)
}

/// Writes outcomes in input order to the kept and rejects files, counting them.
fn write_outcomes(
    outcomes: Vec<Outcome>,
    kept: &mut OutputFile,
    rejects: &mut OutputFile,
    stats: &mut ShardStats,
) -> Result<()> {
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
    Ok(())
}

/// Decides every line of a batch in parallel; kept lines are moved, not copied, into
/// their outcome. `next_seq` is the sequence number of the batch's first document.
fn decide_batch(
    segment: &Segment,
    job: &ShardJob,
    batch: Vec<(u64, Vec<u8>)>,
    next_seq: &mut u64,
) -> Result<Vec<Outcome>> {
    let lines: Vec<Line> = batch
        .par_iter()
        .map(|(line, raw)| classify(segment, job, raw, *line))
        .collect();
    // Sequence numbers count documents only, exactly as the index pass did.
    let mut seqs = Vec::with_capacity(lines.len());
    for (l, (line, _)) in lines.iter().zip(&batch) {
        if let Line::Full {
            parsed: ParsedLine::Bad { reason, .. },
            ..
        } = l
            && job.policy == BadInputPolicy::Fail
        {
            return Err(DataError::BadInput {
                path: job.source.clone(),
                line: *line,
                message: reason.clone(),
            });
        }
        seqs.push(l.is_doc().then(|| {
            *next_seq += 1;
            *next_seq - 1
        }));
    }
    Ok(lines
        .into_par_iter()
        .zip(seqs)
        .zip(batch)
        .map(|((l, seq), (line, raw))| match l {
            Line::Positional => positional_outcome(job, seq, raw, line),
            Line::Peeked(p) => peeked_outcome(job, p, seq, raw, line),
            Line::Full { parsed, .. } => outcome(segment, job, parsed, seq, line),
        })
        .collect())
}

/// One classified input line.
enum Line {
    /// A document with its own id, known from the index pass, in a segment whose dedup
    /// decides by position: not parsed unless rejected.
    Positional,
    /// A document with its own id in a segment that neither filters nor rewrites: if
    /// kept, its raw line is copied through unchanged.
    Peeked(Peeked),
    /// Fully parsed; `is_doc` says whether it counts as a document for sequence numbers.
    Full { parsed: ParsedLine, is_doc: bool },
}

impl Line {
    fn is_doc(&self) -> bool {
        match self {
            Line::Positional | Line::Peeked(_) => true,
            Line::Full { is_doc, .. } => *is_doc,
        }
    }
}

/// Classifies a line. Where a dedup index numbered the documents, "is a document" is
/// decided by the same scan the index used, so both passes count identically.
fn classify(segment: &Segment, job: &ShardJob, raw: &[u8], line: u64) -> Line {
    if job
        .positional
        .is_some_and(|irregular| !irregular.contains_key(&line))
    {
        return Line::Positional;
    }
    let passthrough = segment.filters.is_empty()
        && segment
            .dedup
            .as_ref()
            .is_none_or(|d| !d.rewrites_documents());
    if segment.dedup.is_none() && !passthrough {
        let parsed = job.format.parse(raw, job.stem, line);
        let is_doc = matches!(parsed, ParsedLine::Doc(_));
        return Line::Full { parsed, is_doc };
    }
    match job.format.peek(raw, job.stem, line) {
        Some(p) if passthrough && p.has_id => Line::Peeked(p),
        Some(_) => Line::Full {
            parsed: job.format.parse(raw, job.stem, line),
            is_doc: true,
        },
        None => {
            let parsed = match job.format.parse(raw, job.stem, line) {
                ParsedLine::Doc(_) => unscannable(raw),
                bad => bad,
            };
            Line::Full {
                parsed,
                is_doc: false,
            }
        }
    }
}

/// A line the full parser accepts but the scanner does not (not seen in practice): it
/// is rejected rather than risk numbering documents differently in the two passes.
impl ShardJob<'_> {
    /// The dedup decision for the document at sequence number `seq`, if this segment
    /// applies one and it rejects the document.
    fn dedup_verdict(&self, seq: Option<u64>, doc: &mut Document) -> Option<Rejection> {
        let ((decisions, _), seq) = self.decisions.zip(seq)?;
        decisions.apply(seq, doc)
    }
}

fn unscannable(raw: &[u8]) -> ParsedLine {
    ParsedLine::Bad {
        kind: "unscannable",
        reason: "record could not be scanned for its text and id".into(),
        raw: String::from_utf8_lossy(raw).into_owned(),
    }
}

fn positional_outcome(job: &ShardJob, seq: Option<u64>, raw: Vec<u8>, line: u64) -> Outcome {
    // The decisions do not look at the document (`decides_by_position`).
    let Some(why) = job.dedup_verdict(seq, &mut Document::new("", "")) else {
        return Outcome::Kept(raw);
    };
    match job.format.parse(&raw, job.stem, line) {
        ParsedLine::Doc(doc) => Outcome::Rejected {
            line: encode(&job.format.to_reject_record(doc, &why)),
            stage: why.stage,
            reason: why.reason,
        },
        // The index pass parsed this line as a document; reaching here means the file
        // changed between the passes, which is reported like any unreadable line.
        ParsedLine::Bad { kind, reason, raw } => {
            let record = crate::io::bad_line_record(&job.source, line, kind, &reason, &raw);
            Outcome::Rejected {
                line: encode(&record),
                stage: "reader".into(),
                reason: kind.into(),
            }
        }
    }
}

fn peeked_outcome(job: &ShardJob, p: Peeked, seq: Option<u64>, raw: Vec<u8>, line: u64) -> Outcome {
    let mut doc = Document::new(p.id, p.text);
    let Some(why) = job.dedup_verdict(seq, &mut doc) else {
        return Outcome::Kept(raw);
    };
    let record = match job.format.parse(&raw, job.stem, line) {
        ParsedLine::Doc(full) => job.format.to_reject_record(full, &why),
        ParsedLine::Bad { .. } => job.format.to_reject_record(doc, &why),
    };
    Outcome::Rejected {
        line: encode(&record),
        stage: why.stage,
        reason: why.reason,
    }
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
                None => Outcome::Kept(encode(&job.format.owned_record(doc))),
                Some(why) => Outcome::Rejected {
                    line: encode(&job.format.to_reject_record(doc, &why)),
                    stage: why.stage,
                    reason: why.reason,
                },
            }
        }
    }
}
