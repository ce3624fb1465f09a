//! Each head's products through [`super::kernels`]' AVX2 + FMA tiles, for hosts with AVX2
//! and FMA but no AVX-512 (where `gemm`'s packing dominated products this small: a
//! `32×128·32` product ran at 8–30 GFLOP/s). The head's queries, keys, values (and output
//! gradient) are packed once per task into contiguous `W × hd` matrices (`W` = `T` rounded
//! up to a 16-key panel; padding rows are zero), the keys and values also as 16-key panels
//! of their transpose for the score products.
//!
//! The triangle is walked in blocks of [`BLOCK`] query rows; a block's scores (`BLOCK × W`,
//! 16 KiB at `T = 128`) stay in cache while the softmax (and, backward, its gradient) runs
//! over them and the products that read them consume them: no pass over a `T×T` scratch.
//! Each 4-row tile only multiplies against the keys up to its last row. The backward
//! recomputes the block's probabilities (the forward's are not kept), then accumulates
//! `dk` and `dv` over the blocks.

use super::super::math::sum_zip;
use super::Dims;
use super::gemm_path::softmax_in_place;
use super::kernels::{MR, Mat, NR, rows_times, scores, transposed_times};

/// Query rows per block: a multiple of the tile's 4 rows, and small enough that two
/// blocks of scores (probabilities and their gradient) fit L1 together at `T = 128`.
/// Measured (CPU time on the anchor's shapes, both interleaved): 32 beat 16 and 64.
const BLOCK: usize = 32;

/// Whether this host runs the tiled kernels for heads `hd` wide: AVX2 and FMA without
/// AVX-512 (there `gemm`'s AVX-512 kernels are faster) and `hd` a multiple of 16 columns.
pub(super) fn supported(hd: usize) -> bool {
    hd > 0
        && hd.is_multiple_of(NR)
        && std::arch::is_x86_feature_detected!("avx2")
        && std::arch::is_x86_feature_detected!("fma")
        && !std::arch::is_x86_feature_detected!("avx512f")
}

/// Sizes of one task's packed matrices (`W × hd`) and score blocks (`BLOCK × W`).
#[derive(Debug, Clone, Copy)]
struct Layout {
    w: usize,
    hd: usize,
}

impl Layout {
    fn new(d: Dims) -> Self {
        Self {
            w: d.t.next_multiple_of(NR),
            hd: d.hd,
        }
    }

    fn mat(self) -> usize {
        self.w * self.hd
    }

    fn block(self) -> usize {
        BLOCK * self.w
    }
}

/// Floats of scratch one forward task needs: queries, keys' panels, values, output and
/// a block of scores.
pub(super) fn forward_scratch(d: Dims) -> usize {
    let l = Layout::new(d);
    4 * l.mat() + l.block()
}

/// Floats of scratch one backward task needs: queries, keys, keys' panels, values'
/// panels, output gradient, `dq`, `dk`, `dv` and two blocks (probabilities, their
/// gradient).
pub(super) fn backward_scratch(d: Dims) -> usize {
    let l = Layout::new(d);
    8 * l.mat() + 2 * l.block()
}

/// Copies `T` rows of `hd` floats, `stride` apart from `offset` in `src`, to `dst`'s
/// first rows (contiguous).
#[target_feature(enable = "avx2,fma")]
fn pack_rows(src: &[f32], offset: usize, stride: usize, d: Dims, dst: &mut [f32]) {
    for (i, row) in dst.chunks_exact_mut(d.hd).take(d.t).enumerate() {
        row.copy_from_slice(&src[offset + i * stride..][..d.hd]);
    }
}

/// The same rows, transposed in panels of 16: row `i`'s element `c` lands at
/// `(p·hd + c)·16 + l` for `i = 16p + l`, what [`scores`] reads.
fn pack_panels(src: &[f32], offset: usize, stride: usize, d: Dims, dst: &mut [f32]) {
    for i in 0..d.t {
        let (p, l) = (i / NR, i % NR);
        let row = &src[offset + i * stride..][..d.hd];
        for (c, &x) in row.iter().enumerate() {
            dst[(p * d.hd + c) * NR + l] = x;
        }
    }
}

