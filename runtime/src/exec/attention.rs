//! Fused causal self-attention ([`vibee_dsl::graph::Op::SelfAttention`]) and its gradient,
//! straight from the `qkv: [B, T, 3·C]` projection: each (batch row, head) is one task that
//! reads its queries, keys and values in place (strided views of causal attention's block
//! products, [`Block`]), keeps its `T×T` probabilities in a scratch block (in cache: 64 KiB
//! at `T = 128`), and copies its `T × hd` results into its columns of the output. Nothing moves the heads and nothing stores the probabilities between forward
//! and backward (the backward recomputes them: one more `q·kᵀ` of the five products).
//!
//! The triangle is cut in blocks of rows (and columns, [`block_rows`]): a block of rows
//! only multiplies against the keys up to its last row, so the products cost about
//! `(1 + block/T)/2` of the full square. Each task runs on one thread in a fixed order,
//! so results do not depend on the thread count.

use rayon::prelude::*;

use super::math::{fast_exp, max_map, sum, sum_zip, wide};
use super::matmul::{Block, View};

/// Rows (and columns) per block of the causal triangle: about the head width (measured
/// on the anchor's shapes: 32 for heads of 32, 64 for heads of 64), as a block's
/// products then cost about what their packing does.
fn block_rows(hd: usize) -> usize {
    if hd >= 64 { 64 } else { 32 }
}

/// Shapes of one attention: batch, positions, width, heads, head width.
#[derive(Debug, Clone, Copy)]
pub(super) struct Dims {
    pub b: usize,
    pub t: usize,
    pub c: usize,
    pub heads: usize,
    pub hd: usize,
}

impl Dims {
    /// From `qkv`'s shape `[B, T, 3·C]` (as shape inference admitted it).
    pub(super) fn new(qkv: &[usize], heads: usize) -> Self {
        let (c, heads) = (qkv[2] / 3, heads.max(1));
        Self {
            b: qkv[0],
            t: qkv[1],
            c,
            heads,
            hd: c / heads,
        }
    }

    /// Offset in `qkv` of part `p` (0 queries, 1 keys, 2 values) of head `h`, row `i` of
    /// batch `b`; rows are `3·C` apart.
    fn qkv(&self, b: usize, h: usize, p: usize, i: usize) -> usize {
        (b * self.t + i) * 3 * self.c + p * self.c + h * self.hd
    }

    /// Offset in a `[B, T, C]` tensor of head `h`, row `i` of batch `b`; rows `C` apart.
    fn y(&self, b: usize, h: usize, i: usize) -> usize {
        (b * self.t + i) * self.c + h * self.hd
    }

    /// Block boundaries `(start, end)` of the triangle's rows.
    fn blocks(&self) -> impl Iterator<Item = (usize, usize)> {
        let (t, n) = (self.t, block_rows(self.hd));
        (0..t.div_ceil(n)).map(move |k| (k * n, ((k + 1) * n).min(t)))
    }
}

/// The output's buffer, which every task writes its own (batch, head) columns of.
#[derive(Clone, Copy)]
struct Shared(*mut f32);
// SAFETY: tasks write disjoint elements (distinct (batch, head) column ranges) and nothing
// reads them while the tasks run.
unsafe impl Send for Shared {}
// SAFETY: as above.
unsafe impl Sync for Shared {}

