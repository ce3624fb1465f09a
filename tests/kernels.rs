//! vibee's standard kernels on every backend present, each compared with the kernel-IR
//! interpreter, and the interpreter compared with an f64 reference written in plain Rust.
//! A backend that is absent is reported on stderr with the reason, never skipped silently.
#![allow(clippy::unwrap_used)] // a failed unwrap in a test helper is a failed test

use half::f16;
use vibee::dsl::kernel::interp::{self, InterpArg};
use vibee::dsl::kernel::{HostBuffer, Kernel, Scalar};
use vibee::kernels::*;
use vibee::prelude::*;

fn devices() -> Vec<Device> {
    let (present, absent) = Device::available();
    for reason in absent {
        eprintln!("backend skipped: {reason}");
    }
    present
}

/// Deterministic inputs in [-1, 1).
fn inputs(n: usize, seed: u32) -> Vec<f32> {
    let mut s = seed.wrapping_mul(2_654_435_761) | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            (s as f64 / u32::MAX as f64 * 2.0 - 1.0) as f32
        })
        .collect()
}

fn f32s(v: &[f32]) -> InterpArg {
    InterpArg::Buffer(HostBuffer::F32(v.to_vec()))
}
fn u32v(v: u32) -> InterpArg {
    InterpArg::Scalar(Scalar::U32(v))
}
fn f32v(v: f32) -> InterpArg {
    InterpArg::Scalar(Scalar::F32(v))
}

/// Runs the interpreter and returns buffer argument `out` as f64.
fn interpret(ir: &Kernel, grid: Grid, mut args: Vec<InterpArg>, out: usize) -> Vec<f64> {
    let report = interp::run(ir, grid, &mut args).unwrap();
    assert_eq!(report.oob_writes, 0, "{}: out-of-bounds writes", ir.name);
    args[out].buffer().unwrap().to_f64_vec()
}

#[track_caller]
fn assert_close(what: &str, got: &[f64], want: &[f64], tol: f64) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= tol * w.abs().max(1.0),
            "{what}: element {i}: got {g}, want {w} (tolerance {tol})"
        );
    }
}

fn as_f64(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| x as f64).collect()
}

#[test]
fn axpy_on_every_backend() {
    let n: usize = 1000;
    let (x, y) = (inputs(n, 1), inputs(n, 2));
    let grid = Grid::cover(n, 64);
    let want = interpret(axpy::ir(), grid, vec![f32v(1.5), f32s(&x), f32s(&y)], 2);
    let reference: Vec<f64> = x
        .iter()
        .zip(&y)
        .map(|(a, b)| 1.5 * *a as f64 + *b as f64)
        .collect();
    assert_close("interpreter vs f64", &want, &reference, 1e-6);
    for device in devices() {
        let bx = Buffer::from_slice(&device, &x).unwrap();
        let mut by = Buffer::from_slice(&device, &y).unwrap();
        axpy::launch(&device, grid, 1.5, &bx, &mut by).unwrap();
        assert_close(
            &format!("axpy on {device}"),
            &as_f64(&by.to_vec().unwrap()),
            &want,
            1e-6,
        );
    }
}

#[test]
fn tiled_matmul_on_every_backend() {
    let (m, k, n) = (37usize, 50usize, 29usize);
    let (a, b) = (inputs(m * k, 3), inputs(k * n, 4));
    let grid = Grid {
        groups: [(n as u32).div_ceil(8), (m as u32).div_ceil(8), 1],
        group_size: [8, 8, 1],
    };
    let args = vec![
        u32v(8),
        f32s(&a),
        f32s(&b),
        f32s(&vec![0.0; m * n]),
        u32v(m as u32),
        u32v(n as u32),
        u32v(k as u32),
    ];
    let want = interpret(matmul::ir(), grid, args, 3);
    let mut reference = vec![0.0f64; m * n];
    for i in 0..m {
        for j in 0..n {
            reference[i * n + j] = (0..k)
                .map(|t| a[i * k + t] as f64 * b[t * n + j] as f64)
                .sum();
        }
    }
    assert_close("interpreter vs f64", &want, &reference, 1e-5);
    for device in devices() {
        let (ba, bb) = (
            Buffer::from_slice(&device, &a).unwrap(),
            Buffer::from_slice(&device, &b).unwrap(),
        );
        let mut bc = Buffer::<f32>::zeros(&device, m * n).unwrap();
        matmul::launch::<8>(
            &device, grid, &ba, &bb, &mut bc, m as u32, n as u32, k as u32,
        )
        .unwrap();
        assert_close(
            &format!("matmul on {device}"),
            &as_f64(&bc.to_vec().unwrap()),
            &want,
            1e-5,
        );
    }
}

