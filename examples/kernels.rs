//! Runs vibee's standard kernels on every device present — the CPU (Cranelift) always, and
//! the GPU or the Vulkan software device when built with `--features wgpu` — checks each
//! result against the kernel-IR interpreter, and prints how long each launch took.
//!
//! ```text
//! cargo run --release --features wgpu --example kernels
//! ```

use std::time::Instant;

use vibee::dsl::kernel::interp::{self, InterpArg};
use vibee::dsl::kernel::{HostBuffer, Scalar};
use vibee::kernels::{axpy, gelu, matmul, rms_norm, softmax};
use vibee::prelude::*;

fn main() -> anyhow::Result<()> {
    let (devices, absent) = Device::available();
    for reason in &absent {
        println!("skipped: {reason}");
    }
    for device in &devices {
        println!("\n== {device}");
        run_axpy(device)?;
        run_matmul(device)?;
        run_softmax(device)?;
        run_rms_norm(device)?;
        run_gelu(device)?;
    }
    Ok(())
}

/// Deterministic inputs in [-1, 1).
fn inputs(n: usize, seed: u32) -> Vec<f32> {
    let mut s = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            (s as f32 / u32::MAX as f32) * 2.0 - 1.0
        })
        .collect()
}

fn report(name: &str, shape: &str, seconds: f64, max_err: f64) {
    println!(
        "{name:<10} {shape:<22} {:>9.3} ms   max |device - interpreter| = {max_err:.2e}",
        seconds * 1e3
    );
}

fn max_diff(a: &[f32], b: &[f64]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (*x as f64 - y).abs())
        .fold(0.0, f64::max)
}

/// Runs the interpreter on `args` and returns buffer `out` as f64.
fn interpret(
    ir: &vibee::dsl::kernel::Kernel,
    grid: Grid,
    mut args: Vec<InterpArg>,
    out: usize,
) -> anyhow::Result<Vec<f64>> {
    interp::run(ir, grid, &mut args)?;
    Ok(args[out]
        .buffer()
        .map(HostBuffer::to_f64_vec)
        .unwrap_or_default())
}

fn f32s(v: &[f32]) -> InterpArg {
    InterpArg::Buffer(HostBuffer::F32(v.to_vec()))
}

fn run_axpy(device: &Device) -> anyhow::Result<()> {
    let n = 1 << 20;
    let (x, y0) = (inputs(n, 1), inputs(n, 2));
    let bx = Buffer::from_slice(device, &x)?;
    let mut by = Buffer::from_slice(device, &y0)?;
    let grid = Grid::cover(n, 256);
    axpy::launch(device, grid, 2.0, &bx, &mut by)?; // compile once
    by = Buffer::from_slice(device, &y0)?;
    let t = Instant::now();
    axpy::launch(device, grid, 2.0, &bx, &mut by)?;
    let got = by.to_vec()?;
    let secs = t.elapsed().as_secs_f64();
    let want = interpret(
        axpy::ir(),
        grid,
        vec![InterpArg::Scalar(Scalar::F32(2.0)), f32s(&x), f32s(&y0)],
        2,
    )?;
    report("axpy", &format!("n={n}"), secs, max_diff(&got, &want));
    Ok(())
}

fn run_matmul(device: &Device) -> anyhow::Result<()> {
    let (m, k, n) = (128usize, 96usize, 64usize);
    let (a, b) = (inputs(m * k, 3), inputs(k * n, 4));
    let (ba, bb) = (
        Buffer::from_slice(device, &a)?,
        Buffer::from_slice(device, &b)?,
    );
    let mut bc = Buffer::<f32>::zeros(device, m * n)?;
    let grid = Grid {
        groups: [(n as u32).div_ceil(16), (m as u32).div_ceil(16), 1],
        group_size: [16, 16, 1],
    };
    let t = Instant::now();
    matmul::launch::<16>(
        device, grid, &ba, &bb, &mut bc, m as u32, n as u32, k as u32,
    )?;
    let got = bc.to_vec()?;
    let secs = t.elapsed().as_secs_f64();
    let want = interpret(
        matmul::ir(),
        grid,
        vec![
            InterpArg::Scalar(Scalar::U32(16)),
            f32s(&a),
            f32s(&b),
            f32s(&vec![0.0; m * n]),
            InterpArg::Scalar(Scalar::U32(m as u32)),
            InterpArg::Scalar(Scalar::U32(n as u32)),
            InterpArg::Scalar(Scalar::U32(k as u32)),
        ],
        3,
    )?;
    report(
        "matmul",
        &format!("{m}x{k} · {k}x{n}"),
        secs,
        max_diff(&got, &want),
    );
    Ok(())
}

