//! Each head's products through [`super::kernels`]' AVX2 + FMA tiles, for hosts with AVX2
//! and FMA but no AVX-512 (where `gemm`'s packing dominated products this small: a
//! `32×128·32` product ran at 8–30 GFLOP/s). The kernels read the head's queries, keys,
//! values and output gradient where they lie (rows `3·C` or `C` apart); only the keys and
//! values are packed once per task, as 16-key panels of their transpose for the score
//! products (`W` = `T` rounded up to a panel; padding keys are zero). A 4-row tile of
//! queries (or output gradient) that runs past `T` is copied into a zero-padded tile first.
//!
//! The triangle is walked in blocks of [`BLOCK`] query rows; a block's scores (`BLOCK × W`,
//! 16 KiB at `T = 128`) stay in cache while the softmax (and, backward, its gradient) runs
//! over them and the products that read them consume them: no pass over a `T×T` scratch.
//! Each 4-row tile only multiplies against the keys up to its last row. The forward keeps
//! the softmax's numerators unnormalised and scales each output row once instead (one
//! pass over the block less). The backward recomputes the block's numerators, or reads
//! the ones the forward kept for it (`keep`: each block's rows up to its last panel and
//! their factors, streamed out with non-temporal stores; measured on the anchor's small
//! shape, 1 thread: forward +0.4 ms, gradient −1.5 ms), then accumulates `dk` and `dv`
//! over the blocks. Products write straight into the output's rows (`y`, `dqkv`: a
//! task's columns, rows `C` or `3·C` apart), a tile that runs past `T` through a pad; each
//! 4-key tile of `dk` and `dv` is overwritten by the first block that reaches it, then
//! accumulated.

use super::Dims;
pub(super) use super::kernels::Dst;
use super::kernels::{MR, Mat, NR, pack_panels, rows_times, scores, transposed_times};
use super::softmax::{exp_row, grad_row, row_max};

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

/// Sizes of one task's panels (`W × hd`), score blocks (`BLOCK × W`) and padded tile
/// (`4 × hd`).
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

    fn tile(self) -> usize {
        MR * self.hd
    }
}

/// Floats a head's kept softmax numerators take ([`forward_head`]'s `keep`): per block of
/// query rows, its rows' numerators up to the block's last 16-key panel (the triangle,
/// in steps of a block), then its `BLOCK` normalising factors.
pub(super) fn kept_len(d: Dims) -> usize {
    match d.t.div_ceil(BLOCK) {
        0 => 0,
        n => {
            let (i0, last) = ((n - 1) * BLOCK, d.t - (n - 1) * BLOCK);
            kept_at(n - 1) + last * (i0 + last).next_multiple_of(NR) + BLOCK
        }
    }
}

/// Where block `n` of a head's kept numerators starts: the whole blocks before it, block
/// `m` holding `BLOCK` rows of `(m + 1)·BLOCK` numerators and `BLOCK` factors.
fn kept_at(n: usize) -> usize {
    BLOCK * BLOCK * n * (n + 1) / 2 + n * BLOCK
}

/// Floats of scratch one forward task needs: keys' panels, a block of scores and a
/// padded tile.
pub(super) fn forward_scratch(d: Dims) -> usize {
    let l = Layout::new(d);
    l.mat() + l.block() + l.tile()
}

/// Floats of scratch one backward task needs: keys' and values' panels, three blocks
/// (numerators, probabilities, their gradient), a padded tile and the last tile of `dk`
/// and of `dv`.
pub(super) fn backward_scratch(d: Dims) -> usize {
    let l = Layout::new(d);
    2 * l.mat() + 3 * l.block() + 3 * l.tile()
}

/// Rows `i..` of `m`.
fn from_row(m: Mat, i: usize) -> Mat {
    Mat {
        data: &m.data[i * m.rs..],
        rs: m.rs,
    }
}

/// Rows `i..i + 4` of `m`'s first `t` rows (`hd` wide), through `pad` (zero past `t`)
/// where they run past `t`.
fn tile<'a>(m: Mat<'a>, (i, t, hd): (usize, usize, usize), pad: &'a mut [f32]) -> Mat<'a> {
    if i + MR <= t {
        return from_row(m, i);
    }
    pad.fill(0.0);
    for (r, row) in pad.chunks_exact_mut(hd).take(t - i).enumerate() {
        row.copy_from_slice(&m.data[(i + r) * m.rs..][..hd]);
    }
    Mat { data: pad, rs: hd }
}

