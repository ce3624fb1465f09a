//! The benchmark's kernels (`cpu_support::bench_kernels`) against the interpreter: the IR
//! `benches/cpu_kernels.rs` times computes what the reference semantics say.

mod cpu_support;

use cpu_support::bench_kernels::{Softmax, axpy, softmax, softmax_x4};
use cpu_support::*;
use vibee_dsl::kernel::*;

/// Rows of `cols` values with a wide spread, so `exp(x - max)` covers many binades.
fn rows(rows: usize, cols: usize) -> Vec<f32> {
    (0..rows * cols)
        .map(|i| ((i * 37 % 101) as f32 - 50.0) * 0.31)
        .collect()
}

#[test]
fn axpy_kernels_match_the_interpreter() {
    let n = 4096 + 12;
    let x: Vec<f32> = (0..n).map(|i| (i as f32 * 0.1).cos()).collect();
    let y: Vec<f32> = (0..n).map(|i| i as f32 * 0.5).collect();
    let args = [Arg::Scalar(Scalar::F32(1.0001)), f32s(&x), f32s(&y)];
    check(&axpy(1), Grid::cover(n, 256), &args);
    check(&axpy(4), Grid::cover(n / 4, 256), &args);
}

/// The scalar kernels' loops are vectorized, with the inline `exp` (within `EXP_ULPS` of
/// `expf`) in every iteration; their sums are not reassociated, so the outputs stay within
/// a few ulps.
#[test]
fn scalar_softmax_kernels_match_the_interpreter_within_a_few_ulps() {
    let (r, cols) = (70, 96);
    let x = rows(r, cols);
    let args = [
        f32s(&x),
        f32s(&vec![0.0; x.len()]),
        Arg::Scalar(Scalar::U32(cols as u32)),
    ];
    for algorithm in [Softmax::Plain, Softmax::OnePass] {
        let out = check_within_ulps(&softmax(algorithm), Grid::cover(r, 64), &args, 4 * EXP_ULPS);
        let row_sum: f32 = as_f32(&out[1])[..cols].iter().sum();
        assert!(
            (row_sum - 1.0).abs() < 1e-5,
            "{algorithm:?}: a row sums to {row_sum}"
        );
    }
}

#[test]
fn vector_softmax_kernels_match_the_interpreter_within_a_few_ulps() {
    let (r, cols) = (70, 96);
    let x = rows(r, cols);
    let args = [
        f32s(&x),
        f32s(&vec![0.0; x.len()]),
        Arg::Scalar(Scalar::U32(cols as u32 / 4)),
    ];
    // Each lane's `exp` is within `EXP_ULPS` of `expf`; the sum and its reciprocal spread
    // that over a few more ulps of every output.
    for algorithm in [Softmax::Plain, Softmax::OnePass] {
        check_within_ulps(
            &softmax_x4(algorithm),
            Grid::cover(r, 64),
            &args,
            4 * EXP_ULPS,
        );
    }
}

#[test]
fn one_pass_and_plain_softmax_agree() {
    let (r, cols) = (3, 1024);
    let x = rows(r, cols);
    let args = [
        f32s(&x),
        f32s(&vec![0.0; x.len()]),
        Arg::Scalar(Scalar::U32(cols as u32)),
    ];
    let grid = Grid::cover(r, 64);
    let plain = run_interp(&softmax(Softmax::Plain), grid, &args);
    let one_pass = run_interp(&softmax(Softmax::OnePass), grid, &args);
    for (a, b) in as_f32(&plain[1]).iter().zip(as_f32(&one_pass[1])) {
        assert!((a - b).abs() <= 1e-6 * a.abs().max(1e-30), "{a} vs {b}");
    }
}
