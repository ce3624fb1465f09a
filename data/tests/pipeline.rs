//! Whole pipelines on small corpora: nothing is lost on any pipeline shape, bad input is
//! routed or fails with file and line, and an interrupted run resumes to the same output.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::Value;
use vibee_data::config::{BadInputPolicy, InputConfig, OutputConfig};
use vibee_data::dedup::{
    ExactDedup, LineDedup, LineDedupConfig, LineUnit, MinHashConfig, MinHashDedup, SemDedup,
    SemDedupConfig,
};
use vibee_data::filters::{C4Quality, GopherQuality, GopherRepetition, LanguageId};
use vibee_data::io::{Compression, OutputFormat};
use vibee_data::{DataError, Pipeline, RunOptions, Summary};

const VOCAB: &[&str] = &[
    "the", "of", "and", "to", "with", "that", "have", "be", "river", "market", "garden", "winter",
    "system", "people", "village", "history", "church", "mountain", "station", "library", "engine",
    "bridge", "harvest", "letter", "window", "teacher", "doctor", "language", "country", "forest",
    "summer", "morning", "evening", "journey", "problem", "student", "family", "machine", "silver",
    "yellow", "ancient", "modern", "quiet", "careful", "simple", "strong", "bright", "narrow",
    "walked", "opened", "carried", "studied", "painted", "measured", "counted", "visited", "built",
];

fn rng(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

/// A prose-like document of `words` words in sentences of 8–14 words.
fn prose(state: &mut u64, words: usize) -> String {
    let mut out = String::new();
    let mut in_sentence = 0;
    let mut sentence_len = 8 + rng(state) % 7;
    for i in 0..words {
        let w = VOCAB[(rng(state) % VOCAB.len() as u64) as usize];
        if in_sentence == 0 {
            let mut c = w.chars();
            out.extend(c.next().map(|f| f.to_ascii_uppercase()));
            out.push_str(c.as_str());
        } else {
            out.push_str(w);
        }
        in_sentence += 1;
        if in_sentence as u64 == sentence_len || i + 1 == words {
            out.push_str(".\n");
            in_sentence = 0;
            sentence_len = 8 + rng(state) % 7;
        } else {
            out.push(' ');
        }
    }
    out
}

/// Writes a corpus of three shards (plain, gzip, zstd) with good documents, short ones,
/// exact and near duplicates, and (optionally) malformed lines. Returns the ids written.
fn write_corpus(dir: &Path, with_bad_lines: bool) -> BTreeSet<String> {
    let mut state = 7u64;
    let mut ids = BTreeSet::new();
    let mut originals: Vec<String> = Vec::new();
    let names = ["a.jsonl", "b.jsonl.gz", "c.jsonl.zst"];
    for (s, name) in names.iter().enumerate() {
        let mut lines = Vec::new();
        for d in 0..40 {
            let id = format!("{s}-{d}");
            let text = match d % 8 {
                // Same words and punctuation, different spacing: equal after normalization.
                0 if !originals.is_empty() => format!(
                    "  {}",
                    originals[d % originals.len()].replace(".\n", ". \n")
                ),
                1 => "Too short to keep.".to_string(),
                2 if !originals.is_empty() => {
                    let base: &String = &originals[(d / 2) % originals.len()];
                    base.replacen("river", "lake", 1)
                }
                _ => prose(&mut state, 120),
            };
            if d % 8 >= 3 {
                originals.push(text.clone());
            }
            lines.push(
                serde_json::json!({"id": id, "text": text, "url": format!("u/{id}")}).to_string(),
            );
            ids.insert(id);
        }
        if with_bad_lines {
            lines.insert(3, "{\"id\": \"broken\", \"text\": ".into());
            lines.insert(5, "{\"id\": \"no-text\", \"body\": \"x\"}".into());
            lines.push("[1, 2]".into());
        }
        let mut bytes = lines.join("\n").into_bytes();
        if with_bad_lines && s == 0 {
            bytes.extend_from_slice(b"\n{\"text\": \"\xff\xfe\"}\n\n");
        }
        write_file(&dir.join(name), &bytes);
    }
    ids
}

fn write_file(path: &Path, bytes: &[u8]) {
    let file = std::fs::File::create(path).expect("create input");
    match Compression::of_path(path) {
        Compression::None => std::io::BufWriter::new(file)
            .write_all(bytes)
            .expect("write"),
        Compression::Gzip => {
            let mut w = flate2::write::GzEncoder::new(file, flate2::Compression::fast());
            w.write_all(bytes).expect("write");
            w.finish().expect("finish gz");
        }
        Compression::Zstd => {
            let mut w = zstd::Encoder::new(file, 1).expect("zstd");
            w.write_all(bytes).expect("write");
            w.finish().expect("finish zstd");
        }
    }
}

fn read_records(dir: &Path) -> Vec<(PathBuf, Vec<Value>)> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("list output")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let name = p.to_string_lossy();
            p.is_file() && (name.contains(".jsonl") || name.ends_with(".parquet"))
        })
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let records = vibee_data::io::read_records(&p)
                .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
                .into_iter()
                .map(Value::Object)
                .collect();
            (p, records)
        })
        .collect()
}

