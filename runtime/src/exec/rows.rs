//! Ops over rows of the last axis — softmaxes, norms and their backward ops, cross-entropy
//! — statistics recomputed in the backward ops (cheap, and nothing extra stays alive
//! between forward and backward). Rows go to threads in groups of about [`TASK`] elements
//! (a task per row costs more than a short row's work); each row's sums run in
//! independent lanes ([`super::math::sum`]) and in a fixed order, so nothing depends on the
//! thread count. A causal softmax computes only each row's unmasked prefix, and so does
//! the gradient of one (its `y` is zero past the diagonal, so is its result).

use rayon::prelude::*;
use vibee_dsl::graph::{Node, Op};

#[cfg(target_arch = "x86_64")]
use super::math::avx;
use super::math::{dot, fast_exp, max_map, sum, sum_map, sum_zip, wide};
use super::program::Val;

/// Elements per parallel task.
const TASK: usize = 1 << 13;

/// Runs the row op `node` over rows of length `d`; `causal` says a `SoftmaxGrad`'s `y` is
/// a causal softmax's output (zero past each row's diagonal).
pub(super) fn row_op(node: &Node, ins: &[Val<'_>], out: &mut [f32], d: usize, causal: bool) {
    let x = ins[0].f();
    let dy = ins.get(1).map(|v| v.f()).unwrap_or(&[]);
    // A macro, not a closure taking `&dyn Fn`: each row body must be inlined into the
    // wide-compiled loop of `each_row` to be vectorised for AVX2.
    macro_rules! each {
        ($($f:tt)*) => {
            each_row(x, dy, out, d.max(1), #[inline(always)] $($f)*)
        };
    }
    match node.op {
        Op::Softmax => each!(|_, x, _, o| softmax(x, 1.0, o)),
        Op::LogSoftmax => each!(|_, x, _, o| {
            let l = logsumexp(x);
            o.iter_mut().zip(x).for_each(|(o, &x)| *o = x - l);
        }),
        Op::CausalSoftmax { scale } => each!(|r, x, _, o| {
            let q = r % d;
            softmax(&x[..=q], scale as f32, &mut o[..=q]);
            o[q + 1..].fill(0.0);
        }),
        Op::SoftmaxGrad { scale } if causal => each!(|r, y, dy, o| {
            let q = r % d;
            softmax_grad(&y[..=q], &dy[..=q], scale as f32, &mut o[..=q]);
            o[q + 1..].fill(0.0);
        }),
        Op::SoftmaxGrad { scale } => each!(|_, y, dy, o| softmax_grad(y, dy, scale as f32, o)),
        Op::LogSoftmaxGrad => each!(|_, y, dy, o| {
            let s = sum(dy);
            for ((o, &y), &g) in o.iter_mut().zip(y).zip(dy) {
                *o = g - y.exp() * s;
            }
        }),
        Op::LayerNorm { eps } => each!(|_, x, _, o| {
            let (mu, rstd) = moments(x, eps);
            o.iter_mut().zip(x).for_each(|(o, &x)| *o = (x - mu) * rstd);
        }),
        Op::LayerNormGrad { eps } => each!(|_, x, dy, o| layer_norm_grad(x, dy, eps, o)),
        Op::RmsNorm { eps } => each!(|_, x, _, o| {
            let r = rms(x, eps);
            o.iter_mut().zip(x).for_each(|(o, &x)| *o = x * r);
        }),
        Op::RmsNormGrad { eps } => each!(|_, x, dy, o| {
            let r = rms(x, eps);
            let m = dot(x, dy) / x.len() as f32;
            for ((o, &x), &g) in o.iter_mut().zip(x).zip(dy) {
                *o = r * g - x * r * r * r * m;
            }
        }),
        Op::CrossEntropy => cross_entropy(x, ins[1].u(), d, out),
        Op::CrossEntropyGrad => {
            let (t, dl) = (ins[1].u(), ins[2].f()[0]);
            let scale = dl / t.len().max(1) as f32;
            each_row(
                x,
                &[],
                out,
                d.max(1),
                #[inline(always)]
                |r, x, _, o| {
                    softmax(x, 1.0, o);
                    o[t[r] as usize] -= 1.0;
                    o.iter_mut().for_each(|o| *o *= scale);
                },
            );
        }
        _ => {}
    }
}

/// Calls `f` on every row of `x` (and of `dy` when it has as many elements), writing the
/// matching row of `out`; a task per [`TASK`] elements, each compiled wide ([`wide`]).
#[inline(always)]
fn each_row<F>(x: &[f32], dy: &[f32], out: &mut [f32], d: usize, f: F)
where
    F: Fn(usize, &[f32], &[f32], &mut [f32]) + Sync,
{
    let per = (TASK / d).max(1);
    let has_dy = dy.len() == x.len();
    out.par_chunks_mut(per * d)
        .enumerate()
        .for_each(|(task, o)| {
            let first = task * per;
            wide(
                #[inline(always)]
                || {
                    for (i, o) in o.chunks_mut(d).enumerate() {
                        let r = first + i;
                        let dyr = if has_dy { &dy[r * d..][..d] } else { &[][..] };
                        f(r, &x[r * d..][..d], dyr, o);
                    }
                },
            )
        });
}

#[inline(always)]
fn logsumexp(x: &[f32]) -> f32 {
    let m = max_map(x, |v| v);
    m + sum_map(x, |e| fast_exp(e - m)).ln()
}

/// `o = softmax(scale·x)`.
#[inline(always)]
fn softmax(x: &[f32], scale: f32, o: &mut [f32]) {
    let m = max_map(x, |v| v * scale);
    // Exponentials first (an independent loop, so it vectorises), then their lane sum.
    for (o, &x) in o.iter_mut().zip(x) {
        *o = fast_exp(x * scale - m);
    }
    let inv = 1.0 / sum(o);
    o.iter_mut().for_each(|o| *o *= inv);
}

/// `o = scale·y·(dy − Σ dy·y)`.
#[inline(always)]
fn softmax_grad(y: &[f32], dy: &[f32], scale: f32, o: &mut [f32]) {
    let d = dot(y, dy);
    for ((o, &y), &g) in o.iter_mut().zip(y).zip(dy) {
        *o = scale * y * (g - d);
    }
}

/// `(μ, 1/σ)` of a row: [`moments_avx`] where the CPU has AVX, the same bits.
#[inline(always)]
pub(super) fn moments(x: &[f32], eps: f64) -> (f32, f32) {
    #[cfg(target_arch = "x86_64")]
    if avx::available() {
        // SAFETY: the CPU has AVX (checked just above).
        return unsafe { moments_avx(x, eps) };
    }
    moments_portable(x, eps)
}

#[inline(always)]
fn moments_portable(x: &[f32], eps: f64) -> (f32, f32) {
    let n = x.len() as f32;
    let mu = sum(x) / n;
    let var = sum_map(x, |e| (e - mu) * (e - mu)) / n;
    (mu, 1.0 / (var + eps as f32).sqrt())
}

/// [`moments_portable`] with the lane sums on AVX registers ([`avx`]).
///
/// # Safety
/// The CPU must have AVX.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn moments_avx(x: &[f32], eps: f64) -> (f32, f32) {
    use std::arch::x86_64::{_mm256_mul_ps, _mm256_set1_ps, _mm256_sub_ps};
    let n = x.len() as f32;
    // SAFETY: AVX (the caller's promise).
    unsafe {
        let mu = avx::sum(x) / n;
        let m = _mm256_set1_ps(mu);
        let var = avx::sum_map(
            x,
            |e| {
                let d = _mm256_sub_ps(e, m);
                _mm256_mul_ps(d, d)
            },
            |e| (e - mu) * (e - mu),
        ) / n;
        (mu, 1.0 / (var + eps as f32).sqrt())
    }
}

#[inline(always)]
fn rms(x: &[f32], eps: f64) -> f32 {
    1.0 / (sum_map(x, |e| e * e) / x.len() as f32 + eps as f32).sqrt()
}

#[inline(always)]
pub(super) fn layer_norm_grad(x: &[f32], dy: &[f32], eps: f64, o: &mut [f32]) {
    let stats = layer_norm_grad_stats(x, dy, eps);
    for ((o, &x), &g) in o.iter_mut().zip(x).zip(dy) {
        *o = layer_norm_grad_at(x, g, stats);
    }
}

/// One element of [`layer_norm_grad`]: `x`, its `dy` and the row's
/// [`layer_norm_grad_stats`].
#[inline(always)]
pub(super) fn layer_norm_grad_at(x: f32, g: f32, [mu, rstd, mdy, mdyx]: [f32; 4]) -> f32 {
    rstd * (g - mdy - (x - mu) * rstd * mdyx)
}

/// `[μ, 1/σ, mean(dy), mean(dy·x̂)]` of a row.
#[inline(always)]
fn layer_norm_grad_stats(x: &[f32], dy: &[f32], eps: f64) -> [f32; 4] {
    layer_norm_grad_sums(x, dy, moments(x, eps))
}

/// [`layer_norm_grad_stats`] from the row's [`moments`] (the lane sums on AVX registers
/// where the CPU has AVX, the same bits).
#[inline(always)]
pub(super) fn layer_norm_grad_sums(x: &[f32], dy: &[f32], (mu, rstd): (f32, f32)) -> [f32; 4] {
    let n = x.len() as f32;
    #[cfg(target_arch = "x86_64")]
    if avx::available() {
        use std::arch::x86_64::{_mm256_mul_ps, _mm256_set1_ps, _mm256_sub_ps};
        // SAFETY: the CPU has AVX (checked just above).
        let (sdy, sdyx) = unsafe {
            let (m, r) = (_mm256_set1_ps(mu), _mm256_set1_ps(rstd));
            (
                avx::sum(dy),
                avx::sum_zip(
                    x,
                    dy,
                    |x, g| _mm256_mul_ps(_mm256_mul_ps(g, _mm256_sub_ps(x, m)), r),
                    |x, g| g * (x - mu) * rstd,
                ),
            )
        };
        return [mu, rstd, sdy / n, sdyx / n];
    }
    let sdy = sum(dy);
    let sdyx = sum_zip(x, dy, |x, g| g * (x - mu) * rstd);
    [mu, rstd, sdy / n, sdyx / n]
}

/// [`sum`] of a row, on AVX registers where the CPU has AVX (the same bits).
#[inline(always)]
fn row_sum(x: &[f32]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if avx::available() {
        // SAFETY: the CPU has AVX (checked just above).
        return unsafe { avx::sum(x) };
    }
    sum(x)
}

/// The mean cross-entropy into `loss[0]` and its gradient `dl·(softmax(x) − onehot(t)) / N`
/// into `grad`, the row's exponentials computed once for both: the bits of the
/// `CrossEntropy` and `CrossEntropyGrad` ops (the same exponentials, sums and order).
pub(super) fn cross_entropy_and_grad(
    (x, t): (&[f32], &[u32]),
    d: usize,
    dl: f32,
    (loss, grad): (&mut [f32], &mut [f32]),
) {
    let d = d.max(1);
    let scale = dl / t.len().max(1) as f32;
    let per = (TASK / d).max(1);
    let mut losses = vec![0.0f32; t.len()];
    grad.par_chunks_mut(per * d)
        .zip(losses.par_chunks_mut(per))
        .enumerate()
        .for_each(|(task, (o, l))| {
            wide(
                #[inline(always)]
                || {
                    for (k, (o, l)) in o.chunks_mut(d).zip(l.iter_mut()).enumerate() {
                        let r = task * per + k;
                        let (x, t) = (&x[r * d..][..d], t[r] as usize);
                        // `softmax(x, 1.0, o)`, its sum kept for the log-sum-exp.
                        let m = max_map(x, |v| v * 1.0);
                        for (o, &x) in o.iter_mut().zip(x) {
                            *o = fast_exp(x * 1.0 - m);
                        }
                        let s = row_sum(o);
                        *l = (m + s.ln()) - x[t];
                        let inv = 1.0 / s;
                        // `o·inv`, `o[t] − 1`, `·scale` as one pass (the target's own
                        // value fixed after it: the same operations on each element).
                        let et = o[t];
                        o.iter_mut().for_each(|o| *o = *o * inv * scale);
                        o[t] = (et * inv - 1.0) * scale;
                    }
                },
            )
        });
    let total: f64 = losses.iter().map(|&l| f64::from(l)).sum();
    if let Some(out) = loss.first_mut() {
        *out = (total / t.len().max(1) as f64) as f32;
    }
}

fn cross_entropy(x: &[f32], t: &[u32], d: usize, out: &mut [f32]) {
    // Per-row losses in parallel, summed in row order so the result is deterministic.
    let losses: Vec<f32> = x
        .par_chunks(d)
        .zip(t.par_iter())
        .map(|(row, &t)| {
            wide(
                #[inline(always)]
                || logsumexp(row),
            ) - row[t as usize]
        })
        .collect();
    let total: f64 = losses.iter().map(|&l| f64::from(l)).sum();
    out[0] = (total / t.len().max(1) as f64) as f32;
}