fn row_reference(x: &[f32], d: usize, f: impl Fn(&[f64]) -> Vec<f64>) -> Vec<f64> {
    x.chunks(d).flat_map(|row| f(&as_f64(row))).collect()
}

#[test]
fn softmax_on_every_backend() {
    let (rows, d) = (5usize, 300u32);
    let x: Vec<f32> = inputs(rows * d as usize, 5)
        .iter()
        .map(|v| v * 8.0)
        .collect();
    let grid = Grid::linear(rows as u32, 32);
    let want = interpret(
        softmax::ir(),
        grid,
        vec![u32v(32), f32s(&x), f32s(&vec![0.0; x.len()]), u32v(d)],
        2,
    );
    let reference = row_reference(&x, d as usize, |r| {
        let m = r.iter().cloned().fold(f64::MIN, f64::max);
        let s: f64 = r.iter().map(|v| (v - m).exp()).sum();
        r.iter().map(|v| (v - m).exp() / s).collect()
    });
    assert_close("interpreter vs f64", &want, &reference, 1e-5);
    for device in devices() {
        let bx = Buffer::from_slice(&device, &x).unwrap();
        let mut by = Buffer::<f32>::zeros(&device, x.len()).unwrap();
        softmax::launch::<32>(&device, grid, &bx, &mut by, d).unwrap();
        assert_close(
            &format!("softmax on {device}"),
            &as_f64(&by.to_vec().unwrap()),
            &want,
            1e-5,
        );
    }
}

#[test]
fn layer_norm_on_every_backend() {
    let (rows, d) = (6usize, 200u32);
    let (x, w, b) = (
        inputs(rows * d as usize, 6),
        inputs(d as usize, 7),
        inputs(d as usize, 8),
    );
    let grid = Grid::linear(rows as u32, 64);
    let args = vec![
        u32v(64),
        f32s(&x),
        f32s(&w),
        f32s(&b),
        f32s(&vec![0.0; x.len()]),
        u32v(d),
        f32v(1e-5),
    ];
    let want = interpret(layer_norm::ir(), grid, args, 4);
    let reference = row_reference(&x, d as usize, |r| {
        let mean = r.iter().sum::<f64>() / r.len() as f64;
        let var = r.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / r.len() as f64;
        let rstd = 1.0 / (var + 1e-5).sqrt();
        r.iter()
            .enumerate()
            .map(|(j, v)| (v - mean) * rstd * w[j] as f64 + b[j] as f64)
            .collect()
    });
    assert_close("interpreter vs f64", &want, &reference, 1e-4);
    for device in devices() {
        let bx = Buffer::from_slice(&device, &x).unwrap();
        let (bw, bb) = (
            Buffer::from_slice(&device, &w).unwrap(),
            Buffer::from_slice(&device, &b).unwrap(),
        );
        let mut by = Buffer::<f32>::zeros(&device, x.len()).unwrap();
        layer_norm::launch::<64>(&device, grid, &bx, &bw, &bb, &mut by, d, 1e-5).unwrap();
        assert_close(
            &format!("layer_norm on {device}"),
            &as_f64(&by.to_vec().unwrap()),
            &want,
            1e-4,
        );
    }
}

