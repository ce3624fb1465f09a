//! The tiled path's three register-tiled AVX2 + FMA micro-kernels, and the packing of
//! keys and values into the panels the score kernel reads. Each product computes a tile
//! of 4 rows × 16 columns (eight 8-lane accumulators) from operands read where they lie
//! (rows any distance apart) or packed once per head, so no product packs anything: per
//! step of the inner sum, two vector loads and four broadcasts feed eight FMAs. The sums
//! run in a fixed order, so results are deterministic.
//!
//! The kernels are safe to call from code compiled for AVX2 and FMA (the tiled path's
//! `#[target_feature]` functions, entered once per head after run-time detection).
//! Every kernel checks that the last element its tile touches lies inside each slice and
//! then reads through raw pointers: the inner loops stay free of bounds checks.

use std::arch::x86_64::{
    __m256, _mm256_broadcast_ss, _mm256_fmadd_ps, _mm256_loadu_ps, _mm256_mul_ps,
    _mm256_permute2f128_ps, _mm256_set1_ps, _mm256_setzero_ps, _mm256_shuffle_ps, _mm256_storeu_ps,
    _mm256_unpackhi_ps, _mm256_unpacklo_ps,
};

/// Rows of a tile. Six rows (twelve accumulators, the most the 16 registers hold) measured
/// no faster on the anchor's shapes: eight independent FMAs already cover their latency.
pub(super) const MR: usize = 4;
/// Columns of a tile (two AVX2 vectors), and the width of a packed key panel.
pub(super) const NR: usize = 16;

/// A matrix in a slice: element `(r, c)` at `r·rs + c`.
#[derive(Debug, Clone, Copy)]
pub(super) struct Mat<'a> {
    pub data: &'a [f32],
    pub rs: usize,
}

/// Where a product's tile goes: rows `rs` apart from `ptr` (a task's scratch, or its own
/// columns of the attention's output, which other tasks' columns sit between).
#[derive(Debug, Clone, Copy)]
pub(super) struct Dst {
    pub ptr: *mut f32,
    pub rs: usize,
}

impl Dst {
    /// Rows `i..`.
    pub(super) fn row(self, i: usize) -> Self {
        Self {
            ptr: self.ptr.wrapping_add(i * self.rs),
            rs: self.rs,
        }
    }
}

/// Scores of 4 rows against `panels` panels of 16 keys, times `factor`:
/// `out[r, 16p + l] = factor · Σ_d a[r, d] · panel_p[d, l]` for `d < hd`, where `kt` holds
/// the panels one after the other, each `hd × 16` (the keys transposed).
#[target_feature(enable = "avx2,fma")]
pub(super) fn scores(
    a: Mat,
    (kt, hd, panels): (&[f32], usize, usize),
    factor: f32,
    out: &mut [f32],
    ors: usize,
) {
    if panels == 0 || hd == 0 {
        return;
    }
    assert!((MR - 1) * a.rs + hd <= a.data.len(), "scores: a");
    assert!(panels * hd * NR <= kt.len(), "scores: kt");
    assert!((MR - 1) * ors + panels * NR <= out.len(), "scores: out");
    let (ap, op) = (a.data.as_ptr(), out.as_mut_ptr());
    for p in 0..panels {
        let mut acc = [[_mm256_setzero_ps(); 2]; MR];
        // SAFETY: the asserts above bound every offset: rows < MR of `a` up to column hd,
        // panel p < panels of `kt`, and the tile's columns of `out`.
        unsafe {
            let bp = kt.as_ptr().add(p * hd * NR);
            for d in 0..hd {
                let b = [
                    _mm256_loadu_ps(bp.add(d * NR)),
                    _mm256_loadu_ps(bp.add(d * NR + 8)),
                ];
                for (r, acc) in acc.iter_mut().enumerate() {
                    let x = _mm256_broadcast_ss(&*ap.add(r * a.rs + d));
                    fma2(acc, x, b);
                }
            }
            scale_rows(&mut acc, [factor; MR]);
            store(op.add(p * NR), ors, &acc);
        }
    }
}

