//! Fast, branch-free `f32` transcendental functions for the hot loops (GELU, softmax,
//! cross-entropy): a few ulp from the exact value, and several times faster than libm
//! because the compiler can vectorise them. Also the row reductions those loops share
//! ([`sum`], [`dot`], [`max`]: independent lanes, so they vectorise too) and [`wide`],
//! which compiles a loop for AVX2 where the CPU has it.

// The rational `tanh`'s clamp and coefficients: the fused kernels' own, so both agree bit for bit.
use vibee_dsl::graph::fused::{TANH_CLAMP, TANH_P, TANH_Q};

/// `tanh` as a rational function (odd degree-13 over even degree-6, the minimax fit
/// Eigen uses), each Horner step one fused multiply-add (`f32::mul_add`, correctly
/// rounded everywhere: an FMA instruction under [`wide`], the C library's `fmaf`
/// elsewhere): within a few ulp on the clamped range, branch-free so loops vectorise, and
/// several times faster than libm's `tanhf` — GELU runs over every MLP activation twice.
#[inline(always)]
pub fn fast_tanh(x: f32) -> f32 {
    let x = x.clamp(-TANH_CLAMP, TANH_CLAMP);
    let x2 = x * x;
    let horner = |c: &[f32]| c[1..].iter().fold(c[0], |acc, &k| acc.mul_add(x2, k));
    x * horner(&TANH_P) / horner(&TANH_Q)
}

/// Values per [`fast_tanh_lanes`] call.
pub(super) const TANH_LANES: usize = 32;

/// [`fast_tanh`] of each of `TANH_LANES` values in place, bit for bit: the same operations
/// in the same order per value, written a step at a time across all the values. One value's
/// rational function is a chain of about 12 dependent operations (each waiting 4–5 cycles
/// and a division 10); four vectors of independent chains interleaved keep the FP units
/// busy where one vector's chain leaves them mostly waiting.
#[inline(always)]
pub(super) fn fast_tanh_lanes(u: &mut [f32; TANH_LANES]) {
    let mut x2 = [0.0f32; TANH_LANES];
    let mut p = [0.0f32; TANH_LANES];
    let mut q = [0.0f32; TANH_LANES];
    for i in 0..TANH_LANES {
        u[i] = u[i].clamp(-TANH_CLAMP, TANH_CLAMP);
        x2[i] = u[i] * u[i];
    }
    for i in 0..TANH_LANES {
        p[i] = TANH_P[0].mul_add(x2[i], TANH_P[1]);
        q[i] = TANH_Q[0].mul_add(x2[i], TANH_Q[1]);
    }
    for i in 0..TANH_LANES {
        p[i] = p[i].mul_add(x2[i], TANH_P[2]);
        q[i] = q[i].mul_add(x2[i], TANH_Q[2]);
    }
    for i in 0..TANH_LANES {
        p[i] = p[i].mul_add(x2[i], TANH_P[3]);
        q[i] = q[i].mul_add(x2[i], TANH_Q[3]);
    }
    for &c in &TANH_P[4..] {
        for i in 0..TANH_LANES {
            p[i] = p[i].mul_add(x2[i], c);
        }
    }
    for i in 0..TANH_LANES {
        u[i] = u[i] * p[i] / q[i];
    }
}

/// `eˣ`: Cody–Waite range reduction to `r ∈ [−ln2/2, ln2/2]`, Cephes' degree-6
/// polynomial for `eʳ`, and `2ⁿ` assembled in the exponent bits. Inputs are clamped to the
/// normal range (`eˣ` of very negative `x` is the smallest normal, not 0).
#[inline(always)]
pub fn fast_exp(x: f32) -> f32 {
    let x = x.clamp(-87.0, 88.0);
    // Round to nearest by adding and removing 1.5·2²³ (no libm call, so it vectorises).
    const MAGIC: f32 = 12_582_912.0;
    let t = x * std::f32::consts::LOG2_E + MAGIC;
    let n = t - MAGIC;
    let r = x - n * 0.693_359_4 + n * 2.121_944_4e-4;
    let mut p = 1.987_569_2e-4f32;
    p = p * r + 1.398_2e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 1.666_666_5e-1;
    p = p * r + 5e-1;
    let y = p * r * r + r + 1.0;
    // `n` read from `t`'s low bits (`t` lies in [2²³, 2²⁴), one unit per ulp): the same
    // integer as `n as i32` for every input, but without the saturating conversion, which
    // does not vectorise.
    let ni = t.to_bits() as i32 - MAGIC.to_bits() as i32;
    y * f32::from_bits(((ni + 127) << 23) as u32)
}

