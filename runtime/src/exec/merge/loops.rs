//! The loops of the merged runs ([`super::Merge`]): each value computed as the unmerged
//! ops compute it, rows spread over rayon in fixed blocks, every row compiled wide
//! ([`wide`]); column sums accumulated per block of [`partial_rows`] rows, as the
//! executor's own column reductions do.

use rayon::prelude::*;
use vibee_dsl::graph::fused::reduce::partial_rows;

use crate::exec::elementwise::{gelu_and_slope, gelu_block, gelu_grad_run};
use crate::exec::math::{TANH_LANES, wide};
use crate::exec::rows::{layer_norm_grad_at, layer_norm_grad_sums, moments};

/// Elements per parallel task of the runs without a column sum.
const TASK: usize = 1 << 14;

/// `h = z + b` (stored unless `h` is empty) and `out = gelu(h)` over rows of `b.len()`;
/// `gelu'(h)` into `slope` unless it is empty.
pub(in crate::exec) fn bias_gelu_run(
    z: &[f32],
    b: &[f32],
    (h, out): (&mut [f32], &mut [f32]),
    slope: &mut [f32],
) {
    let w = b.len().max(1);
    let per = (TASK / w).max(1) * w;
    let (store_h, keep_slope) = (!h.is_empty(), !slope.is_empty());
    let (mut no_h, mut no_slope) = (Vec::new(), Vec::new());
    let h = if store_h {
        h
    } else {
        no_h.resize(z.len().div_ceil(per), 0.0);
        &mut no_h[..]
    };
    let slope = if keep_slope {
        slope
    } else {
        no_slope.resize(z.len().div_ceil(per), 0.0);
        &mut no_slope[..]
    };
    // Empty outputs take one placeholder element per task.
    let step = |keep: bool| if keep { per } else { 1 };
    out.par_chunks_mut(per)
        .zip(z.par_chunks(per))
        .zip(h.par_chunks_mut(step(store_h)))
        .zip(slope.par_chunks_mut(step(keep_slope)))
        .for_each(|(((o, z), h), s)| {
            let h = if store_h { Some(h) } else { None };
            let s = if keep_slope { Some(s) } else { None };
            wide(
                #[inline(always)]
                || bias_gelu_rows(b, z, o, h, s),
            )
        });
}

/// [`bias_gelu_run`] over whole rows of `b.len()`, [`TANH_LANES`] values at a time (a
/// row's last `width mod TANH_LANES` one by one), written straight into the outputs.
#[inline(always)]
fn bias_gelu_rows(
    b: &[f32],
    z: &[f32],
    out: &mut [f32],
    mut h: Option<&mut [f32]>,
    mut slope: Option<&mut [f32]>,
) {
    const L: usize = TANH_LANES;
    let w = b.len().max(1);
    for (r, (z, o)) in z.chunks(w).zip(out.chunks_mut(w)).enumerate() {
        let row = r * w;
        let whole = z.len() - z.len() % L;
        for c in (0..whole).step_by(L) {
            let mut hb = [0.0f32; L];
            for ((h, &z), &b) in hb.iter_mut().zip(&z[c..c + L]).zip(&b[c..c + L]) {
                *h = z + b;
            }
            let o: &mut [f32; L] = (&mut o[c..c + L]).try_into().expect("L values");
            let s = slope.as_deref_mut().map(|s| {
                <&mut [f32; L]>::try_from(&mut s[row + c..row + c + L]).expect("L values")
            });
            gelu_block(&hb, o, s);
            if let Some(h) = h.as_deref_mut() {
                h[row + c..row + c + L].copy_from_slice(&hb);
            }
        }
        for c in whole..z.len() {
            let v = z[c] + b[c];
            let (g, d) = gelu_and_slope(v);
            o[c] = g;
            if let Some(s) = slope.as_deref_mut() {
                s[row + c] = d;
            }
            if let Some(h) = h.as_deref_mut() {
                h[row + c] = v;
            }
        }
    }
}