/// Head `h` of batch `b`'s output (`T × hd`, contiguous), computed in `scratch`.
#[target_feature(enable = "avx2,fma")]
pub(super) fn forward_head<'s>(
    qkv: &[f32],
    scratch: &'s mut [f32],
    d: Dims,
    (b, h): (usize, usize),
    scale: f32,
) -> &'s [f32] {
    let l = Layout::new(d);
    let (q, rest) = scratch.split_at_mut(l.mat());
    let (kt, rest) = rest.split_at_mut(l.mat());
    let (v, rest) = rest.split_at_mut(l.mat());
    let (s, o) = rest.split_at_mut(l.block());
    let stride = 3 * d.c;
    pack_rows(qkv, d.qkv(b, h, 0, 0), stride, d, q);
    pack_panels(qkv, d.qkv(b, h, 1, 0), stride, d, kt);
    pack_rows(qkv, d.qkv(b, h, 2, 0), stride, d, v);
    for i0 in (0..d.t).step_by(BLOCK) {
        let rows = BLOCK.min(d.t - i0);
        probabilities((q, kt), s, l, (i0, rows, d.t), scale);
        for r in (0..rows).step_by(MR) {
            let k = (i0 + r + MR).min(d.t);
            let p = Mat {
                data: &s[r * l.w..],
                rs: l.w,
            };
            let v = Mat { data: v, rs: d.hd };
            rows_times(p, v, k, d.hd, &mut o[(i0 + r) * d.hd..], d.hd);
        }
    }
    &o[..d.t * d.hd]
}

/// Causal softmax probabilities of the block of `rows` query rows from `i0` (of `t`) into
/// `s` (rows `W` apart): row `i` holds `i + 1` probabilities, then zeros up to the block's
/// last 16-key panel.
#[target_feature(enable = "avx2,fma")]
fn probabilities(
    (q, kt): (&[f32], &[f32]),
    s: &mut [f32],
    l: Layout,
    (i0, rows, t): (usize, usize, usize),
    scale: f32,
) {
    for r in (0..rows).step_by(MR) {
        let panels = (i0 + r + MR).min(t).div_ceil(NR);
        let q = Mat {
            data: &q[(i0 + r) * l.hd..],
            rs: l.hd,
        };
        scores(q, kt, l.hd, panels, &mut s[r * l.w..], l.w);
    }
    let end = (i0 + rows).next_multiple_of(NR);
    for r in 0..rows {
        let (live, masked) = s[r * l.w..][..end].split_at_mut(i0 + r + 1);
        softmax_in_place(live, scale);
        masked.fill(0.0);
    }
}