/// Checks that every input id is in exactly one place and that the files agree with the
/// summary, stage by stage.
fn assert_nothing_lost(
    out: &Path,
    summary: &Summary,
    input_ids: &BTreeSet<String>,
    bad_lines: u64,
) {
    assert!(summary.is_balanced(), "{summary}");
    assert_eq!(
        summary.input_docs,
        input_ids.len() as u64 + bad_lines,
        "{summary}"
    );
    let kept: Vec<Value> = read_records(out).into_iter().flat_map(|(_, r)| r).collect();
    let rejected: Vec<Value> = read_records(&out.join("rejects"))
        .into_iter()
        .flat_map(|(_, r)| r)
        .collect();
    assert_eq!(kept.len() as u64, summary.kept);
    assert_eq!(rejected.len() as u64, summary.rejected_total());
    let mut seen = BTreeMap::new();
    for record in kept.iter().chain(&rejected) {
        if let Some(id) = record["id"].as_str() {
            *seen.entry(id.to_string()).or_insert(0) += 1;
        }
    }
    let once: BTreeSet<String> = seen
        .iter()
        .filter(|(_, n)| **n == 1)
        .map(|(k, _)| k.clone())
        .collect();
    assert_eq!(&once, input_ids, "every input id exactly once");
    let mut by_stage: BTreeMap<String, u64> = BTreeMap::new();
    for r in &rejected {
        let stage = r["_vibee_reject"]["stage"]
            .as_str()
            .expect("stage")
            .to_string();
        *by_stage.entry(stage).or_default() += 1;
    }
    for (stage, n) in &by_stage {
        assert_eq!(summary.rejected_by(stage), *n, "stage {stage}");
    }
}

fn quiet() -> RunOptions {
    RunOptions::default()
}

fn pipeline(input: &Path, out: &Path) -> vibee_data::PipelineBuilder {
    let mut config = InputConfig::new([input.to_string_lossy().into_owned()]);
    config.on_bad_input = BadInputPolicy::Reject;
    Pipeline::builder(config, OutputConfig::new(out))
}

fn minhash() -> MinHashDedup {
    MinHashDedup::new(MinHashConfig {
        ngram: 3,
        ..MinHashConfig::default()
    })
    .expect("minhash")
}

