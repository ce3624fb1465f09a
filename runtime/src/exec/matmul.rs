//! Matrix products through the `gemm` crate. Transposes are strides, never copies; a
//! batch that shares its right operand becomes one tall product; many small products run
//! one per thread, a few large ones split inside `gemm`.

use gemm::Parallelism;

mod causal;

pub(super) use causal::{Block, Causal, View, plan as causal_plan};

/// `dst[m×n] = op(a)[m×k] · op(b)[k×n]` for row-major operands, `ta`/`tb` meaning the
/// stored matrix is the transpose (`[k, m]` / `[n, k]`).
///
/// ```
/// let (a, b) = ([1.0f32, 2.0, 3.0, 4.0], [1.0f32, 0.0, 0.0, 1.0]);
/// let mut c = [0.0f32; 4];
/// vibee_runtime::exec::gemm_f32(&mut c, &a, &b, 2, 2, 2, false, false, 1);
/// assert_eq!(c, [1.0, 2.0, 3.0, 4.0]);
/// ```
#[allow(clippy::too_many_arguments)] // (reason: the BLAS shape — dst, operands, m, n, k, flags, threads)
pub fn gemm_f32(
    dst: &mut [f32],
    a: &[f32],
    b: &[f32],
    m: usize,
    n: usize,
    k: usize,
    ta: bool,
    tb: bool,
    threads: usize,
) {
    assert!(
        dst.len() >= m * n,
        "gemm_f32: dst holds {} of {}",
        dst.len(),
        m * n
    );
    assert!(
        a.len() >= m * k && b.len() >= k * n,
        "gemm_f32: operands too short"
    );
    if k == 0 {
        dst[..m * n].fill(0.0);
        return;
    }
    let (a_rs, a_cs) = if ta { (1, m as isize) } else { (k as isize, 1) };
    let (b_rs, b_cs) = if tb { (1, k as isize) } else { (n as isize, 1) };
    let par = if threads > 1 && m * n * k >= 32 * 32 * 32 {
        Parallelism::Rayon(threads)
    } else {
        Parallelism::None
    };
    // A short inner dimension and a wide output on one thread: `gemm` packs all of op(a)'s
    // rows for one pass over each block of output columns, more than L2 holds; blocks of
    // `ROW_BLOCK` rows keep that packed panel in L2 (measured 4-5% faster on these shapes).
    let rows = if threads == 1 && k <= 256 && n >= 384 {
        ROW_BLOCK
    } else {
        m
    };
    for first in (0..m).step_by(rows.max(1)) {
        let rows = rows.min(m - first);
        // SAFETY: the asserts above keep every access of an m×k, k×n and m×n matrix with
        // these strides inside its slice, and rows first..first + rows of op(a) and dst are
        // inside those; `dst` is exclusively borrowed and does not alias `a`/`b`.
        unsafe {
            gemm::gemm(
                rows,
                n,
                k,
                dst.as_mut_ptr().add(first * n),
                1,
                n as isize,
                false,
                a.as_ptr().offset(first as isize * a_rs),
                a_cs,
                a_rs,
                b.as_ptr(),
                b_cs,
                b_rs,
                0.0,
                1.0,
                false,
                false,
                false,
                par,
            );
        }
    }
}

/// Rows of op(a) per `gemm` call for short-`k`, wide-`n` products on one thread.
const ROW_BLOCK: usize = 512;

/// The instruction set `gemm` dispatches to on this CPU (what `x86-v4` adds is AVX-512).
pub fn gemm_isa() -> &'static str {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            return "x86-64-v4 (AVX-512)";
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            return "x86-64-v3 (AVX2+FMA)";
        }
    }
    "portable"
}

/// Batched `op(a)·op(b)` over the leading axes (see [`vibee_dsl::graph::Op::MatMul`]),
/// cut to its triangle as `mode` allows.
#[allow(clippy::too_many_arguments)] // (reason: two operands with their shapes, the output, flags, threads, mode)
pub(super) fn matmul(
    a: &[f32],
    sa: &[usize],
    b: &[f32],
    sb: &[usize],
    out: &mut [f32],
    (ta, tb): (bool, bool),
    threads: usize,
    mode: Causal,
) {
    let (ra, rb) = (sa.len(), sb.len());
    let (m, k) = if ta {
        (sa[ra - 1], sa[ra - 2])
    } else {
        (sa[ra - 2], sa[ra - 1])
    };
    let n = if tb { sb[rb - 2] } else { sb[rb - 1] };
    let batch = out.len() / (m * n).max(1);
    let (a_step, b_step) = (
        if ra > 2 { m * k } else { 0 },
        if rb > 2 { k * n } else { 0 },
    );
    if mode != Causal::Full {
        use rayon::prelude::*;
        let one = |i: usize, c: &mut [f32]| {
            let (a, b) = (&a[i * a_step..], &b[i * b_step..]);
            causal::triangular(c, a, b, (m, n, k), ta, tb, mode);
        };
        if threads > 1 && batch > 1 {
            out.par_chunks_mut(m * n)
                .enumerate()
                .for_each(|(i, c)| one(i, c));
        } else {
            out.chunks_mut(m * n)
                .enumerate()
                .for_each(|(i, c)| one(i, c));
        }
        return;
    }
    if batch == 1 || (b_step == 0 && !ta) {
        // A shared right operand: the batch's rows stacked into one product.
        return gemm_f32(out, a, b, batch * m, n, k, ta, tb, threads);
    }
    if batch >= 2 * threads {
        use rayon::prelude::*;
        out.par_chunks_mut(m * n).enumerate().for_each(|(i, c)| {
            gemm_f32(c, &a[i * a_step..], &b[i * b_step..], m, n, k, ta, tb, 1);
        });
    } else {
        for (i, c) in out.chunks_mut(m * n).enumerate() {
            gemm_f32(
                c,
                &a[i * a_step..],
                &b[i * b_step..],
                m,
                n,
                k,
                ta,
                tb,
                threads,
            );
        }
    }
}
