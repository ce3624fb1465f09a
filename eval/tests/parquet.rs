//! Parquet task data: the Hub's layout (shards under `data/`, a single
//! `<split>.parquet`) reads to the same documents as the JSONL fixtures, and
//! scores identically; a binary column is an error naming file and column.

use std::path::{Path, PathBuf};

use vibee_eval::data;
use vibee_eval::evaluator::{self, EvalOptions};
use vibee_eval::model::fake::FakeModel;
use vibee_eval::task::Task;
use vibee_eval::task::registry::Registry;
use vibee_eval::template::Templates;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

#[test]
fn sharded_and_single_file_parquet_equal_the_jsonl() {
    for split in ["test", "train"] {
        let from_parquet =
            data::load_split(&fixtures().join("parquet"), "arc_easy", split).expect("parquet");
        let from_jsonl = data::load_split(&fixtures(), "arc_easy", split).expect("jsonl");
        assert_eq!(from_parquet, from_jsonl, "split {split}");
    }
}

#[test]
fn a_task_scores_the_same_from_parquet() {
    let registry = Registry::builtin().expect("builtin");
    let mut config = registry.tasks["arc_easy"].clone();
    config.num_fewshot = 3;
    let t = Templates::new();
    let opts = EvalOptions::default();
    let a = Task::load(config.clone(), &fixtures().join("parquet"), &t).expect("parquet task");
    let b = Task::load(config, &fixtures(), &t).expect("jsonl task");
    let ra = evaluator::evaluate_task(&a, &FakeModel, &t, &opts).expect("runs");
    let rb = evaluator::evaluate_task(&b, &FakeModel, &t, &opts).expect("runs");
    assert_eq!(ra.scores, rb.scores);
}

#[test]
fn binary_column_is_a_schema_error_naming_file_and_column() {
    let err = data::load_split(&fixtures().join("parquet"), "bad", "test")
        .expect_err("image column")
        .to_string();
    assert!(err.contains("bad/test.parquet"), "{err}");
    assert!(err.contains("column `image`"), "{err}");
}

#[test]
fn missing_split_names_the_files_looked_for() {
    let err = data::load_split(&fixtures().join("parquet"), "arc_easy", "validation")
        .expect_err("no such split")
        .to_string();
    assert!(
        err.contains("validation.parquet") && err.contains("validation.jsonl"),
        "{err}"
    );
}

#[test]
fn a_file_that_is_not_parquet_is_named() {
    let dir = std::env::temp_dir().join(format!("vibee-pq-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("ds")).expect("dir");
    std::fs::write(dir.join("ds/test.parquet"), b"not parquet at all").expect("write");
    let err = data::load_split(&dir, "ds", "test")
        .expect_err("garbage")
        .to_string();
    assert!(
        err.contains("ds/test.parquet") && err.contains("not a Parquet file"),
        "{err}"
    );
}
