//! Progress bars: one per pass, showing documents, docs/s and MB/s.

use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};

/// A pass's progress bar (hidden unless asked for and on a terminal).
#[derive(Debug)]
pub(crate) struct PassProgress {
    bar: ProgressBar,
    started: Instant,
    bytes: std::sync::atomic::AtomicU64,
}

impl PassProgress {
    pub(crate) fn new(visible: bool, label: String) -> Self {
        let bar = if visible {
            ProgressBar::new_spinner()
        } else {
            ProgressBar::hidden()
        };
        if let Ok(style) = ProgressStyle::with_template(
            "{prefix:>24} {spinner} {human_pos} docs  {per_sec:>14}  {msg}  [{elapsed}]",
        ) {
            bar.set_style(style);
        }
        bar.set_prefix(label);
        bar.enable_steady_tick(std::time::Duration::from_millis(200));
        PassProgress {
            bar,
            started: Instant::now(),
            bytes: 0.into(),
        }
    }

    pub(crate) fn advance(&self, docs: u64, bytes: u64) {
        use std::sync::atomic::Ordering::Relaxed;
        let total = self.bytes.fetch_add(bytes, Relaxed) + bytes;
        self.bar.inc(docs);
        let secs = self.started.elapsed().as_secs_f64().max(1e-3);
        self.bar.set_message(format!(
            "{:.1} MB  {:.1} MB/s",
            total as f64 / 1e6,
            total as f64 / 1e6 / secs
        ));
    }

    pub(crate) fn finish(&self) {
        self.bar.finish();
    }
}
