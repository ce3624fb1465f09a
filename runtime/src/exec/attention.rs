//! Fused causal self-attention ([`vibee_dsl::graph::Op::SelfAttention`]) and its gradient,
//! straight from the `qkv: [B, T, 3·C]` projection: each (batch row, head) is one task that
//! reads its queries, keys and values in place (strided), keeps its `T×T` probabilities
//! in a scratch block (in cache: 64 KiB at `T = 128`), and writes its columns of the
//! output. Nothing moves the heads and nothing stores the probabilities between forward
//! and backward (the backward recomputes them: one more `q·kᵀ` of the five products).
//!
//! The triangle is cut in blocks of rows (and columns, [`block_rows`]): a block of rows
//! only multiplies against the keys up to its last row, so the products cost about
//! `(1 + block/T)/2` of the full square. Each task runs on one thread in a fixed order,
//! so results do not depend on the thread count.

use rayon::prelude::*;

use super::math::{fast_exp, max_map, sum, wide};

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

/// A raw pointer the tasks share; each writes only its own (batch, head) columns.
#[derive(Clone, Copy)]
struct Shared(*mut f32);
// SAFETY: tasks write disjoint elements (distinct (batch, head) column ranges) and nothing
// reads them while the tasks run.
unsafe impl Send for Shared {}
// SAFETY: as above.
unsafe impl Sync for Shared {}

impl Shared {
    /// The pointer (a method, so closures capture the whole `Send + Sync` wrapper).
    fn ptr(self) -> *mut f32 {
        self.0
    }
}

/// A strided matrix view: pointer, row stride and column stride (elements).
#[derive(Clone, Copy)]
struct View(*const f32, isize, isize);

/// `dst (m×n, rows dst_rs apart) = a (m×k) · b (k×n)` on this thread.
///
/// # Safety
/// Every element the views and `dst` address for these sizes must be in bounds, and `dst`
/// must not overlap `a` or `b`.
unsafe fn product(m: usize, n: usize, k: usize, dst: *mut f32, dst_rs: usize, a: View, b: View) {
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        for i in 0..m {
            // SAFETY: row `i` of `dst` is in bounds (caller's contract).
            unsafe { std::slice::from_raw_parts_mut(dst.add(i * dst_rs), n).fill(0.0) };
        }
        return;
    }
    // SAFETY: forwarded from the caller; `gemm` reads `a`/`b` and writes `dst` through
    // exactly these strides.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst,
            1,
            dst_rs as isize,
            false,
            a.0,
            a.2,
            a.1,
            b.0,
            b.2,
            b.1,
            0.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

/// `y = attention(qkv)`, `y: [B, T, C]`.
pub(super) fn forward(qkv: &[f32], y: &mut [f32], d: Dims, scale: f32) {
    assert!(qkv.len() >= d.b * d.t * 3 * d.c && y.len() >= d.b * d.t * d.c);
    let out = Shared(y.as_mut_ptr());
    (0..d.b * d.heads).into_par_iter().for_each_init(
        || vec![0.0f32; d.t * d.t],
        |p, bh| {
            let (b, h) = (bh / d.heads, bh % d.heads);
            probabilities(qkv, p, d, b, h, scale);
            let t = d.t as isize;
            for (i0, i1) in d.blocks() {
                let v = View(qkv[d.qkv(b, h, 2, 0)..].as_ptr(), 3 * d.c as isize, 1);
                // SAFETY: rows i0..i1 of P (t apart, columns < i1 ≤ t) and of V (3C
                // apart, hd columns) are inside `p`/`qkv`; this task's y columns are
                // inside `y` and written by no other task.
                unsafe {
                    let dst = out.ptr().add(d.y(b, h, i0));
                    let pv = View(p.as_ptr().add(i0 * d.t), t, 1);
                    product(i1 - i0, d.hd, i1, dst, d.c, pv, v);
                }
            }
        },
    );
}

