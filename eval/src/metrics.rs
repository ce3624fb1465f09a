//! Aggregations and standard errors, computed as the harness computes them.
//!
//! Sums are left-to-right like Python 3.11's `sum` (3.12 switched to compensated
//! summation, which can differ in the last bit); the goldens were recorded on 3.11.

use crate::py_random::PyRandom;

/// `mean`: `sum(arr) / len(arr)`.
pub fn mean(xs: &[f64]) -> f64 {
    xs.iter().fold(0.0, |a, x| a + x) / xs.len() as f64
}

/// `median`: `sorted(arr)[len(arr) // 2]` (the upper median, as the harness takes it).
pub fn median(xs: &[f64]) -> f64 {
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Sample standard deviation (Bessel-corrected).
pub fn sample_stddev(xs: &[f64]) -> f64 {
    let mu = mean(xs);
    let ss = xs.iter().fold(0.0, |a, x| a + (x - mu).powi(2));
    (ss / (xs.len() as f64 - 1.0)).sqrt()
}

/// Standard error of the mean: `sample_stddev / sqrt(n)`.
pub fn mean_stderr(xs: &[f64]) -> f64 {
    sample_stddev(xs) / (xs.len() as f64).sqrt()
}

/// The harness's bootstrap: chunks of 1000 resamples, chunk `i` drawn with
/// `random.Random(i).choices(xs, k=len(xs))`; the stderr is the sample stddev of
/// the replicated statistic.
pub fn bootstrap_stderr(statistic: fn(&[f64]) -> f64, xs: &[f64], iters: usize) -> f64 {
    let chunk = iters.min(1000);
    let mut reps = Vec::with_capacity(iters);
    let mut resample = vec![0.0; xs.len()];
    for i in 0..iters / chunk {
        let mut rng = PyRandom::new(i as u64);
        for _ in 0..chunk {
            for (slot, j) in resample
                .iter_mut()
                .zip(rng.choices_indices(xs.len(), xs.len()))
            {
                *slot = xs[j];
            }
            reps.push(statistic(&resample));
        }
    }
    sample_stddev(&reps)
}

/// The stderr of an aggregation, as `stderr_for_metric` picks it: closed form
/// for `mean`, bootstrap for `median`, none otherwise; none for fewer than 2 items.
pub fn stderr_for(aggregation: &str, xs: &[f64], bootstrap_iters: usize) -> Option<f64> {
    if xs.len() < 2 || bootstrap_iters == 0 {
        return None;
    }
    match aggregation {
        "mean" => Some(mean_stderr(xs)),
        "median" => Some(bootstrap_stderr(median, xs, bootstrap_iters)),
        _ => None,
    }
}

/// A group's score: the size-weighted (or plain) mean of its leaf tasks' scores.
pub fn aggregate_subtask_metrics(values: &[f64], sizes: &[usize], weight_by_size: bool) -> f64 {
    let weights: Vec<f64> = sizes
        .iter()
        .map(|&s| if weight_by_size { s as f64 } else { 1.0 })
        .collect();
    let num = values.iter().zip(&weights).fold(0.0, |a, (v, w)| a + v * w);
    num / weights.iter().fold(0.0, |a, w| a + w)
}

/// A group's stderr for a size-weighted mean: the pooled variance of its leaves.
pub fn pooled_sample_stderr(stderrs: &[f64], sizes: &[usize]) -> f64 {
    let total: usize = sizes.iter().sum();
    let num = sizes.iter().zip(stderrs).fold(0.0, |a, (&n, se)| {
        a + (n as f64 - 1.0) * se.powi(2) * n as f64
    });
    let var = num / (total as f64 - sizes.len() as f64);
    (var / total as f64).sqrt()
}

/// A group's stderr for an unweighted mean: `sqrt(sum(se²)) / k`.
pub fn unweighted_mean_stderr(stderrs: &[f64]) -> f64 {
    stderrs.iter().fold(0.0, |a, se| a + se.powi(2)).sqrt() / stderrs.len() as f64
}

/// The unbiased pass@k estimator `1 - C(n-c, k) / C(n, k)`, as a stable product.
pub fn pass_at_k(n: usize, c: usize, k: usize) -> f64 {
    if n - c < k {
        return 1.0;
    }
    // 1 - prod_{i=n-c+1}^{n} (1 - k/i): no factorials, no overflow.
    1.0 - ((n - c + 1)..=n).fold(1.0, |p, i| p * (1.0 - k as f64 / i as f64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stderr_of_a_known_sample() {
        let xs = [1.0, 0.0, 0.0, 1.0];
        assert_eq!(mean(&xs), 0.5);
        // sqrt(1/3) / 2
        assert!((mean_stderr(&xs) - (1.0f64 / 3.0).sqrt() / 2.0).abs() < 1e-15);
    }

    #[test]
    fn pass_at_k_matches_the_closed_form() {
        // C(n,k) ratios by hand: n=5, c=2, k=2 → 1 - C(3,2)/C(5,2) = 1 - 3/10.
        assert!((pass_at_k(5, 2, 2) - 0.7).abs() < 1e-12);
        assert_eq!(pass_at_k(5, 0, 1), 0.0);
        assert_eq!(pass_at_k(5, 5, 1), 1.0);
        assert_eq!(pass_at_k(3, 2, 2), 1.0);
        // Large n stays finite.
        let p = pass_at_k(10_000, 37, 100);
        assert!(p > 0.0 && p < 1.0);
    }
}