/// Independent partial sums per reduction: a serial `f32` fold cannot vectorise (each add
/// waits for the last), 16 lanes fill two AVX2 (four SSE2) registers.
const LANES: usize = 16;

/// `Σ f(xᵢ)`, lane `l` summing elements `l, l + 16, …` in order, the lanes then added
/// pairwise and the tail last: a fixed order, so the result is deterministic.
#[inline(always)]
pub(super) fn sum_map(x: &[f32], f: impl Fn(f32) -> f32) -> f32 {
    let mut acc = [0.0f32; LANES];
    let mut chunks = x.chunks_exact(LANES);
    for c in &mut chunks {
        for l in 0..LANES {
            acc[l] += f(c[l]);
        }
    }
    let tail: f32 = chunks.remainder().iter().map(|&v| f(v)).sum();
    pairwise(acc) + tail
}

/// `Σ xᵢ` in [`sum_map`]'s order.
#[inline(always)]
pub(super) fn sum(x: &[f32]) -> f32 {
    sum_map(x, |v| v)
}

/// `Σ f(aᵢ, bᵢ)` in [`sum_map`]'s order.
#[inline(always)]
pub(super) fn sum_zip(a: &[f32], b: &[f32], f: impl Fn(f32, f32) -> f32) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0.0f32; LANES];
    let (mut ca, mut cb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    for (x, y) in (&mut ca).zip(&mut cb) {
        for l in 0..LANES {
            acc[l] += f(x[l], y[l]);
        }
    }
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(&x, &y)| f(x, y))
        .sum();
    pairwise(acc) + tail
}

/// `Σ aᵢ·bᵢ` in [`sum_map`]'s order.
#[inline(always)]
pub(super) fn dot(a: &[f32], b: &[f32]) -> f32 {
    sum_zip(a, b, |x, y| x * y)
}

/// [`sum_map`] and [`sum_zip`] on AVX registers, bit for bit: lanes 0–7 and 8–15 of the
/// 16 partial sums in two registers, folded pairwise as [`pairwise`] does (the two
/// registers, then their halves, then pairs, then the last two), the tail added last one
/// by one. LLVM compiles the portable loops' 16 lanes into eight 2-lane adds and a scalar
/// fold; here a row's sum is two register adds per 16 values and four to fold, which
/// matters most where rows are short and each needs several sums in sequence (the norms).
#[cfg(target_arch = "x86_64")]
pub(super) mod avx {
    use std::arch::x86_64::{
        __m256, _mm_add_ps, _mm_add_ss, _mm_cvtss_f32, _mm_movehl_ps, _mm_shuffle_ps,
        _mm256_add_ps, _mm256_castps256_ps128, _mm256_extractf128_ps, _mm256_loadu_ps,
        _mm256_setzero_ps,
    };

    /// Whether the CPU has AVX, which every function here needs.
    #[inline(always)]
    pub fn available() -> bool {
        std::arch::is_x86_feature_detected!("avx")
    }

    /// The 8 lanes of `v` added pairwise: the halves (4 + 4), then pairs, then the last two.
    ///
    /// # Safety
    /// The CPU must have AVX.
    #[inline(always)]
    pub unsafe fn lane_sum(v: __m256) -> f32 {
        // SAFETY: AVX (the caller's promise); register operations only.
        unsafe {
            let v = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
            let v = _mm_add_ps(v, _mm_movehl_ps(v, v));
            _mm_cvtss_f32(_mm_add_ss(v, _mm_shuffle_ps::<1>(v, v)))
        }
    }

    /// [`super::sum`] of `x`.
    ///
    /// # Safety
    /// The CPU must have AVX.
    #[inline(always)]
    pub unsafe fn sum(x: &[f32]) -> f32 {
        // SAFETY: AVX (the caller's promise).
        unsafe { sum_map(x, |v| v, |v| v) }
    }