#[test]
fn rms_norm_on_every_backend() {
    let (rows, d) = (4usize, 96u32);
    let (x, w) = (inputs(rows * d as usize, 9), inputs(d as usize, 10));
    let grid = Grid::linear(rows as u32, 16);
    let args = vec![
        u32v(16),
        f32s(&x),
        f32s(&w),
        f32s(&vec![0.0; x.len()]),
        u32v(d),
        f32v(1e-6),
    ];
    let want = interpret(rms_norm::ir(), grid, args, 3);
    let reference = row_reference(&x, d as usize, |r| {
        let rstd = 1.0 / (r.iter().map(|v| v * v).sum::<f64>() / r.len() as f64 + 1e-6).sqrt();
        r.iter()
            .enumerate()
            .map(|(j, v)| v * rstd * w[j] as f64)
            .collect()
    });
    assert_close("interpreter vs f64", &want, &reference, 1e-4);
    for device in devices() {
        let (bx, bw) = (
            Buffer::from_slice(&device, &x).unwrap(),
            Buffer::from_slice(&device, &w).unwrap(),
        );
        let mut by = Buffer::<f32>::zeros(&device, x.len()).unwrap();
        rms_norm::launch::<16>(&device, grid, &bx, &bw, &mut by, d, 1e-6).unwrap();
        assert_close(
            &format!("rms_norm on {device}"),
            &as_f64(&by.to_vec().unwrap()),
            &want,
            1e-4,
        );
    }
}

#[test]
fn rope_on_every_backend() {
    let (tokens, heads, d) = (7usize, 3usize, 16usize);
    let x = inputs(tokens * heads * d, 11);
    let grid = Grid::cover(x.len() / 2, 32);
    let args = vec![
        f32s(&x),
        f32s(&vec![0.0; x.len()]),
        u32v(heads as u32),
        u32v(d as u32),
        f32v(10000.0),
    ];
    let want = interpret(rope::ir(), grid, args, 1);
    let mut reference = vec![0.0f64; x.len()];
    for row in 0..tokens * heads {
        let pos = (row / heads) as f64;
        for p in 0..d / 2 {
            let angle = pos * 10000f64.powf(-(2.0 * p as f64) / d as f64);
            let i = row * d + 2 * p;
            let (x0, x1) = (x[i] as f64, x[i + 1] as f64);
            reference[i] = x0 * angle.cos() - x1 * angle.sin();
            reference[i + 1] = x0 * angle.sin() + x1 * angle.cos();
        }
    }
    assert_close("interpreter vs f64", &want, &reference, 1e-4);
    for device in devices() {
        let bx = Buffer::from_slice(&device, &x).unwrap();
        let mut by = Buffer::<f32>::zeros(&device, x.len()).unwrap();
        rope::launch(&device, grid, &bx, &mut by, heads as u32, d as u32, 10000.0).unwrap();
        assert_close(
            &format!("rope on {device}"),
            &as_f64(&by.to_vec().unwrap()),
            &want,
            1e-4,
        );
    }
}

#[test]
fn cross_entropy_on_every_backend() {
    let (rows, vocab) = (9usize, 257u32);
    let logits: Vec<f32> = inputs(rows * vocab as usize, 12)
        .iter()
        .map(|v| v * 5.0)
        .collect();
    let targets: Vec<u32> = (0..rows as u32).map(|r| (r * 37 + 5) % vocab).collect();
    let grid = Grid::linear(rows as u32, 64);
    let args = vec![
        u32v(64),
        f32s(&logits),
        InterpArg::Buffer(HostBuffer::U32(targets.clone())),
        f32s(&vec![0.0; rows]),
        u32v(vocab),
    ];
    let want = interpret(cross_entropy::ir(), grid, args, 3);
    let reference: Vec<f64> = logits
        .chunks(vocab as usize)
        .zip(&targets)
        .map(|(row, &t)| {
            let r = as_f64(row);
            let m = r.iter().cloned().fold(f64::MIN, f64::max);
            m + r.iter().map(|v| (v - m).exp()).sum::<f64>().ln() - r[t as usize]
        })
        .collect();
    assert_close("interpreter vs f64", &want, &reference, 1e-5);
    for device in devices() {
        let bl = Buffer::from_slice(&device, &logits).unwrap();
        let bt = Buffer::from_slice(&device, &targets).unwrap();
        let mut loss = Buffer::<f32>::zeros(&device, rows).unwrap();
        cross_entropy::launch::<64>(&device, grid, &bl, &bt, &mut loss, vocab).unwrap();
        assert_close(
            &format!("cross_entropy on {device}"),
            &as_f64(&loss.to_vec().unwrap()),
            &want,
            1e-5,
        );
    }
}

