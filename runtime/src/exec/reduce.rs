//! Reductions. Contiguous runs of axes become `[outer, reduced, inner]`: rows reduce
//! along memory (`inner == 1`) in independent lanes, columns (bias gradients,
//! `outer == 1`) accumulate whole rows at a time into row vectors. Each output is summed
//! in a fixed order, so results do not depend on the thread count. Columns are summed in
//! blocks of [`partial_rows`] rows, the blocks' partial sums then combined in order: a
//! fused group's kernel accumulates its column reductions in the same blocks and
//! [`finish_columns`] combines them the same way, so fused and unfused give the same bits.

use rayon::prelude::*;
use vibee_dsl::graph::ReduceOp;
use vibee_dsl::graph::fused::reduce::partial_rows;
use vibee_dsl::graph::layout::{offset_of, strides};

use super::math::{max, sum, wide};

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

/// Elements per parallel task.
const TASK: usize = 1 << 14;

fn rows(op: ReduceOp, x: &[f32], red: usize, out: &mut [f32]) {
    let red = red.max(1);
    let per = (TASK / red).max(1);
    out.par_chunks_mut(per)
        .zip(x.par_chunks(per * red))
        .for_each(|(o, x)| {
            wide(
                #[inline(always)]
                || {
                    for (o, row) in o.iter_mut().zip(x.chunks(red)) {
                        *o = if op == ReduceOp::Max {
                            max(row)
                        } else {
                            sum(row)
                        };
                    }
                },
            )
        });
}

/// Columns of `[outer, red, inner]`: the reduced rows split into groups of a fixed size
/// (so the order does not depend on the thread count), each group accumulated into a row
/// vector in parallel, then the groups' vectors combined in order.
fn columns(op: ReduceOp, x: &[f32], outer: usize, red: usize, inner: usize, out: &mut [f32]) {
    let group = partial_rows(inner);
    for o in 0..outer {
        let block = &x[o * red * inner..(o + 1) * red * inner];
        let partials: Vec<Vec<f32>> = block
            .par_chunks(group * inner)
            .map(|rows| {
                let mut acc = vec![init(op); inner];
                wide(
                    #[inline(always)]
                    || accumulate(op, &mut acc, rows),
                );
                acc
            })
            .collect();
        combine_partials(
            op,
            partials.iter().map(Vec::as_slice),
            &mut out[o * inner..(o + 1) * inner],
        );
    }
}

/// `out` = the blocks' partial results combined in order, from the reduction's initial
/// value.
fn combine_partials<'a>(op: ReduceOp, partials: impl Iterator<Item = &'a [f32]>, out: &mut [f32]) {
    out.fill(init(op));
    wide(
        #[inline(always)]
        || {
            for p in partials {
                accumulate(op, out, p);
            }
        },
    );
}

/// A fused column reduction's result from its kernel's `partials` (one row of `out.len()`
/// per block of rows, in order) over `rows` rows: combined as [`reduce`] combines its own
/// blocks, then divided by `rows` for a mean.
pub(super) fn finish_columns(op: ReduceOp, partials: &[f32], rows: usize, out: &mut [f32]) {
    combine_partials(op, partials.chunks(out.len().max(1)), out);
    if op == ReduceOp::Mean {
        let count = rows as f32;
        out.iter_mut().for_each(|o| *o /= count);
    }
}

/// `acc[i] = combine(acc[i], rows[r][i])` for every row of `rows` in order; one loop per
/// op, so each vectorises.
#[inline(always)]
fn accumulate(op: ReduceOp, acc: &mut [f32], rows: &[f32]) {
    for row in rows.chunks(acc.len()) {
        if op == ReduceOp::Max {
            acc.iter_mut().zip(row).for_each(|(a, &v)| *a = a.max(v));
        } else {
            acc.iter_mut().zip(row).for_each(|(a, &v)| *a += v);
        }
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
