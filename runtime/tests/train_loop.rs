//! The training loop end to end on the bigram model: it learns an order-1 Markov source
//! down to the source's own loss, resumes exactly, and writes every artifact.

#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on an unexpected error"
)]

use std::path::Path;

use vibee_runtime::train::{
    Batcher, Corpus, MarkovSource, OptimizerKind, ResumePolicy, RunOptions, TrainConfig, train,
};

/// A bigram run on an order-1 chain, writing to `dir`.
fn bigram_config(dir: &Path, extra: &str) -> TrainConfig {
    let toml = format!(
        r#"
        [model]
        kind = "bigram"
        block_size = 64
        [corpus]
        kind = "markov"
        order = 1
        train_bytes = 200000
        val_bytes = 40000
        [train]
        steps = 300
        lr = 0.1
        min_lr = 0.01
        warmup_steps = 10
        weight_decay = 0.0
        eval_every = 100
        eval_batches = 32
        {extra}
        [output]
        dir = "{}"
        checkpoint_every = 100
        sample_tokens = 60
        "#,
        dir.display()
    );
    TrainConfig::from_toml_str(&toml, "test.toml").unwrap()
}

#[test]
fn a_bigram_learns_an_order_one_source_to_its_entropy_rate() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = bigram_config(dir.path(), "");
    let report = train(&cfg, &RunOptions::default()).unwrap();
    let val = f64::from(report.final_val_loss.unwrap());
    let h = report.entropy.unwrap().nats;

    // The source's own loss on exactly the validation pairs the model was scored on.
    let corpus = Corpus::load(&cfg.corpus, Path::new(".")).unwrap();
    let vibee_runtime::train::CorpusConfig::Markov(spec) = &cfg.corpus else {
        unreachable!()
    };
    let source = MarkovSource::random(spec).unwrap();
    let batcher = Batcher {
        seed: 0,
        batch: 16,
        seq: 64,
    };
    let oracle: f64 = batcher
        .val_batches(&corpus.val, 32)
        .iter()
        .flat_map(|b| b.tokens.chunks(64).zip(b.targets.chunks(64)))
        .map(|(x, y)| {
            let window: Vec<u8> = std::iter::once(x[0])
                .chain(y.iter().copied())
                .map(|t| t as u8)
                .collect();
            source.log_loss(&window).unwrap()
        })
        .sum::<f64>()
        / (32.0 * 16.0);
    assert!(
        (val - oracle).abs() < 0.01,
        "model {val} vs source {oracle}"
    );
    assert!((val - h).abs() < 0.03, "model {val} vs entropy rate {h}");
    assert!((report.gap().unwrap() - (val - h)).abs() < 1e-12);
    // The loss started at ln 256 (uniform) and fell.
    assert!(
        (report.losses[0] - 256f32.ln()).abs() < 1e-3,
        "{}",
        report.losses[0]
    );
    assert_eq!(
        report.val_losses.iter().map(|v| v.0).collect::<Vec<_>>(),
        [100, 200, 300]
    );
    assert!(report.val_losses[0].1 > report.val_losses[2].1);
}

#[test]
fn a_run_writes_metrics_checkpoints_plot_and_sample() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = bigram_config(dir.path(), "");
    let report = train(&cfg, &RunOptions::default()).unwrap();
    let metrics = std::fs::read_to_string(dir.path().join("metrics.jsonl")).unwrap();
    let lines: Vec<serde_json::Value> = metrics
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 300 + 3);
    assert_eq!(lines[0]["step"], 1);
    assert!(lines[0]["tokens_per_s"].as_f64().unwrap() > 0.0);
    assert_eq!(
        lines.iter().filter(|l| l.get("val_loss").is_some()).count(),
        3
    );

    let png = std::fs::read(dir.path().join("loss.png")).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    assert_eq!(
        report.plot.as_deref(),
        Some(dir.path().join("loss.png").as_path())
    );

    let sample = std::fs::read_to_string(dir.path().join("sample.txt")).unwrap();
    assert_eq!(Some(&sample), report.sample.as_ref());
    // A trained bigram emits the source's alphabet only (its other logits were pushed down).
    let alphabet = vibee_runtime::train::MarkovSpec::default().alphabet;
    let foreign = sample.chars().filter(|c| !alphabet.contains(*c)).count();
    assert!(foreign <= 1, "{sample:?}");

    let ckpts = dir.path().join("checkpoints");
    assert_eq!(
        std::fs::read_to_string(ckpts.join("latest")).unwrap(),
        "step-0000300\n"
    );
    // keep_checkpoints = 2: step 100 was pruned.
    assert!(!ckpts.join("step-0000100").exists());
    for f in ["model.safetensors", "optimizer.safetensors", "state.json"] {
        assert!(
            ckpts.join("step-0000200").join(f).exists()
                && ckpts.join("step-0000300").join(f).exists()
        );
    }
    let config = std::fs::read_to_string(dir.path().join("config.toml")).unwrap();
    assert_eq!(
        TrainConfig::from_toml_str(&config, "config.toml").unwrap(),
        cfg
    );
}

fn losses_of(metrics: &str) -> Vec<(u64, u32)> {
    metrics
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter_map(|v| {
            let loss = v.get("loss").or(v.get("val_loss"))?.as_f64()? as f32;
            Some((v["step"].as_u64()?, loss.to_bits()))
        })
        .collect()
}