/// Head `h` of batch `b`'s queries, keys and values in `qkv` (rows `3·C` apart).
fn head(qkv: &[f32], d: Dims, (b, h): (usize, usize)) -> [Mat<'_>; 3] {
    [0, 1, 2].map(|part| Mat {
        data: &qkv[d.qkv(b, h, part, 0)..],
        rs: 3 * d.c,
    })
}

/// `T` rows of `hd` from `src` (rows `hd` apart) to `dst`'s first rows.
///
/// # Safety
/// Those rows of `dst` must be writable and touched by no other thread.
unsafe fn copy_rows(src: &[f32], dst: Dst, (t, hd): (usize, usize)) {
    for (r, row) in src.chunks_exact(hd).take(t).enumerate() {
        // SAFETY: row `r` of `dst` (the caller's contract); `row` is `hd` floats.
        unsafe { std::ptr::copy_nonoverlapping(row.as_ptr(), dst.row(r).ptr, hd) };
    }
}

/// Rows `i..i + 4` of `out` for a product's tile, through `pad` (its rows `hd` apart)
/// where they run past `t`, then [`finish_tile`] copies the rows below `t` over.
fn out_tile(out: Dst, (i, t, hd): (usize, usize, usize), pad: &mut [f32]) -> Dst {
    if i + MR <= t {
        out.row(i)
    } else {
        Dst {
            ptr: pad.as_mut_ptr(),
            rs: hd,
        }
    }
}

/// The rows below `t` of a tile that [`out_tile`] put in `pad`, to `out`'s rows `i..`.
///
/// # Safety
/// Those rows of `out` must be writable and touched by no other thread.
unsafe fn finish_tile(out: Dst, (i, t, hd): (usize, usize, usize), pad: &[f32]) {
    if i + MR > t {
        // SAFETY: the caller's contract.
        unsafe { copy_rows(pad, out.row(i), (t - i, hd)) };
    }
}

/// Head `h` of batch `b`'s output (`T × hd`) into `y`'s first `T` rows, computed with
/// `scratch`; with `keep` ([`kept_len`] floats), each block's softmax numerators and
/// normalising factors are computed there and left for [`backward_head`].
///
/// # Safety
/// `y`'s first `T` rows of `hd` floats must be writable and touched by no other thread.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn forward_head(
    qkv: &[f32],
    scratch: &mut [f32],
    d: Dims,
    bh: (usize, usize),
    scale: f32,
    (y, mut keep): (Dst, Option<&mut [f32]>),
) {
    let l = Layout::new(d);
    let (kt, rest) = scratch.split_at_mut(l.mat());
    let (block, pad) = rest.split_at_mut(l.block());
    let [q, k, v] = head(qkv, d, bh);
    pack_panels(k, d.t, d.hd, kt);
    for (n, i0) in (0..d.t).step_by(BLOCK).enumerate() {
        let rows = BLOCK.min(d.t - i0);
        let s = &mut *block;
        let norms = exponentials((q, kt), (s, pad), l, (i0, rows, d.t), scale);
        if let Some(kept) = keep.as_deref_mut() {
            // The rows up to the block's last panel, packed, then the factors.
            let end = (i0 + rows).next_multiple_of(NR);
            let (e, factors) = kept[kept_at(n)..][..rows * end + BLOCK].split_at_mut(rows * end);
            for (dst, src) in e.chunks_exact_mut(end).zip(s.chunks_exact(l.w)) {
                stream_row(dst, &src[..end]);
            }
            factors.copy_from_slice(&norms);
        }
        for r in (0..rows).step_by(MR) {
            let k = (i0 + r + MR).min(d.t);
            let p = Mat {
                data: &s[r * l.w..],
                rs: l.w,
            };
            let f = [norms[r], norms[r + 1], norms[r + 2], norms[r + 3]];
            let at = (i0 + r, d.t, d.hd);
            let out = out_tile(y, at, pad);
            // SAFETY: rows i0 + r.. of `y` below `T` (the caller's contract), or `pad`.
            unsafe {
                rows_times(p, v, (k, d.hd), f, out);
                finish_tile(y, at, pad);
            }
        }
    }
    if keep.is_some() {
        // The kept numerators' non-temporal stores before the task ends.
        std::arch::x86_64::_mm_sfence();
    }
}

