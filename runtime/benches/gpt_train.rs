//! GPT training throughput against the anchor, `../shared/anchors/torch_gpt.py` (PyTorch
//! eager), measured in the same invocation on the same machine: the anchor's small shape
//! (vocab 256, 4 layers, 4 heads, width 128, context 128, batch 16) and its larger one
//! (`--layers 6 --dim 384 --heads 6 --block 256 --batch 8`), at 1 and 2 threads. Both sides
//! run one AdamW step (lr 3e-4, weight decay 0.1) per batch of random bytes, 3 warmup steps,
//! then time the same number of steps, in alternating rounds (vibee, torch, vibee, torch, …):
//! the machine's speed drifts, so each round's ratio compares runs made seconds apart and
//! the medians are printed.
//!
//! Prints tokens/s of both, the ratio (targets: ≥ 1.5× on the small shape, ≥ 1.2× on the
//! larger), the fraction of the machine's measured sgemm peak the training step reaches (with
//! the usual FLOP count, attention's whole `T×T` square), the ceiling this machine puts on
//! the ratio (the step's unavoidable FLOPs — attention's causal half — all at that peak) and
//! the fraction of the peak each target needs, and
//! the planned peak of the step's intermediate memory (with buffer reuse, and without; and
//! with selective and full activation recomputation), and tokens/s, planned peak and op
//! count without elementwise fusion (the same steps again, timed right after; fusion is
//! the default). On 2 threads vibee splits the batch between them (`Split::Batch`, the
//! default); each round also times the same model with every op split over the threads
//! instead (`Split::Ops`). When `torch` cannot be imported the PyTorch side is skipped with the
//! reason printed.
//!
//! `cargo bench -p vibee-runtime --bench gpt_train`. The Python is `$VIBEE_PYTHON`, else
//! `python3`; the anchor script `$VIBEE_ANCHOR`, else `../shared/anchors/torch_gpt.py`
//! beside the checkout; `VIBEE_BENCH_STEPS` sets the timed steps per round (default 10),
//! `VIBEE_BENCH_ROUNDS` the rounds (default 3), `VIBEE_BENCH_SHAPES` the shapes to run
//! (`small`, `large` or both comma-separated; default both).

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use vibee_dsl::graph::passes::Recompute;
use vibee_runtime::exec::{gemm_f32, gemm_isa};
use vibee_runtime::nn::{CpuGpt, GptConfig, Split};
use vibee_runtime::optim::{Adam, AdamConfig, Optimizer, ParamSet};
use vibee_runtime::train::model::Trainable;

const WARMUP: usize = 3;

/// One benchmarked shape, as the anchor's flags spell it.
struct Shape {
    name: &'static str,
    layers: usize,
    dim: usize,
    heads: usize,
    block: usize,
    batch: usize,
}

const SHAPES: [Shape; 2] = [
    Shape {
        name: "small",
        layers: 4,
        dim: 128,
        heads: 4,
        block: 128,
        batch: 16,
    },
    Shape {
        name: "large",
        layers: 6,
        dim: 384,
        heads: 6,
        block: 256,
        batch: 8,
    },
];

type BenchResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// The shapes `VIBEE_BENCH_SHAPES` names (all when unset); an unknown name is an error.
fn shapes() -> BenchResult<Vec<&'static Shape>> {
    let Ok(list) = std::env::var("VIBEE_BENCH_SHAPES") else {
        return Ok(SHAPES.iter().collect());
    };
    list.split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(|n| {
            SHAPES.iter().find(|s| s.name == n).ok_or_else(|| {
                format!("VIBEE_BENCH_SHAPES: unknown shape {n:?} (small, large)").into()
            })
        })
        .collect()
}

