//! Elementwise ops: rayon over fixed-size chunks (so the split, and hence nothing at all,
//! depends on scheduling), with fast paths for equal shapes and for a right operand that
//! repeats along leading axes (a bias). The loops run compiled for AVX2 where the CPU has
//! it ([`wide`]); each element's arithmetic is the same either way (the fused kernels
//! mirror it bit for bit).

use rayon::prelude::*;
use vibee_dsl::graph::layout::{broadcast_strides, dropout_keep, offset_of};
use vibee_dsl::graph::{BinaryOp, DType, UnaryOp};

use super::math::{TANH_LANES, fast_tanh, fast_tanh_lanes, wide};

/// Elements per parallel task: large enough to amortise scheduling, small enough to split.
const CHUNK: usize = 1 << 14;

// GELU's constants, the fused kernels' own.
use vibee_dsl::graph::fused::{GELU_CUBIC, SQRT_2_OVER_PI};

#[inline(always)]
fn gelu(x: f32) -> f32 {
    gelu_from_tanh(x, fast_tanh(gelu_inner(x)))
}

#[inline(always)]
fn gelu_grad(x: f32) -> f32 {
    gelu_grad_from_tanh(x, fast_tanh(gelu_inner(x)))
}

/// `gelu(x) = 0.5·x·(1 + t)` from `t = tanh(gelu_inner(x))`, as `fma(x/2, t, x/2)`.
#[inline(always)]
fn gelu_from_tanh(x: f32, t: f32) -> f32 {
    let half = 0.5 * x;
    half.mul_add(t, half)
}

/// `gelu'(x) = 0.5·(1 + t) + 0.5·x·(1 − t²)·C·(1 + 3·0.044715·x²)` from
/// `t = tanh(gelu_inner(x))`: `1 − t²`, `C + 3·0.044715·C·x²`, `0.5·t + 0.5` and the last
/// sum each one fused multiply-add.
#[inline(always)]
fn gelu_grad_from_tanh(x: f32, t: f32) -> f32 {
    const SLOPE: f32 = 3.0 * GELU_CUBIC * SQRT_2_OVER_PI;
    let one_minus = (-t).mul_add(t, 1.0);
    let inner_grad = SLOPE.mul_add(x * x, SQRT_2_OVER_PI);
    (0.5 * x * one_minus).mul_add(inner_grad, 0.5f32.mul_add(t, 0.5))
}

/// `C·(x + 0.044715·x³)` (`C = √(2/π)`), the argument of GELU's `tanh`, as
/// `x·fma(0.044715·C, x², C)`.
#[inline(always)]
fn gelu_inner(x: f32) -> f32 {
    const CUBIC: f32 = GELU_CUBIC * SQRT_2_OVER_PI;
    x * CUBIC.mul_add(x * x, SQRT_2_OVER_PI)
}

/// `out = gelu(x)`, [`TANH_LANES`] values at a time through the interleaved `tanh` (the
/// bits of [`gelu`] per value), the tail one by one.
#[inline(always)]
pub(super) fn gelu_run(x: &[f32], out: &mut [f32]) {
    let mut xs = x.chunks_exact(TANH_LANES);
    let mut os = out.chunks_exact_mut(TANH_LANES);
    for (o, x) in (&mut os).zip(&mut xs) {
        let mut t = [0.0f32; TANH_LANES];
        for i in 0..TANH_LANES {
            t[i] = gelu_inner(x[i]);
        }
        fast_tanh_lanes(&mut t);
        for i in 0..TANH_LANES {
            o[i] = gelu_from_tanh(x[i], t[i]);
        }
    }
    for (o, &x) in os.into_remainder().iter_mut().zip(xs.remainder()) {
        *o = gelu(x);
    }
}

/// `out = gelu(h)` and, with `slope`, `slope = gelu'(h)` (the bits of [`gelu`] and of
/// `GeluGrad`'s factor) for [`TANH_LANES`] values through the interleaved `tanh`.
#[inline(always)]
pub(super) fn gelu_block(
    h: &[f32; TANH_LANES],
    out: &mut [f32; TANH_LANES],
    slope: Option<&mut [f32; TANH_LANES]>,
) {
    let mut t = [0.0f32; TANH_LANES];
    for i in 0..TANH_LANES {
        t[i] = gelu_inner(h[i]);
    }
    fast_tanh_lanes(&mut t);
    for i in 0..TANH_LANES {
        out[i] = gelu_from_tanh(h[i], t[i]);
    }
    if let Some(s) = slope {
        for i in 0..TANH_LANES {
            s[i] = gelu_grad_from_tanh(h[i], t[i]);
        }
    }
}