/// `dst = src` (lengths a multiple of 4) by non-temporal stores where `dst` is 16-byte
/// aligned (the kept numerators are read back only by the gradient, much later: they need
/// not pass through the cache); a plain copy elsewhere. The caller fences the stores.
#[target_feature(enable = "avx2,fma")]
fn stream_row(dst: &mut [f32], src: &[f32]) {
    use std::arch::x86_64::{_mm_loadu_ps, _mm_stream_ps};
    let n = dst.len().min(src.len());
    if !(dst.as_ptr() as usize).is_multiple_of(16) || !n.is_multiple_of(4) {
        dst[..n].copy_from_slice(&src[..n]);
        return;
    }
    let (dp, sp) = (dst.as_mut_ptr(), src.as_ptr());
    for c in (0..n).step_by(4) {
        // SAFETY: c + 4 ≤ n, inside both rows; `dp + c` is 16-byte aligned (checked above).
        unsafe { _mm_stream_ps(dp.add(c), _mm_loadu_ps(sp.add(c))) };
    }
}

/// Causal softmax numerators `e = 2^(log₂e·scale·s − max)` of the block of `rows` query
/// rows from `i0` (of `t`) into `s` (rows `W` apart): row `i` holds `i + 1` of them, then
/// zeros up to the block's last 16-key panel. Returns each row's normalising factor
/// `1 / Σ e` (zero for rows past the block's), which the forward applies to its output
/// rows instead of to the block.
#[target_feature(enable = "avx2,fma")]
fn exponentials(
    (q, kt): (Mat, &[f32]),
    (s, pad): (&mut [f32], &mut [f32]),
    l: Layout,
    (i0, rows, t): (usize, usize, usize),
    scale: f32,
) -> [f32; BLOCK] {
    let factor = scale * std::f32::consts::LOG2_E;
    for r in (0..rows).step_by(MR) {
        let panels = (i0 + r + MR).min(t).div_ceil(NR);
        let q = tile(q, (i0 + r, t, l.hd), pad);
        scores(q, (kt, l.hd, panels), factor, &mut s[r * l.w..], l.w);
    }
    let end = (i0 + rows).next_multiple_of(NR);
    // All the rows' maxima first: each row's exponentials wait on its maximum, and the
    // rows are independent, so this way no row waits.
    let mut maxima = [0.0; BLOCK];
    for (r, m) in maxima.iter_mut().enumerate().take(rows) {
        *m = row_max(&s[r * l.w..][..end], i0 + r + 1);
    }
    let mut norms = [0.0; BLOCK];
    for (r, norm) in norms.iter_mut().enumerate().take(rows) {
        *norm = exp_row(&mut s[r * l.w..][..end], i0 + r + 1, maxima[r]);
    }
    norms
}

