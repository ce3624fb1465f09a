//! Learning rates (and one-cycle momenta) per step against `torch.optim.lr_scheduler` and
//! `transformers`, from `tests/goldens/schedules.json` (written by `scripts/optim_goldens.py`).

use serde::Deserialize;
use serde_json::Value;
use vibee_runtime::schedule::Schedule;

#[derive(Deserialize)]
struct GoldenFile {
    reference: String,
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    name: String,
    schedule: Value,
    lr: Vec<f64>,
    #[serde(default)]
    momentum: Vec<f64>,
}

fn close(got: f64, want: f64) -> bool {
    (got - want).abs() <= 1e-9 * got.abs().max(want.abs()) + 1e-15
}

fn goldens() -> GoldenFile {
    let path = format!(
        "{}/tests/goldens/schedules.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn every_schedule_matches_its_reference_at_every_step() {
    let file = goldens();
    assert!(file.cases.len() >= 15, "{}: too few cases", file.reference);
    for case in &file.cases {
        let schedule: Schedule = serde_json::from_value(case.schedule.clone())
            .unwrap_or_else(|e| panic!("{}: {e}", case.name));
        schedule
            .validate()
            .unwrap_or_else(|e| panic!("{}: {e}", case.name));
        for (step, &want) in case.lr.iter().enumerate() {
            let got = schedule.lr(step as u64);
            assert!(
                close(got, want),
                "{} step {step}: lr {got:e}, reference {want:e}",
                case.name
            );
        }
        for (step, &want) in case.momentum.iter().enumerate() {
            let got = schedule.momentum(step as u64).expect("cycled momentum");
            assert!(
                close(got, want),
                "{} step {step}: momentum {got}, reference {want}",
                case.name
            );
        }
    }
}

#[test]
fn goldens_cover_every_schedule_kind() {
    let kinds: std::collections::BTreeSet<String> = goldens()
        .cases
        .iter()
        .map(|c| c.schedule["kind"].as_str().unwrap_or_default().to_string())
        .collect();
    for kind in [
        "constant",
        "linear_warmup",
        "inverse_sqrt",
        "cosine",
        "cosine_restarts",
        "one_cycle",
        "wsd",
        "then",
    ] {
        assert!(kinds.contains(kind), "no golden for `{kind}`");
    }
}
