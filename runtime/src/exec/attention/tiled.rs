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
//! pass over the block less). The backward recomputes the block's probabilities (the
//! forward's are not kept), then accumulates `dk` and `dv` over the blocks.

use super::Dims;
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

/// Sizes of one task's panels and results (`W × hd`), score blocks (`BLOCK × W`) and
/// padded tile (`4 × hd`).
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

/// Floats of scratch one forward task needs: keys' panels, output, a block of scores and
/// a padded tile.
pub(super) fn forward_scratch(d: Dims) -> usize {
    let l = Layout::new(d);
    2 * l.mat() + l.block() + l.tile()
}

/// Floats of scratch one backward task needs: keys' and values' panels, `dq`, `dk`, `dv`,
/// two blocks (probabilities, their gradient) and a padded tile.
pub(super) fn backward_scratch(d: Dims) -> usize {
    let l = Layout::new(d);
    5 * l.mat() + 2 * l.block() + l.tile()
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

/// Head `h` of batch `b`'s output (`T × hd`, contiguous), computed in `scratch`.
#[target_feature(enable = "avx2,fma")]
pub(super) fn forward_head<'s>(
    qkv: &[f32],
    scratch: &'s mut [f32],
    d: Dims,
    bh: (usize, usize),
    scale: f32,
) -> &'s [f32] {
    let l = Layout::new(d);
    let (kt, rest) = scratch.split_at_mut(l.mat());
    let (s, rest) = rest.split_at_mut(l.block());
    let (o, pad) = rest.split_at_mut(l.mat());
    let [q, k, v] = head(qkv, d, bh);
    pack_panels(k, d.t, d.hd, kt);
    for i0 in (0..d.t).step_by(BLOCK) {
        let rows = BLOCK.min(d.t - i0);
        let norms = exponentials((q, kt), (s, pad), l, (i0, rows, d.t), scale);
        for r in (0..rows).step_by(MR) {
            let k = (i0 + r + MR).min(d.t);
            let p = Mat {
                data: &s[r * l.w..],
                rs: l.w,
            };
            let f = [norms[r], norms[r + 1], norms[r + 2], norms[r + 3]];
            rows_times(p, v, (k, d.hd), f, &mut o[(i0 + r) * d.hd..], d.hd);
        }
    }
    &o[..d.t * d.hd]
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
    let (kt, rest) = scratch.split_at_mut(l.mat());
    let (vt, rest) = rest.split_at_mut(l.mat());
    let (p, rest) = rest.split_at_mut(l.block());
    let (ds, rest) = rest.split_at_mut(l.block());
    let (dq, rest) = rest.split_at_mut(l.mat());
    let (dk, rest) = rest.split_at_mut(l.mat());
    let (dv, pad) = rest.split_at_mut(l.mat());
    let [q, k, v] = head(qkv, d, (b, h));
    let g = Mat {
        data: &dy[d.y(b, h, 0)..],
        rs: d.c,
    };
    pack_panels(k, d.t, d.hd, kt);
    pack_panels(v, d.t, d.hd, vt);
    dk.fill(0.0);
    dv.fill(0.0);
    for i0 in (0..d.t).step_by(BLOCK) {
        let rows = BLOCK.min(d.t - i0);
        let norms = exponentials((q, kt), (p, pad), l, (i0, rows, d.t), scale);
        score_grads((g, vt), (p, norms), (ds, pad), l, (i0, rows, d.t), scale);
        for r in (0..rows).step_by(MR) {
            let a = Mat {
                data: &ds[r * l.w..],
                rs: l.w,
            };
            let keys = (i0 + r + MR).min(d.t);
            let out = &mut dq[(i0 + r) * d.hd..];
            rows_times(a, k, (keys, d.hd), [1.0; MR], out, d.hd);
        }
        let (qb, gb) = (from_row(q, i0), from_row(g, i0));
        for j0 in (0..i0 + rows).step_by(MR) {
            // Rows above key j0 contribute nothing (their entries are zero).
            let below = j0.saturating_sub(i0)..rows;
            let (ds, p) = (Mat { data: ds, rs: l.w }, Mat { data: p, rs: l.w });
            transposed_times(ds, j0, below.clone(), qb, d.hd, &mut dk[j0 * d.hd..]);
            transposed_times(p, j0, below, gb, d.hd, &mut dv[j0 * d.hd..]);
        }
    }
    let n = d.t * d.hd;
    [&dq[..n], &dk[..n], &dv[..n]]
}

/// `ds = scale · P ∘ (dP − rowsum(P ∘ dP))` with `dP = dy·vᵀ` for the block of `rows`
/// query rows from `i0` (of `t`), zero past the diagonal up to the block's last panel;
/// normalises the softmax numerators `p` (with their factors `norms`) on the way.
#[target_feature(enable = "avx2,fma")]
fn score_grads(
    (g, vt): (Mat, &[f32]),
    (p, norms): (&mut [f32], [f32; BLOCK]),
    (ds, pad): (&mut [f32], &mut [f32]),
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
        grad_row(pr, dr, i0 + r + 1, norm);
    }
}