/// `(gelu(h), gelu'(h))` of one value, the bits of [`gelu_block`]'s.
#[inline(always)]
pub(super) fn gelu_and_slope(h: f32) -> (f32, f32) {
    let t = fast_tanh(gelu_inner(h));
    (gelu_from_tanh(h, t), gelu_grad_from_tanh(h, t))
}

/// `out = dy·gelu'(x)` as [`gelu_run`] does GELU (the bits of `GeluGrad` per value).
#[inline(always)]
pub(super) fn gelu_grad_run(x: &[f32], dy: &[f32], out: &mut [f32]) {
    let mut xs = x.chunks_exact(TANH_LANES);
    let mut ds = dy.chunks_exact(TANH_LANES);
    let mut os = out.chunks_exact_mut(TANH_LANES);
    for ((o, x), dy) in (&mut os).zip(&mut xs).zip(&mut ds) {
        let mut t = [0.0f32; TANH_LANES];
        for i in 0..TANH_LANES {
            t[i] = gelu_inner(x[i]);
        }
        fast_tanh_lanes(&mut t);
        for i in 0..TANH_LANES {
            o[i] = dy[i] * gelu_grad_from_tanh(x[i], t[i]);
        }
    }
    let tail = os.into_remainder().iter_mut().zip(xs.remainder());
    for ((o, &x), &dy) in tail.zip(ds.remainder()) {
        *o = dy * gelu_grad(x);
    }
}

fn map(x: &[f32], out: &mut [f32], f: impl Fn(f32) -> f32 + Sync) {
    out.par_chunks_mut(CHUNK)
        .zip(x.par_chunks(CHUNK))
        .for_each(|(o, x)| {
            wide(
                #[inline(always)]
                || o.iter_mut().zip(x).for_each(|(o, &x)| *o = f(x)),
            )
        });
}

/// `out = u(x)`.
pub(super) fn unary(u: UnaryOp, x: &[f32], out: &mut [f32]) {
    match u {
        UnaryOp::Neg => map(x, out, |x| -x),
        UnaryOp::Exp => map(x, out, f32::exp),
        UnaryOp::Log => map(x, out, f32::ln),
        UnaryOp::Sqrt => map(x, out, f32::sqrt),
        UnaryOp::Tanh => map(x, out, fast_tanh),
        UnaryOp::Sigmoid => map(x, out, |x| 1.0 / (1.0 + (-x).exp())),
        UnaryOp::Relu => map(x, out, |x| x.max(0.0)),
        UnaryOp::Gelu => out
            .par_chunks_mut(CHUNK)
            .zip(x.par_chunks(CHUNK))
            .for_each(|(o, x)| {
                wide(
                    #[inline(always)]
                    || gelu_run(x, o),
                )
            }),
        UnaryOp::Square => map(x, out, |x| x * x),
        UnaryOp::Recip => map(x, out, |x| 1.0 / x),
        UnaryOp::Scale(c) => map(x, out, |x| c as f32 * x),
        UnaryOp::AddScalar(c) => map(x, out, |x| x + c as f32),
    }
}