#[test]
fn transpose_on_every_backend() {
    let (rows, cols) = (19usize, 45usize);
    let x = inputs(rows * cols, 13);
    let grid = Grid {
        groups: [(cols as u32).div_ceil(8), (rows as u32).div_ceil(8), 1],
        group_size: [8, 8, 1],
    };
    let args = vec![
        u32v(8),
        f32s(&x),
        f32s(&vec![0.0; x.len()]),
        u32v(rows as u32),
        u32v(cols as u32),
    ];
    let want = interpret(transpose::ir(), grid, args, 2);
    let reference: Vec<f64> = (0..cols)
        .flat_map(|c| (0..rows).map(move |r| (r, c)))
        .map(|(r, c)| x[r * cols + c] as f64)
        .collect();
    assert_eq!(want, reference, "interpreter vs reference");
    for device in devices() {
        let bx = Buffer::from_slice(&device, &x).unwrap();
        let mut by = Buffer::<f32>::zeros(&device, x.len()).unwrap();
        transpose::launch::<8>(&device, grid, &bx, &mut by, rows as u32, cols as u32).unwrap();
        assert_eq!(as_f64(&by.to_vec().unwrap()), want, "transpose on {device}");
    }
}

#[test]
fn prefix_sum_on_every_backend() {
    const BLOCK: usize = 32;
    let n: usize = 1000;
    let x: Vec<f32> = (0..n).map(|i| ((i * 7) % 5) as f32 - 2.0).collect();
    let blocks = n.div_ceil(BLOCK);
    let reference: Vec<f64> = x
        .iter()
        .scan(0.0, |s, v| {
            *s += *v as f64;
            Some(*s)
        })
        .collect();
    for device in devices() {
        let bx = Buffer::from_slice(&device, &x).unwrap();
        let mut by = Buffer::<f32>::zeros(&device, n).unwrap();
        let mut sums = Buffer::<f32>::zeros(&device, blocks).unwrap();
        scan_blocks::launch::<BLOCK>(
            &device,
            Grid::linear(blocks as u32, BLOCK as u32),
            &bx,
            &mut by,
            &mut sums,
        )
        .unwrap();
        // Scan the block totals (they fit one block), then add them back.
        let mut scanned = Buffer::<f32>::zeros(&device, blocks).unwrap();
        let mut total = Buffer::<f32>::zeros(&device, 1).unwrap();
        scan_blocks::launch::<BLOCK>(
            &device,
            Grid::linear(1, BLOCK as u32),
            &sums,
            &mut scanned,
            &mut total,
        )
        .unwrap();
        add_block_offsets::launch::<BLOCK>(&device, Grid::cover(n, 64), &mut by, &scanned).unwrap();
        assert_close(
            &format!("prefix sum on {device}"),
            &as_f64(&by.to_vec().unwrap()),
            &reference,
            0.0,
        );
        assert_eq!(total.to_vec().unwrap()[0] as f64, reference[n - 1]);
    }
    // The interpreter agrees on the first level.
    let want = interpret(
        scan_blocks::ir(),
        Grid::linear(blocks as u32, BLOCK as u32),
        vec![
            u32v(BLOCK as u32),
            f32s(&x),
            f32s(&vec![0.0; n]),
            f32s(&vec![0.0; blocks]),
        ],
        2,
    );
    let first_block: Vec<f64> = reference[..BLOCK].to_vec();
    assert_eq!(&want[..BLOCK], &first_block[..]);
}

#[test]
fn histogram_with_atomics_on_every_backend() {
    let n = 5000;
    let x: Vec<f32> = inputs(n, 14).iter().map(|v| (v + 1.0) / 2.0).collect();
    let grid = Grid::cover(n, 128);
    let want = interpret(
        histogram::ir(),
        grid,
        vec![f32s(&x), InterpArg::Buffer(HostBuffer::U32(vec![0; 10]))],
        1,
    );
    let mut reference = vec![0.0f64; 10];
    for v in &x {
        reference[((v.max(0.0) * 10.0) as usize).min(9)] += 1.0;
    }
    assert_eq!(want, reference);
    assert_eq!(want.iter().sum::<f64>(), n as f64);
    for device in devices() {
        let bx = Buffer::from_slice(&device, &x).unwrap();
        let mut bins = Buffer::<u32>::zeros(&device, 10).unwrap();
        histogram::launch(&device, grid, &bx, &mut bins).unwrap();
        let got: Vec<f64> = bins.to_vec().unwrap().iter().map(|&c| c as f64).collect();
        assert_eq!(got, want, "histogram on {device}");
    }
}