fn run_softmax(device: &Device) -> anyhow::Result<()> {
    let (rows, d) = (64usize, 1000u32);
    let x = inputs(rows * d as usize, 5);
    let bx = Buffer::from_slice(device, &x)?;
    let mut by = Buffer::<f32>::zeros(device, x.len())?;
    let grid = Grid::linear(rows as u32, 64);
    let t = Instant::now();
    softmax::launch::<64>(device, grid, &bx, &mut by, d)?;
    let got = by.to_vec()?;
    let secs = t.elapsed().as_secs_f64();
    let want = interpret(
        softmax::ir(),
        grid,
        vec![
            InterpArg::Scalar(Scalar::U32(64)),
            f32s(&x),
            f32s(&vec![0.0; x.len()]),
            InterpArg::Scalar(Scalar::U32(d)),
        ],
        2,
    )?;
    report(
        "softmax",
        &format!("{rows} rows x {d}"),
        secs,
        max_diff(&got, &want),
    );
    Ok(())
}

fn run_rms_norm(device: &Device) -> anyhow::Result<()> {
    let (rows, d) = (64usize, 768u32);
    let (x, w) = (inputs(rows * d as usize, 6), inputs(d as usize, 7));
    let (bx, bw) = (
        Buffer::from_slice(device, &x)?,
        Buffer::from_slice(device, &w)?,
    );
    let mut by = Buffer::<f32>::zeros(device, x.len())?;
    let grid = Grid::linear(rows as u32, 128);
    let t = Instant::now();
    rms_norm::launch::<128>(device, grid, &bx, &bw, &mut by, d, 1e-5)?;
    let got = by.to_vec()?;
    let secs = t.elapsed().as_secs_f64();
    let want = interpret(
        rms_norm::ir(),
        grid,
        vec![
            InterpArg::Scalar(Scalar::U32(128)),
            f32s(&x),
            f32s(&w),
            f32s(&vec![0.0; x.len()]),
            InterpArg::Scalar(Scalar::U32(d)),
            InterpArg::Scalar(Scalar::F32(1e-5)),
        ],
        3,
    )?;
    report(
        "rms_norm",
        &format!("{rows} rows x {d}"),
        secs,
        max_diff(&got, &want),
    );
    Ok(())
}

fn run_gelu(device: &Device) -> anyhow::Result<()> {
    let n = 1 << 16;
    let x: Vec<f32> = inputs(n, 8).iter().map(|v| v * 4.0).collect();
    let bx = Buffer::from_slice(device, &x)?;
    let mut by = Buffer::<f32>::zeros(device, n)?;
    let t = Instant::now();
    gelu::launch(device, &bx, &mut by)?;
    let y = by.to_vec()?;
    let secs = t.elapsed().as_secs_f64();
    let want: Vec<f64> = x
        .iter()
        .map(|&v| {
            let v = v as f64;
            0.5 * v * (1.0 + (0.7978845608 * (v + 0.044715 * v * v * v)).tanh())
        })
        .collect();
    report("gelu", &format!("n={n}"), secs, max_diff(&y, &want));
    let dy = Buffer::from_slice(device, &vec![1.0f32; n])?;
    let mut dx = Buffer::<f32>::zeros(device, n)?;
    gelu::backward(device, &bx, &dy, &mut dx)?;
    let dx = dx.to_vec()?;
    let h = 1e-3f64;
    let fd = |v: f64| {
        let g = |v: f64| 0.5 * v * (1.0 + (0.7978845608 * (v + 0.044715 * v * v * v)).tanh());
        (g(v + h) - g(v - h)) / (2.0 * h)
    };
    let want: Vec<f64> = x.iter().map(|&v| fd(v as f64)).collect();
    report(
        "gelu'",
        &format!("n={n} (derived)"),
        secs,
        max_diff(&dx, &want),
    );
    Ok(())
}
