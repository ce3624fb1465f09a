//! Data movement: broadcast, permute, slice, pad, concat, gather and scatter-add. Each
//! works on contiguous runs (whole rows of the innermost axis) rather than element by
//! element where the layout allows.

use rayon::prelude::*;
use vibee_dsl::graph::layout::{broadcast_strides, strides};

/// `out` (shape `so`) reads `x` (shape `sx`) broadcast.
pub(super) fn broadcast(x: &[f32], sx: &[usize], out: &mut [f32], so: &[usize]) {
    let s = broadcast_strides(sx, so);
    gather_rows(x, &s, out, so);
}

/// Output axis `i` is input axis `perm[i]`.
pub(super) fn permute(x: &[f32], sx: &[usize], perm: &[usize], out: &mut [f32], so: &[usize]) {
    let st = strides(sx);
    let ps: Vec<usize> = perm.iter().map(|&p| st[p]).collect();
    gather_rows(x, &ps, out, so);
}

/// Elements per parallel task.
const TASK: usize = 1 << 14;

/// `out[idx] = x[Σ idx·strides]`: axes merged where the layout allows ([`coalesce`]), then
/// rows of the last axis copied (or gathered, when that axis is strided), a task per
/// [`TASK`] elements walking its rows with an odometer instead of dividing per row.
fn gather_rows(x: &[f32], st: &[usize], out: &mut [f32], so: &[usize]) {
    if out.is_empty() {
        return;
    }
    let (shape, strides) = coalesce(so, st);
    let (Some(&w), Some(&inner)) = (shape.last(), strides.last()) else {
        out[0] = x[0];
        return;
    };
    let (lead, lead_st) = (&shape[..shape.len() - 1], &strides[..strides.len() - 1]);
    let per = (TASK / w).max(1);
    out.par_chunks_mut(per * w)
        .enumerate()
        .for_each(|(task, o)| {
            let mut at = Odometer::new(task * per, lead, lead_st);
            for o in o.chunks_mut(w) {
                let base = at.offset;
                match inner {
                    1 => o.copy_from_slice(&x[base..base + w]),
                    0 => o.fill(x[base]),
                    _ => o
                        .iter_mut()
                        .enumerate()
                        .for_each(|(i, o)| *o = x[base + i * inner]),
                }
                at.step();
            }
        });
}

/// The axes of a strided view with size-1 axes dropped and neighbours merged where the
/// outer one's stride is the inner one's times its size (they walk memory as one axis).
fn coalesce(shape: &[usize], strides: &[usize]) -> (Vec<usize>, Vec<usize>) {
    let (mut sh, mut st): (Vec<usize>, Vec<usize>) = (Vec::new(), Vec::new());
    for (&n, &s) in shape.iter().zip(strides) {
        if n == 1 {
            continue;
        }
        match (sh.last_mut(), st.last_mut()) {
            (Some(pn), Some(ps)) if *ps == s * n => {
                *pn *= n;
                *ps = s;
            }
            _ => {
                sh.push(n);
                st.push(s);
            }
        }
    }
    (sh, st)
}

/// A multi-index over `shape` and its offset under `strides`, advanced one step at a time.
struct Odometer<'a> {
    index: Vec<usize>,
    offset: usize,
    shape: &'a [usize],
    strides: &'a [usize],
}

impl<'a> Odometer<'a> {
    /// Starts at flat position `flat` (row-major).
    fn new(flat: usize, shape: &'a [usize], strides: &'a [usize]) -> Self {
        let mut index = vec![0; shape.len()];
        let mut rem = flat;
        for i in (0..shape.len()).rev() {
            index[i] = rem % shape[i];
            rem /= shape[i];
        }
        let offset = index.iter().zip(strides).map(|(i, s)| i * s).sum();
        Self {
            index,
            offset,
            shape,
            strides,
        }
    }

    /// The next position (wrapping to the start after the last).
    fn step(&mut self) {
        for i in (0..self.shape.len()).rev() {
            self.index[i] += 1;
            self.offset += self.strides[i];
            if self.index[i] < self.shape[i] {
                return;
            }
            self.offset -= self.strides[i] * self.shape[i];
            self.index[i] = 0;
        }
    }
}

/// `f(row, out row)` for every row of `w` elements of `out`, a task per [`TASK`] elements.
fn by_rows(out: &mut [f32], w: usize, f: impl Fn(usize, &mut [f32]) + Sync) {
    let w = w.max(1);
    let per = (TASK / w).max(1);
    out.par_chunks_mut(per * w)
        .enumerate()
        .for_each(|(task, o)| {
            for (i, row) in o.chunks_mut(w).enumerate() {
                f(task * per + i, row);
            }
        });
}

/// `[outer, len·inner]` blocks of an axis.
fn blocks(shape: &[usize], axis: usize) -> (usize, usize) {
    (
        shape[..axis].iter().product(),
        shape[axis + 1..].iter().product(),
    )
}

/// `x[.., start..end, ..]` along `axis`.
pub(super) fn slice(
    x: &[f32],
    sx: &[usize],
    axis: usize,
    start: usize,
    end: usize,
    out: &mut [f32],
) {
    let (_, inner) = blocks(sx, axis);
    let (src_w, dst_w) = (sx[axis] * inner, (end - start) * inner);
    if dst_w == 0 {
        return;
    }
    by_rows(out, dst_w, |o, d| {
        d.copy_from_slice(&x[o * src_w + start * inner..][..dst_w]);
    });
}

/// Zeros around `x` along `axis`.
pub(super) fn pad(
    x: &[f32],
    sx: &[usize],
    axis: usize,
    before: usize,
    after: usize,
    out: &mut [f32],
) {
    let (_, inner) = blocks(sx, axis);
    let (src_w, dst_w) = (sx[axis] * inner, (sx[axis] + before + after) * inner);
    by_rows(out, dst_w, |o, d| {
        d[..before * inner].fill(0.0);
        d[before * inner..][..src_w].copy_from_slice(&x[o * src_w..][..src_w]);
        d[before * inner + src_w..].fill(0.0);
    });
}

/// `parts` joined along `axis`.
pub(super) fn concat(parts: &[(&[f32], &[usize])], axis: usize, out: &mut [f32], so: &[usize]) {
    let (_, inner) = blocks(so, axis);
    let dst_w = so[axis] * inner;
    by_rows(out, dst_w, |o, d| {
        let mut at = 0;
        for (x, sx) in parts {
            let w = sx[axis] * inner;
            d[at..at + w].copy_from_slice(&x[o * w..][..w]);
            at += w;
        }
    });
}

/// Rows of `table` (`rows` of them) at `ids` (already checked to be in range).
pub(super) fn gather(table: &[f32], rows: usize, ids: &[u32], out: &mut [f32]) {
    let w = table.len() / rows.max(1);
    by_rows(out, w, |k, o| {
        let i = ids[k] as usize;
        o.copy_from_slice(&table[i * w..][..w]);
    });
}

/// `rows` rows of zeros plus `src`'s rows at `ids`, added in index order (deterministic).
pub(super) fn scatter_add(ids: &[u32], src: &[f32], rows: usize, out: &mut [f32]) {
    let w = out.len() / rows.max(1);
    out.fill(0.0);
    for (k, &i) in ids.iter().enumerate() {
        let dst = &mut out[i as usize * w..][..w];
        dst.iter_mut()
            .zip(&src[k * w..][..w])
            .for_each(|(d, &s)| *d += s);
    }
}