impl Shared {
    /// Copies `src` (`T` rows of `hd`, contiguous) to the rows `stride` apart from `offset`.
    ///
    /// # Safety
    /// Those rows must lie inside the buffer and be written by no other task.
    unsafe fn write(self, offset: usize, stride: usize, src: &[f32], d: Dims) {
        for (r, row) in src.chunks_exact(d.hd).take(d.t).enumerate() {
            // SAFETY: row `r` of this task's columns (the caller's contract).
            let dst =
                unsafe { std::slice::from_raw_parts_mut(self.0.add(offset + r * stride), d.hd) };
            dst.copy_from_slice(row);
        }
    }
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

/// `y = attention(qkv)`, `y: [B, T, C]`.
pub(super) fn forward(qkv: &[f32], y: &mut [f32], d: Dims, scale: f32) {
    assert!(qkv.len() >= d.b * d.t * 3 * d.c && y.len() >= d.b * d.t * d.c);
    let out = Shared(y.as_mut_ptr());
    (0..d.b * d.heads).into_par_iter().for_each_init(
        || vec![0.0f32; d.t * d.t + d.t * d.hd],
        |scratch, bh| {
            let (b, h) = (bh / d.heads, bh % d.heads);
            let (p, yh) = scratch.split_at_mut(d.t * d.t);
            probabilities(qkv, p, d, b, h, scale);
            let v = (&qkv[d.qkv(b, h, 2, 0)..], rows(3 * d.c));
            for (i0, i1) in d.blocks() {
                product(i0..i1, 0..d.hd, 0..i1, (p, rows(d.t)), v, yh, d.hd);
            }
            // SAFETY: this task's rows of head `h` in batch `b` of `y` (checked above).
            unsafe { out.write(d.y(b, h, 0), d.c, yh, d) };
        },
    );
}

/// Causal softmax probabilities of head `h` of batch `b` into `p` (`T×T`, row-major): row
/// `i` holds `i + 1` probabilities, then zeros up to its block's end (later columns are
/// never written, so stay zero).
fn probabilities(qkv: &[f32], p: &mut [f32], d: Dims, b: usize, h: usize, scale: f32) {
    let q = (&qkv[d.qkv(b, h, 0, 0)..], rows(3 * d.c));
    let k_t = (&qkv[d.qkv(b, h, 1, 0)..], transposed(3 * d.c));
    for (i0, i1) in d.blocks() {
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
fn softmax_in_place(x: &mut [f32], scale: f32) {
    let m = max_map(x, |v| v * scale);
    for v in x.iter_mut() {
        *v = fast_exp(*v * scale - m);
    }
    let inv = 1.0 / sum(x);
    x.iter_mut().for_each(|v| *v *= inv);
}

/// `dqkv = ∂attention(qkv)/∂qkv · dy`, `dqkv: [B, T, 3·C]`.
pub(super) fn backward(qkv: &[f32], dy: &[f32], dqkv: &mut [f32], d: Dims, scale: f32) {
    let n = d.b * d.t * 3 * d.c;
    assert!(qkv.len() >= n && dqkv.len() >= n && dy.len() >= d.b * d.t * d.c);
    let out = Shared(dqkv.as_mut_ptr());
    let (tt, th) = (d.t * d.t, d.t * d.hd);
    (0..d.b * d.heads).into_par_iter().for_each_init(
        || vec![0.0f32; 2 * tt + 3 * th],
        |scratch, bh| {
            let (b, h) = (bh / d.heads, bh % d.heads);
            let (p, rest) = scratch.split_at_mut(tt);
            let (ds, grads) = rest.split_at_mut(tt);
            probabilities(qkv, p, d, b, h, scale);
            score_grads(qkv, dy, p, ds, d, b, h, scale);
            operand_grads(qkv, dy, p, ds, grads, d, b, h);
            for (part, g) in grads.chunks_exact(th).enumerate() {
                // SAFETY: this task's rows of part `part` of head `h` in batch `b` of
                // `dqkv` (checked above).
                unsafe { out.write(d.qkv(b, h, part, 0), 3 * d.c, g, d) };
            }
        },
    );
}

/// `ds = scale · P ∘ (dP − rowsum(P ∘ dP))` with `dP = dy·vᵀ`, on the triangle's blocks.
#[allow(clippy::too_many_arguments)] // (reason: operands, scratch, dims, position, scale)
fn score_grads(
    qkv: &[f32],
    dy: &[f32],
    p: &[f32],
    ds: &mut [f32],
    d: Dims,
    b: usize,
    h: usize,
    scale: f32,
) {
    let g = (&dy[d.y(b, h, 0)..], rows(d.c));
    let v_t = (&qkv[d.qkv(b, h, 2, 0)..], transposed(3 * d.c));
    for (i0, i1) in d.blocks() {
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
#[allow(clippy::too_many_arguments)] // (reason: operands, scratch, results, dims, position)
fn operand_grads(
    qkv: &[f32],
    dy: &[f32],
    p: &[f32],
    ds: &[f32],
    grads: &mut [f32],
    d: Dims,
    b: usize,
    h: usize,
) {
    let (dq, rest) = grads.split_at_mut(d.t * d.hd);
    let (dk, dv) = rest.split_at_mut(d.t * d.hd);
    let q = (&qkv[d.qkv(b, h, 0, 0)..], rows(3 * d.c));
    let k = (&qkv[d.qkv(b, h, 1, 0)..], rows(3 * d.c));
    let g = (&dy[d.y(b, h, 0)..], rows(d.c));
    for (i0, i1) in d.blocks() {
        // Rows i0..i1 of dq need ds's rows i0..i1 over the keys 0..i1.
        product(i0..i1, 0..d.hd, 0..i1, (ds, rows(d.t)), k, dq, d.hd);
        // Rows j0..j1 of dk and dv need columns j0..j1 of ds and P over rows j0..T (zero
        // above the diagonal within the blocks, never written past them).
        let (j0, j1) = (i0, i1);
        product(j0..j1, 0..d.hd, j0..d.t, (ds, transposed(d.t)), q, dk, d.hd);
        product(j0..j1, 0..d.hd, j0..d.t, (p, transposed(d.t)), g, dv, d.hd);
    }
}