/// Rows of `width` in blocks of the executor's column reduction: `row(r, o, acc)` writes
/// row `r` into `o` and adds `sums` values per column into `acc` (`sums` rows of `width`,
/// zero at each block's start). Returns each sum's partials, block after block.
fn rows_with_partials<F>(out: &mut [f32], width: usize, sums: usize, row: F) -> Vec<Vec<f32>>
where
    F: Fn(usize, &mut [f32], &mut [f32]) + Sync,
{
    let w = width.max(1);
    let group = partial_rows(w);
    let blocks = (out.len() / w).div_ceil(group);
    let mut partials = vec![0.0f32; blocks * sums * w];
    out.par_chunks_mut(group * w)
        .zip(partials.par_chunks_mut(sums * w))
        .enumerate()
        .for_each(|(block, (o, acc))| {
            wide(
                #[inline(always)]
                || {
                    for (k, o) in o.chunks_mut(w).enumerate() {
                        row(block * group + k, o, acc);
                    }
                },
            )
        });
    (0..sums)
        .map(|s| {
            partials
                .chunks(sums * w)
                .flat_map(|b| &b[s * w..(s + 1) * w])
                .copied()
                .collect()
        })
        .collect()
}

/// `acc += v`, element by element (one block's running column sums).
#[inline(always)]
fn add_into(acc: &mut [f32], v: &[f32]) {
    acc.iter_mut().zip(v).for_each(|(a, &v)| *a += v);
}

/// `out = dy·gelu'(h)`, with `gelu'(h)` read from `slope` unless it is empty; returns the
/// per-block partial column sums of `out`.
pub(in crate::exec) fn gelu_grad_sum_run(
    (h, dy, slope): (&[f32], &[f32], &[f32]),
    out: &mut [f32],
    width: usize,
) -> Vec<f32> {
    let w = width.max(1);
    let mut sums = rows_with_partials(
        out,
        w,
        1,
        #[inline(always)]
        |r, o, acc| {
            let dy = &dy[r * w..][..w];
            if slope.is_empty() {
                gelu_grad_run(&h[r * w..][..w], dy, o);
                add_into(acc, o);
            } else {
                // One pass: the product and its column sum (memory-bound, so one walk).
                let ins = dy.iter().zip(&slope[r * w..][..w]);
                for ((o, (&d, &s)), a) in o.iter_mut().zip(ins).zip(acc.iter_mut()) {
                    let v = d * s;
                    *o = v;
                    *a += v;
                }
            }
        },
    );
    sums.pop().unwrap_or_default()
}

/// `x̂ = layer_norm(x)` (stored unless `xhat` is empty) and `y = x̂·γ + β` per row of
/// `γ.len()`.
pub(in crate::exec) fn norm_affine_run(
    x: &[f32],
    (gamma, beta): (&[f32], &[f32]),
    eps: f64,
    (xhat, y): (&mut [f32], &mut [f32]),
) {
    let w = gamma.len().max(1);
    let per = (TASK / w).max(1) * w;
    let store = !xhat.is_empty();
    let mut none = Vec::new();
    let xhat = if store {
        xhat
    } else {
        // One placeholder element per task.
        none.resize(y.len().div_ceil(per), 0.0);
        &mut none[..]
    };
    xhat.par_chunks_mut(if store { per } else { 1 })
        .zip(y.par_chunks_mut(per))
        .zip(x.par_chunks(per))
        .for_each(|((xhat, y), x)| {
            wide(
                #[inline(always)]
                || {
                    for (r, (y, x)) in y.chunks_mut(w).zip(x.chunks(w)).enumerate() {
                        let (mu, rstd) = moments(x, eps);
                        let rows = y.iter_mut().zip(x).zip(gamma.iter().zip(beta));
                        if store {
                            let xhat = &mut xhat[r * w..(r + 1) * w];
                            for (((y, &x), (&g, &b)), xhat) in rows.zip(xhat) {
                                let n = (x - mu) * rstd;
                                *xhat = n;
                                *y = n * g + b;
                            }
                        } else {
                            for ((y, &x), (&g, &b)) in rows {
                                *y = (x - mu) * rstd * g + b;
                            }
                        }
                    }
                },
            )
        });
}

/// What a [`super::Merge::NormGrad`] run reads.
pub(in crate::exec) struct NormGradIn<'a> {
    /// The norm's input.
    pub x: &'a [f32],
    /// The gradient of its output (before `·γ` when there is a prologue).
    pub dy: &'a [f32],
    /// With a prologue: `γ` and the norm's output `x̂` (empty: recomputed from `x`).
    pub affine: Option<(&'a [f32], &'a [f32])>,
    /// The residual's gradient, added (empty: none).
    pub residual: &'a [f32],
}

/// The partial column sums of a [`super::Merge::NormGrad`] run, block after block: `Σ dy` and
/// `Σ dy·x̂` of a prologue, the sum of the run's value.
#[derive(Debug, Default)]
pub(in crate::exec) struct NormGradSums {
    pub dy: Vec<f32>,
    pub dy_xhat: Vec<f32>,
    pub out: Vec<f32>,
}

