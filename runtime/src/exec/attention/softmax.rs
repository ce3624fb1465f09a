//! The tiled path's passes over the rows of a block of scores, 8 lanes a step: the causal
//! softmax (its numerators with an AVX2 `2ˣ`) and its gradient. A row's `live` entries
//! are its keys up to the diagonal; the last 8-lane chunk is masked rather than finished
//! one element at a time (a row of the triangle ends anywhere, so a scalar tail would run
//! on every row), and the entries after it up to the row's `end` are set to zero for the
//! products that read whole panels.
//!
//! The sums run in a fixed order (8 lanes, then the lanes pairwise), so results are
//! deterministic.

use std::arch::x86_64::{
    __m256, __m256i, _mm_cvtss_f32, _mm_max_ps, _mm_max_ss, _mm_movehdup_ps, _mm_movehl_ps,
    _mm256_add_ps, _mm256_and_ps, _mm256_blendv_ps, _mm256_castps_si256, _mm256_castps256_ps128,
    _mm256_castsi256_ps, _mm256_cmpgt_epi32, _mm256_extractf128_ps, _mm256_fmadd_ps,
    _mm256_loadu_ps, _mm256_max_ps, _mm256_mul_ps, _mm256_set1_epi32, _mm256_set1_ps,
    _mm256_setr_epi32, _mm256_setzero_ps, _mm256_slli_epi32, _mm256_storeu_ps, _mm256_sub_ps,
};

/// Lanes of a step.
const LANES: usize = 8;

/// `2ˣ` lane-wise for `x ≤ 0` (the scores after their row's maximum is taken off): `x`
/// clamped to `−126` (below it the result is the smallest normal, not 0), split as
/// `n + f` with `n` the nearest integer and `|f| ≤ ½`, `2ᶠ` by a degree-5 polynomial
/// (fitted for relative error on that range: below 10⁻⁷, about an ulp) and `2ⁿ`
/// assembled in the exponent bits. Taking the scores in base 2 (the score kernel folds
/// `log₂e` into its scale) saves [`super::super::math::fast_exp`]'s range reduction.
#[target_feature(enable = "avx2,fma")]
#[inline]
pub(super) fn exp2_8(x: __m256) -> __m256 {
    // Adding 1.5·2²³ rounds to an integer, which then sits in the low mantissa bits; the
    // 127 more puts the exponent's bias there too, so `t`'s bits shifted left by 23 are
    // `2ⁿ` (the constant's own bits above the low 9 fall off).
    const SHIFTER: f32 = 12_582_912.0 + 127.0;
    // 2ᶠ ≈ Σ cₖ fᵏ, highest power first.
    const POLY: [f32; 6] = [
        1.327_171_8e-3,
        9.675_501e-3,
        5.550_728e-2,
        2.402_212e-1,
        6.931_469_4e-1,
        1.000_000_1,
    ];
    let shifter = _mm256_set1_ps(SHIFTER);
    let x = _mm256_max_ps(x, _mm256_set1_ps(-126.0));
    let t = _mm256_add_ps(x, shifter);
    let f = _mm256_sub_ps(x, _mm256_sub_ps(t, shifter));
    let mut p = _mm256_set1_ps(POLY[0]);
    for c in &POLY[1..] {
        p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(*c));
    }
    let two_n = _mm256_slli_epi32(_mm256_castps_si256(t), 23);
    _mm256_mul_ps(p, _mm256_castsi256_ps(two_n))
}

/// Lanes `l < n` of a chunk set (all ones), the rest clear.
#[target_feature(enable = "avx2,fma")]
#[inline]
fn first_lanes(n: usize) -> __m256 {
    let iota: __m256i = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    _mm256_castsi256_ps(_mm256_cmpgt_epi32(_mm256_set1_epi32(n as i32), iota))
}

/// The 8 lanes added pairwise (4 + 4, 2 + 2, 1 + 1): the row sums' shared fold.
#[target_feature(enable = "avx2,fma")]
#[inline]
fn lane_sum(v: __m256) -> f32 {
    // SAFETY: this function runs only where AVX2 is enabled, so AVX is present.
    unsafe { super::super::math::avx::lane_sum(v) }
}

/// The largest of the 8 lanes.
#[target_feature(enable = "avx2,fma")]
#[inline]
fn lane_max(v: __m256) -> f32 {
    let v = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    let v = _mm_max_ps(v, _mm_movehl_ps(v, v));
    _mm_cvtss_f32(_mm_max_ss(v, _mm_movehdup_ps(v)))
}

/// The largest of `row[..live]`.
#[target_feature(enable = "avx2,fma")]
pub(super) fn row_max(row: &[f32], live: usize) -> f32 {
    let (full, rest) = (live / LANES, live % LANES);
    assert!(
        live > 0 && live.next_multiple_of(LANES) <= row.len(),
        "row_max"
    );
    let p = row.as_ptr();
    let mut m = _mm256_set1_ps(f32::NEG_INFINITY);
    // SAFETY: every chunk read lies below `live` rounded up to 8, inside `row` (asserted
    // above).
    unsafe {
        for c in 0..full {
            m = _mm256_max_ps(m, _mm256_loadu_ps(p.add(c * LANES)));
        }
        if rest > 0 {
            let x = _mm256_loadu_ps(p.add(full * LANES));
            m = _mm256_max_ps(m, _mm256_blendv_ps(m, x, first_lanes(rest)));
        }
    }
    lane_max(m)
}