#[test]
fn every_pipeline_shape_accounts_for_every_document() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("in");
    std::fs::create_dir(&input).expect("mkdir");
    let ids = write_corpus(&input, false);
    let shapes: Vec<(&str, vibee_data::PipelineBuilder)> = vec![
        ("copy", pipeline(&input, &dir.path().join("o0"))),
        (
            "filters",
            pipeline(&input, &dir.path().join("o1"))
                .filter(GopherQuality::default())
                .filter(GopherRepetition::default()),
        ),
        (
            "exact",
            pipeline(&input, &dir.path().join("o2")).dedup(ExactDedup::default()),
        ),
        (
            "filter-dedup-filter",
            pipeline(&input, &dir.path().join("o3"))
                .filter(GopherQuality::default())
                .dedup(minhash())
                .filter(LanguageId::default()),
        ),
        (
            "three-dedups",
            pipeline(&input, &dir.path().join("o4"))
                .dedup(LineDedup::new(LineDedupConfig {
                    unit: LineUnit::Paragraph,
                    min_chars: 0,
                }))
                .dedup(ExactDedup::default())
                .dedup(minhash())
                .filter(C4Quality {
                    min_num_sentences: 1,
                    ..C4Quality::default()
                }),
        ),
        (
            "semdedup",
            pipeline(&input, &dir.path().join("o5"))
                .filter(GopherQuality::default())
                .dedup(SemDedup::new(SemDedupConfig::default())),
        ),
    ];
    for (name, builder) in shapes {
        let out = dir.path().join(match name {
            "copy" => "o0",
            "filters" => "o1",
            "exact" => "o2",
            "filter-dedup-filter" => "o3",
            "semdedup" => "o5",
            _ => "o4",
        });
        let summary = builder
            .build()
            .run(&quiet())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_nothing_lost(&out, &summary, &ids, 0);
        match name {
            "copy" => assert_eq!(summary.kept, ids.len() as u64),
            "filters" => assert_eq!(summary.rejected_by("gopher_quality"), 15),
            // 14 respaced copies and 14 repeats of the short text, at least.
            "exact" => assert!(summary.rejected_by("exact_dedup") >= 28, "{summary}"),
            "filter-dedup-filter" => assert!(summary.rejected_by("minhash") >= 14, "{summary}"),
            "semdedup" => assert!(summary.rejected_by("semdedup") >= 14, "{summary}"),
            _ => {
                assert!(summary.rejected_by("paragraph_dedup") >= 28, "{summary}");
                assert!(summary.rejected_by("minhash") >= 1, "{summary}");
            }
        }
    }
}

#[test]
fn bad_lines_go_to_rejects_with_file_and_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("in");
    std::fs::create_dir(&input).expect("mkdir");
    let ids = write_corpus(&input, true);
    let out = dir.path().join("out");
    let summary = pipeline(&input, &out)
        .filter(GopherQuality::default())
        .build()
        .run(&quiet());
    let summary = summary.expect("run");
    // Per shard: broken JSON, missing text, array; plus invalid UTF-8 in the first shard.
    assert_nothing_lost(&out, &summary, &ids, 3 * 3 + 1);
    assert_eq!(summary.rejected_by("reader"), 10);
    let reader_rejects: Vec<Value> = read_records(&out.join("rejects"))
        .into_iter()
        .flat_map(|(_, r)| r)
        .filter(|r| r["_vibee_reject"]["stage"] == "reader")
        .collect();
    let first = &reader_rejects[0]["_vibee_reject"];
    assert_eq!(first["reason"], "malformed_json");
    assert_eq!(first["line"], 4);
    assert!(
        first["file"]
            .as_str()
            .is_some_and(|f| f.ends_with("a.jsonl"))
    );
    assert!(
        reader_rejects
            .iter()
            .any(|r| r["_vibee_reject"]["reason"] == "invalid_utf8")
    );
}