/// `out = layer_norm_grad(x, dy·γ) (+ residual)` per row of `width`, with the sums the
/// run takes; each sum of the same elements in the same blocks and order as the
/// executor's (and the fused kernel's) column reductions.
pub(in crate::exec) fn norm_grad_run(
    ins: &NormGradIn<'_>,
    eps: f64,
    out: &mut [f32],
    width: usize,
    sum: bool,
) -> NormGradSums {
    let w = width.max(1);
    let prologue = ins.affine.is_some();
    let sums = 2 * usize::from(prologue) + usize::from(sum);
    if sums == 0 {
        let per = (TASK / w).max(1);
        out.par_chunks_mut(per * w)
            .enumerate()
            .for_each(|(task, o)| {
                wide(
                    #[inline(always)]
                    || {
                        for (k, o) in o.chunks_mut(w).enumerate() {
                            norm_grad_row(ins, task * per + k, eps, o, &mut [], false);
                        }
                    },
                )
            });
        return NormGradSums::default();
    }
    let mut parts = rows_with_partials(
        out,
        w,
        sums,
        #[inline(always)]
        |r, o, acc| norm_grad_row(ins, r, eps, o, acc, sum),
    )
    .into_iter();
    let mut next = || parts.next().unwrap_or_default();
    let (dy, dy_xhat) = if prologue {
        (next(), next())
    } else {
        Default::default()
    };
    NormGradSums {
        dy,
        dy_xhat,
        out: if sum { next() } else { Vec::new() },
    }
}

/// Row `r` of [`norm_grad_run`] into `o`, its sums added into `acc` (`Σ dy`, `Σ dy·x̂` of
/// a prologue, then the row's own with `sum`).
#[inline(always)]
fn norm_grad_row(
    ins: &NormGradIn<'_>,
    r: usize,
    eps: f64,
    o: &mut [f32],
    acc: &mut [f32],
    sum: bool,
) {
    let w = o.len();
    let at = r * w..(r + 1) * w;
    let (x, dy) = (&ins.x[at.clone()], &ins.dy[at.clone()]);
    let (mu, rstd) = moments(x, eps);
    let stats = match ins.affine {
        Some((gamma, xhat)) => {
            let (dy_acc, rest) = acc.split_at_mut(w);
            let sums = dy_acc.iter_mut().zip(&mut rest[..w]);
            let ins = dy.iter().zip(gamma).zip(x);
            if xhat.is_empty() {
                // `x̂` as the forward run computed it.
                for ((o, ((&d, &g), &x)), (s, sn)) in o.iter_mut().zip(ins).zip(sums) {
                    *o = d * g;
                    *s += d;
                    *sn += d * ((x - mu) * rstd);
                }
            } else {
                let ins = ins.zip(&xhat[at.clone()]);
                for ((o, (((&d, &g), _), &n)), (s, sn)) in o.iter_mut().zip(ins).zip(sums) {
                    *o = d * g;
                    *s += d;
                    *sn += d * n;
                }
            }
            layer_norm_grad_sums(x, o, (mu, rstd))
        }
        None => {
            o.copy_from_slice(dy);
            layer_norm_grad_sums(x, dy, (mu, rstd))
        }
    };
    // `o` holds the norm's `dy`: one pass for the gradient, the residual and the sum.
    let last = acc.len().saturating_sub(w);
    match (ins.residual.is_empty(), sum) {
        (true, false) => {
            for (o, &x) in o.iter_mut().zip(x) {
                *o = layer_norm_grad_at(x, *o, stats);
            }
        }
        (true, true) => {
            for ((o, &x), a) in o.iter_mut().zip(x).zip(&mut acc[last..]) {
                *o = layer_norm_grad_at(x, *o, stats);
                *a += *o;
            }
        }
        (false, false) => {
            for ((o, &x), &d) in o.iter_mut().zip(x).zip(&ins.residual[at]) {
                *o = layer_norm_grad_at(x, *o, stats) + d;
            }
        }
        (false, true) => {
            let rows = o.iter_mut().zip(x).zip(&ins.residual[at]);
            for (((o, &x), &d), a) in rows.zip(&mut acc[last..]) {
                *o = layer_norm_grad_at(x, *o, stats) + d;
                *a += *o;
            }
        }
    }
}
