//! Optimizer-step throughput (parameters per second) on 10M `f32` parameters: vibee's AdamW
//! and Lion against PyTorch's `foreach` and `fused` AdamW (and `lion-pytorch`, when
//! installed), measured in the same run on the same machine. A benchmark, not a test: it
//! prints numbers and the ratio to PyTorch `foreach` AdamW (target ≥ 1.5×), and a skip reason
//! when PyTorch cannot be imported.
//!
//! `cargo bench -p vibee-runtime --bench optim_step`. The Python used is `$VIBEE_PYTHON`,
//! else the workspace's `.venv/bin/python`, else `python3`. `VIBEE_BENCH_PARAMS` overrides
//! the parameter count. The fused-kernel steps of `vibee::optim` are measured by the facade
//! crate's `benches/optim_fused.rs` (`cargo bench -p vibee --bench optim_fused`): this crate
//! cannot depend on the facade.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use vibee_runtime::optim::{Adam, AdamConfig, Lion, LionConfig, Optimizer, ParamSet};

const WARMUP: usize = 3;
const STEPS: usize = 20;

/// PyTorch side: times each optimizer over the same tensor size and prints one JSON line.
const TORCH_SCRIPT: &str = r#"
import json, sys, time
n, warmup, steps, threads = (int(a) for a in sys.argv[1:5])
import torch
torch.set_num_threads(threads)
torch.manual_seed(0)
def bench(make):
    p = torch.nn.Parameter(torch.randn(n))
    p.grad = torch.randn(n)
    opt = make([p])
    for _ in range(warmup):
        opt.step()
    times = []
    for _ in range(steps):
        t = time.perf_counter(); opt.step(); times.append(time.perf_counter() - t)
    times.sort()
    return n / times[len(times) // 2]
out = {"torch": torch.__version__, "threads": torch.get_num_threads()}
kw = dict(lr=1e-3, weight_decay=0.1)
out["adamw_foreach"] = bench(lambda ps: torch.optim.AdamW(ps, foreach=True, **kw))
try:
    out["adamw_fused"] = bench(lambda ps: torch.optim.AdamW(ps, fused=True, **kw))
except Exception as e:
    out["adamw_fused_error"] = str(e)
try:
    from lion_pytorch import Lion
    out["lion"] = bench(lambda ps: Lion(ps, lr=1e-4, weight_decay=0.1))
except Exception as e:
    out["lion_error"] = str(e)
print(json.dumps(out))
"#;

fn python() -> String {
    if let Ok(p) = std::env::var("VIBEE_PYTHON") {
        return p;
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python");
    if venv.exists() {
        return venv.display().to_string();
    }
    "python3".into()
}

/// Median parameters per second of `opt` over `STEPS` steps on one tensor of `n` elements.
fn bench_rust(opt: &mut dyn Optimizer<f32>, n: usize) -> f64 {
    let mut p: Vec<f32> = (0..n).map(|i| ((i % 1000) as f32) * 1e-3).collect();
    let g: Vec<f32> = (0..n).map(|i| ((i % 777) as f32) * 1e-3 - 0.3).collect();
    for _ in 0..WARMUP {
        opt.step(&mut [&mut p], &[&g]).expect("step");
    }
    let mut times: Vec<f64> = (0..STEPS)
        .map(|_| {
            let t = Instant::now();
            opt.step(&mut [&mut p], &[&g]).expect("step");
            t.elapsed().as_secs_f64()
        })
        .collect();
    times.sort_by(f64::total_cmp);
    std::hint::black_box(&p);
    n as f64 / times[STEPS / 2]
}

fn run_torch(n: usize, threads: usize) -> Result<serde_json::Value, String> {
    let py = python();
    let args = [n, WARMUP, STEPS, threads].map(|v| v.to_string());
    let out = Command::new(&py)
        .arg("-c")
        .arg(TORCH_SCRIPT)
        .args(&args)
        .output()
        .map_err(|e| format!("cannot run `{py}`: {e}"))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let last = err.lines().last().unwrap_or("no output");
        return Err(format!("`{py}` could not run the PyTorch side: {last}"));
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(line).map_err(|e| format!("unreadable PyTorch output `{line}`: {e}"))
}

fn main() {
    let n: usize = std::env::var("VIBEE_BENCH_PARAMS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000_000);
    let threads = rayon::current_num_threads();
    println!("optimizer step, {n} f32 parameters, {threads} threads, median of {STEPS} steps");
    let set = ParamSet::single(vec![n]);
    let mut adamw = Adam::<f32>::new(AdamConfig::adamw(1e-3, 0.1), set.clone());
    let mut lion = Lion::<f32>::new(LionConfig::new(1e-4, 0.1), set);
    let v_adamw = bench_rust(&mut adamw, n);
    let v_lion = bench_rust(&mut lion, n);
    println!(
        "  vibee AdamW             {:>8.1} M params/s",
        v_adamw / 1e6
    );
    println!("  vibee Lion              {:>8.1} M params/s", v_lion / 1e6);
    match run_torch(n, threads) {
        Err(reason) => println!("  PyTorch: skipped — {reason}"),
        Ok(t) => {
            let rate = |k: &str| t[k].as_f64();
            let version = t["torch"].as_str().unwrap_or("?");
            for (label, key) in [
                ("AdamW foreach", "adamw_foreach"),
                ("AdamW fused", "adamw_fused"),
                ("Lion (lion-pytorch)", "lion"),
            ] {
                match rate(key) {
                    Some(v) => {
                        println!("  torch {version} {label:<20} {:>8.1} M params/s", v / 1e6)
                    }
                    None => println!("  torch {label}: skipped — {}", t[format!("{key}_error")]),
                }
            }
            if let Some(foreach) = rate("adamw_foreach") {
                println!(
                    "  ratio vibee AdamW / torch foreach AdamW: {:.2}× (target ≥ 1.5×)",
                    v_adamw / foreach
                );
            }
            if let Some(fused) = rate("adamw_fused") {
                println!(
                    "  ratio vibee AdamW / torch fused AdamW:   {:.2}×",
                    v_adamw / fused
                );
            }
            if let Some(lion_t) = rate("lion") {
                println!(
                    "  ratio vibee Lion / lion-pytorch:         {:.2}×",
                    v_lion / lion_t
                );
            }
        }
    }
}