    /// [`super::pairwise`] of the lanes `a` (0–7) and `b` (8–15).
    ///
    /// # Safety
    /// The CPU must have AVX.
    #[inline(always)]
    unsafe fn fold(a: __m256, b: __m256) -> f32 {
        // SAFETY: AVX (the caller's promise).
        unsafe { lane_sum(_mm256_add_ps(a, b)) }
    }

    /// [`super::sum_map`]: `f` maps 8 values, `one` a single value the same way.
    ///
    /// # Safety
    /// The CPU must have AVX.
    #[inline(always)]
    pub unsafe fn sum_map(
        x: &[f32],
        f: impl Fn(__m256) -> __m256,
        one: impl Fn(f32) -> f32,
    ) -> f32 {
        let whole = x.len() - x.len() % super::LANES;
        let p = x.as_ptr();
        // SAFETY: AVX (the caller's promise); every load reads 8 of `x[..whole]`.
        unsafe {
            let (mut a, mut b) = (_mm256_setzero_ps(), _mm256_setzero_ps());
            for c in (0..whole).step_by(super::LANES) {
                a = _mm256_add_ps(a, f(_mm256_loadu_ps(p.add(c))));
                b = _mm256_add_ps(b, f(_mm256_loadu_ps(p.add(c + 8))));
            }
            let tail: f32 = x[whole..].iter().map(|&v| one(v)).sum();
            fold(a, b) + tail
        }
    }

    /// [`super::sum_zip`]: `f` maps 8 pairs, `one` a single pair the same way.
    ///
    /// # Safety
    /// The CPU must have AVX.
    #[inline(always)]
    pub unsafe fn sum_zip(
        x: &[f32],
        y: &[f32],
        f: impl Fn(__m256, __m256) -> __m256,
        one: impl Fn(f32, f32) -> f32,
    ) -> f32 {
        let n = x.len().min(y.len());
        let whole = n - n % super::LANES;
        let (p, q) = (x.as_ptr(), y.as_ptr());
        // SAFETY: AVX (the caller's promise); every load reads 8 of `x[..whole]` or
        // `y[..whole]`.
        unsafe {
            let (mut a, mut b) = (_mm256_setzero_ps(), _mm256_setzero_ps());
            for c in (0..whole).step_by(super::LANES) {
                let (x0, y0) = (_mm256_loadu_ps(p.add(c)), _mm256_loadu_ps(q.add(c)));
                let (x1, y1) = (_mm256_loadu_ps(p.add(c + 8)), _mm256_loadu_ps(q.add(c + 8)));
                a = _mm256_add_ps(a, f(x0, y0));
                b = _mm256_add_ps(b, f(x1, y1));
            }
            let tail: f32 = x[whole..n]
                .iter()
                .zip(&y[whole..n])
                .map(|(&u, &v)| one(u, v))
                .sum();
            fold(a, b) + tail
        }
    }
}

/// `max f(xᵢ)` (−∞ for none; NaNs ignored, as `f32::max` does).
#[inline(always)]
pub(super) fn max_map(x: &[f32], f: impl Fn(f32) -> f32) -> f32 {
    let mut acc = [f32::NEG_INFINITY; LANES];
    let mut chunks = x.chunks_exact(LANES);
    for c in &mut chunks {
        for l in 0..LANES {
            acc[l] = acc[l].max(f(c[l]));
        }
    }
    let m = acc.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    chunks.remainder().iter().fold(m, |m, &v| m.max(f(v)))
}

/// `max xᵢ`.
#[inline(always)]
pub(super) fn max(x: &[f32]) -> f32 {
    max_map(x, |v| v)
}

#[inline(always)]
fn pairwise(mut acc: [f32; LANES]) -> f32 {
    let mut w = LANES;
    while w > 1 {
        w /= 2;
        for l in 0..w {
            acc[l] += acc[l + w];
        }
    }
    acc[0]
}

