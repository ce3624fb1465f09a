//! Where a GPT training step's time goes, node by node, grouped by op and shapes; products
//! with their achieved GFLOP/s. For finding what to speed up (the benchmark is
//! `benches/gpt_train.rs`).
//!
//! `cargo run --release -p vibee-runtime --example gpt_profile -- [layers dim heads block batch threads [fuse]]`
//! (default: the anchor's small shape on 1 thread, fused: `4 128 4 128 16 1 1`); `fuse`
//! 0 runs the program with elementwise fusion off (`CpuGpt::set_fusion`; on is the default);
//! `fuse` 2 instead compares the two: a fused and an unfused model take turns, step by step
//! (so a busy machine slows both alike), and the median step of each is printed.

use std::collections::BTreeMap;
use std::time::Instant;

use vibee_dsl::graph::{Graph, Node, Op};
use vibee_runtime::exec::Program;
use vibee_runtime::nn::{CpuGpt, GptConfig};
use vibee_runtime::train::model::Trainable;

#[path = "support/ab.rs"]
mod ab;

use ab::Result;

const STEPS: usize = 5;

fn main() -> Result<()> {
    let [layers, dim, heads, block, batch, threads, fuse] = ab::shape_args("fuse", 1)?;
    let cfg = ab::gpt_config(layers, dim, heads, block);
    let (b, t) = (batch, block);
    let (tokens, targets) = ab::batch(b, t);
    if fuse == 2 {
        return compare(cfg, threads, (&tokens, &targets, b, t));
    }
    let mut model = CpuGpt::new(cfg, 0, threads)?;
    model.set_fusion(fuse != 0);
    let mut grads: Vec<Vec<f32>> = model.params().iter().map(|p| vec![0.0; p.len()]).collect();
    for _ in 0..3 {
        model.loss_and_grad(&tokens, &targets, b, t, &mut grads)?;
    }
    model.training_program(b, t)?.set_profiling(true);
    let started = Instant::now();
    for _ in 0..STEPS {
        model.loss_and_grad(&tokens, &targets, b, t, &mut grads)?;
    }
    let wall = started.elapsed().as_secs_f64() / STEPS as f64;
    let program = model.training_program(b, t)?;
    let times = program.node_times().ok_or("profiling is off")?;
    let rows = group(program, times);
    let total: f64 = rows.iter().map(|r| r.1.0).sum();
    println!(
        "{:.1} ms a step ({:.0} tokens/s), {:.1} ms inside nodes",
        wall * 1e3,
        (b * t) as f64 / wall,
        total * 1e3
    );
    for (key, (seconds, count, flops)) in rows.iter().take(40) {
        let rate = if *flops > 0.0 {
            format!("  {:.1} GFLOP/s", flops / seconds / 1e9)
        } else {
            String::new()
        };
        println!(
            "{:7.2} ms {:5.1}% x{count:<3} {key}{rate}",
            seconds * 1e3,
            100.0 * seconds / total
        );
    }
    Ok(())
}

/// Steps each model of the comparison takes.
const COMPARED_STEPS: usize = 25;

