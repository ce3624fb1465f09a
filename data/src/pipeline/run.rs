//! The executor: plan segments, resume completed shards, build dedup indexes, process the
//! rest in parallel, and add up the counts.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use rayon::prelude::*;

use crate::config::BadInputPolicy;
use crate::dedup::{DedupDecisions, Deduplicator};
use crate::document::Document;
use crate::error::{DataError, Result};
use crate::io::{
    Compression, Encoding, ParsedLine, RecordFormat, ShardReader, expand_inputs, shard_stem,
};
use crate::pipeline::progress::PassProgress;
use crate::pipeline::resume::{WorkDir, fingerprint};
use crate::pipeline::shard::{
    BATCH_BYTES, BATCH_LINES, Irregular, Segment, ShardIndex, ShardJob, process_shard,
};
use crate::pipeline::{Pipeline, RunOptions, ShardStats, Step, Summary};

/// An input shard and the names derived from it.
struct Shard {
    index: usize,
    input: PathBuf,
    stem: String,
}

/// Splits the steps at each deduplicator: a dedup starts a new segment.
pub(crate) fn plan_segments(steps: &[Step]) -> Vec<Segment> {
    let mut segments: Vec<Segment> = Vec::new();
    for step in steps {
        match step {
            Step::Dedup(d) => segments.push(Segment {
                dedup: Some(d.clone()),
                filters: Vec::new(),
            }),
            Step::Filter(f) => match segments.last_mut() {
                Some(last) => last.filters.push(f.clone()),
                None => segments.push(Segment {
                    dedup: None,
                    filters: vec![f.clone()],
                }),
            },
        }
    }
    if segments.is_empty() {
        segments.push(Segment::default());
    }
    segments
}

/// Shared state of one run.
struct Runner<'a> {
    pipeline: &'a Pipeline,
    options: &'a RunOptions,
    format: RecordFormat,
    work: WorkDir,
    shards: Vec<Shard>,
    last_segment: usize,
    started_shards: AtomicUsize,
}

pub(crate) fn run(pipeline: &Pipeline, options: &RunOptions) -> Result<Summary> {
    let started = Instant::now();
    let inputs = expand_inputs(&pipeline.input.paths, &pipeline.base)?;
    let output = &pipeline.output;
    for dir in [output.dir.clone(), output.rejects_dir()] {
        std::fs::create_dir_all(&dir).map_err(|e| DataError::io("creating", &dir, e))?;
    }
    let work = WorkDir::open(
        &output.work_dir(),
        &fingerprint(pipeline, &inputs)?,
        options.fresh,
    )?;
    let shards = inputs
        .into_iter()
        .enumerate()
        .map(|(index, input)| Shard {
            index,
            stem: shard_stem(&input),
            input,
        })
        .collect();
    let segments = plan_segments(&pipeline.steps);
    let runner = Runner {
        pipeline,
        options,
        format: RecordFormat {
            text_field: pipeline.input.text_field.clone(),
            id_field: pipeline.input.id_field.clone(),
        },
        work,
        shards,
        last_segment: segments.len() - 1,
        started_shards: AtomicUsize::new(0),
    };
    let mut per_segment = Vec::new();
    let mut resumed = 0;
    for (k, segment) in segments.iter().enumerate() {
        let (stats, reused) = runner.run_segment(k, segment)?;
        resumed += reused;
        per_segment.push(stats);
    }
    if !output.keep_intermediate {
        runner.work.remove_intermediates(segments.len())?;
    }
    let summary = summarize(
        pipeline,
        &per_segment,
        resumed,
        started.elapsed().as_secs_f64(),
    );
    let path = output.dir.join("summary.json");
    let json = serde_json::to_string_pretty(&summary).unwrap_or_default();
    std::fs::write(&path, json).map_err(|e| DataError::io("writing", &path, e))?;
    Ok(summary)
}

fn summarize(
    pipeline: &Pipeline,
    per_segment: &[ShardStats],
    resumed: usize,
    seconds: f64,
) -> Summary {
    let mut total = ShardStats::default();
    per_segment.iter().for_each(|s| total.absorb(s));
    let mut stage_order = vec!["reader".to_string()];
    stage_order.extend(pipeline.steps.iter().map(|s| s.name().to_string()));
    Summary {
        input_docs: per_segment.first().map_or(0, |s| s.input_docs),
        kept: per_segment.last().map_or(0, |s| s.kept),
        rejected: total.rejected,
        stage_order,
        input_bytes: per_segment.first().map_or(0, |s| s.bytes),
        resumed_shards: resumed,
        seconds,
    }
}