fn gelu_f64(v: f64) -> f64 {
    0.5 * v * (1.0 + (0.7978845608 * (v + 0.044715 * v * v * v)).tanh())
}

#[test]
fn gelu_and_its_derived_backward_on_every_backend() {
    let n = 777;
    let x: Vec<f32> = inputs(n, 15).iter().map(|v| v * 5.0).collect();
    let dy = inputs(n, 16);
    let h = 1e-4;
    let fd: Vec<f64> = x
        .iter()
        .zip(&dy)
        .map(|(&v, &g)| g as f64 * (gelu_f64(v as f64 + h) - gelu_f64(v as f64 - h)) / (2.0 * h))
        .collect();
    let forward: Vec<f64> = x.iter().map(|&v| gelu_f64(v as f64)).collect();
    for device in devices() {
        let bx = Buffer::from_slice(&device, &x).unwrap();
        let mut y = Buffer::<f32>::zeros(&device, n).unwrap();
        gelu::launch(&device, &bx, &mut y).unwrap();
        assert_close(
            &format!("gelu on {device}"),
            &as_f64(&y.to_vec().unwrap()),
            &forward,
            1e-5,
        );
        let bdy = Buffer::from_slice(&device, &dy).unwrap();
        let mut dx = Buffer::<f32>::zeros(&device, n).unwrap();
        gelu::backward(&device, &bx, &bdy, &mut dx).unwrap();
        assert_close(
            &format!("gelu backward on {device}"),
            &as_f64(&dx.to_vec().unwrap()),
            &fd,
            1e-4,
        );
    }
}

#[test]
fn vectorized_copy_on_every_backend() {
    let n = 4 * 301;
    let x = inputs(n, 17);
    let grid = Grid::cover(n / 4, 64);
    let want = interpret(copy4::ir(), grid, vec![f32s(&x), f32s(&vec![0.0; n])], 1);
    assert_eq!(want, as_f64(&x));
    for device in devices() {
        let bx = Buffer::from_slice(&device, &x).unwrap();
        let mut by = Buffer::<f32>::zeros(&device, n).unwrap();
        copy4::launch(&device, grid, &bx, &mut by).unwrap();
        assert_eq!(by.to_vec().unwrap(), x, "copy4 on {device}");
    }
}

#[test]
fn half_precision_on_every_backend() {
    let n = 300;
    let x: Vec<f16> = inputs(n, 18)
        .iter()
        .map(|&v| f16::from_f32(v * 3.0))
        .collect();
    let scale = f16::from_f32(1.75);
    let grid = Grid::cover(n, 64);
    let want = interpret(
        scale_f16::ir(),
        grid,
        vec![
            InterpArg::Buffer(HostBuffer::F16(x.clone())),
            InterpArg::Buffer(HostBuffer::F16(vec![f16::ZERO; n])),
            InterpArg::Scalar(Scalar::F16(scale)),
        ],
        1,
    );
    for device in devices() {
        let bx = Buffer::from_slice(&device, &x).unwrap();
        let mut by = Buffer::<f16>::zeros(&device, n).unwrap();
        match scale_f16::launch(&device, grid, &bx, &mut by, scale) {
            Ok(()) => {
                let got: Vec<f64> = by.to_vec().unwrap().iter().map(|v| v.to_f64()).collect();
                assert_close(&format!("f16 on {device}"), &got, &want, 1e-3);
            }
            Err(LaunchError::Unsupported { reason, .. }) => {
                eprintln!("f16 skipped on {device}: {reason}")
            }
            Err(e) => panic!("f16 on {device}: {e}"),
        }
    }
}

