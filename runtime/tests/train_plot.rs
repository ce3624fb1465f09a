//! Plots: the loss curve and a learning-rate schedule, with and without a font.

#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on an unexpected error"
)]

use vibee_runtime::schedule::{Cosine, LinearWarmup, Schedule};
use vibee_runtime::train::metrics::Record;
use vibee_runtime::train::plot::{
    LossPlot, draw_loss_png, draw_schedule_png, font_available, schedule_horizon,
};

const PNG: &[u8] = b"\x89PNG\r\n\x1a\n";

fn records() -> Vec<Record> {
    let mut r: Vec<Record> = (1..=50)
        .map(|s| Record {
            step: s,
            loss: Some(3.0 / (s as f32).sqrt()),
            ..Record::default()
        })
        .collect();
    r.push(Record {
        step: 50,
        val_loss: Some(0.5),
        ..Record::default()
    });
    r
}

#[test]
fn the_loss_curve_draws_with_and_without_text() {
    let dir = tempfile::tempdir().unwrap();
    let records = records();
    for text in [false, font_available()] {
        let path = dir.path().join(format!("loss-{text}.png"));
        draw_loss_png(
            &path,
            LossPlot {
                records: &records,
                entropy: Some(0.4),
                text,
            },
        )
        .unwrap();
        assert_eq!(&std::fs::read(&path).unwrap()[..8], PNG);
    }
    // An empty run still yields a (blank) chart rather than an error.
    draw_loss_png(
        &dir.path().join("empty.png"),
        LossPlot {
            records: &[],
            entropy: None,
            text: false,
        },
    )
    .unwrap();
    // No temporaries are left behind.
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(
        names.iter().all(|n| !n.to_string_lossy().starts_with('.')),
        "{names:?}"
    );
}

#[test]
fn a_plot_into_a_missing_directory_names_the_file() {
    let records = records();
    let err = draw_loss_png(
        std::path::Path::new("/nonexistent/vibee/loss.png"),
        LossPlot {
            records: &records,
            entropy: None,
            text: false,
        },
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("/nonexistent/vibee/loss.png"), "{err}");
}

#[test]
fn a_schedule_draws_over_its_horizon() {
    let s =
        Schedule::from(LinearWarmup::new(1e-3, 100)).then(Cosine::new(1e-3, 900).min_lr(1e-4), 100);
    assert_eq!(schedule_horizon(&s), 1000);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lr.png");
    draw_schedule_png(&path, &s, schedule_horizon(&s), font_available()).unwrap();
    assert_eq!(&std::fs::read(&path).unwrap()[..8], PNG);
    let toml = Schedule::from_toml_str("kind = \"constant\"\nlr = 0.1\n").unwrap();
    assert_eq!(schedule_horizon(&toml), 100);
    draw_schedule_png(&path, &toml, 1_000_000, false).unwrap();
}
