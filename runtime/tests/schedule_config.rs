//! Schedules from TOML and the typed builder: round trips, and errors that name the field.

use vibee_runtime::schedule::{
    Anneal, Cosine, CosineRestarts, InverseSqrt, LayerDecay, LinearWarmup, OneCycle, Ramp,
    Schedule, ScheduleError, Wsd,
};

fn field_of(err: ScheduleError) -> String {
    match err {
        ScheduleError::Invalid { field, .. } => field,
        other => panic!("expected a field error, got {other}"),
    }
}

#[test]
fn toml_sequence_loads_and_matches_the_builder() {
    let text = r#"
        kind = "then"
        at = 100
        first = { kind = "linear_warmup", lr = 3e-4, warmup_steps = 100 }
        next = { kind = "cosine", lr = 3e-4, total_steps = 900, min_lr = 3e-5 }
    "#;
    let loaded = Schedule::from_toml_str(text).expect("valid schedule");
    let built = LinearWarmup::new(3e-4, 100).then(Cosine::new(3e-4, 900).min_lr(3e-5), 100);
    assert_eq!(loaded, built);
    assert_eq!(loaded.lr(0), 0.0);
    assert_eq!(loaded.lr(100), 3e-4);
    assert!((loaded.lr(550) - (3e-5 + 2.7e-4 / 2.0)).abs() < 1e-15);
    assert!(
        (loaded.lr(5_000) - 3e-5).abs() < 1e-18,
        "holds the floor after the end"
    );
}

#[test]
fn builder_round_trips_through_toml() {
    let schedules: Vec<Schedule> = vec![
        Wsd::new(1e-3, 10, 50, 200)
            .decay(Ramp::OneMinusSqrt)
            .min_lr_ratio(0.1)
            .into(),
        OneCycle::new(0.1, 40)
            .anneal(Anneal::Linear)
            .three_phase(true)
            .into(),
        CosineRestarts::new(1e-2, 5).period_mult(2).into(),
        InverseSqrt::new(1e-3, 10).timescale(20).into(),
    ];
    for s in schedules {
        let text = toml::to_string(&s).expect("serialize");
        assert_eq!(Schedule::from_toml_str(&text).expect("parse"), s, "{text}");
    }
}

#[test]
fn unknown_keys_are_rejected_with_their_name() {
    let err = Schedule::from_toml_str("kind = \"cosine\"\nlr = 1e-3\ntotal_steps = 10\nwarmup = 5")
        .expect_err("unknown key");
    assert!(err.to_string().contains("warmup"), "{err}");
    let err = Schedule::from_toml_str("kind = \"cosine_decay\"\nlr = 1e-3").expect_err("kind");
    assert!(err.to_string().contains("cosine_decay"), "{err}");
}

#[test]
fn negative_steps_are_rejected_with_their_name() {
    let err = Schedule::from_toml_str("kind = \"linear_warmup\"\nlr = 1e-3\nwarmup_steps = -5")
        .expect_err("negative steps");
    let text = err.to_string();
    assert!(
        text.contains("warmup_steps") && text.contains("negative"),
        "{text}"
    );
}

#[test]
fn a_decay_past_the_end_names_decay_steps() {
    let err = Wsd::new(1e-3, 100, 950, 1000)
        .validate_into()
        .expect_err("too long");
    assert_eq!(field_of(err), "decay_steps");
    let nested = LinearWarmup::new(1e-3, 10).then(Wsd::new(1e-3, 0, 20, 10), 10);
    assert_eq!(
        field_of(nested.validate().expect_err("nested")),
        "next.decay_steps"
    );
}

#[test]
fn inconsistent_values_name_their_field() {
    let cases: Vec<(Schedule, &str)> = vec![
        (Cosine::new(1e-3, 0).into(), "total_steps"),
        (Cosine::new(1e-3, 10).min_lr(1e-2).into(), "min_lr"),
        (Cosine::new(-1e-3, 10).into(), "lr"),
        (
            LinearWarmup::new(1e-3, 10).start_factor(1.5).into(),
            "start_factor",
        ),
        (OneCycle::new(0.1, 100).pct_start(1.0).into(), "pct_start"),
        (
            CosineRestarts::new(1e-3, 5).period_mult(0).into(),
            "period_mult",
        ),
        (
            Wsd::new(1e-3, 1, 2, 10).min_lr_ratio(2.0).into(),
            "min_lr_ratio",
        ),
    ];
    for (schedule, field) in cases {
        assert_eq!(field_of(schedule.validate().expect_err(field)), field);
    }
}

#[test]
fn layer_decay_follows_block_depth() {
    let d = LayerDecay::new(0.8, 3);
    let m = |n: &str| d.multiplier(n).expect("multiplier");
    assert_eq!(m("lm_head.weight"), 1.0);
    assert!((m("blocks.2.attn.qkv.weight") - 0.8).abs() < 1e-15);
    assert!((m("blocks.0.mlp.fc.weight") - 0.8f64.powi(3)).abs() < 1e-15);
    assert!((m("tok_embed.weight") - 0.8f64.powi(4)).abs() < 1e-15);
    let err = d
        .multiplier("blocks.7.attn.weight")
        .expect_err("block past num_layers");
    assert!(err.to_string().contains("blocks.7.attn.weight"), "{err}");
    let custom = LayerDecay::new(0.5, 2).block_prefix("layers");
    assert_eq!(custom.multiplier("model.layers.1.w").expect("ok"), 0.5);
    assert_eq!(
        field_of(LayerDecay::new(0.0, 2).validate().expect_err("zero")),
        "layer_decay.decay"
    );
}

/// Validation through the enum, so tests can call it on a single schedule.
trait ValidateInto {
    fn validate_into(self) -> Result<(), ScheduleError>;
}
impl<S: Into<Schedule>> ValidateInto for S {
    fn validate_into(self) -> Result<(), ScheduleError> {
        self.into().validate()
    }
}

#[test]
fn schedules_hold_their_last_value_past_the_end() {
    let cosine: Schedule = Cosine::new(1e-2, 10).min_lr(1e-4).into();
    assert_eq!(cosine.lr(10), 1e-4);
    assert_eq!(cosine.lr(1_000), 1e-4);
    let cycle: Schedule = OneCycle::new(0.1, 20).into();
    assert_eq!(cycle.lr(19), cycle.lr(500));
    assert_eq!(cycle.momentum(19), cycle.momentum(500));
    let wsd: Schedule = Wsd::new(1e-2, 2, 5, 10).min_lr_ratio(0.1).into();
    assert!((wsd.lr(10) - 1e-3).abs() < 1e-18 && wsd.lr(99) == wsd.lr(10));
}

#[test]
fn sgdr_restarts_at_the_peak_on_each_period_boundary() {
    let s: Schedule = CosineRestarts::new(1e-2, 3)
        .period_mult(2)
        .min_lr(1e-4)
        .into();
    // Periods of 3, 6, 12 steps start at 0, 3, 9, 21.
    for start in [0, 3, 9, 21] {
        assert_eq!(s.lr(start), 1e-2, "restart at {start}");
        assert!(s.lr(start + 1) < 1e-2);
    }
}
