//! Log-likelihoods of continuations over token ids, as the harness's
//! `_loglikelihood_tokens`: the input is `(context + continuation)[-(max+1):][:-1]`,
//! the continuation's tokens are scored at the last positions, and `is_greedy` says
//! whether every one of them is the argmax.
//!
//! Requests share forward passes: the model is causal, so a row's logits at its
//! first `n` positions are those of its first `n` tokens alone. An input that is a
//! prefix of another input (the same context with single-token continuations, or
//! a context scored on its own) is read off the longer row and never run.
//!
//! A continuation longer than the model's context (where the harness's slicing
//! breaks down) is scored in pieces of at most `max_context` tokens, each piece
//! conditioned on as many preceding tokens as fit: still the chain-rule sum.

use super::backend::Backend;
use crate::error::{EvalError, Result};

/// Score `continuation` after `context` (both token ids; the context non-empty).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenRequest {
    /// Conditioning tokens.
    pub context: Vec<u32>,
    /// Scored tokens.
    pub continuation: Vec<u32>,
}

/// A scored continuation.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Scored {
    /// Sum of the continuation tokens' log-probabilities (nats).
    pub loglikelihood: f64,
    /// Whether greedy decoding would have produced the continuation.
    pub is_greedy: bool,
}

/// `log_softmax(logits)[token]` (accumulated in f64) and whether `token` is the
/// first maximum.
pub fn token_logprob(logits: &[f32], token: u32) -> (f64, bool) {
    let (mut best, mut max) = (0, f32::NEG_INFINITY);
    for (i, &l) in logits.iter().enumerate() {
        if l > max {
            (best, max) = (i, l);
        }
    }
    let sum: f64 = logits.iter().map(|&l| f64::from(l - max).exp()).sum();
    let lse = f64::from(max) + sum.ln();
    (
        f64::from(logits[token as usize]) - lse,
        best == token as usize,
    )
}

/// Splits continuations longer than `max` tokens into pieces of `max` tokens, each
/// with every preceding token as its context; returns the pieces and the index of
/// the request each belongs to.
fn pieces(requests: &[TokenRequest], max: usize) -> Result<(Vec<TokenRequest>, Vec<usize>)> {
    let (mut out, mut owner) = (Vec::new(), Vec::new());
    for (i, r) in requests.iter().enumerate() {
        if r.context.is_empty() {
            return Err(EvalError::Model(
                "a scored request needs a context token".into(),
            ));
        }
        if r.continuation.len() <= max {
            out.push(r.clone());
            owner.push(i);
            continue;
        }
        for (k, piece) in r.continuation.chunks(max.max(1)).enumerate() {
            let mut context = r.context.clone();
            context.extend_from_slice(&r.continuation[..k * max]);
            out.push(TokenRequest {
                context,
                continuation: piece.to_vec(),
            });
            owner.push(i);
        }
    }
    Ok((out, owner))
}

/// The model input of a request (its continuation at most `max` tokens).
fn model_input(r: &TokenRequest, max: usize) -> Vec<u32> {
    let whole: Vec<u32> = r.context.iter().chain(&r.continuation).copied().collect();
    whole[whole.len().saturating_sub(max.saturating_add(1))..whole.len() - 1].to_vec()
}

/// For each distinct input, the index of an input it is a prefix of (itself when
/// none): in lexicographic order a prefix sorts right before the inputs extending it.
fn covering_rows(inputs: &[Vec<u32>]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..inputs.len()).collect();
    order.sort_by(|&a, &b| inputs[a].cmp(&inputs[b]));
    let mut root = vec![0; inputs.len()];
    let mut next: Option<usize> = None;
    for &i in order.iter().rev() {
        root[i] = match next {
            Some(n) if inputs[n].starts_with(&inputs[i]) => root[n],
            _ => i,
        };
        next = Some(i);
    }
    root
}

/// Scores every request, running at most `batch_size` rows per forward pass.
pub fn score(
    backend: &mut dyn Backend,
    requests: &[TokenRequest],
    batch_size: usize,
) -> Result<Vec<Scored>> {
    let max = backend.max_context();
    let (parts, owner) = pieces(requests, max)?;
    let inputs: Vec<Vec<u32>> = parts.iter().map(|r| model_input(r, max)).collect();
    let root = covering_rows(&inputs);
    // Requests read off each computed row.
    let mut readers: Vec<Vec<usize>> = vec![Vec::new(); inputs.len()];
    for (i, &r) in root.iter().enumerate() {
        readers[r].push(i);
    }
    let mut rows: Vec<usize> = (0..inputs.len()).filter(|&i| root[i] == i).collect();
    // Longest first, so that a batch's rows need little padding (and shapes repeat).
    rows.sort_by_key(|&i| std::cmp::Reverse(inputs[i].len()));
    let v = backend.vocab_size();
    let mut out = vec![
        Scored {
            loglikelihood: 0.0,
            is_greedy: true
        };
        requests.len()
    ];
    for chunk in rows.chunks(batch_size.max(1)) {
        let batch: Vec<&[u32]> = chunk.iter().map(|&i| inputs[i].as_slice()).collect();
        backend.forward(&batch, &mut |k, logits| {
            for &q in &readers[chunk[k]] {
                let cont = &parts[q].continuation;
                let first = inputs[q].len() - cont.len();
                let o = &mut out[owner[q]];
                for (j, &tok) in cont.iter().enumerate() {
                    let at = (first + j) * v;
                    let (lp, greedy) = token_logprob(&logits[at..at + v], tok);
                    o.loglikelihood += lp;
                    o.is_greedy &= greedy;
                }
            }
            Ok(())
        })?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_are_covered_by_their_extensions() {
        let inputs = vec![vec![1, 2], vec![1, 2, 3], vec![1, 3], vec![1, 2], vec![2]];
        let root = covering_rows(&inputs);
        assert_eq!(root[0], 1);
        assert_eq!(root[1], 1);
        assert_eq!(root[2], 2);
        assert_eq!(root[3], 1);
        assert_eq!(root[4], 4);
    }

    #[test]
    fn logprob_is_log_softmax() {
        let (lp, greedy) = token_logprob(&[0.0, (3f32).ln()], 1);
        assert!((lp - (0.75f64).ln()).abs() < 1e-7, "{lp}");
        assert!(greedy);
        let (lp, greedy) = token_logprob(&[0.0, (3f32).ln()], 0);
        assert!((lp - (0.25f64).ln()).abs() < 1e-7 && !greedy);
    }

    #[test]
    fn input_keeps_the_last_window() {
        let r = TokenRequest {
            context: vec![1, 2, 3, 4],
            continuation: vec![5, 6],
        };
        assert_eq!(model_input(&r, 3), vec![3, 4, 5]);
        assert_eq!(model_input(&r, 8), vec![1, 2, 3, 4, 5]);
    }

    #[test]
    fn long_continuations_are_scored_in_pieces() {
        let r = TokenRequest {
            context: vec![9],
            continuation: vec![1, 2, 3, 4, 5],
        };
        let (p, owner) = pieces(std::slice::from_ref(&r), 2).expect("splits");
        assert_eq!(owner, vec![0, 0, 0]);
        assert_eq!(p[1].context, vec![9, 1, 2]);
        assert_eq!(p[2].continuation, vec![5]);
        assert_eq!(model_input(&p[2], 2), vec![3, 4]);
        let empty = TokenRequest {
            context: vec![],
            continuation: vec![1],
        };
        assert!(pieces(&[empty], 2).is_err());
    }
}