#[test]
fn launches_that_would_go_out_of_bounds_are_refused() {
    for device in devices() {
        // `square` touches x[i] and y[i] for every unit, unguarded: a short `y` is refused.
        let x = Buffer::from_slice(&device, &inputs(64, 1)).unwrap();
        let mut y = Buffer::<f32>::zeros(&device, 10).unwrap();
        let err = square::launch(&device, Grid::cover(64, 32), &x, &mut y).unwrap_err();
        assert!(
            matches!(err, LaunchError::BufferTooSmall { ref param, needed: 63, len: 10, .. } if param == "y"),
            "{device}: {err}"
        );
        let mut y = Buffer::<f32>::zeros(&device, 64).unwrap();
        square::launch(&device, Grid::cover(64, 32), &x, &mut y).unwrap();
        // Guarded kernels handle any length themselves: never refused.
        rope::launch(&device, Grid::cover(32, 32), &x, &mut y, 1, 8, 10000.0).unwrap();
        // A grid with more units per group than the device allows.
        let mut y = Buffer::from_slice(&device, &inputs(64, 2)).unwrap();
        let err = axpy::launch(&device, Grid::linear(1, 1 << 20), 1.0, &x, &mut y).unwrap_err();
        assert!(
            matches!(err, LaunchError::GridTooLarge { .. }),
            "{device}: {err}"
        );
        // An empty grid.
        let err = axpy::launch(&device, Grid::linear(0, 64), 1.0, &x, &mut y).unwrap_err();
        assert!(
            matches!(err, LaunchError::GridTooLarge { .. }),
            "{device}: {err}"
        );
    }
}

/// `y = f32(bf16(x))`: a round trip through bf16 inside a kernel body.
#[vibee::kernel]
pub fn through_bf16(x: &[f32], y: &mut [f32]) {
    let i = global_pos();
    if i < y.len() {
        let h = x[i] as bf16;
        y[i] = h as f32;
    }
}

/// `y = f32(f16(x))`.
#[vibee::kernel]
pub fn through_f16(x: &[f32], y: &mut [f32]) {
    let i = global_pos();
    if i < y.len() {
        let h = x[i] as f16;
        y[i] = h as f32;
    }
}

/// Casts to and from the half types in kernel bodies round to nearest-even, as the
/// interpreter (and the `half` crate) do; a backend without the type is skipped by name.
#[test]
fn casts_through_half_types_round_like_the_interpreter() {
    // Values across the normal range, and the edges: f16 subnormals and their ties
    // (2^-24 steps), the smallest normals, halfway points, overflow to infinity, ±0, ±∞.
    let step = 2f32.powi(-24); // the smallest f16 subnormal
    let edges = [
        0.0f32,
        -0.0,
        1e-8,
        0.5 * step,
        step,
        1.5 * step,
        -3e-6,
        1023.0 * step,
        1024.0 * step,
        1.0 + 2f32.powi(-11),
        1.0 + 3.0 * 2f32.powi(-11),
        65504.0,
        65519.0,
        65520.0,
        -70000.0,
        3.0e38,
        f32::INFINITY,
        f32::NEG_INFINITY,
        1.0e-40,
    ];
    let x: Vec<f32> = inputs(257, 19)
        .iter()
        .map(|v| v * 1000.0)
        .chain(edges)
        .collect();
    let n = x.len();
    let grid = Grid::cover(n, 64);
    let exact =
        |round: fn(f32) -> f32| -> Vec<f64> { x.iter().map(|&v| f64::from(round(v))).collect() };
    let bf = exact(|v| half::bf16::from_f32(v).to_f32());
    let hf = exact(|v| f16::from_f32(v).to_f32());
    for (ir, want) in [(through_bf16::ir(), &bf), (through_f16::ir(), &hf)] {
        let got = interpret(ir, grid, vec![f32s(&x), f32s(&vec![0.0; n])], 1);
        assert_eq!(&got, want, "{} in the interpreter", ir.name);
    }
    for device in devices() {
        let bx = Buffer::from_slice(&device, &x).unwrap();
        for (k, want) in [&bf, &hf].into_iter().enumerate() {
            let mut by = Buffer::<f32>::zeros(&device, n).unwrap();
            let launched = match k {
                0 => through_bf16::launch(&device, grid, &bx, &mut by),
                _ => through_f16::launch(&device, grid, &bx, &mut by),
            };
            match launched {
                Ok(()) => {
                    let got: Vec<f64> =
                        by.to_vec().unwrap().iter().map(|&v| f64::from(v)).collect();
                    assert_eq!(&got, want, "cast {k} on {device}");
                }
                Err(LaunchError::Unsupported { reason, .. }) => {
                    eprintln!("cast {k} skipped on {device}: {reason}")
                }
                Err(e) => panic!("cast {k} on {device}: {e}"),
            }
        }
    }
}
