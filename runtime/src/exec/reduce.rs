//! Reductions. Contiguous runs of axes become `[outer, reduced, inner]`: rows reduce
//! along memory (`inner == 1`), columns (bias gradients, `outer == 1`) accumulate whole
//! rows at a time. Each output is summed in a fixed order, so results do not depend on
//! the thread count.

use rayon::prelude::*;
use vibee_dsl::graph::ReduceOp;
use vibee_dsl::graph::layout::{offset_of, strides};

/// Reduces `x` (shape `sx`) over `axes` into `out`.
pub(super) fn reduce(op: ReduceOp, x: &[f32], sx: &[usize], axes: &[usize], out: &mut [f32]) {
    let contiguous = axes.windows(2).all(|w| w[1] == w[0] + 1);
    if axes.is_empty() {
        out.copy_from_slice(x);
    } else if contiguous {
        let (a, b) = (axes[0], axes[axes.len() - 1]);
        let outer: usize = sx[..a].iter().product();
        let red: usize = sx[a..=b].iter().product();
        let inner: usize = sx[b + 1..].iter().product();
        if inner == 1 {
            rows(op, x, red, out);
        } else {
            columns(op, x, outer, red, inner, out);
        }
    } else {
        general(op, x, sx, axes, out);
    }
    if op == ReduceOp::Mean {
        let count = (x.len() / out.len().max(1)) as f32;
        out.iter_mut().for_each(|o| *o /= count);
    }
}

fn combine(op: ReduceOp, acc: f32, v: f32) -> f32 {
    if op == ReduceOp::Max {
        acc.max(v)
    } else {
        acc + v
    }
}

fn init(op: ReduceOp) -> f32 {
    if op == ReduceOp::Max {
        f32::NEG_INFINITY
    } else {
        0.0
    }
}

fn rows(op: ReduceOp, x: &[f32], red: usize, out: &mut [f32]) {
    out.par_iter_mut()
        .zip(x.par_chunks(red.max(1)))
        .for_each(|(o, row)| {
            *o = row.iter().fold(init(op), |a, &v| combine(op, a, v));
        });
}

fn columns(op: ReduceOp, x: &[f32], outer: usize, red: usize, inner: usize, out: &mut [f32]) {
    // Split the inner axis into column blocks; each block sums its rows in order.
    let block = 256.min(inner);
    for o in 0..outer {
        let dst = &mut out[o * inner..(o + 1) * inner];
        dst.par_chunks_mut(block).enumerate().for_each(|(c, d)| {
            d.fill(init(op));
            let c0 = c * block;
            for r in 0..red {
                let src = &x[(o * red + r) * inner + c0..][..d.len()];
                d.iter_mut()
                    .zip(src)
                    .for_each(|(a, &v)| *a = combine(op, *a, v));
            }
        });
    }
}

fn general(op: ReduceOp, x: &[f32], sx: &[usize], axes: &[usize], out: &mut [f32]) {
    let kept: Vec<usize> = sx
        .iter()
        .enumerate()
        .map(|(i, &d)| if axes.contains(&i) { 1 } else { d })
        .collect();
    let ks = strides(&kept);
    let rs: Vec<usize> = (0..sx.len())
        .map(|i| if axes.contains(&i) { 0 } else { ks[i] })
        .collect();
    out.fill(init(op));
    for (i, &v) in x.iter().enumerate() {
        let o = offset_of(i, sx, &rs);
        out[o] = combine(op, out[o], v);
    }
}