impl Runner<'_> {
    fn source(&self, segment: usize, shard: &Shard) -> PathBuf {
        if segment == 0 {
            shard.input.clone()
        } else {
            self.intermediate(segment - 1, shard)
        }
    }

    fn intermediate(&self, segment: usize, shard: &Shard) -> PathBuf {
        self.work
            .segment_dir(segment)
            .join(format!("{:05}.jsonl.zst", shard.index))
    }

    fn dest(&self, segment: usize, shard: &Shard) -> (PathBuf, Encoding) {
        if segment == self.last_segment {
            let encoding = self.pipeline.output.encoding();
            let ext = encoding.extension();
            (
                self.pipeline
                    .output
                    .dir
                    .join(format!("{:05}-{}{ext}", shard.index, shard.stem)),
                encoding,
            )
        } else {
            (
                self.intermediate(segment, shard),
                Encoding::Jsonl(Compression::Zstd),
            )
        }
    }

    fn rejects(&self, segment: usize, shard: &Shard) -> PathBuf {
        let ext = self.pipeline.output.encoding().extension();
        let name = format!("{:05}-{}.seg{segment}{ext}", shard.index, shard.stem);
        self.pipeline.output.rejects_dir().join(name)
    }

    /// Runs one segment over every shard not yet completed; returns the segment's summed
    /// counts and how many shards were reused from an earlier run.
    fn run_segment(&self, k: usize, segment: &Segment) -> Result<(ShardStats, usize)> {
        let done: Vec<Option<ShardStats>> = self
            .shards
            .iter()
            .map(|s| self.work.completed(k, s.index))
            .collect();
        let reused = done.iter().filter(|d| d.is_some()).count();
        let mut total = ShardStats::default();
        done.iter().flatten().for_each(|s| total.absorb(s));
        if reused == self.shards.len() {
            return Ok((total, reused));
        }
        let dir = self.work.segment_dir(k);
        std::fs::create_dir_all(&dir).map_err(|e| DataError::io("creating", &dir, e))?;
        let index = match &segment.dedup {
            Some(dedup) => Some(self.build_index(k, dedup.as_ref())?),
            None => None,
        };
        let label = format!("segment {k}: {}", describe(segment));
        let progress = PassProgress::new(self.options.progress, label);
        let pending: Vec<&Shard> = self
            .shards
            .iter()
            .zip(&done)
            .filter(|(_, d)| d.is_none())
            .map(|(s, _)| s)
            .collect();
        let results: Vec<Option<ShardStats>> = pending
            .par_iter()
            .map(|shard| self.run_shard(k, segment, shard, index.as_ref(), &progress))
            .collect::<Result<_>>()?;
        progress.finish();
        let skipped = results.iter().filter(|r| r.is_none()).count();
        if skipped > 0 {
            return Err(DataError::Interrupted(
                self.options.stop_after_shards.unwrap_or(0),
            ));
        }
        results.iter().flatten().for_each(|s| total.absorb(s));
        Ok((total, reused))
    }

    fn run_shard(
        &self,
        k: usize,
        segment: &Segment,
        shard: &Shard,
        index: Option<&BuiltIndex>,
        progress: &PassProgress,
    ) -> Result<Option<ShardStats>> {
        let ticket = self.started_shards.fetch_add(1, Ordering::SeqCst);
        if self
            .options
            .stop_after_shards
            .is_some_and(|limit| ticket >= limit)
        {
            return Ok(None);
        }
        let (dest, compression) = self.dest(k, shard);
        let job = ShardJob {
            source: self.source(k, shard),
            stem: &shard.stem,
            dest,
            rejects: self.rejects(k, shard),
            encoding: compression,
            rejects_encoding: self.pipeline.output.encoding(),
            fsync: self.pipeline.output.fsync,
            format: &self.format,
            policy: self.pipeline.input.on_bad_input,
            decisions: index.map(|i| (i.decisions.as_ref(), i.shards[shard.index].offset)),
            positional: index
                .filter(|_| {
                    segment.filters.is_empty()
                        && segment
                            .dedup
                            .as_ref()
                            .is_some_and(|d| d.decides_by_position())
                })
                .map(|i| &i.shards[shard.index].irregular),
            progress,
        };
        let stats = process_shard(segment, &job)?;
        self.work.mark_completed(k, shard.index, &stats)?;
        Ok(Some(stats))
    }

    /// The index pass: fingerprints in parallel per batch, fed to the index in corpus
    /// order. Returns the decisions and, per shard, its first sequence number and the
    /// lines that are not plain documents.
    fn build_index(&self, k: usize, dedup: &dyn Deduplicator) -> Result<BuiltIndex> {
        let progress = PassProgress::new(
            self.options.progress,
            format!("segment {k}: index {}", dedup.name()),
        );
        let mut index = dedup.new_index();
        let mut shards = Vec::with_capacity(self.shards.len());
        let mut seq = 0u64;
        for shard in &self.shards {
            let mut info = ShardIndex {
                offset: seq,
                irregular: HashMap::new(),
            };
            let source = self.source(k, shard);
            crate::pipeline::shard::check_parquet_schema(
                &source,
                &self.format,
                self.pipeline.input.on_bad_input,
            )?;
            let mut reader = ShardReader::open(&source)?;
            let mut current = reader.next_batch(BATCH_LINES, BATCH_BYTES)?;
            let mut pending: Option<(Batch, Vec<Result<Fingerprinted>>)> = None;
            // A two-stage pipeline: while the pool fingerprints the current batch, one
            // thread feeds the previous batch to the index (which must see documents in
            // order, so it is serial) and reads the next one.
            while !current.is_empty() || pending.is_some() {
                let (next, fingerprints) = rayon::join(
                    || -> Result<Batch> {
                        if let Some((batch, fps)) = pending.take() {
                            add_batch(index.as_mut(), &mut info, &mut seq, &batch, fps)?;
                            let bytes = batch.iter().map(|(_, b)| b.len() as u64).sum();
                            progress.advance(batch.len() as u64, bytes);
                        }
                        reader.next_batch(BATCH_LINES, BATCH_BYTES)
                    },
                    || self.fingerprint_batch(dedup, &current, &source, &shard.stem),
                );
                let done = std::mem::take(&mut current);
                current = match next {
                    Ok(next) => next,
                    Err(e) => {
                        // Report a bad line of this batch before a read error after it.
                        add_batch(index.as_mut(), &mut info, &mut seq, &done, fingerprints)?;
                        return Err(e);
                    }
                };
                pending = (!done.is_empty()).then_some((done, fingerprints));
            }
            shards.push(info);
        }
        progress.finish();
        Ok(BuiltIndex {
            decisions: index.finish(),
            shards,
        })
    }
}

