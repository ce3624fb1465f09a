//! The harness's rolling windows for `loglikelihood_rolling` (perplexity):
//! a token sequence longer than the model's context is scored in windows of at
//! most `max_len` tokens, every token predicted exactly once, each window
//! conditioned on as many preceding tokens as fit.
//!
//! Mirrors `lm_eval.utils.get_rolling_token_windows` followed by
//! `make_disjoint_window`, with `context_len = 1` as the harness's models call it.

/// One window: score `predicted` after `context` (disjoint, contiguous).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Window<T> {
    /// Tokens conditioned on (starts with the prefix token in the first window).
    pub context: Vec<T>,
    /// Tokens whose log-probabilities are summed.
    pub predicted: Vec<T>,
}

/// The windows over `tokens`, the first one conditioned on `prefix` (an
/// end-of-text token) alone. Empty input gives no window.
///
/// ```
/// use vibee_eval::model::rolling::rolling_windows;
/// let w = rolling_windows(&[1, 2, 3, 4, 5], 0, 3);
/// assert_eq!(w[0].context, vec![0]);
/// assert_eq!(w[0].predicted, vec![1, 2, 3]);
/// assert_eq!(w[1].context, vec![2, 3]);
/// assert_eq!(w[1].predicted, vec![4, 5]);
/// ```
pub fn rolling_windows<T: Clone>(tokens: &[T], prefix: T, max_len: usize) -> Vec<Window<T>> {
    let max_len = max_len.max(1);
    let mut out = Vec::new();
    if tokens.is_empty() {
        return out;
    }
    // context_len = 1: each later window predicts up to max_len tokens.
    let pred_len = max_len;
    let first = max_len.min(tokens.len());
    let mut context = vec![prefix];
    context.extend_from_slice(&tokens[..first - 1]);
    out.push(disjoint(context, tokens[..first].to_vec()));
    let mut predicted = first;
    while predicted < tokens.len() {
        let n = (tokens.len() - predicted).min(pred_len);
        let end = predicted + n;
        // Python's tokens[end - max_len - 1 : end - 1]; the start is never
        // negative here, since later windows exist only after a full first one.
        let start = end.saturating_sub(max_len + 1);
        let input = tokens[start..end - 1].to_vec();
        out.push(disjoint(input, tokens[end - n..end].to_vec()));
        predicted += n;
    }
    out
}

/// `make_disjoint_window`: drop the overlap, keeping the context before the
/// first predicted token.
fn disjoint<T>(mut context: Vec<T>, predicted: Vec<T>) -> Window<T> {
    let keep = context.len() + 1 - predicted.len().min(context.len() + 1);
    context.truncate(keep);
    Window { context, predicted }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_token_is_predicted_once() {
        let tokens: Vec<u32> = (1..=40).collect();
        for max_len in [1, 2, 7, 16, 40, 64] {
            let w = rolling_windows(&tokens, 0, max_len);
            let all: Vec<u32> = w.iter().flat_map(|x| x.predicted.clone()).collect();
            assert_eq!(all, tokens, "max_len {max_len}");
            for x in &w {
                assert!(x.context.len() + x.predicted.len() <= max_len + 1);
                assert!(!x.context.is_empty());
            }
        }
        assert!(rolling_windows::<u32>(&[], 0, 4).is_empty());
    }
}
