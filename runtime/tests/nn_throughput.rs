//! Training throughput of the GPT at the anchor's small shape — a measurement, not a test
//! of speed (ignored by default; the comparison with PyTorch lives in the trainer's
//! benchmark). Run with:
//! `cargo test --release -p vibee-runtime --test nn_throughput -- --ignored --nocapture`
//! (`VIBEE_THREADS` sets the thread count, default 2).

// Helpers outside `#[test]` functions unwrap too: a broken invariant should fail loudly.
#![allow(clippy::unwrap_used)]

use std::time::Instant;

use vibee_runtime::exec::{gemm_f32, gemm_isa};
use vibee_runtime::nn::{CpuGpt, GptConfig};
use vibee_runtime::optim::{Adam, AdamConfig, Optimizer, ParamSet};
use vibee_runtime::train::model::Trainable;

fn threads() -> usize {
    std::env::var("VIBEE_THREADS")
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or(2)
}

#[test]
#[ignore = "a measurement; run with --ignored --nocapture in release mode"]
fn gpt_small_training_tokens_per_second() {
    let threads = threads();
    let (b, t) = (16, 128);
    let mut m = CpuGpt::new(GptConfig::small(), 0, threads).unwrap();
    let specs = m.param_specs().into_iter().map(|s| (s.name, s.shape));
    let mut opt = Adam::<f32>::new(AdamConfig::adamw(3e-4, 0.1), ParamSet::new(specs));
    let tokens: Vec<u32> = (0..b * t).map(|i| ((i * 7919) % 256) as u32).collect();
    let targets: Vec<u32> = (0..b * t)
        .map(|i| ((i * 104_729 + 1) % 256) as u32)
        .collect();
    let mut grads: Vec<Vec<f32>> = m.params().iter().map(|p| vec![0.0; p.len()]).collect();
    let mut step = |m: &mut CpuGpt| {
        grads.iter_mut().for_each(|g| g.fill(0.0));
        let loss = m
            .loss_and_grad(&tokens, &targets, b, t, &mut grads)
            .unwrap();
        let gs: Vec<&[f32]> = grads.iter().map(|g| g.as_slice()).collect();
        opt.step(&mut m.params_mut(), &gs).unwrap();
        loss
    };
    for _ in 0..3 {
        step(&mut m);
    }
    let steps = 20;
    let t0 = Instant::now();
    let mut loss = 0.0;
    for _ in 0..steps {
        loss = step(&mut m);
    }
    let dt = t0.elapsed().as_secs_f64();
    let (peak, unplanned) = m.planned_memory(b, t).unwrap();
    println!(
        "{{\"impl\": \"vibee-cpu\", \"threads\": {threads}, \"tokens_per_s\": {:.0}, \"step_ms\": {:.1}, \"loss\": {loss:.4}, \"planned_peak_mib\": {:.1}, \"unplanned_mib\": {:.1}, \"gemm\": \"{}\"}}",
        (steps * b * t) as f64 / dt,
        1000.0 * dt / steps as f64,
        peak as f64 / (1 << 20) as f64,
        unplanned as f64 / (1 << 20) as f64,
        gemm_isa()
    );
}

#[test]
#[ignore = "a measurement; run with --ignored --nocapture in release mode"]
fn gemm_gflops_at_training_shapes() {
    let threads = threads();
    for (m, n, k) in [
        (2048, 384, 128),
        (2048, 128, 512),
        (128, 512, 2048),
        (512, 512, 512),
    ] {
        let a = vec![0.5f32; m * k];
        let bm = vec![0.25f32; k * n];
        let mut c = vec![0.0f32; m * n];
        let reps = 20;
        gemm_f32(&mut c, &a, &bm, m, n, k, false, false, threads);
        let t0 = Instant::now();
        for _ in 0..reps {
            gemm_f32(&mut c, &a, &bm, m, n, k, false, false, threads);
        }
        let dt = t0.elapsed().as_secs_f64();
        let gflops = 2.0 * (m * n * k * reps) as f64 / dt / 1e9;
        println!(
            "gemm {m}x{n}x{k} on {threads} threads ({}): {gflops:.1} GFLOP/s",
            gemm_isa()
        );
    }
}
