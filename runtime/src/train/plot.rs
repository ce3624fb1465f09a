//! The loss curve as a PNG: training loss per step, validation loss, and the source's
//! entropy rate where it is known (the floor the curves approach).
//!
//! Text needs a font. plotters' `ab_glyph` backend carries none, so the first plot looks for
//! a TrueType font on the system (`VIBEE_FONT`, then common DejaVu/Liberation/Noto paths).
//! Without one the curves are still drawn, without caption, labels or legend.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use plotters::prelude::*;
use plotters::style::{FontStyle, register_font};

use super::atomic::{parent, write_atomic};
use super::error::{TrainError, TrainResult};
use super::metrics::Record;
use crate::schedule::Schedule;

/// Fonts tried in order when `VIBEE_FONT` is not set.
const FONT_PATHS: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/usr/share/fonts/liberation/LiberationSans-Regular.ttf",
    "/usr/share/fonts/truetype/noto/NotoSans-Regular.ttf",
    "/System/Library/Fonts/Supplemental/Arial.ttf",
    "C:\\Windows\\Fonts\\arial.ttf",
];

/// Registers a system font as `sans-serif` once; true if one was found.
pub fn font_available() -> bool {
    static FOUND: OnceLock<bool> = OnceLock::new();
    *FOUND.get_or_init(|| {
        let from_env = std::env::var_os("VIBEE_FONT").map(PathBuf::from);
        let candidates = from_env
            .into_iter()
            .chain(FONT_PATHS.iter().map(PathBuf::from));
        candidates
            .filter_map(|p| std::fs::read(p).ok())
            .any(|bytes| {
                // plotters keeps fonts for the life of the process; leaking one font once is that.
                let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
                register_font("sans-serif", FontStyle::Normal, bytes).is_ok()
            })
    })
}

/// What to draw.
#[derive(Debug, Clone, Copy)]
pub struct LossPlot<'a> {
    /// Every metrics record of the run.
    pub records: &'a [Record],
    /// The floor to draw, in nats per token.
    pub entropy: Option<f64>,
    /// Draw caption, labels and legend (needs [`font_available`]).
    pub text: bool,
}

/// Draws the loss curves to `path` (PNG), replacing any old one atomically.
pub fn draw_loss_png(path: &Path, plot: LossPlot<'_>) -> TrainResult<()> {
    let points = |f: fn(&Record) -> Option<f32>| -> Vec<(f64, f64)> {
        plot.records
            .iter()
            .filter_map(|r| Some((r.step as f64, f64::from(f(r)?))))
            .collect()
    };
    let last_step = plot
        .records
        .iter()
        .map(|r| r.step)
        .max()
        .unwrap_or(1)
        .max(1) as f64;
    let mut lines = vec![
        Line {
            label: "train",
            points: points(|r| r.loss),
            color: RGBColor(31, 119, 180),
            width: 1,
            style: Style::Solid,
        },
        Line {
            label: "validation",
            points: points(|r| r.val_loss),
            color: RGBColor(255, 127, 14),
            width: 2,
            style: Style::Marked,
        },
    ];
    if let Some(h) = plot.entropy {
        let points = vec![(0.0, h), (last_step, h)];
        lines.push(Line {
            label: "entropy rate",
            points,
            color: BLACK,
            width: 1,
            style: Style::Dashed,
        });
    }
    let chart = Chart {
        caption: "loss (nats per token)",
        x_desc: "step",
        lines: &lines,
        text: plot.text,
    };
    write_png(path, &chart)
}

/// Draws a learning-rate schedule over steps `0..=steps` to `path` (PNG).
pub fn draw_schedule_png(
    path: &Path,
    schedule: &Schedule,
    steps: u64,
    text: bool,
) -> TrainResult<()> {
    // At most ~2000 samples: enough for a 900-pixel-wide curve, cheap for long schedules.
    let stride = (steps / 2000).max(1);
    let sampled = (0..=steps)
        .step_by(stride as usize)
        .chain((!steps.is_multiple_of(stride)).then_some(steps));
    let points: Vec<(f64, f64)> = sampled.map(|s| (s as f64, schedule.lr(s))).collect();
    let lines = [Line {
        label: "learning rate",
        points,
        color: RGBColor(31, 119, 180),
        width: 2,
        style: Style::Solid,
    }];
    let chart = Chart {
        caption: "learning rate",
        x_desc: "step",
        lines: &lines,
        text,
    };
    write_png(path, &chart)
}

