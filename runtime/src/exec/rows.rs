//! Ops over rows of the last axis — softmaxes, norms and their backward ops, cross-entropy
//! — one row per task, statistics recomputed in the backward ops (cheap, and nothing
//! extra stays alive between forward and backward).

use rayon::prelude::*;
use vibee_dsl::graph::{Node, Op};

use super::math::fast_exp;
use super::program::Val;

/// One row's computation: `(row, x row, dy row, out row)`.
type RowFn<'a> = dyn Fn(usize, &[f32], &[f32], &mut [f32]) + Sync + 'a;

/// Runs the row op `node` over rows of length `d`.
pub(super) fn row_op(node: &Node, ins: &[Val<'_>], out: &mut [f32], d: usize) {
    let x = ins[0].f();
    let d = d.max(1);
    let dy = ins.get(1).map(|v| v.f()).unwrap_or(&[]);
    let mut each = |f: &RowFn<'_>| {
        out.par_chunks_mut(d).enumerate().for_each(|(r, o)| {
            let dyr = if dy.len() == x.len() {
                &dy[r * d..][..d]
            } else {
                &[][..]
            };
            f(r, &x[r * d..][..d], dyr, o);
        });
    };
    match node.op {
        Op::Softmax => each(&|_, x, _, o| softmax(x, 1.0, o)),
        Op::LogSoftmax => each(&|_, x, _, o| {
            let l = logsumexp(x);
            o.iter_mut().zip(x).for_each(|(o, &x)| *o = x - l);
        }),
        Op::CausalSoftmax { scale } => each(&|r, x, _, o| {
            let q = r % d;
            softmax(&x[..=q], scale as f32, &mut o[..=q]);
            o[q + 1..].fill(0.0);
        }),
        Op::SoftmaxGrad { scale } => each(&|_, y, dy, o| {
            let dot: f32 = y.iter().zip(dy).map(|(a, b)| a * b).sum();
            let s = scale as f32;
            for ((o, &y), &g) in o.iter_mut().zip(y).zip(dy) {
                *o = s * y * (g - dot);
            }
        }),
        Op::LogSoftmaxGrad => each(&|_, y, dy, o| {
            let s: f32 = dy.iter().sum();
            for ((o, &y), &g) in o.iter_mut().zip(y).zip(dy) {
                *o = g - y.exp() * s;
            }
        }),
        Op::LayerNorm { eps } => each(&|_, x, _, o| {
            let (mu, rstd) = moments(x, eps);
            o.iter_mut().zip(x).for_each(|(o, &x)| *o = (x - mu) * rstd);
        }),
        Op::LayerNormGrad { eps } => each(&|_, x, dy, o| layer_norm_grad(x, dy, eps, o)),
        Op::RmsNorm { eps } => each(&|_, x, _, o| {
            let r = rms(x, eps);
            o.iter_mut().zip(x).for_each(|(o, &x)| *o = x * r);
        }),
        Op::RmsNormGrad { eps } => each(&|_, x, dy, o| {
            let r = rms(x, eps);
            let m = x.iter().zip(dy).map(|(a, b)| a * b).sum::<f32>() / x.len() as f32;
            for ((o, &x), &g) in o.iter_mut().zip(x).zip(dy) {
                *o = r * g - x * r * r * r * m;
            }
        }),
        Op::CrossEntropy => cross_entropy(x, ins[1].u(), d, out),
        Op::CrossEntropyGrad => {
            let (t, dl) = (ins[1].u(), ins[2].f()[0]);
            let scale = dl / t.len().max(1) as f32;
            out.par_chunks_mut(d).enumerate().for_each(|(r, o)| {
                softmax(&x[r * d..][..d], 1.0, o);
                o[t[r] as usize] -= 1.0;
                o.iter_mut().for_each(|o| *o *= scale);
            });
        }
        _ => {}
    }
}

fn logsumexp(x: &[f32]) -> f32 {
    let m = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    m + x.iter().map(|&e| fast_exp(e - m)).sum::<f32>().ln()
}

/// `o = softmax(scale·x)`.
fn softmax(x: &[f32], scale: f32, o: &mut [f32]) {
    let m = x
        .iter()
        .map(|&v| v * scale)
        .fold(f32::NEG_INFINITY, f32::max);
    let mut s = 0.0;
    for (o, &x) in o.iter_mut().zip(x) {
        *o = fast_exp(x * scale - m);
        s += *o;
    }
    let inv = 1.0 / s;
    o.iter_mut().for_each(|o| *o *= inv);
}

fn moments(x: &[f32], eps: f64) -> (f32, f32) {
    let n = x.len() as f32;
    let mu = x.iter().sum::<f32>() / n;
    let var = x.iter().map(|&e| (e - mu) * (e - mu)).sum::<f32>() / n;
    (mu, 1.0 / (var + eps as f32).sqrt())
}

fn rms(x: &[f32], eps: f64) -> f32 {
    1.0 / (x.iter().map(|e| e * e).sum::<f32>() / x.len() as f32 + eps as f32).sqrt()
}

fn layer_norm_grad(x: &[f32], dy: &[f32], eps: f64, o: &mut [f32]) {
    let (mu, rstd) = moments(x, eps);
    let n = x.len() as f32;
    let (mut sdy, mut sdyx) = (0.0, 0.0);
    for (&x, &g) in x.iter().zip(dy) {
        sdy += g;
        sdyx += g * (x - mu) * rstd;
    }
    let (mdy, mdyx) = (sdy / n, sdyx / n);
    for ((o, &x), &g) in o.iter_mut().zip(x).zip(dy) {
        *o = rstd * (g - mdy - (x - mu) * rstd * mdyx);
    }
}

fn cross_entropy(x: &[f32], t: &[u32], d: usize, out: &mut [f32]) {
    // Per-row losses in parallel, summed in row order so the result is deterministic.
    let losses: Vec<f32> = x
        .par_chunks(d)
        .zip(t.par_iter())
        .map(|(row, &t)| logsumexp(row) - row[t as usize])
        .collect();
    let total: f64 = losses.iter().map(|&l| f64::from(l)).sum();
    out[0] = (total / t.len().max(1) as f64) as f32;
}