#[test]
fn a_killed_and_resumed_run_matches_an_uninterrupted_one_bit_for_bit() {
    let straight_dir = tempfile::tempdir().unwrap();
    let mut cfg = bigram_config(straight_dir.path(), "grad_accum = 2");
    (cfg.train.batch_size, cfg.train.steps) = (8, 60);
    cfg.train.eval_every = 20;
    cfg.output.checkpoint_every = 20;
    let straight = train(&cfg, &RunOptions::default()).unwrap();

    let resumed_dir = tempfile::tempdir().unwrap();
    cfg.output.dir = resumed_dir.path().to_path_buf();
    // Killed 7 steps after the checkpoint at step 20: those steps are logged, then lost.
    let killed = train(
        &cfg,
        &RunOptions {
            stop_after: Some(27),
            ..RunOptions::default()
        },
    )
    .unwrap();
    assert!(killed.stopped_early && killed.step == 27);
    let refused = train(&cfg, &RunOptions::default()).unwrap_err();
    assert!(refused.to_string().contains("--resume"), "{refused}");
    let resumed = train(
        &cfg,
        &RunOptions {
            resume: ResumePolicy::Resume,
            ..RunOptions::default()
        },
    )
    .unwrap();
    assert_eq!((resumed.start_step, resumed.step), (20, 60));

    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&resumed.losses), bits(&straight.losses[20..]));
    assert_eq!(killed.losses[..20], straight.losses[..20]);
    assert_eq!(
        resumed.final_val_loss.unwrap().to_bits(),
        straight.final_val_loss.unwrap().to_bits()
    );
    let read =
        |d: &Path, f: &str| std::fs::read(d.join("checkpoints/step-0000060").join(f)).unwrap();
    for f in ["model.safetensors", "optimizer.safetensors", "state.json"] {
        assert!(
            read(straight_dir.path(), f) == read(resumed_dir.path(), f),
            "{f} differs"
        );
    }
    // The metrics log was cut back to step 20 and continued: same losses, no duplicates.
    let m = |d: &Path| std::fs::read_to_string(d.join("metrics.jsonl")).unwrap();
    assert_eq!(
        losses_of(&m(resumed_dir.path())),
        losses_of(&m(straight_dir.path()))
    );
}

#[test]
fn fresh_starts_over_and_a_finished_run_resumes_to_its_report() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = bigram_config(dir.path(), "");
    (cfg.train.steps, cfg.train.warmup_steps) = (20, 2);
    cfg.output.checkpoint_every = 10;
    let first = train(&cfg, &RunOptions::default()).unwrap();
    let again = train(
        &cfg,
        &RunOptions {
            resume: ResumePolicy::Resume,
            ..RunOptions::default()
        },
    )
    .unwrap();
    assert_eq!(
        (again.start_step, again.step, again.losses.len()),
        (20, 20, 0)
    );
    assert_eq!(again.final_val_loss, first.final_val_loss);
    let fresh = train(
        &cfg,
        &RunOptions {
            resume: ResumePolicy::Fresh,
            ..RunOptions::default()
        },
    )
    .unwrap();
    assert_eq!(fresh.start_step, 0);
    assert_eq!(fresh.losses, first.losses);
    let metrics = std::fs::read_to_string(dir.path().join("metrics.jsonl")).unwrap();
    assert_eq!(metrics.lines().count(), 20 + 1);
}

/// Every optimizer of `[train] optimizer` drives the bigram close to the source's entropy
/// rate (Lion with its customary smaller learning rate), and its checkpoints say which.
#[test]
fn every_optimizer_kind_trains_the_bigram() {
    for (kind, lr) in [(OptimizerKind::Golden, 0.1), (OptimizerKind::Lion, 0.05)] {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = bigram_config(dir.path(), "");
        (cfg.train.optimizer, cfg.train.lr, cfg.train.min_lr) = (kind, lr, lr / 10.0);
        let report = train(&cfg, &RunOptions::default()).unwrap();
        let (val, h) = (report.final_val_loss.unwrap(), report.entropy.unwrap().nats);
        assert!(
            f64::from(val) - h < 0.1,
            "{kind:?}: {val} vs entropy rate {h}"
        );
        let ckpts = dir.path().join("checkpoints");
        let latest = std::fs::read_to_string(ckpts.join("latest")).unwrap();
        let state = std::fs::read_to_string(ckpts.join(latest.trim()).join("state.json"));
        let state: serde_json::Value = serde_json::from_str(&state.unwrap()).unwrap();
        let name = format!("{kind:?}").to_lowercase();
        assert_eq!(state["optimizer"], name.as_str());
    }
}

/// Resuming with another optimizer than the checkpoint's is refused.
#[test]
fn resuming_with_another_optimizer_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let golden = bigram_config(dir.path(), "optimizer = \"golden\"");
    let opts = RunOptions {
        stop_after: Some(100),
        ..RunOptions::default()
    };
    train(&golden, &opts).unwrap();
    let adamw = bigram_config(dir.path(), "");
    let resume = RunOptions {
        resume: ResumePolicy::Resume,
        ..RunOptions::default()
    };
    let err = train(&adamw, &resume).unwrap_err().to_string();
    assert!(err.contains("golden") || err.contains("optimizer"), "{err}");
}