fn rounds() -> usize {
    std::env::var("VIBEE_BENCH_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .filter(|&r| r > 0)
        .unwrap_or(3)
}

fn steps() -> usize {
    std::env::var("VIBEE_BENCH_STEPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10)
}

/// What vibee measured for one shape and thread count.
struct Measured {
    /// Tokens/s of each round (fusion on, the default).
    rounds: Vec<f64>,
    flops_per_token: f64,
    /// The FLOPs a step cannot avoid, per token: attention's causal half only.
    least_flops_per_token: f64,
    planned_peak: usize,
    unplanned: usize,
    /// Planned peaks with selective and with full activation recomputation.
    recomputed: [usize; 2],
    /// Without elementwise fusion: tokens/s and planned peak.
    unfused: (f64, usize),
    /// Ops of the training program (inputs and reshapes not counted) without and with fusion,
    /// and the fused kernels among the latter.
    ops: [usize; 3],
    /// On several threads, tokens/s of each round with every op split over the threads
    /// instead of the batch ([`Split::Ops`]), timed right after the default.
    op_split: Vec<f64>,
}

/// Ops of `model`'s training program, and its fused kernels.
fn count_ops(model: &mut CpuGpt, b: usize, t: usize) -> BenchResult<(usize, usize)> {
    use vibee_dsl::graph::Op;
    let g = model.training_program(b, t)?.graph();
    let ops = g.nodes.iter().filter(|n| n.op.computes()).count();
    let fused = g
        .nodes
        .iter()
        .filter(|n| matches!(n.op, Op::Fused(_)))
        .count();
    Ok((ops, fused))
}

/// vibee's side of one shape: the model, its optimizer and one fixed batch of random bytes.
struct Trainer {
    model: CpuGpt,
    opt: Adam<f32>,
    /// The optimizer's threads: as many as the model's (rayon's global pool has one per core).
    pool: rayon::ThreadPool,
    tokens: Vec<u32>,
    targets: Vec<u32>,
    grads: Vec<Vec<f32>>,
    b: usize,
    t: usize,
}

impl Trainer {
    fn new(shape: &Shape, threads: usize) -> BenchResult<Self> {
        let cfg = GptConfig {
            vocab_size: 256,
            n_layer: shape.layers,
            n_head: shape.heads,
            d_model: shape.dim,
            block_size: shape.block,
            rope_theta: None,
        };
        let (b, t) = (shape.batch, shape.block);
        let model = CpuGpt::new(cfg, 0, threads)?;
        let specs = model.param_specs();
        let params = ParamSet::new(specs.iter().map(|s| (s.name.clone(), s.shape.clone())));
        let opt = Adam::<f32>::new(AdamConfig::adamw(3e-4, 0.1), params);
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let data: Vec<Vec<u32>> = (0..b)
            .map(|_| (0..=t).map(|_| rng.random_range(0..256)).collect())
            .collect();
        let tokens = data.iter().flat_map(|r| r[..t].iter().copied()).collect();
        let targets = data.iter().flat_map(|r| r[1..].iter().copied()).collect();
        let grads = model.params().iter().map(|p| vec![0.0; p.len()]).collect();
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .map_err(|e| format!("a pool of {threads} threads: {e}"))?;
        Ok(Self {
            model,
            opt,
            pool,
            tokens,
            targets,
            grads,
            b,
            t,
        })
    }

    /// One AdamW step, as the anchor's `step()`.
    fn step(&mut self) -> BenchResult<f32> {
        self.grads.iter_mut().for_each(|g| g.fill(0.0));
        let (b, t) = (self.b, self.t);
        let loss = self
            .model
            .loss_and_grad(&self.tokens, &self.targets, b, t, &mut self.grads)?;
        let views: Vec<&[f32]> = self.grads.iter().map(Vec::as_slice).collect();
        let (opt, model) = (&mut self.opt, &mut self.model);
        self.pool
            .install(|| opt.step(&mut model.params_mut(), &views))?;
        Ok(loss)
    }

    /// Tokens/s over `steps` steps after the warmup.
    fn tokens_per_s(&mut self, steps: usize) -> BenchResult<f64> {
        for _ in 0..WARMUP {
            self.step()?;
        }
        let started = Instant::now();
        for _ in 0..steps {
            self.step()?;
        }
        Ok((steps * self.b * self.t) as f64 / started.elapsed().as_secs_f64())
    }

    /// Matrix-product parameters (all but the embedding tables), 6 FLOPs each per token
    /// (forward, two backward products), plus attention's scores and mixing over the whole
    /// `T×T` square (12·L·T·d, the usual count) and over its causal half (6·L·T·d, what a
    /// step that skips the masked half must still do).
    fn flops_per_token(&self, shape: &Shape) -> (f64, f64) {
        let matmul_params: usize = self
            .model
            .param_specs()
            .iter()
            .filter(|s| !matches!(s.name.as_str(), "wte.weight" | "wpe.weight"))
            .map(|s| s.shape.iter().product::<usize>())
            .sum();
        let attention = 6.0 * (shape.layers * self.t * shape.dim) as f64;
        let products = 6.0 * matmul_params as f64;
        (products + 2.0 * attention, products + attention)
    }
}

/// Measures vibee and the anchor in alternating rounds (vibee, then torch, `rounds` times):
/// this machine's speed drifts by a quarter over minutes, so each ratio compares runs made
/// seconds apart, and the medians are reported.
fn measure(
    shape: &Shape,
    threads: usize,
    steps: usize,
    rounds: usize,
) -> BenchResult<(Measured, Result<Vec<f64>, String>)> {
    let mut tr = Trainer::new(shape, threads)?;
    let (b, t) = (tr.b, tr.t);
    // Every op on its own first, then the default (fusion), in rounds with the anchor.
    tr.model.set_fusion(false);
    let unfused_tps = tr.tokens_per_s(steps)?;
    let unfused_peak = tr.model.planned_memory(b, t)?.0;
    let (unfused_ops, _) = count_ops(&mut tr.model, b, t)?;
    tr.model.set_fusion(true);
    // The same model with each op, not the batch, split over the threads.
    let mut by_op = match threads {
        1 => None,
        _ => Some(Trainer::new(shape, threads)?),
    };
    if let Some(other) = &mut by_op {
        other.model.set_split(Split::Ops);
    }
    let mut vibee_rounds = Vec::with_capacity(rounds);
    let mut op_split = Vec::new();
    let mut torch_rounds: Result<Vec<f64>, String> = Ok(Vec::with_capacity(rounds));
    for _ in 0..rounds {
        vibee_rounds.push(tr.tokens_per_s(steps)?);
        if let Some(other) = &mut by_op {
            op_split.push(other.tokens_per_s(steps)?);
        }
        if let Ok(list) = &mut torch_rounds {
            match torch(shape, threads, steps) {
                Ok(tps) => list.push(tps),
                Err(why) => torch_rounds = Err(why),
            }
        }
    }
    let (fused_ops, kernels) = count_ops(&mut tr.model, b, t)?;
    if threads == 1 {
        print_profile(&mut tr)?;
    }
    let (planned_peak, unplanned) = tr.model.planned_memory(b, t)?;
    let mut recomputed = [0; 2];
    for (k, policy) in [Recompute::Selective, Recompute::Full]
        .into_iter()
        .enumerate()
    {
        tr.model.set_recompute(policy);
        recomputed[k] = tr.model.planned_memory(b, t)?.0;
    }
    let (flops_per_token, least_flops_per_token) = tr.flops_per_token(shape);
    let measured = Measured {
        rounds: vibee_rounds,
        flops_per_token,
        least_flops_per_token,
        planned_peak,
        unplanned,
        recomputed,
        unfused: (unfused_tps, unfused_peak),
        ops: [unfused_ops, fused_ops, kernels],
        op_split,
    };
    Ok((measured, torch_rounds))
}

/// Where one more step's time goes, by op kind (the largest eight).
fn print_profile(tr: &mut Trainer) -> BenchResult<()> {
    let (b, t) = (tr.b, tr.t);
    tr.model.training_program(b, t)?.set_profiling(true);
    tr.step()?;
    let program = tr.model.training_program(b, t)?;
    let profile = program.profile();
    program.set_profiling(false);
    let total: f64 = profile.iter().map(|p| p.1).sum();
    let top: Vec<String> = profile
        .iter()
        .take(8)
        .map(|(op, s, _)| format!("{op} {:.0}%", 100.0 * s / total))
        .collect();
    println!(
        "      one step by op ({:.0} ms): {}",
        total * 1e3,
        top.join(", ")
    );
    Ok(())
}

/// The anchor's tokens/s, or why it could not run.
fn torch(shape: &Shape, threads: usize, steps: usize) -> Result<f64, String> {
    let script = match std::env::var_os("VIBEE_ANCHOR") {
        Some(path) => path.into(),
        None => {
            let here = Path::new(env!("CARGO_MANIFEST_DIR"));
            let beside = here.join("../../shared/anchors/torch_gpt.py");
            if beside.exists() {
                beside
            } else {
                here.join("../shared/anchors/torch_gpt.py")
            }
        }
    };
    if !script.exists() {
        return Err(format!("anchor script not found at {}", script.display()));
    }
    let python = std::env::var("VIBEE_PYTHON").unwrap_or_else(|_| "python3".into());
    let args = [
        ("--threads", threads),
        ("--steps", steps),
        ("--layers", shape.layers),
        ("--dim", shape.dim),
        ("--heads", shape.heads),
        ("--block", shape.block),
        ("--batch", shape.batch),
    ];
    let mut cmd = Command::new(&python);
    cmd.arg(&script);
    for (flag, value) in args {
        cmd.arg(flag).arg(value.to_string());
    }
    let out = cmd
        .output()
        .map_err(|e| format!("cannot run {python}: {e}"))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(format!(
            "torch_gpt.py failed: {}",
            err.lines().last().unwrap_or("")
        ));
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let json: serde_json::Value = stdout
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str(l).ok())
        .ok_or_else(|| format!("no JSON line in the anchor's output: {stdout}"))?;
    json["tokens_per_s"]
        .as_f64()
        .ok_or_else(|| "no tokens_per_s in the anchor's output".into())
}

/// The machine's sgemm peak on `threads` threads, in GFLOP/s: training-sized products, each
/// thread running its own on its own operands at the same time (how the batch split runs
/// them), the fastest of 15 repetitions of each (one clean repetition is enough, so a
/// busy moment does not lower it), the best shape.
fn sgemm_peak(threads: usize) -> f64 {
    use std::sync::Barrier;
    const REPS: usize = 15;
    let shapes = [
        (2048, 512, 128),
        (2048, 128, 512),
        (2048, 1536, 384),
        (2048, 384, 1536),
    ];
    shapes
        .into_iter()
        .map(|(m, n, k)| {
            let barrier = Barrier::new(threads);
            let fastest = std::thread::scope(|s| {
                let each: Vec<_> = (0..threads)
                    .map(|_| {
                        let barrier = &barrier;
                        s.spawn(move || {
                            let (a, b) = (vec![0.5f32; m * k], vec![0.25f32; k * n]);
                            let mut c = vec![0.0f32; m * n];
                            gemm_f32(&mut c, &a, &b, m, n, k, false, false, 1);
                            (0..REPS)
                                .map(|_| {
                                    barrier.wait();
                                    let started = Instant::now();
                                    gemm_f32(&mut c, &a, &b, m, n, k, false, false, 1);
                                    started.elapsed().as_secs_f64()
                                })
                                .collect::<Vec<f64>>()
                        })
                    })
                    .collect();
                // A repetition lasts until its slowest thread is done.
                let times: Vec<Vec<f64>> = each
                    .into_iter()
                    .map(|h| {
                        h.join()
                            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
                    })
                    .collect();
                (0..REPS)
                    .map(|r| times.iter().map(|t| t[r]).fold(0.0, f64::max))
                    .fold(f64::INFINITY, f64::min)
            });
            2.0 * (m * n * k * threads) as f64 / fastest / 1e9
        })
        .fold(0.0, f64::max)
}

/// The median of `xs` (the mean of the middle two when even).
fn median(xs: &[f64]) -> f64 {
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        return f64::NAN;
    }
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn list(xs: &[f64]) -> String {
    xs.iter()
        .map(|x| format!("{x:.0}"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn report(shape: &Shape, v: &Measured, torch: &Result<Vec<f64>, String>, peak: f64) {
    let mib = |b: usize| b as f64 / (1 << 20) as f64;
    let tps = median(&v.rounds);
    let achieved = tps * v.flops_per_token / 1e9;
    println!(
        "{:<5} vibee  {tps:>9.0} tokens/s median of [{}]  ({achieved:.1} GFLOP/s, {:.0}% of sgemm peak; step memory {:.1} MiB planned, {:.1} MiB without reuse)",
        shape.name,
        list(&v.rounds),
        100.0 * achieved / peak,
        mib(v.planned_peak),
        mib(v.unplanned)
    );
    println!(
        "{:<5}        step memory with activation recomputation: selective {:.1} MiB, full {:.1} MiB",
        shape.name,
        mib(v.recomputed[0]),
        mib(v.recomputed[1])
    );
    println!(
        "{:<5}        without fusion {:>9.0} tokens/s (fused {:.2}x that), {:.1} MiB planned; ops {} unfused, {} fused ({} fused kernels)",
        shape.name,
        v.unfused.0,
        tps / v.unfused.0,
        mib(v.unfused.1),
        v.ops[0],
        v.ops[1],
        v.ops[2]
    );
    if !v.op_split.is_empty() {
        let each = median(&v.op_split);
        println!(
            "{:<5}        each op split over the threads (not the batch) {each:>9.0} tokens/s median of [{}] (batch split {:.2}x that)",
            shape.name,
            list(&v.op_split),
            tps / each
        );
    }
    let target = if shape.name == "small" { 1.5 } else { 1.2 };
    match torch {
        Ok(t) => {
            let ratios: Vec<f64> = v.rounds.iter().zip(t).map(|(v, t)| v / t).collect();
            let shown: Vec<String> = ratios.iter().map(|r| format!("{r:.2}")).collect();
            println!(
                "{:<5} torch  {:>9.0} tokens/s median of [{}]  (eager)   ratio vibee/torch = {:.2}x median of rounds [{}] (target {target}x)",
                shape.name,
                median(t),
                list(t),
                median(&ratios),
                shown.join(" ")
            );
            // What this machine allows at all: a step doing nothing but its unavoidable
            // FLOPs, every one at the measured sgemm peak.
            let ceiling = peak * 1e9 / v.least_flops_per_token;
            let needed = target * median(t) * v.least_flops_per_token / 1e9;
            println!(
                "{:<5}        ceiling: the step's unavoidable FLOPs (attention's causal half) at the sgemm peak = {ceiling:.0} tokens/s = {:.2}x torch; the target {target}x needs {:.0}% of the peak over the whole step, vibee reaches {:.0}%",
                shape.name,
                ceiling / median(t),
                100.0 * needed / peak,
                100.0 * tps * v.least_flops_per_token / 1e9 / peak
            );
        }
        Err(why) => println!("{:<5} torch  skipped: {why}", shape.name),
    }
}

fn main() -> BenchResult<()> {
    let steps = steps();
    let rounds = rounds();
    let shapes = shapes()?;
    println!(
        "gemm kernels: {}; {rounds} rounds of vibee then torch, {steps} timed steps each after {WARMUP} warmup",
        gemm_isa()
    );
    for threads in [1, 2] {
        let peak = sgemm_peak(threads);
        println!("\n== {threads} thread(s): measured sgemm peak {peak:.1} GFLOP/s");
        for &shape in &shapes {
            let (v, torch) = measure(shape, threads, steps, rounds)?;
            report(shape, &v, &torch, peak);
        }
    }
    Ok(())
}
