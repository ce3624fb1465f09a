//! Data movement: broadcast, permute, slice, pad, concat, gather and scatter-add. Each
//! works on contiguous runs (whole rows of the innermost axis) rather than element by
//! element where the layout allows.

use rayon::prelude::*;
use vibee_dsl::graph::layout::{broadcast_strides, offset_of, strides};

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

/// `out[idx] = x[Σ idx·strides]`, a row of the last axis at a time.
fn gather_rows(x: &[f32], st: &[usize], out: &mut [f32], so: &[usize]) {
    if so.is_empty() {
        out[0] = x[0];
        return;
    }
    let w = so[so.len() - 1].max(1);
    let (lead, lead_st, inner) = (&so[..so.len() - 1], &st[..st.len() - 1], st[st.len() - 1]);
    out.par_chunks_mut(w).enumerate().for_each(|(r, o)| {
        let base = offset_of(r, lead, lead_st);
        if inner == 1 {
            o.copy_from_slice(&x[base..base + w]);
        } else {
            o.iter_mut()
                .enumerate()
                .for_each(|(i, o)| *o = x[base + i * inner]);
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
    out.par_chunks_mut(dst_w).enumerate().for_each(|(o, d)| {
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
    out.par_chunks_mut(dst_w.max(1))
        .enumerate()
        .for_each(|(o, d)| {
            d.fill(0.0);
            d[before * inner..][..src_w].copy_from_slice(&x[o * src_w..][..src_w]);
        });
}

/// `parts` joined along `axis`.
pub(super) fn concat(parts: &[(&[f32], &[usize])], axis: usize, out: &mut [f32], so: &[usize]) {
    let (_, inner) = blocks(so, axis);
    let dst_w = so[axis] * inner;
    out.par_chunks_mut(dst_w.max(1))
        .enumerate()
        .for_each(|(o, d)| {
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
    out.par_chunks_mut(w.max(1))
        .zip(ids.par_iter())
        .for_each(|(o, &i)| {
            o.copy_from_slice(&table[i as usize * w..][..w]);
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
