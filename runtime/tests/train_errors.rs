//! Bad input stops a run with an error naming the file and the field, and leaves what is
//! already on disk untouched.

#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on an unexpected error"
)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use vibee_runtime::train::{ResumePolicy, RunOptions, TrainConfig, TrainError, train};

fn small_config(dir: &Path) -> TrainConfig {
    let toml = format!(
        r#"
        [model]
        kind = "bigram"
        block_size = 16
        [corpus]
        kind = "markov"
        order = 1
        train_bytes = 20000
        val_bytes = 4000
        [train]
        steps = 10
        warmup_steps = 1
        lr = 0.05
        eval_every = 5
        eval_batches = 2
        [output]
        dir = "{}"
        checkpoint_every = 5
        sample_tokens = 10
        "#,
        dir.display()
    );
    TrainConfig::from_toml_str(&toml, "test.toml").unwrap()
}

/// Every file under `dir` with its bytes.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                files.insert(path.clone(), std::fs::read(&path).unwrap());
            }
        }
    }
    files
}

fn resume() -> RunOptions {
    RunOptions {
        resume: ResumePolicy::Resume,
        ..RunOptions::default()
    }
}

/// A finished run in a fresh directory.
fn finished_run() -> (tempfile::TempDir, TrainConfig) {
    let dir = tempfile::tempdir().unwrap();
    let cfg = small_config(dir.path());
    train(&cfg, &RunOptions::default()).unwrap();
    (dir, cfg)
}

#[test]
fn a_corrupt_checkpoint_names_the_file_and_damages_nothing() {
    let (dir, cfg) = finished_run();
    let model = dir
        .path()
        .join("checkpoints/step-0000010/model.safetensors");
    let bytes = std::fs::read(&model).unwrap();
    std::fs::write(&model, &bytes[..bytes.len() / 2]).unwrap();
    let before = snapshot(dir.path());
    let err = train(&cfg, &resume()).unwrap_err();
    assert!(matches!(err, TrainError::Checkpoint { .. }), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("step-0000010/model.safetensors") && msg.contains("corrupt"),
        "{msg}"
    );
    assert_eq!(snapshot(dir.path()), before);
}

#[test]
fn a_corrupt_state_file_names_it() {
    let (dir, cfg) = finished_run();
    let state = dir.path().join("checkpoints/step-0000010/state.json");
    std::fs::write(&state, "{\"format\": 1, \"step\": ").unwrap();
    let before = snapshot(dir.path());
    let msg = train(&cfg, &resume()).unwrap_err().to_string();
    assert!(
        msg.contains("state.json") && msg.contains("corrupt"),
        "{msg}"
    );
    assert_eq!(snapshot(dir.path()), before);
}

#[test]
fn a_checkpoint_of_another_shape_names_the_field() {
    let (dir, mut cfg) = finished_run();
    cfg.model.vocab_size = Some(300);
    let before = snapshot(dir.path());
    let msg = train(&cfg, &resume()).unwrap_err().to_string();
    assert!(
        msg.contains("state.json") && msg.contains("model.vocab_size"),
        "{msg}"
    );
    assert!(
        msg.contains("Some(256)") && msg.contains("Some(300)"),
        "{msg}"
    );
    assert_eq!(snapshot(dir.path()), before);

    cfg.model.vocab_size = None;
    cfg.train.seed = 9;
    let msg = train(&cfg, &resume()).unwrap_err().to_string();
    assert!(msg.contains("train.seed"), "{msg}");
    assert_eq!(snapshot(dir.path()), before);
}

#[test]
fn a_checkpoint_whose_tensors_do_not_fit_names_the_tensor() {
    let (dir, cfg) = finished_run();
    // Replace the weights by a file holding a tensor of another name.
    let data = vec![0u8; 8];
    let view =
        safetensors::tensor::TensorView::new(safetensors::Dtype::F32, vec![2], &data).unwrap();
    let bytes = safetensors::serialize([("blocks.0.qkv.weight", view)], None).unwrap();
    std::fs::write(
        dir.path()
            .join("checkpoints/step-0000010/model.safetensors"),
        bytes,
    )
    .unwrap();
    let before = snapshot(dir.path());
    let msg = train(&cfg, &resume()).unwrap_err().to_string();
    assert!(
        msg.contains("model.safetensors: blocks.0.qkv.weight"),
        "{msg}"
    );
    assert_eq!(snapshot(dir.path()), before);
}

#[test]
fn an_existing_run_is_not_overwritten_by_default() {
    let (dir, cfg) = finished_run();
    let before = snapshot(dir.path());
    let err = train(&cfg, &RunOptions::default()).unwrap_err();
    assert!(
        matches!(err, TrainError::RunExists { step: 10, .. }),
        "{err}"
    );
    assert_eq!(snapshot(dir.path()), before);
}

#[test]
fn a_missing_corpus_or_a_block_longer_than_the_text_fails_before_writing() {
    let (dir, mut cfg) = finished_run();
    let before = snapshot(dir.path());
    cfg.corpus = vibee_runtime::train::CorpusConfig::Text {
        path: "missing.txt".into(),
        val_fraction: 0.1,
    };
    let opts = RunOptions {
        config_file: Some(dir.path().join("cfg.toml")),
        ..resume()
    };
    let msg = train(&cfg, &opts).unwrap_err().to_string();
    assert!(
        msg.contains("missing.txt") && msg.contains("cannot read"),
        "{msg}"
    );

    std::fs::write(dir.path().join("short.txt"), "far too short for the block").unwrap();
    cfg.corpus = vibee_runtime::train::CorpusConfig::Text {
        path: "short.txt".into(),
        val_fraction: 0.5,
    };
    let msg = train(&cfg, &opts).unwrap_err().to_string();
    assert!(
        msg.contains("cfg.toml: field `model.block_size`") && msg.contains("short.txt"),
        "{msg}"
    );
    std::fs::remove_file(dir.path().join("short.txt")).unwrap();
    assert_eq!(snapshot(dir.path()), before);
}

#[test]
fn a_vocabulary_smaller_than_the_corpus_names_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = small_config(dir.path());
    cfg.model.vocab_size = Some(100);
    let msg = train(&cfg, &RunOptions::default()).unwrap_err().to_string();
    assert!(
        msg.contains("field `model.vocab_size`: 100 is smaller"),
        "{msg}"
    );
    assert!(!dir.path().join("metrics.jsonl").exists());
}

#[test]
fn a_diverging_run_stops_without_a_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = small_config(dir.path());
    cfg.train.lr = 1e38;
    cfg.train.min_lr = 0.0;
    cfg.train.grad_clip = 0.0;
    let err = train(&cfg, &RunOptions::default()).unwrap_err();
    assert!(matches!(err, TrainError::Diverged { .. }), "{err}");
    assert!(!dir.path().join("checkpoints").exists());
}