/// Runs `f` compiled for AVX2 and FMA where the CPU has them (AVX2 alone where it lacks
/// FMA), else as built (SSE2 on x86-64): the loops that `f` inlines (the `#[inline]`
/// kernels of this module and its callers) then use 8 lanes instead of 4, and their
/// `f32::mul_add`s one instruction instead of a call of `fmaf`. Rust never contracts
/// `a·b + c` into an FMA by itself, so every element's rounding is exactly that of the
/// portable build.
#[inline(always)]
pub(super) fn wide<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: the CPU has AVX2 and FMA (checked just above), all `avx2_fma` needs.
            return unsafe { avx2_fma(f) };
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2 (checked just above), all `avx2` needs.
            return unsafe { avx2(f) };
        }
    }
    f()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn avx2_fma<R>(f: impl FnOnce() -> R) -> R {
    f()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn avx2<R>(f: impl FnOnce() -> R) -> R {
    f()
}

#[cfg(test)]
mod tests {
    use super::{TANH_LANES, dot, fast_exp, fast_tanh, fast_tanh_lanes, max, sum, wide};

    #[test]
    fn lane_sums_match_f64_sums() {
        for n in [0, 1, 15, 16, 17, 33, 100, 1000] {
            let x: Vec<f32> = (0..n)
                .map(|i| ((i * 37 % 101) as f32 - 50.0) / 7.0)
                .collect();
            let y: Vec<f32> = x.iter().map(|v| v * 0.5 - 1.0).collect();
            let s: f64 = x.iter().map(|&v| f64::from(v)).sum();
            let d: f64 = x
                .iter()
                .zip(&y)
                .map(|(&a, &b)| f64::from(a) * f64::from(b))
                .sum();
            let scale = 1.0 + x.iter().map(|&v| f64::from(v * v)).sum::<f64>();
            assert!(
                (f64::from(wide(|| sum(&x))) - s).abs() <= 1e-6 * scale,
                "sum, n = {n}"
            );
            assert!(
                (f64::from(dot(&x, &y)) - d).abs() <= 1e-6 * scale,
                "dot, n = {n}"
            );
            let m = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            assert_eq!(max(&x), m, "max, n = {n}");
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn avx_lane_sums_give_the_portable_bits() {
        use std::arch::x86_64::{_mm256_mul_ps, _mm256_set1_ps, _mm256_sub_ps};
        if !super::avx::available() {
            return;
        }
        for n in [0, 1, 7, 15, 16, 17, 31, 32, 100, 128, 129, 1000] {
            let x: Vec<f32> = (0..n)
                .map(|i| ((i * 7919 % 1009) as f32 - 504.0) / 37.0)
                .collect();
            let y: Vec<f32> = (0..n).map(|i| ((i * 31 % 97) as f32).sin()).collect();
            let mu = 0.37f32;
            // SAFETY: the CPU has AVX (checked above).
            let (s, q, d) = unsafe {
                let m = _mm256_set1_ps(mu);
                (
                    super::avx::sum(&x),
                    super::avx::sum_map(
                        &x,
                        |v| _mm256_mul_ps(_mm256_sub_ps(v, m), _mm256_sub_ps(v, m)),
                        |v| (v - mu) * (v - mu),
                    ),
                    super::avx::sum_zip(&x, &y, |a, b| _mm256_mul_ps(a, b), |a, b| a * b),
                )
            };
            assert_eq!(s.to_bits(), sum(&x).to_bits(), "sum, n = {n}");
            let q0 = super::sum_map(&x, |v| (v - mu) * (v - mu));
            assert_eq!(q.to_bits(), q0.to_bits(), "sum_map, n = {n}");
            assert_eq!(d.to_bits(), dot(&x, &y).to_bits(), "sum_zip, n = {n}");
        }
    }

    #[test]
    fn interleaved_tanh_is_bit_identical() {
        let mut n = 0;
        for k in -3000..3000 {
            let mut u = [0.0f32; TANH_LANES];
            for (i, u) in u.iter_mut().enumerate() {
                *u = (k * TANH_LANES as i32 + i as i32) as f32 / 9000.0;
            }
            let want = u.map(fast_tanh);
            wide(|| fast_tanh_lanes(&mut u));
            for (got, want) in u.iter().zip(want) {
                assert_eq!(got.to_bits(), want.to_bits());
                n += 1;
            }
        }
        assert_eq!(n, 6000 * TANH_LANES);
    }

    #[test]
    fn close_to_libm() {
        for i in -40_000..40_000 {
            let x = i as f32 / 2000.0;
            let (e, t) = (f64::from(x).exp(), f64::from(x).tanh());
            assert!((f64::from(fast_exp(x)) - e).abs() <= 1e-6 * e, "exp({x})");
            assert!((f64::from(fast_tanh(x)) - t).abs() <= 1e-6, "tanh({x})");
        }
    }
}
