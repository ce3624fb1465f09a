//! Code-execution metrics, as the harness computes them through HF `code_eval`:
//! each prediction runs as `prediction + "\n" + reference` (the task's tests)
//! in the [`Sandbox`], and the `n` samples of a document give `pass@k` by the
//! unbiased estimator.

use std::sync::atomic::{AtomicUsize, Ordering};

use super::SampleMetrics;
use crate::error::{EvalError, Result};
use crate::metrics::pass_at_k;
use crate::sandbox::Sandbox;

/// HF `code_eval`'s default per-program timeout (seconds).
pub const CODE_EVAL_TIMEOUT_SECS: u64 = 3;

/// The program `code_eval` runs for one prediction.
pub fn program(prediction: &str, reference: &str) -> String {
    format!("{prediction}\n{reference}")
}

/// Runs every prediction against the reference tests; `true` for each that
/// passed, in prediction order. Programs run on a few threads at once, as
/// `code_eval` runs them on a thread pool.
pub fn run_predictions(
    sandbox: &Sandbox,
    predictions: &[String],
    reference: &str,
) -> Result<Vec<bool>> {
    let workers = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .clamp(1, 4)
        .min(predictions.len().max(1));
    let next = AtomicUsize::new(0);
    let mut passed = vec![None; predictions.len()];
    let results: Vec<Vec<(usize, Result<bool>)>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                scope.spawn(|| {
                    let mut mine = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(p) = predictions.get(i) else {
                            break mine;
                        };
                        let outcome = sandbox.run_python(&program(p, reference));
                        mine.push((i, outcome.map(|o| o.passed())));
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| vec![(usize::MAX, Err(sandbox_panic()))])
            })
            .collect()
    });
    for (i, r) in results.into_iter().flatten() {
        let ok = r?;
        if let Some(slot) = passed.get_mut(i) {
            *slot = Some(ok);
        }
    }
    passed
        .into_iter()
        .map(|p| p.ok_or_else(sandbox_panic))
        .collect()
}

fn sandbox_panic() -> EvalError {
    EvalError::Sandbox("a sandbox worker thread panicked".into())
}

/// The harness's `pass_at_k` metric for one document: `pass@k` for every `k`
/// not above the number of samples (HF `code_eval` drops the others).
pub fn pass_at_k_metrics(passed: &[bool], ks: &[usize]) -> SampleMetrics {
    let n = passed.len();
    let c = passed.iter().filter(|&&p| p).count();
    ks.iter()
        .filter(|&&k| k <= n)
        .map(|&k| (format!("pass@{k}"), pass_at_k(n, c, k)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ks_above_the_sample_count_are_dropped() {
        let m = pass_at_k_metrics(&[true, false, false, true], &[1, 2, 8]);
        assert_eq!(m.len(), 2);
        assert_eq!(m["pass@1"], 0.5);
        // 1 - C(2,2)/C(4,2) = 1 - 1/6
        assert!((m["pass@2"] - 5.0 / 6.0).abs() < 1e-15);
    }
}
