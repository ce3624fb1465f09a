//! The training config: defaults, unknown keys, and consistency errors naming the field.

#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on an unexpected error"
)]

use vibee_runtime::train::{CorpusConfig, TrainConfig, TrainError};

fn err(toml: &str) -> String {
    TrainConfig::from_toml_str(toml, "runs/my.toml")
        .unwrap_err()
        .to_string()
}

#[test]
fn defaults_are_the_anchor_small_shape() {
    let cfg = TrainConfig::from_toml_str("", "empty.toml").unwrap();
    assert_eq!(cfg, TrainConfig::default());
    let m = &cfg.model;
    assert_eq!(
        (m.n_layers, m.n_heads, m.d_model, m.block_size),
        (4, 4, 128, 128)
    );
    assert_eq!(cfg.train.batch_size, 16);
    assert!(matches!(cfg.corpus, CorpusConfig::Markov(_)));
    // Vocabulary 256 comes from the byte-level corpus.
    assert_eq!(m.vocab_size, None);
}

#[test]
fn a_full_config_parses() {
    let cfg = TrainConfig::from_toml_str(
        r#"
        [model]
        kind = "bigram"
        vocab_size = 300
        block_size = 32
        [corpus]
        kind = "text"
        path = "data/shakespeare.txt"
        val_fraction = 0.05
        [train]
        steps = 1000
        grad_accum = 4
        lr = 6e-4
        betas = [0.9, 0.99]
        [output]
        dir = "runs/x"
        plot = false
        "#,
        "full.toml",
    )
    .unwrap();
    assert_eq!(cfg.model.vocab_size, Some(300));
    assert_eq!(cfg.train.grad_accum, 4);
    assert_eq!(cfg.train.betas, (0.9, 0.99));
    assert!(!cfg.output.plot);
    // Unset fields keep their defaults.
    assert_eq!(cfg.train.batch_size, 16);
    // Warmup then cosine: 0 at step 0, the peak at the end of warmup, min_lr at the end.
    let s = cfg.lr_schedule();
    assert_eq!(s.lr(0), 0.0);
    assert!((s.lr(30) - 6e-4).abs() < 1e-15);
    assert!((s.lr(1000) - cfg.train.min_lr).abs() < 1e-15);
}

#[test]
fn unknown_keys_name_the_file_and_the_key() {
    let e = err("[train]\nstep = 10\n");
    assert!(
        e.starts_with("runs/my.toml:") && e.contains("unknown field `step`"),
        "{e}"
    );
    let e = err("[modle]\nd_model = 64\n");
    assert!(e.contains("unknown field `modle`"), "{e}");
    let e = err("[corpus]\nkind = \"markov\"\norder = 2\nsede = 3\n");
    assert!(e.contains("sede"), "{e}");
    let e = err("[corpus]\nkind = \"csv\"\n");
    assert!(e.contains("csv"), "{e}");
}

#[test]
fn wrong_types_name_the_line() {
    let e = err("[train]\nsteps = \"many\"\n");
    assert!(e.contains("line 2") && e.contains("steps"), "{e}");
    let e = err("[train]\nsteps = -5\n");
    assert!(e.contains("steps"), "{e}");
}

#[test]
fn inconsistent_sizes_name_the_field() {
    let cases = [
        (
            "[model]\nd_model = 130\n",
            "field `model.d_model`: 130 is not divisible by model.n_heads = 4",
        ),
        ("[model]\nn_heads = 0\n", "field `model.n_heads`"),
        ("[model]\nblock_size = 0\n", "field `model.block_size`"),
        ("[model]\nvocab_size = 0\n", "field `model.vocab_size`"),
        (
            "[train]\nsteps = 100\nwarmup_steps = 100\n",
            "field `train.warmup_steps`: must be fewer than train.steps = 100",
        ),
        ("[train]\nlr = 0.0\n", "field `train.lr`"),
        (
            "[train]\nlr = 1e-3\nmin_lr = 1e-2\n",
            "field `train.min_lr`",
        ),
        ("[train]\nbatch_size = 0\n", "field `train.batch_size`"),
        ("[train]\ngrad_accum = 0\n", "field `train.grad_accum`"),
        ("[train]\nbetas = [0.9, 1.0]\n", "field `train.betas`"),
        ("[train]\ngrad_clip = -1.0\n", "field `train.grad_clip`"),
        (
            "[output]\ncheckpoint_every = 0\n",
            "field `output.checkpoint_every`",
        ),
        (
            "[corpus]\nkind = \"text\"\npath = \"a.txt\"\nval_fraction = 1.5\n",
            "field `corpus.val_fraction`",
        ),
    ];
    for (toml, expected) in cases {
        let e = err(toml);
        assert!(
            e.starts_with("runs/my.toml: ") && e.contains(expected),
            "{toml:?}: {e}"
        );
    }
}

#[test]
fn a_schedule_table_replaces_warmup_and_cosine() {
    let cfg = TrainConfig::from_toml_str("[schedule]\nkind = \"constant\"\nlr = 0.01\n", "s.toml")
        .unwrap();
    assert_eq!(cfg.lr_schedule().lr(0), 0.01);
    assert_eq!(cfg.lr_schedule().lr(599), 0.01);
    let e = err("[schedule]\nkind = \"cosine\"\nlr = 0.01\ntotal_steps = 10\nmin_lr = 0.1\n");
    assert!(e.contains("field `schedule.min_lr`"), "{e}");
    let e = err("[schedule]\nkind = \"constant\"\nlr = 0.01\nwarmup = 3\n");
    assert!(e.contains("warmup"), "{e}");
}

#[test]
fn a_missing_config_file_is_an_io_error_naming_it() {
    let e =
        TrainConfig::from_file(std::path::Path::new("/nonexistent/vibee/run.toml")).unwrap_err();
    assert!(matches!(e, TrainError::Io { .. }));
    assert!(e.to_string().contains("/nonexistent/vibee/run.toml"), "{e}");
}

#[test]
fn recomputation_is_a_model_setting() {
    use vibee_dsl::graph::passes::Recompute;
    let cfg = TrainConfig::from_toml_str("[model]\nrecompute = \"selective\"\n", "r.toml").unwrap();
    assert_eq!(cfg.model.recompute, Recompute::Selective);
    assert_eq!(TrainConfig::default().model.recompute, Recompute::None);
    let e = err("[model]\nrecompute = \"some\"\n");
    assert!(e.contains("r") && e.contains("recompute"), "{e}");
}

#[test]
fn the_demo_config_is_valid_and_small() {
    let cfg = TrainConfig::demo();
    cfg.validate("<demo>").unwrap();
    let m = &cfg.model;
    assert_eq!((m.n_layers, m.d_model, m.block_size), (2, 64, 64));
    assert_eq!((cfg.train.steps, cfg.train.lr), (3000, 1e-2));
}

#[test]
fn precision_is_a_model_setting() {
    use vibee_runtime::train::Precision;
    let cfg = TrainConfig::from_toml_str("[model]\nprecision = \"bf16\"\n", "p.toml").unwrap();
    assert_eq!(cfg.model.precision, Precision::Bf16);
    assert_eq!(TrainConfig::default().model.precision, Precision::F32);
    let e = err("[model]\nprecision = \"fp8\"\n");
    assert!(e.contains("precision"), "{e}");
}