/// `out = b(x, y)` broadcast to `shape`.
pub(super) fn binary(
    b: BinaryOp,
    x: &[f32],
    sx: &[usize],
    y: &[f32],
    sy: &[usize],
    out: &mut [f32],
    shape: &[usize],
) {
    match b {
        BinaryOp::Add => zip(x, sx, y, sy, out, shape, |a, b| a + b),
        BinaryOp::Sub => zip(x, sx, y, sy, out, shape, |a, b| a - b),
        BinaryOp::Mul => zip(x, sx, y, sy, out, shape, |a, b| a * b),
        BinaryOp::Div => zip(x, sx, y, sy, out, shape, |a, b| a / b),
        BinaryOp::Maximum => zip(x, sx, y, sy, out, shape, f32::max),
        BinaryOp::Equal => zip(x, sx, y, sy, out, shape, |a, b| f32::from(u8::from(a == b))),
        BinaryOp::GeluGrad if x.len() == out.len() && y.len() == out.len() => out
            .par_chunks_mut(CHUNK)
            .zip(x.par_chunks(CHUNK).zip(y.par_chunks(CHUNK)))
            .for_each(|(o, (x, dy))| {
                wide(
                    #[inline(always)]
                    || gelu_grad_run(x, dy, o),
                )
            }),
        BinaryOp::GeluGrad => zip(x, sx, y, sy, out, shape, |x, dy| dy * gelu_grad(x)),
        BinaryOp::ReluGrad => zip(
            x,
            sx,
            y,
            sy,
            out,
            shape,
            |x, dy| if x > 0.0 { dy } else { 0.0 },
        ),
    }
}

/// Whether `small` (`len` elements) repeats along the leading axes of `shape`: its shape,
/// without leading ones, is a suffix of `shape`.
fn repeats(small: &[usize], shape: &[usize]) -> bool {
    let s: Vec<usize> = small.iter().copied().skip_while(|&d| d == 1).collect();
    shape.ends_with(&s)
}

fn zip(
    x: &[f32],
    sx: &[usize],
    y: &[f32],
    sy: &[usize],
    out: &mut [f32],
    shape: &[usize],
    f: impl Fn(f32, f32) -> f32 + Sync + Copy,
) {
    let n = out.len();
    if x.len() == n && y.len() == n {
        out.par_chunks_mut(CHUNK)
            .zip(x.par_chunks(CHUNK).zip(y.par_chunks(CHUNK)))
            .for_each(|(o, (x, y))| {
                wide(
                    #[inline(always)]
                    || {
                        for ((o, &x), &y) in o.iter_mut().zip(x).zip(y) {
                            *o = f(x, y);
                        }
                    },
                )
            });
    } else if x.len() == n && !y.is_empty() && repeats(sy, shape) {
        rows_with(out, x, y, f);
    } else if y.len() == n && !x.is_empty() && repeats(sx, shape) {
        rows_with(out, y, x, move |b, a| f(a, b));
    } else {
        let (bx, by) = (broadcast_strides(sx, shape), broadcast_strides(sy, shape));
        out.par_chunks_mut(CHUNK).enumerate().for_each(|(c, o)| {
            for (i, o) in o.iter_mut().enumerate() {
                let flat = c * CHUNK + i;
                *o = f(
                    x[offset_of(flat, shape, &bx)],
                    y[offset_of(flat, shape, &by)],
                );
            }
        });
    }
}

/// `out[r, :] = f(full[r, :], row)` for a `row` repeated over every row.
fn rows_with(out: &mut [f32], full: &[f32], row: &[f32], f: impl Fn(f32, f32) -> f32 + Sync) {
    let w = row.len();
    let per = (CHUNK / w).max(1) * w;
    out.par_chunks_mut(per)
        .zip(full.par_chunks(per))
        .for_each(|(o, x)| {
            wide(
                #[inline(always)]
                || {
                    for (o, x) in o.chunks_mut(w).zip(x.chunks(w)) {
                        for ((o, &x), &r) in o.iter_mut().zip(x).zip(row) {
                            *o = f(x, r);
                        }
                    }
                },
            )
        });
}

/// Dropout with the counter-based mask shared with the reference evaluator.
pub(super) fn dropout(x: &[f32], out: &mut [f32], p: f64, seed: u64, step: u64) {
    let scale = (1.0 / (1.0 - p)) as f32;
    out.par_chunks_mut(CHUNK).enumerate().for_each(|(c, o)| {
        for (i, o) in o.iter_mut().enumerate() {
            let flat = c * CHUNK + i;
            *o = if dropout_keep(seed, step, flat as u64, p) {
                x[flat] * scale
            } else {
                0.0
            };
        }
    });
}

/// Rounds every value to `dtype`'s precision (a `BF16`/`F16` node's result).
pub(super) fn round_to(dtype: DType, out: &mut [f32]) {
    out.par_chunks_mut(CHUNK)
        .for_each(|c| c.iter_mut().for_each(|v| *v = dtype.round(*v)));
}
