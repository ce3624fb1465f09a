//! Optimizer-step throughput (parameters per second) on 10M `f32` parameters: the fused
//! kernels of `vibee::optim` on the CPU backend (Cranelift-compiled, state resident in device
//! buffers) next to the host optimizers of `vibee::runtime::optim` (rayon-parallel loops),
//! for AdamW and Lion. A benchmark, not a test: it prints numbers.
//!
//! `cargo bench -p vibee --bench optim_fused`. `VIBEE_BENCH_PARAMS` overrides the
//! parameter count. (The comparison with PyTorch is `runtime/benches/optim_step.rs`; the
//! runtime crate cannot depend on this facade, so the fused line lives here.)

use std::time::Instant;

use vibee::optim::{FusedAdam, FusedLion, FusedOptimizer};
use vibee::prelude::*;
use vibee::runtime::optim::{Adam, AdamConfig, Lion, LionConfig, Optimizer, ParamSet};

const WARMUP: usize = 3;
const STEPS: usize = 20;

/// Median parameters per second of `step` over `STEPS` calls on `n` elements.
fn median_rate(n: usize, mut step: impl FnMut()) -> f64 {
    for _ in 0..WARMUP {
        step();
    }
    let mut times: Vec<f64> = (0..STEPS)
        .map(|_| {
            let t = Instant::now();
            step();
            t.elapsed().as_secs_f64()
        })
        .collect();
    times.sort_by(f64::total_cmp);
    n as f64 / times[STEPS / 2]
}

fn inputs(n: usize) -> (Vec<f32>, Vec<f32>) {
    let p = (0..n).map(|i| ((i % 1000) as f32) * 1e-3).collect();
    let g = (0..n).map(|i| ((i % 777) as f32) * 1e-3 - 0.3).collect();
    (p, g)
}

fn host_rate(mut opt: impl Optimizer<f32>, n: usize) -> f64 {
    let (mut p, g) = inputs(n);
    let rate = median_rate(n, || opt.step(&mut [&mut p], &[&g]).expect("host step"));
    std::hint::black_box(&p);
    rate
}

fn fused_rate(mut opt: impl FusedOptimizer, device: &Device, n: usize) -> f64 {
    let (p, g) = inputs(n);
    let mut p = vec![Buffer::from_slice(device, &p).expect("upload")];
    let g = vec![Buffer::from_slice(device, &g).expect("upload")];
    let rate = median_rate(n, || opt.step(&mut p, &g).expect("fused step"));
    std::hint::black_box(&p);
    rate
}

fn main() {
    let n: usize = std::env::var("VIBEE_BENCH_PARAMS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000_000);
    let device = Device::Cpu;
    let threads = std::thread::available_parallelism().map_or(1, |t| t.get());
    println!("optimizer step, {n} f32 parameters, {threads} hardware threads, median of {STEPS}");
    let set = ParamSet::single(vec![n]);
    let adamw = AdamConfig::adamw(1e-3, 0.1);
    let lion = LionConfig::new(1e-4, 0.1);
    let rows = [
        (
            "AdamW",
            host_rate(Adam::<f32>::new(adamw.clone(), set.clone()), n),
            fused_rate(
                FusedAdam::new(&device, adamw, set.clone()).expect("fused AdamW"),
                &device,
                n,
            ),
        ),
        (
            "Lion",
            host_rate(Lion::<f32>::new(lion.clone(), set.clone()), n),
            fused_rate(
                FusedLion::new(&device, lion, set).expect("fused Lion"),
                &device,
                n,
            ),
        ),
    ];
    for (name, host, fused) in rows {
        println!(
            "  {name:<6} host {:>8.1} M params/s   fused CPU kernel {:>8.1} M params/s   ({:.2}×)",
            host / 1e6,
            fused / 1e6,
            fused / host
        );
    }
}
