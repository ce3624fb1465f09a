//! A shard longer than one read batch (4,096 lines): the pipelined index and apply passes
//! (reading the next batch while the current one is hashed or decided) keep corpus order,
//! find duplicates across batch boundaries, and report a bad line in a later batch with
//! its line number.

use std::path::Path;

use serde_json::Value;
use vibee_data::config::{BadInputPolicy, InputConfig, OutputConfig};
use vibee_data::dedup::{Linkage, MinHashConfig, MinHashDedup};
use vibee_data::io::Compression;
use vibee_data::{DataError, Pipeline, RunOptions};

const DOCS: usize = 10_000;
/// The 1-based line of the malformed record, in the third batch.
const BAD_LINE: u64 = 9_001;

/// Document `i`'s text: words no other document uses, so unrelated documents share no
/// shingle and cannot collide.
fn unique_text(i: usize) -> String {
    (0..12)
        .map(|k| format!("w{i}x{k}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Documents 5000..9000 with `i % 10 == 0` copy document `i - 4500`, one batch earlier.
fn original_of(i: usize) -> Option<usize> {
    if (5_000..9_000).contains(&i) && i.is_multiple_of(10) {
        Some(i - 4_500)
    } else {
        None
    }
}

fn write_shard(path: &Path) {
    let mut lines = Vec::with_capacity(DOCS + 1);
    for i in 0..DOCS {
        let text = unique_text(original_of(i).unwrap_or(i));
        lines.push(serde_json::json!({"id": format!("d{i}"), "text": text}).to_string());
        if lines.len() as u64 == BAD_LINE - 1 {
            lines.push("{\"id\": \"broken\", \"text\": ".into());
        }
    }
    std::fs::write(path, lines.join("\n")).expect("write shard");
}

fn run(input: &Path, out: &Path, policy: BadInputPolicy) -> vibee_data::Result<()> {
    let mut config = InputConfig::new([input.to_string_lossy().into_owned()]);
    config.on_bad_input = policy;
    let mut output = OutputConfig::new(out);
    output.compression = Compression::None;
    let minhash = MinHashDedup::new(MinHashConfig {
        ngram: 3,
        linkage: Linkage::Earliest,
        ..MinHashConfig::default()
    })?;
    Pipeline::builder(config, output)
        .dedup(minhash)
        .build()
        .run(&RunOptions::default())
        .map(|_| ())
}

fn records(dir: &Path) -> Vec<Value> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .expect("list output")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().ends_with(".jsonl"))
        .collect();
    files.sort();
    files
        .iter()
        .flat_map(|p| {
            std::fs::read_to_string(p)
                .expect("read output")
                .lines()
                .map(String::from)
                .collect::<Vec<_>>()
        })
        .map(|l| serde_json::from_str(&l).expect("output is JSON"))
        .collect()
}

#[test]
fn a_shard_of_several_batches_keeps_order_and_finds_duplicates_across_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("big.jsonl");
    write_shard(&input);
    let out = dir.path().join("out");
    run(&input, &out, BadInputPolicy::Reject).expect("run");

    let kept: Vec<String> = records(&out)
        .iter()
        .map(|r| r["id"].as_str().expect("id").to_string())
        .collect();
    let expected: Vec<String> = (0..DOCS)
        .filter(|&i| original_of(i).is_none())
        .map(|i| format!("d{i}"))
        .collect();
    assert_eq!(kept, expected, "kept documents, in input order");

    let rejects = records(&out.join("rejects"));
    let mut duplicates = Vec::new();
    for r in &rejects {
        let why = &r["_vibee_reject"];
        match why["stage"].as_str() {
            Some("minhash") => {
                let id = r["id"].as_str().expect("id");
                duplicates.push((id.to_string(), why["kept_id"].as_str().map(String::from)));
            }
            Some("reader") => assert_eq!(why["line"], BAD_LINE, "{r}"),
            other => panic!("unexpected stage {other:?}: {r}"),
        }
    }
    let expected: Vec<(String, Option<String>)> = (0..DOCS)
        .filter_map(|i| original_of(i).map(|o| (format!("d{i}"), Some(format!("d{o}")))))
        .collect();
    assert_eq!(
        duplicates, expected,
        "duplicates, in input order, with their kept id"
    );
    assert_eq!(
        rejects.len(),
        expected.len() + 1,
        "the duplicates and the bad line"
    );
}

#[test]
fn a_bad_line_in_a_later_batch_fails_the_run_with_its_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("big.jsonl");
    write_shard(&input);
    match run(&input, &dir.path().join("out"), BadInputPolicy::Fail) {
        Err(DataError::BadInput { line, message, .. }) => {
            assert_eq!(line, BAD_LINE);
            assert!(message.starts_with("malformed JSON"), "{message}");
        }
        other => panic!("expected a bad-input error, got {other:?}"),
    }
}