/// Head `h` of batch `b`'s gradients `dq`, `dk`, `dv` (each `T × hd`, contiguous),
/// computed in `scratch`: per block of query rows, the probabilities again,
/// `dP = dy·vᵀ` and the softmax gradient over it in place, then `dq = ds·k` for the
/// block's rows and `dk += dsᵀ·q`, `dv += Pᵀ·dy` for the keys up to its last row.
#[target_feature(enable = "avx2,fma")]
pub(super) fn backward_head<'s>(
    (qkv, dy): (&[f32], &[f32]),
    scratch: &'s mut [f32],
    d: Dims,
    (b, h): (usize, usize),
    scale: f32,
) -> [&'s [f32]; 3] {
    let l = Layout::new(d);
    let (packed, rest) = scratch.split_at_mut(5 * l.mat());
    let (blocks, grads) = rest.split_at_mut(2 * l.block());
    let [q, k, kt, vt, g] = pack_backward((qkv, dy), packed, d, (b, h));
    let (p, ds) = blocks.split_at_mut(l.block());
    let (dq, rest) = grads.split_at_mut(l.mat());
    let (dk, dv) = rest.split_at_mut(l.mat());
    dk.fill(0.0);
    dv.fill(0.0);
    for i0 in (0..d.t).step_by(BLOCK) {
        let rows = BLOCK.min(d.t - i0);
        probabilities((q, kt), p, l, (i0, rows, d.t), scale);
        score_grads((g, vt), p, ds, l, (i0, rows, d.t), scale);
        for r in (0..rows).step_by(MR) {
            let a = Mat {
                data: &ds[r * l.w..],
                rs: l.w,
            };
            let keys = (i0 + r + MR).min(d.t);
            let out = &mut dq[(i0 + r) * d.hd..];
            rows_times(a, Mat { data: k, rs: d.hd }, keys, d.hd, out, d.hd);
        }
        let (qb, gb) = (&q[i0 * d.hd..], &g[i0 * d.hd..]);
        for j0 in (0..i0 + rows).step_by(MR) {
            // Rows above key j0 contribute nothing (their entries are zero).
            let below = j0.saturating_sub(i0)..rows;
            let (ds, p) = (Mat { data: ds, rs: l.w }, Mat { data: p, rs: l.w });
            let (qb, gb) = (Mat { data: qb, rs: d.hd }, Mat { data: gb, rs: d.hd });
            transposed_times(ds, j0, below.clone(), qb, d.hd, &mut dk[j0 * d.hd..]);
            transposed_times(p, j0, below, gb, d.hd, &mut dv[j0 * d.hd..]);
        }
    }
    let n = d.t * d.hd;
    [&dq[..n], &dk[..n], &dv[..n]]
}

/// Packs head `h` of batch `b` for the backward into `packed`: queries, keys, keys'
/// panels, values' panels, output gradient (each `W × hd`).
#[target_feature(enable = "avx2,fma")]
fn pack_backward<'s>(
    (qkv, dy): (&[f32], &[f32]),
    packed: &'s mut [f32],
    d: Dims,
    (b, h): (usize, usize),
) -> [&'s [f32]; 5] {
    let n = Layout::new(d).mat();
    let (q, rest) = packed.split_at_mut(n);
    let (k, rest) = rest.split_at_mut(n);
    let (kt, rest) = rest.split_at_mut(n);
    let (vt, g) = rest.split_at_mut(n);
    let stride = 3 * d.c;
    pack_rows(qkv, d.qkv(b, h, 0, 0), stride, d, q);
    pack_rows(qkv, d.qkv(b, h, 1, 0), stride, d, k);
    pack_panels(qkv, d.qkv(b, h, 1, 0), stride, d, kt);
    pack_panels(qkv, d.qkv(b, h, 2, 0), stride, d, vt);
    pack_rows(dy, d.y(b, h, 0), d.c, d, g);
    [q, k, kt, vt, &g[..n]]
}

/// `ds = scale · P ∘ (dP − rowsum(P ∘ dP))` with `dP = dy·vᵀ` for the block of `rows`
/// query rows from `i0` (of `t`), zero past the diagonal up to the block's last panel.
#[target_feature(enable = "avx2,fma")]
fn score_grads(
    (g, vt): (&[f32], &[f32]),
    p: &[f32],
    ds: &mut [f32],
    l: Layout,
    (i0, rows, t): (usize, usize, usize),
    scale: f32,
) {
    for r in (0..rows).step_by(MR) {
        let panels = (i0 + r + MR).min(t).div_ceil(NR);
        let g = Mat {
            data: &g[(i0 + r) * l.hd..],
            rs: l.hd,
        };
        scores(g, vt, l.hd, panels, &mut ds[r * l.w..], l.w);
    }
    let end = (i0 + rows).next_multiple_of(NR);
    for r in 0..rows {
        let live = i0 + r + 1;
        let pr = &p[r * l.w..][..live];
        let (dr, masked) = ds[r * l.w..][..end].split_at_mut(live);
        let dot = sum_zip(pr, dr, |a, b| a * b);
        for (x, &y) in dr.iter_mut().zip(pr) {
            *x = scale * y * (*x - dot);
        }
        masked.fill(0.0);
    }
}