#[test]
fn bad_lines_fail_the_run_when_configured() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("in");
    std::fs::create_dir(&input).expect("mkdir");
    write_corpus(&input, true);
    for with_dedup in [false, true] {
        let mut config = InputConfig::new([input.to_string_lossy().into_owned()]);
        config.on_bad_input = BadInputPolicy::Fail;
        let out = dir.path().join(format!("out{with_dedup}"));
        let mut builder = Pipeline::builder(config, OutputConfig::new(&out));
        if with_dedup {
            builder = builder.dedup(ExactDedup::default());
        }
        match builder.build().run(&quiet()) {
            Err(DataError::BadInput {
                path,
                line,
                message,
            }) => {
                // Shards run in parallel, so any shard's first bad line may be reported.
                assert!(path.starts_with(&input), "{}", path.display());
                assert_eq!(line, 4);
                assert!(message.starts_with("malformed JSON"), "{message}");
            }
            other => panic!("expected a bad-input error, got {other:?}"),
        }
    }
}

fn decompressed_tree(dir: &Path) -> BTreeMap<String, Vec<Value>> {
    let mut tree = BTreeMap::new();
    for sub in [dir.to_path_buf(), dir.join("rejects")] {
        for (path, records) in read_records(&sub) {
            tree.insert(
                path.strip_prefix(dir)
                    .expect("under dir")
                    .display()
                    .to_string(),
                records,
            );
        }
    }
    tree
}

#[test]
fn an_interrupted_run_resumes_to_the_same_output() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("in");
    std::fs::create_dir(&input).expect("mkdir");
    write_corpus(&input, true);
    let build = |out: &Path| {
        pipeline(&input, out)
            .filter(GopherQuality::default())
            .dedup(minhash())
            .filter(GopherRepetition::default())
            .build()
    };
    let whole = dir.path().join("whole");
    let reference = build(&whole).run(&quiet()).expect("uninterrupted run");
    let resumed = dir.path().join("resumed");
    for stop in [1, 3] {
        let options = RunOptions {
            stop_after_shards: Some(stop),
            ..RunOptions::default()
        };
        assert!(matches!(
            build(&resumed).run(&options),
            Err(DataError::Interrupted(_))
        ));
    }
    let summary = build(&resumed).run(&quiet()).expect("resumed run");
    assert!(summary.resumed_shards >= 4, "{summary}");
    assert_eq!(
        (summary.kept, &summary.rejected),
        (reference.kept, &reference.rejected)
    );
    assert_eq!(decompressed_tree(&resumed), decompressed_tree(&whole));
    // Intermediates are gone after success; markers stay, so a rerun does nothing.
    assert!(!resumed.join(".vibee-work/seg0").exists());
    let again = build(&resumed).run(&quiet()).expect("rerun");
    assert_eq!(again.resumed_shards, 6);
    assert_eq!(again.kept, reference.kept);
}

#[test]
fn a_changed_config_does_not_reuse_old_shards() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("in");
    std::fs::create_dir(&input).expect("mkdir");
    write_corpus(&input, false);
    let out = dir.path().join("out");
    pipeline(&input, &out)
        .build()
        .run(&quiet())
        .expect("first run");
    let changed = pipeline(&input, &out)
        .filter(GopherQuality::default())
        .build();
    assert!(matches!(
        changed.run(&quiet()),
        Err(DataError::StaleWorkDir { .. })
    ));
    let fresh = RunOptions {
        fresh: true,
        ..RunOptions::default()
    };
    assert!(
        changed
            .run(&fresh)
            .expect("fresh run")
            .rejected_by("gopher_quality")
            > 0
    );
}

#[test]
fn toml_pipelines_run_from_their_folder() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("in")).expect("mkdir");
    let ids = write_corpus(&dir.path().join("in"), false);
    let toml = r#"
        [input]
        paths = ["in/*.jsonl*"]
        [output]
        dir = "out"
        compression = "gzip"
        [[steps]]
        kind = "gopher_quality"
        [[steps]]
        kind = "exact_dedup"
        [[steps]]
        kind = "toxicity"
    "#;
    let file = dir.path().join("pipeline.toml");
    std::fs::write(&file, toml).expect("write toml");
    let summary = Pipeline::from_toml_file(&file)
        .expect("load")
        .run(&quiet())
        .expect("run");
    assert_nothing_lost(&dir.path().join("out"), &summary, &ids, 0);
    assert!(dir.path().join("out/00001-b.jsonl.gz").exists());
    assert!(dir.path().join("out/summary.json").exists());
}