/// A fused and an unfused model taking turns, step by step; prints the median and the
/// fastest steps.
fn compare(cfg: GptConfig, threads: usize, batch: (&[u32], &[u32], usize, usize)) -> Result<()> {
    let (tokens, targets, b, t) = batch;
    let mut models = [true, false].map(|fuse| {
        CpuGpt::new(cfg.clone(), 0, threads).map(|mut m| {
            m.set_fusion(fuse);
            m
        })
    });
    let mut times: [Vec<f64>; 2] = Default::default();
    let mut cpu = [0u64; 2];
    for step in 0..COMPARED_STEPS + 2 {
        for (k, model) in models.iter_mut().enumerate() {
            let model = model.as_mut().map_err(|e| e.to_string())?;
            let mut grads: Vec<Vec<f32>> =
                model.params().iter().map(|p| vec![0.0; p.len()]).collect();
            let (started, cpu_before) = (Instant::now(), cpu_ticks());
            model.loss_and_grad(tokens, targets, b, t, &mut grads)?;
            // The first two steps compile and warm up.
            if step >= 2 {
                times[k].push(started.elapsed().as_secs_f64());
                cpu[k] += cpu_ticks().saturating_sub(cpu_before);
            } else if step == 1 {
                model.training_program(b, t)?.set_profiling(true);
            }
        }
    }
    for model in models.iter_mut().flatten() {
        let p = model.training_program(b, t)?;
        let total: f64 = p.profile().iter().map(|r| r.1).sum();
        let top: Vec<String> = p
            .profile()
            .iter()
            .take(14)
            .map(|(op, s, n)| format!("{op} x{n} {:.1}", s * 1e3 / COMPARED_STEPS as f64))
            .collect();
        println!(
            "{:.1} ms in nodes: {}",
            total * 1e3 / COMPARED_STEPS as f64,
            top.join(", ")
        );
    }
    println!("{}", ab::summary(["fused", "unfused"], times));
    // CPU time leaves out the time other processes took the cores: steadier on a busy
    // machine (on one thread; with more it also counts waiting workers' spinning).
    let per_step = |ticks: u64| ticks as f64 * 10.0 / COMPARED_STEPS as f64;
    println!(
        "CPU time a step: fused {:.1} ms, unfused {:.1} ms, fused/unfused {:.3}",
        per_step(cpu[0]),
        per_step(cpu[1]),
        cpu[0] as f64 / cpu[1].max(1) as f64
    );
    Ok(())
}

/// User + system CPU time of this process so far, in 10 ms ticks (`/proc/self/stat`;
/// 0 where that cannot be read).
fn cpu_ticks() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which may hold spaces) start at the state, field 3.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |n: usize| fields.get(n - 3).and_then(|v| v.parse::<u64>().ok());
    field(14).unwrap_or(0) + field(15).unwrap_or(0)
}

/// Seconds per step, node count and FLOPs per step, by op and shapes, largest first; a run
/// of nodes the program computes in one pass counts under its own name, at its first node
/// (its later nodes are not listed).
fn group(program: &Program, times: &[f64]) -> Vec<(String, (f64, usize, f64))> {
    let graph = program.graph();
    let mut by: BTreeMap<String, (f64, usize, f64)> = BTreeMap::new();
    let mut next = 0;
    for (i, (node, &seconds)) in graph.nodes.iter().zip(times).enumerate() {
        if i < next || matches!(node.op, Op::Input { .. } | Op::Reshape) {
            continue;
        }
        next = i + program.run_len(i);
        let key = match program.merged(i) {
            Some(name) => format!("{name} {:?}", node.shape),
            None => key(graph, node),
        };
        let entry = by.entry(key).or_default();
        entry.0 += seconds / STEPS as f64;
        entry.1 += 1;
        entry.2 += flops(graph, node);
    }
    let mut rows: Vec<_> = by.into_iter().collect();
    rows.sort_by(|a, b| b.1.0.total_cmp(&a.1.0));
    rows
}

fn key(graph: &Graph, node: &Node) -> String {
    let shape = |i: usize| format!("{:?}", graph.nodes[node.inputs[i].index()].shape);
    match node.op {
        Op::MatMul { trans_a, trans_b } => format!(
            "matmul{}{} {} x {} -> {:?}",
            if trans_a { " Aᵀ" } else { "" },
            if trans_b { " Bᵀ" } else { "" },
            shape(0),
            shape(1),
            node.shape
        ),
        Op::Unary(u) => format!("unary {u:?} {:?}", node.shape),
        Op::Binary(o) => format!("binary {o:?} {:?}", node.shape),
        Op::Fused(ref f) => format!("{} {:?}", f.kernel.name, node.shape),
        ref op => format!("{} {:?}", op.name(), node.shape),
    }
}

/// 2·m·n·k for a product, else 0.
fn flops(graph: &Graph, node: &Node) -> f64 {
    let Op::MatMul { trans_a, .. } = node.op else {
        return 0.0;
    };
    let a = &graph.nodes[node.inputs[0].index()].shape;
    let k = if trans_a {
        a[a.len() - 2]
    } else {
        a[a.len() - 1]
    };
    2.0 * node.shape.iter().product::<usize>() as f64 * k as f64
}