/// A finished dedup index and what the apply pass needs to know about each shard.
struct BuiltIndex {
    decisions: Box<dyn DedupDecisions>,
    shards: Vec<ShardIndex>,
}

/// Raw lines with their line numbers, as the shard reader hands them out.
type Batch = Vec<(u64, Vec<u8>)>;

/// Feeds one fingerprinted batch to the index in order, numbering its documents and
/// noting the lines that are not plain documents; the first bad line's error stops it.
fn add_batch(
    index: &mut dyn crate::dedup::DedupIndex,
    info: &mut ShardIndex,
    seq: &mut u64,
    batch: &Batch,
    fingerprints: Vec<Result<Fingerprinted>>,
) -> Result<()> {
    for (fp, (line, _)) in fingerprints.into_iter().zip(batch) {
        match fp? {
            Some((id, has_id, fp)) => {
                index.add(&id, fp);
                *seq += 1;
                if !has_id {
                    info.irregular.insert(*line, Irregular::NoOwnId);
                }
            }
            None => {
                info.irregular.insert(*line, Irregular::NotADocument);
            }
        }
    }
    Ok(())
}

/// A document's id, whether the record has its own id, and its fingerprint; `None` for
/// a malformed line that is skipped.
type Fingerprinted = Option<(String, bool, Vec<u64>)>;

impl Runner<'_> {
    /// Parses and fingerprints one batch in parallel, in input order.
    fn fingerprint_batch(
        &self,
        dedup: &dyn Deduplicator,
        batch: &[(u64, Vec<u8>)],
        source: &std::path::Path,
        stem: &str,
    ) -> Vec<Result<Fingerprinted>> {
        let fail = self.pipeline.input.on_bad_input == BadInputPolicy::Fail;
        batch
            .par_iter()
            .map(|(line, raw)| match self.format.peek(raw, stem, *line) {
                Some(p) => {
                    let fp = dedup.fingerprint(&Document::new("", p.text));
                    Ok(Some((p.id, p.has_id, fp)))
                }
                None if fail => match self.format.parse(raw, stem, *line) {
                    ParsedLine::Bad { reason, .. } => Err(DataError::BadInput {
                        path: source.to_path_buf(),
                        line: *line,
                        message: reason,
                    }),
                    ParsedLine::Doc(_) => Err(DataError::BadInput {
                        path: source.to_path_buf(),
                        line: *line,
                        message: "record could not be scanned".into(),
                    }),
                },
                None => Ok(None),
            })
            .collect()
    }
}

fn describe(segment: &Segment) -> String {
    let mut names: Vec<&str> = segment.dedup.iter().map(|d| d.name()).collect();
    names.extend(segment.filters.iter().map(|f| f.name()));
    if names.is_empty() {
        "copy".into()
    } else {
        names.join(", ")
    }
}