/// Rewrites every JSONL shard of `dir` as a Parquet shard (through the crate's own
/// writer, which infers the schema), removing the JSONL file.
fn to_parquet(dir: &Path) {
    for (path, records) in read_records(dir) {
        let plain = dir.join("staged.jsonl");
        let lines: Vec<String> = records.iter().map(Value::to_string).collect();
        std::fs::write(&plain, lines.join("\n")).expect("stage");
        let stem = vibee_data::io::shard_stem(&path);
        vibee_data::io::jsonl_to_parquet(&plain, &dir.join(format!("{stem}.parquet")), false)
            .expect("to parquet");
        std::fs::remove_file(&plain).expect("rm");
        std::fs::remove_file(&path).expect("rm");
    }
}

#[test]
fn parquet_pipelines_account_for_every_document() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("in");
    std::fs::create_dir(&input).expect("mkdir");
    let ids = write_corpus(&input, false);
    to_parquet(&input);
    // A shard with the wrong schema: no `text` column.
    let wrong = dir.path().join("wrong.jsonl");
    std::fs::write(
        &wrong,
        "{\"id\": \"w1\", \"body\": \"x\"}\n{\"id\": \"w2\", \"body\": \"y\"}",
    )
    .expect("write");
    vibee_data::io::jsonl_to_parquet(&wrong, &input.join("d-wrong.parquet"), false)
        .expect("to parquet");
    for (k, parquet_out) in [false, true].into_iter().enumerate() {
        let out = dir.path().join(format!("out{k}"));
        let mut output = OutputConfig::new(&out);
        if parquet_out {
            output.format = OutputFormat::Parquet;
        }
        let input_config = InputConfig::new([input.to_string_lossy().into_owned()]);
        let summary = Pipeline::builder(input_config, output)
            .filter(GopherQuality::default())
            .dedup(minhash())
            .build()
            .run(&quiet())
            .unwrap_or_else(|e| panic!("parquet_out={parquet_out}: {e}"));
        // The two rows of the wrong-schema shard are rejected by the reader, as raw rows.
        assert_nothing_lost(&out, &summary, &ids, 2);
        assert_eq!(summary.rejected_by("reader"), 2, "{summary}");
        let rejects = read_records(&out.join("rejects"));
        let bad: Vec<&Value> = rejects
            .iter()
            .flat_map(|(_, r)| r)
            .filter(|r| r["_vibee_reject"]["stage"] == "reader")
            .collect();
        assert_eq!(bad[0]["_vibee_reject"]["reason"], "missing_text_field");
        assert_eq!(bad[0]["_vibee_reject"]["row"], 1);
        assert_eq!(bad[1]["_vibee_reject"]["row"], 2);
        assert!(
            bad[0]["raw"]
                .as_str()
                .is_some_and(|r| r.contains("\"body\":\"x\""))
        );
        // Metadata survives: the `url` field of every kept record.
        let kept = read_records(&out);
        assert!(
            kept.iter()
                .flat_map(|(_, r)| r)
                .all(|r| r["url"].is_string())
        );
        if parquet_out {
            assert!(out.join("00000-a.parquet").exists());
        }
    }
    let mut config = InputConfig::new([input.to_string_lossy().into_owned()]);
    config.on_bad_input = BadInputPolicy::Fail;
    let failed = Pipeline::builder(config, OutputConfig::new(dir.path().join("fail")))
        .build()
        .run(&quiet());
    match failed {
        Err(DataError::BadInput { path, message, .. }) => {
            assert!(path.ends_with("d-wrong.parquet"), "{}", path.display());
            assert!(message.contains("no column `text`"), "{message}");
        }
        other => panic!("expected a schema error, got {other:?}"),
    }
}
