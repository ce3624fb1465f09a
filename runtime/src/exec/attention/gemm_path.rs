//! Each head's products through the `gemm` crate, on blocks of the causal triangle
//! ([`Block`]): the path for hosts without AVX2 and FMA, for AVX-512 hosts (whose `gemm`
//! kernels beat [`super::tiled`]'s AVX2 ones there) and for head widths the tiled kernels do
//! not cover. Reads the head in place (strided views), keeps its `T×T` probabilities in a
//! scratch block (64 KiB at `T = 128`) and recomputes them in the backward.
//!
//! The triangle is cut in blocks of rows (and columns, [`block_rows`]): a block of rows
//! only multiplies against the keys up to its last row, so the products cost about
//! `(1 + block/T)/2` of the full square.

use super::super::math::{fast_exp, max_map, sum, sum_zip, wide};
use super::super::matmul::{Block, View};
use super::Dims;

/// Rows (and columns) per block of the causal triangle: about the head width (measured
/// on the anchor's shapes: 32 for heads of 32, 64 for heads of 64), as a block's
/// products then cost about what their packing does.
fn block_rows(hd: usize) -> usize {
    if hd >= 64 { 64 } else { 32 }
}

/// Block boundaries `(start, end)` of the triangle's rows.
fn blocks(d: Dims) -> impl Iterator<Item = (usize, usize)> {
    let (t, n) = (d.t, block_rows(d.hd));
    (0..t.div_ceil(n)).map(move |k| (k * n, ((k + 1) * n).min(t)))
}

/// Row-major, rows `rs` apart.
fn rows(rs: usize) -> View {
    View { rs, cs: 1 }
}

/// The transpose of a row-major matrix whose rows are `rs` apart.
fn transposed(rs: usize) -> View {
    View { rs: 1, cs: rs }
}

/// `dst[rows, cols] = op(a)[rows, inner] · op(b)[inner, cols]`, `dst`'s rows `dst_rs` apart.
#[allow(clippy::too_many_arguments)] // (reason: the block's ranges, its operands, the result)
fn product(
    rows: std::ops::Range<usize>,
    cols: std::ops::Range<usize>,
    inner: std::ops::Range<usize>,
    (a, va): (&[f32], View),
    (b, vb): (&[f32], View),
    dst: &mut [f32],
    dst_rs: usize,
) {
    Block { rows, cols, inner }.run(dst, dst_rs, a, va, b, vb);
}

/// Floats of scratch one forward task needs.
pub(super) fn forward_scratch(d: Dims) -> usize {
    d.t * d.t + d.t * d.hd
}

/// Head `h` of batch `b`'s output (`T × hd`, contiguous), computed in `scratch`.
pub(super) fn forward_head<'s>(
    qkv: &[f32],
    scratch: &'s mut [f32],
    d: Dims,
    (b, h): (usize, usize),
    scale: f32,
) -> &'s [f32] {
    let (p, yh) = scratch.split_at_mut(d.t * d.t);
    probabilities(qkv, p, d, b, h, scale);
    let v = (&qkv[d.qkv(b, h, 2, 0)..], rows(3 * d.c));
    for (i0, i1) in blocks(d) {
        product(i0..i1, 0..d.hd, 0..i1, (p, rows(d.t)), v, yh, d.hd);
    }
    &yh[..d.t * d.hd]
}

/// Causal softmax probabilities of head `h` of batch `b` into `p` (`T×T`, row-major): row
/// `i` holds `i + 1` probabilities, then zeros up to its block's end (later columns are
/// never written, so stay zero).
fn probabilities(qkv: &[f32], p: &mut [f32], d: Dims, b: usize, h: usize, scale: f32) {
    let q = (&qkv[d.qkv(b, h, 0, 0)..], rows(3 * d.c));
    let k_t = (&qkv[d.qkv(b, h, 1, 0)..], transposed(3 * d.c));
    for (i0, i1) in blocks(d) {
        product(i0..i1, 0..i1, 0..d.hd, q, k_t, p, d.t);
        wide(
            #[inline(always)]
            || {
                for i in i0..i1 {
                    let row = &mut p[i * d.t..][..i1];
                    let (live, masked) = row.split_at_mut(i + 1);
                    softmax_in_place(live, scale);
                    masked.fill(0.0);
                }
            },
        );
    }
}