/// How a line is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Style {
    Solid,
    Dashed,
    /// Solid with a dot at every point (sparse measurements).
    Marked,
}

#[derive(Debug, Clone)]
struct Line<'a> {
    label: &'a str,
    points: Vec<(f64, f64)>,
    color: RGBColor,
    width: u32,
    style: Style,
}

#[derive(Debug, Clone, Copy)]
struct Chart<'a> {
    caption: &'a str,
    x_desc: &'a str,
    lines: &'a [Line<'a>],
    text: bool,
}

/// Renders through a temporary PNG (the encoder picks the format by extension), then
/// replaces `path` atomically.
fn write_png(path: &Path, chart: &Chart<'_>) -> TrainResult<()> {
    let tmp = parent(path).join(format!(".{}.plot-tmp.png", std::process::id()));
    let drawn = draw(&tmp, chart);
    let bytes = drawn.and_then(|()| std::fs::read(&tmp).map_err(|e| e.to_string()));
    let _ = std::fs::remove_file(&tmp);
    let bytes = bytes.map_err(|reason| TrainError::Plot {
        path: path.to_path_buf(),
        reason,
    })?;
    write_atomic(path, &bytes)
}

/// The data's bounding box, padded by 5% vertically.
fn bounds(lines: &[Line<'_>]) -> (std::ops::Range<f64>, std::ops::Range<f64>) {
    let pts = || lines.iter().flat_map(|l| l.points.iter());
    let x_hi = pts().map(|p| p.0).fold(1.0, f64::max);
    let (lo, hi) = pts().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), p| {
        (lo.min(p.1), hi.max(p.1))
    });
    let (lo, hi) = if lo.is_finite() {
        (lo, hi.max(lo + 1e-3 * lo.abs().max(1e-9)))
    } else {
        (0.0, 1.0)
    };
    let pad = 0.05 * (hi - lo);
    (0.0..x_hi, (lo - pad)..(hi + pad))
}

fn draw(path: &Path, chart: &Chart<'_>) -> Result<(), String> {
    let err = |e: &dyn std::fmt::Display| e.to_string();
    let root = BitMapBackend::new(path, (900, 540)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let mut builder = ChartBuilder::on(&root);
    builder.margin(16);
    if chart.text {
        builder
            .caption(chart.caption, ("sans-serif", 22))
            .x_label_area_size(36)
            .y_label_area_size(64);
    }
    let (xs, ys) = bounds(chart.lines);
    let mut ctx = builder.build_cartesian_2d(xs, ys).map_err(|e| err(&e))?;
    let mut mesh = ctx.configure_mesh();
    if chart.text {
        mesh.x_desc(chart.x_desc);
    } else {
        mesh.x_labels(0).y_labels(0);
    }
    mesh.draw().map_err(|e| err(&e))?;
    for line in chart.lines {
        let style = line.color.stroke_width(line.width);
        let pts = line.points.iter().copied();
        let anno = match line.style {
            Style::Dashed => ctx.draw_series(DashedLineSeries::new(pts, 8, 6, style)),
            Style::Solid | Style::Marked => ctx.draw_series(LineSeries::new(pts, style)),
        }
        .map_err(|e| err(&e))?;
        let color = line.color;
        anno.label(line.label)
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 18, y)], color));
        if line.style == Style::Marked {
            let dots = line
                .points
                .iter()
                .map(|&p| Circle::new(p, 3, line.color.filled()));
            ctx.draw_series(dots).map_err(|e| err(&e))?;
        }
    }
    if chart.text {
        let mut labels = ctx.configure_series_labels();
        labels
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()
            .map_err(|e| err(&e))?;
    }
    root.present().map_err(|e| err(&e))
}

/// Steps that show a schedule's whole shape: its end where it has one, else a few times its
/// warmup (or period) so the flat or decaying tail is visible.
pub fn schedule_horizon(schedule: &Schedule) -> u64 {
    match schedule {
        Schedule::Constant(_) => 100,
        Schedule::LinearWarmup(s) => 2 * s.warmup_steps,
        Schedule::InverseSqrt(s) => 10 * s.warmup_steps.max(s.timescale.unwrap_or(1)).max(10),
        Schedule::Cosine(s) => s.total_steps,
        Schedule::CosineRestarts(s) => {
            s.period * (1 + s.period_mult + s.period_mult * s.period_mult)
        }
        Schedule::OneCycle(s) => s.total_steps,
        Schedule::Wsd(s) => s.total_steps,
        Schedule::Then { next, at, .. } => at + schedule_horizon(next),
    }
}