/// `out[r, c] = f_r · Σ_{j < k} a[r, j] · b[j, c]` for 4 rows and every column `c < width`
/// (a multiple of 16), `f = row_scale`: unnormalised probabilities times values (`f` the
/// rows' normalising factors), score gradients times keys (`f` all ones).
///
/// # Safety
/// `out`'s 4 rows of `width` floats must be writable and touched by no other thread.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn rows_times(
    a: Mat,
    b: Mat,
    (k, width): (usize, usize),
    row_scale: [f32; MR],
    out: Dst,
) {
    if k == 0 || width == 0 {
        return;
    }
    assert!(width.is_multiple_of(NR), "rows_times: width");
    assert!((MR - 1) * a.rs + k <= a.data.len(), "rows_times: a");
    assert!((k - 1) * b.rs + width <= b.data.len(), "rows_times: b");
    let (ap, bp, op, ors) = (a.data.as_ptr(), b.data.as_ptr(), out.ptr, out.rs);
    for c in (0..width).step_by(NR) {
        let mut acc = [[_mm256_setzero_ps(); 2]; MR];
        // SAFETY: the asserts above bound rows < MR of `a` below column k and rows < k of
        // `b` below column width; the tile in `out` is the caller's contract.
        unsafe {
            for j in 0..k {
                let row = bp.add(j * b.rs + c);
                let y = [_mm256_loadu_ps(row), _mm256_loadu_ps(row.add(8))];
                for (r, acc) in acc.iter_mut().enumerate() {
                    let x = _mm256_broadcast_ss(&*ap.add(r * a.rs + j));
                    fma2(acc, x, y);
                }
            }
            scale_rows(&mut acc, row_scale);
            store(op.add(c), ors, &acc);
        }
    }
}

/// `out[jj, c] += Σ_{r ∈ rows} a[r, j0 + jj] · b[r, c]` for the 4 columns `j0..j0 + 4` of
/// `a` and every column `c < width` of `b` (a multiple of 16): the transposed products
/// `dsᵀ·q` and `Pᵀ·dy`, accumulated over the blocks of rows; with `fresh`, `out` is
/// overwritten instead (its first block).
///
/// # Safety
/// `out`'s 4 rows of `width` floats must be readable (unless `fresh`), writable and
/// touched by no other thread.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn transposed_times(
    a: Mat,
    (j0, rows): (usize, std::ops::Range<usize>),
    b: Mat,
    width: usize,
    (out, fresh): (Dst, bool),
) {
    if rows.is_empty() || width == 0 {
        return;
    }
    assert!(width.is_multiple_of(NR), "transposed_times: width");
    assert!(
        (rows.end - 1) * a.rs + j0 + MR <= a.data.len(),
        "transposed_times: a"
    );
    assert!(
        (rows.end - 1) * b.rs + width <= b.data.len(),
        "transposed_times: b"
    );
    let (ap, bp, op) = (a.data.as_ptr(), b.data.as_ptr(), out.ptr);
    for c in (0..width).step_by(NR) {
        // SAFETY: the asserts above bound rows < rows.end of `a` (columns j0..j0 + 4) and
        // of `b` (below column width); `out`'s 4 rows of `width` are the caller's contract.
        unsafe {
            let mut acc = if fresh {
                [[_mm256_setzero_ps(); 2]; MR]
            } else {
                load(op.add(c), out.rs)
            };
            for r in rows.clone() {
                let row = bp.add(r * b.rs + c);
                let y = [_mm256_loadu_ps(row), _mm256_loadu_ps(row.add(8))];
                for (jj, acc) in acc.iter_mut().enumerate() {
                    let x = _mm256_broadcast_ss(&*ap.add(r * a.rs + j0 + jj));
                    fma2(acc, x, y);
                }
            }
            store(op.add(c), out.rs, &acc);
        }
    }
}