/// Causal softmax probabilities of head `h` of batch `b` into `p` (`T×T`, row-major): row
/// `i` holds `i + 1` probabilities, then zeros up to its block's end (later columns are
/// never read).
fn probabilities(qkv: &[f32], p: &mut [f32], d: Dims, b: usize, h: usize, scale: f32) {
    let rs = 3 * d.c as isize;
    for (i0, i1) in d.blocks() {
        let q = View(qkv[d.qkv(b, h, 0, i0)..].as_ptr(), rs, 1);
        let k_t = View(qkv[d.qkv(b, h, 1, 0)..].as_ptr(), 1, rs);
        // SAFETY: rows i0..i1 of Q and 0..i1 of K (hd columns, 3C apart) lie in `qkv`;
        // the destination rows i0..i1, columns 0..i1 lie in `p` (T×T).
        unsafe { product(i1 - i0, i1, d.hd, p[i0 * d.t..].as_mut_ptr(), d.t, q, k_t) };
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
    (0..d.b * d.heads).into_par_iter().for_each_init(
        || vec![0.0f32; 2 * d.t * d.t],
        |scratch, bh| {
            let (b, h) = (bh / d.heads, bh % d.heads);
            let (p, ds) = scratch.split_at_mut(d.t * d.t);
            probabilities(qkv, p, d, b, h, scale);
            score_grads(qkv, dy, p, ds, d, b, h, scale);
            // SAFETY: `out` is `dqkv`, checked above to hold every row this task writes.
            unsafe { operand_grads(qkv, dy, p, ds, out, d, b, h) };
        },
    );
}

/// `ds = scale · P ∘ (dP − rowsum(P ∘ dP))` with `dP = dy·vᵀ`, on the triangle's blocks.
#[allow(clippy::too_many_arguments)] // (reason: operands, scratch, dims and position)
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
    for (i0, i1) in d.blocks() {
        let g = View(dy[d.y(b, h, i0)..].as_ptr(), d.c as isize, 1);
        let v_t = View(qkv[d.qkv(b, h, 2, 0)..].as_ptr(), 1, 3 * d.c as isize);
        // SAFETY: rows i0..i1 of dy (C apart), rows 0..i1 of V, and rows i0..i1, columns
        // 0..i1 of `ds` (T×T) are in bounds.
        unsafe { product(i1 - i0, i1, d.hd, ds[i0 * d.t..].as_mut_ptr(), d.t, g, v_t) };
        wide(
            #[inline(always)]
            || {
                for i in i0..i1 {
                    let (pr, dr) = (&p[i * d.t..][..i + 1], &mut ds[i * d.t..][..i1]);
                    let (live, masked) = dr.split_at_mut(i + 1);
                    let dot = super::math::sum_zip(pr, live, |a, b| a * b);
                    for (g, &y) in live.iter_mut().zip(pr) {
                        *g = scale * y * (*g - dot);
                    }
                    masked.fill(0.0);
                }
            },
        );
    }
}

/// `dq = ds·k`, `dk = dsᵀ·q`, `dv = Pᵀ·dy`, written into this head's columns of `dqkv`.
///
/// # Safety
/// `out` must point at a `[B, T, 3·C]` buffer no other task writes these columns of.
#[allow(clippy::too_many_arguments)] // (reason: operands, scratch, output, dims and position)
unsafe fn operand_grads(
    qkv: &[f32],
    dy: &[f32],
    p: &[f32],
    ds: &[f32],
    out: Shared,
    d: Dims,
    b: usize,
    h: usize,
) {
    let (t, rs) = (d.t as isize, 3 * d.c as isize);
    let dst = |part: usize, row: usize| {
        // SAFETY: the offset is inside the `[B, T, 3·C]` buffer `out` points at.
        unsafe { out.ptr().add(d.qkv(b, h, part, row)) }
    };
    for (i0, i1) in d.blocks() {
        // Rows i0..i1 of dq need ds's rows i0..i1 over the keys 0..i1.
        let k = View(qkv[d.qkv(b, h, 1, 0)..].as_ptr(), rs, 1);
        let dsr = View(ds[i0 * d.t..].as_ptr(), t, 1);
        // SAFETY: all views and destinations are in bounds (see `forward`).
        unsafe { product(i1 - i0, d.hd, i1, dst(0, i0), 3 * d.c, dsr, k) };
        // Rows j0..j1 of dk and dv need columns j0..j1 of ds and P over rows j0..T
        // (zero above the diagonal within the blocks, never read past them).
        let (j0, j1) = (i0, i1);
        let rows = d.t - j0;
        let q = View(qkv[d.qkv(b, h, 0, j0)..].as_ptr(), rs, 1);
        let g = View(dy[d.y(b, h, j0)..].as_ptr(), d.c as isize, 1);
        let ds_t = View(ds[j0 * d.t + j0..].as_ptr(), 1, t);
        let p_t = View(p[j0 * d.t + j0..].as_ptr(), 1, t);
        // SAFETY: as above.
        unsafe {
            product(j1 - j0, d.hd, rows, dst(1, j0), 3 * d.c, ds_t, q);
            product(j1 - j0, d.hd, rows, dst(2, j0), 3 * d.c, p_t, g);
        }
    }
}