/// Head `h` of batch `b`'s gradients `dq`, `dk`, `dv` into the first `T` rows of
/// `outs`, computed with `scratch`: per block of query rows, the probabilities again
/// (or the numerators and factors [`forward_head`] kept, the same bits),
/// `dP = dy·vᵀ` and the softmax gradient over it in place, then `dq = ds·k` for the
/// block's rows and `dk += dsᵀ·q`, `dv += Pᵀ·dy` for the keys up to its last row (each
/// 4-key tile overwritten by the first block that reaches it).
///
/// # Safety
/// The first `T` rows of `hd` floats of each of `outs` must be writable, readable and
/// touched by no other thread.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn backward_head(
    (qkv, dy): (&[f32], &[f32]),
    scratch: &mut [f32],
    d: Dims,
    (b, h): (usize, usize),
    scale: f32,
    ([dq, dk, dv], kept): ([Dst; 3], Option<&[f32]>),
) {
    let l = Layout::new(d);
    let (kt, rest) = scratch.split_at_mut(l.mat());
    let (vt, rest) = rest.split_at_mut(l.mat());
    let (e, rest) = rest.split_at_mut(l.block());
    let (p, rest) = rest.split_at_mut(l.block());
    let (ds, rest) = rest.split_at_mut(l.block());
    let (pad, rest) = rest.split_at_mut(l.tile());
    let (dk_end, dv_end) = rest.split_at_mut(l.tile());
    let [q, k, v] = head(qkv, d, (b, h));
    let g = Mat {
        data: &dy[d.y(b, h, 0)..],
        rs: d.c,
    };
    if kept.is_none() {
        pack_panels(k, d.t, d.hd, kt);
    }
    pack_panels(v, d.t, d.hd, vt);
    // The last 4-key tile of `dk` and `dv`, where it runs past `T`.
    let last = (d.t.saturating_sub(1) / MR * MR, d.t, d.hd);
    let (dk_last, dv_last) = (out_tile(dk, last, dk_end), out_tile(dv, last, dv_end));
    for (n, i0) in (0..d.t).step_by(BLOCK).enumerate() {
        let rows = BLOCK.min(d.t - i0);
        let (e, norms) = match kept {
            Some(kept) => {
                let end = (i0 + rows).next_multiple_of(NR);
                let (e, factors) = kept[kept_at(n)..][..rows * end + BLOCK].split_at(rows * end);
                let e = Mat { data: e, rs: end };
                (e, std::array::from_fn(|r| factors[r]))
            }
            None => {
                let norms = exponentials((q, kt), (e, pad), l, (i0, rows, d.t), scale);
                (Mat { data: e, rs: l.w }, norms)
            }
        };
        score_grads((g, vt), (e, norms), (p, ds, pad), l, (i0, rows, d.t), scale);
        for r in (0..rows).step_by(MR) {
            let a = Mat {
                data: &ds[r * l.w..],
                rs: l.w,
            };
            let keys = (i0 + r + MR).min(d.t);
            let at = (i0 + r, d.t, d.hd);
            let out = out_tile(dq, at, pad);
            // SAFETY: rows i0 + r.. of `dq` below `T` (the caller's contract), or `pad`.
            unsafe {
                rows_times(a, k, (keys, d.hd), [1.0; MR], out);
                finish_tile(dq, at, pad);
            }
        }
        let (qb, gb) = (from_row(q, i0), from_row(g, i0));
        for j0 in (0..i0 + rows).step_by(MR) {
            // Rows above key j0 contribute nothing (their entries are zero).
            let below = j0.saturating_sub(i0)..rows;
            let (ds, p) = (Mat { data: ds, rs: l.w }, Mat { data: p, rs: l.w });
            let fresh = j0 >= i0;
            let (dk_j, dv_j) = if j0 == last.0 {
                (dk_last, dv_last)
            } else {
                (dk.row(j0), dv.row(j0))
            };
            // SAFETY: rows j0..j0 + 4 ≤ T of `dk` and `dv` (the caller's contract), or
            // the scratch's last tiles; each read after its first block wrote it.
            unsafe {
                transposed_times(ds, (j0, below.clone()), qb, d.hd, (dk_j, fresh));
                transposed_times(p, (j0, below), gb, d.hd, (dv_j, fresh));
            }
        }
    }
    // SAFETY: the rows of `dk` and `dv` below `T` (the caller's contract).
    unsafe {
        finish_tile(dk, last, dk_end);
        finish_tile(dv, last, dv_end);
    }
}

/// `ds = scale · P ∘ (dP − rowsum(P ∘ dP))` with `dP = dy·vᵀ` for the block of `rows`
/// query rows from `i0` (of `t`), zero past the diagonal up to the block's last panel;
/// the probabilities `p` from the softmax numerators `e` (and their factors `norms`) on
/// the way.
#[target_feature(enable = "avx2,fma")]
fn score_grads(
    (g, vt): (Mat, &[f32]),
    (e, norms): (Mat, [f32; BLOCK]),
    (p, ds, pad): (&mut [f32], &mut [f32], &mut [f32]),
    l: Layout,
    (i0, rows, t): (usize, usize, usize),
    scale: f32,
) {
    for r in (0..rows).step_by(MR) {
        let panels = (i0 + r + MR).min(t).div_ceil(NR);
        let g = tile(g, (i0 + r, t, l.hd), pad);
        scores(g, (vt, l.hd, panels), scale, &mut ds[r * l.w..], l.w);
    }
    let end = (i0 + rows).next_multiple_of(NR);
    for (r, &norm) in norms.iter().enumerate().take(rows) {
        let (pr, dr) = (&mut p[r * l.w..][..end], &mut ds[r * l.w..][..end]);
        grad_row(&e.data[r * e.rs..][..end], pr, dr, i0 + r + 1, norm);
    }
}