/// `x = softmax(scale·x)` in place.
#[inline(always)]
pub(super) fn softmax_in_place(x: &mut [f32], scale: f32) {
    let m = max_map(x, |v| v * scale);
    for v in x.iter_mut() {
        *v = fast_exp(*v * scale - m);
    }
    let inv = 1.0 / sum(x);
    x.iter_mut().for_each(|v| *v *= inv);
}

/// Floats of scratch one backward task needs.
pub(super) fn backward_scratch(d: Dims) -> usize {
    2 * d.t * d.t + 3 * d.t * d.hd
}

/// Head `h` of batch `b`'s gradients `dq`, `dk`, `dv` (each `T × hd`, contiguous, in that
/// order), computed in `scratch`.
pub(super) fn backward_head<'s>(
    (qkv, dy): (&[f32], &[f32]),
    scratch: &'s mut [f32],
    d: Dims,
    (b, h): (usize, usize),
    scale: f32,
) -> [&'s [f32]; 3] {
    let tt = d.t * d.t;
    let (p, rest) = scratch.split_at_mut(tt);
    let (ds, grads) = rest.split_at_mut(tt);
    probabilities(qkv, p, d, b, h, scale);
    score_grads(qkv, dy, p, ds, d, (b, h), scale);
    operand_grads(qkv, dy, (p, ds), grads, d, (b, h));
    let n = d.t * d.hd;
    [&grads[..n], &grads[n..2 * n], &grads[2 * n..3 * n]]
}

/// `ds = scale · P ∘ (dP − rowsum(P ∘ dP))` with `dP = dy·vᵀ`, on the triangle's blocks.
fn score_grads(
    qkv: &[f32],
    dy: &[f32],
    p: &[f32],
    ds: &mut [f32],
    d: Dims,
    (b, h): (usize, usize),
    scale: f32,
) {
    let g = (&dy[d.y(b, h, 0)..], rows(d.c));
    let v_t = (&qkv[d.qkv(b, h, 2, 0)..], transposed(3 * d.c));
    for (i0, i1) in blocks(d) {
        product(i0..i1, 0..i1, 0..d.hd, g, v_t, ds, d.t);
        wide(
            #[inline(always)]
            || {
                for i in i0..i1 {
                    let (pr, dr) = (&p[i * d.t..][..i + 1], &mut ds[i * d.t..][..i1]);
                    let (live, masked) = dr.split_at_mut(i + 1);
                    let dot = sum_zip(pr, live, |a, b| a * b);
                    for (g, &y) in live.iter_mut().zip(pr) {
                        *g = scale * y * (*g - dot);
                    }
                    masked.fill(0.0);
                }
            },
        );
    }
}

/// `dq = ds·k`, `dk = dsᵀ·q` and `dv = Pᵀ·dy` (each `T × hd`, in that order in `grads`).
fn operand_grads(
    qkv: &[f32],
    dy: &[f32],
    (p, ds): (&[f32], &[f32]),
    grads: &mut [f32],
    d: Dims,
    (b, h): (usize, usize),
) {
    let (dq, rest) = grads.split_at_mut(d.t * d.hd);
    let (dk, dv) = rest.split_at_mut(d.t * d.hd);
    let q = (&qkv[d.qkv(b, h, 0, 0)..], rows(3 * d.c));
    let k = (&qkv[d.qkv(b, h, 1, 0)..], rows(3 * d.c));
    let g = (&dy[d.y(b, h, 0)..], rows(d.c));
    for (i0, i1) in blocks(d) {
        // Rows i0..i1 of dq need ds's rows i0..i1 over the keys 0..i1.
        product(i0..i1, 0..d.hd, 0..i1, (ds, rows(d.t)), k, dq, d.hd);
        // Rows j0..j1 of dk and dv need columns j0..j1 of ds and P over rows j0..T (zero
        // above the diagonal within the blocks, never written past them).
        let (j0, j1) = (i0, i1);
        product(j0..j1, 0..d.hd, j0..d.t, (ds, transposed(d.t)), q, dk, d.hd);
        product(j0..j1, 0..d.hd, j0..d.t, (p, transposed(d.t)), g, dv, d.hd);
    }
}