/// `row[..live] = 2^(row − max)` with `max` the row's largest (see [`row_max`]): the
/// softmax's numerators for scores already scaled by `log₂e` (see [`exp2_8`]), and zeros
/// from there to the row's end; returns `1 / Σ`, the factor that normalises the row.
#[target_feature(enable = "avx2,fma")]
pub(super) fn exp_row(row: &mut [f32], live: usize, max: f32) -> f32 {
    let (full, rest) = (live / LANES, live % LANES);
    assert!(
        live > 0 && live.next_multiple_of(LANES) <= row.len(),
        "exp_row"
    );
    let p = row.as_mut_ptr();
    let m = _mm256_set1_ps(max);
    let mut total = _mm256_setzero_ps();
    // SAFETY: every chunk read or written lies below `live` rounded up to 8, inside `row`
    // (asserted above).
    unsafe {
        for c in 0..full {
            let e = exp2_8(_mm256_sub_ps(_mm256_loadu_ps(p.add(c * LANES)), m));
            _mm256_storeu_ps(p.add(c * LANES), e);
            total = _mm256_add_ps(total, e);
        }
        if rest > 0 {
            let x = _mm256_loadu_ps(p.add(full * LANES));
            let e = _mm256_and_ps(exp2_8(_mm256_sub_ps(x, m)), first_lanes(rest));
            _mm256_storeu_ps(p.add(full * LANES), e);
            total = _mm256_add_ps(total, e);
        }
    }
    zero_chunks(&mut row[live.next_multiple_of(LANES)..]);
    1.0 / lane_sum(total)
}

/// One row's probabilities and score gradients from its softmax numerators `e` (zero from
/// `live` on), their normalising factor `norm` and `ds = scale·dP`: `p = norm·e` and
/// `ds = p ∘ (ds − Σ p ∘ ds)`, which is `scale · P ∘ (dP − Σ P ∘ dP)`. `p` and `ds` are
/// set to zero from `live` to the row's end (`p`'s length).
#[target_feature(enable = "avx2,fma")]
pub(super) fn grad_row(e: &[f32], p: &mut [f32], ds: &mut [f32], live: usize, norm: f32) {
    let n = live.next_multiple_of(LANES);
    assert!(
        live > 0 && n <= e.len() && n <= p.len() && p.len() <= ds.len(),
        "grad_row"
    );
    let (ep, pp, dp) = (e.as_ptr(), p.as_mut_ptr(), ds.as_mut_ptr());
    let mut acc = _mm256_setzero_ps();
    // SAFETY: every chunk lies below `n`, inside all three rows (asserted above). `e` is
    // zero past `live` in the last chunk, so those lanes add nothing and come out zero.
    unsafe {
        // Two sums (even and odd chunks), so the FMAs' latency overlaps.
        let mut odd = _mm256_setzero_ps();
        for c in (0..n).step_by(2 * LANES) {
            acc = _mm256_fmadd_ps(_mm256_loadu_ps(ep.add(c)), _mm256_loadu_ps(dp.add(c)), acc);
            if c + LANES < n {
                let (e, d) = (ep.add(c + LANES), dp.add(c + LANES));
                odd = _mm256_fmadd_ps(_mm256_loadu_ps(e), _mm256_loadu_ps(d), odd);
            }
        }
        let norm = _mm256_set1_ps(norm);
        let dot = _mm256_mul_ps(_mm256_set1_ps(lane_sum(_mm256_add_ps(acc, odd))), norm);
        for c in (0..n).step_by(LANES) {
            let p = _mm256_mul_ps(norm, _mm256_loadu_ps(ep.add(c)));
            _mm256_storeu_ps(pp.add(c), p);
            let g = _mm256_mul_ps(p, _mm256_sub_ps(_mm256_loadu_ps(dp.add(c)), dot));
            _mm256_storeu_ps(dp.add(c), g);
        }
    }
    let end = p.len();
    zero_chunks(&mut p[n..]);
    zero_chunks(&mut ds[n..end]);
}

/// `x.fill(0.0)` for `x` a whole number of chunks, a few at most: as stores in line
/// (`fill` calls `memset`, whose call costs more than the stores on rows this short).
#[target_feature(enable = "avx2,fma")]
#[inline]
fn zero_chunks(x: &mut [f32]) {
    let mut chunks = x.chunks_exact_mut(LANES);
    for c in &mut chunks {
        // SAFETY: `c` holds 8 floats.
        unsafe { _mm256_storeu_ps(c.as_mut_ptr(), _mm256_setzero_ps()) };
    }
    chunks.into_remainder().fill(0.0);
}