/// The first `t` rows of `m` (`hd` wide, a multiple of 16) transposed in panels of 16:
/// row `i`'s element `c` lands at `(p·hd + c)·16 + l` for `i = 16p + l`, what [`scores`]
/// reads. Whole groups of 8 rows go through 8×8 register transposes, the rest one
/// element at a time.
#[target_feature(enable = "avx2,fma")]
pub(super) fn pack_panels(m: Mat, t: usize, hd: usize, dst: &mut [f32]) {
    if t == 0 {
        return;
    }
    assert!(hd.is_multiple_of(NR), "pack_panels: hd");
    assert!((t - 1) * m.rs + hd <= m.data.len(), "pack_panels: m");
    assert!(t.div_ceil(NR) * hd * NR <= dst.len(), "pack_panels: dst");
    let whole = t - t % 8;
    let (mp, dp) = (m.data.as_ptr(), dst.as_mut_ptr());
    for i in (0..whole).step_by(8) {
        let (p, l) = (i / NR, i % NR);
        for c in (0..hd).step_by(8) {
            // SAFETY: rows i..i + 8 ≤ t of `m` up to column c + 8 ≤ hd, and panel p's
            // columns c..c + 8, lanes l..l + 8 ≤ 16 in `dst` (the asserts above).
            unsafe {
                let rows = std::array::from_fn(|k| _mm256_loadu_ps(mp.add((i + k) * m.rs + c)));
                for (k, col) in transpose8(rows).into_iter().enumerate() {
                    _mm256_storeu_ps(dp.add((p * hd + c + k) * NR + l), col);
                }
            }
        }
    }
    for i in whole..t {
        let (p, l) = (i / NR, i % NR);
        for (c, &x) in m.data[i * m.rs..][..hd].iter().enumerate() {
            dst[(p * hd + c) * NR + l] = x;
        }
    }
}

/// The 8×8 matrix whose rows are `r`, transposed (its columns).
#[target_feature(enable = "avx2,fma")]
#[inline]
fn transpose8(r: [__m256; 8]) -> [__m256; 8] {
    let pairs: [__m256; 8] = std::array::from_fn(|k| {
        let (a, b) = (r[k / 2 * 2], r[k / 2 * 2 + 1]);
        if k % 2 == 0 {
            _mm256_unpacklo_ps(a, b)
        } else {
            _mm256_unpackhi_ps(a, b)
        }
    });
    // quads[4h + m]: element m of each 4-row group h (in both 128-bit halves).
    let quads: [__m256; 8] = std::array::from_fn(|k| {
        let (h, m) = (k / 4, k % 4);
        let (a, b) = (pairs[4 * h + m / 2], pairs[4 * h + 2 + m / 2]);
        if m % 2 == 0 {
            _mm256_shuffle_ps::<0x44>(a, b)
        } else {
            _mm256_shuffle_ps::<0xEE>(a, b)
        }
    });
    std::array::from_fn(|k| {
        let (a, b) = (quads[k % 4], quads[4 + k % 4]);
        if k < 4 {
            _mm256_permute2f128_ps::<0x20>(a, b)
        } else {
            _mm256_permute2f128_ps::<0x31>(a, b)
        }
    })
}

/// Each row of a tile times its factor.
#[target_feature(enable = "avx2,fma")]
#[inline]
fn scale_rows(acc: &mut [[__m256; 2]; MR], factors: [f32; MR]) {
    for (acc, f) in acc.iter_mut().zip(factors) {
        let f = _mm256_set1_ps(f);
        *acc = [_mm256_mul_ps(acc[0], f), _mm256_mul_ps(acc[1], f)];
    }
}

/// `acc += x · y` lane-wise, for both halves of a tile row.
#[target_feature(enable = "avx2,fma")]
#[inline]
fn fma2(acc: &mut [__m256; 2], x: __m256, y: [__m256; 2]) {
    acc[0] = _mm256_fmadd_ps(x, y[0], acc[0]);
    acc[1] = _mm256_fmadd_ps(x, y[1], acc[1]);
}

/// The tile at `p` (4 rows `rs` apart, 16 columns).
///
/// # Safety
/// The 4 × 16 floats must be readable.
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn load(p: *const f32, rs: usize) -> [[__m256; 2]; MR] {
    let mut t = [[_mm256_setzero_ps(); 2]; MR];
    for (r, v) in t.iter_mut().enumerate() {
        // SAFETY: the caller's contract.
        unsafe {
            *v = [
                _mm256_loadu_ps(p.add(r * rs)),
                _mm256_loadu_ps(p.add(r * rs + 8)),
            ]
        };
    }
    t
}

/// Stores a tile to `p` (4 rows `rs` apart, 16 columns).
///
/// # Safety
/// The 4 × 16 floats must be writable.
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn store(p: *mut f32, rs: usize, acc: &[[__m256; 2]; MR]) {
    for (r, v) in acc.iter().enumerate() {
        // SAFETY: the caller's contract.
        unsafe {
            _mm256_storeu_ps(p.add(r * rs), v[0]);
            _mm256_storeu_ps(p.add(r * rs + 8), v[1]);
        }
    }
}
