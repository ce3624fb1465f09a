//! A GPT training step with and without column reductions fused into elementwise kernels
//! (`FuseOptions::reductions`): which reductions fuse, the node counts, and the step times
//! of the two programs taking turns (A/B/A/B…, so the machine's drift slows both alike).
//!
//! `cargo run --release -p vibee-runtime --example fused_reductions -- [layers dim heads block batch threads [steps]]`
//! (default: the anchor's small shape on 1 thread, `4 128 4 128 16 1 20`); `steps` 0 instead
//! times the two patterns alone on `[batch · block, dim]`: a bias gradient `Σ(a + b + c)` and
//! a norm's `Σ dy`, `Σ dy · x̂` beside `dy · γ`.

use std::time::Instant;

use vibee_dsl::graph::passes::Recompute;
use vibee_dsl::graph::{DType, Graph, InputRole, Op};
use vibee_runtime::exec::{CPU_FUSION, Feed, Program};
use vibee_runtime::nn::Gpt;
use vibee_runtime::nn::Module;

#[path = "support/ab.rs"]
mod ab;

use ab::Result;

fn main() -> Result<()> {
    let [layers, dim, heads, block, batch, threads, steps] = ab::shape_args("steps", 20)?;
    if steps == 0 {
        return micro(threads, [batch * block, dim]);
    }
    let model = Gpt::new(ab::gpt_config(layers, dim, heads, block), 0)?;
    let graph = model.trace_loss_in(batch, block, true, None)?;
    let (tokens, targets) = ab::batch(batch, block);
    let mut programs = [true, false].map(|on| {
        Program::compile_with_fusion(
            &graph,
            threads,
            Recompute::None,
            CPU_FUSION.with_reductions(on),
        )
    });
    let params = model.parameters();
    let mut times: [Vec<f64>; 2] = Default::default();
    for (k, p) in programs.iter().enumerate() {
        let p = p.as_ref().map_err(|e| e.to_string())?;
        describe(
            if k == 0 {
                "reductions fused"
            } else {
                "reductions alone"
            },
            p.graph(),
        );
    }
    for step in 0..steps + 2 {
        // A/B, then B/A: neither program always runs right after the other.
        let order = if step % 2 == 0 { [0, 1] } else { [1, 0] };
        for k in order {
            let p = programs[k].as_mut().map_err(|e| e.to_string())?;
            let bound = model.bind_inputs(p, &["tokens", "targets"])?;
            let feeds: Vec<Feed<'_>> = p
                .inputs()
                .iter()
                .zip(&bound)
                .map(|(s, b)| match b {
                    Some(i) => Feed::F32(&params[*i].data),
                    None if s.name == "tokens" => Feed::U32(&tokens),
                    None => Feed::U32(&targets),
                })
                .collect();
            let started = Instant::now();
            p.run(&feeds, 0)?;
            if step >= 2 {
                times[k].push(started.elapsed().as_secs_f64());
            } else if step == 1 {
                p.set_profiling(true);
            }
        }
    }
    let [a, b] = &programs;
    let (a, b) = (
        a.as_ref().map_err(|e| e.to_string())?,
        b.as_ref().map_err(|e| e.to_string())?,
    );
    let same = (0..graph.outputs.len()).all(|k| {
        a.output(k)
            .iter()
            .zip(b.output(k))
            .all(|(x, y)| x.to_bits() == y.to_bits())
    });
    println!("loss and every gradient bit-identical: {same}");
    for (what, p) in [("fused", a), ("alone", b)] {
        // The ops the fusion of reductions changes: sums, reductions, fused groups, adds.
        let touched: Vec<(String, f64, usize)> = p
            .profile()
            .into_iter()
            .filter(|(op, _, _)| {
                op.contains("sum")
                    || op == "reduce"
                    || op.contains("fused")
                    || op.starts_with("binary Add")
            })
            .collect();
        let rows: Vec<String> = touched
            .iter()
            .map(|(op, t, n)| format!("{op} x{n} {:.2}", t * 1e3 / steps as f64))
            .collect();
        let total: f64 = touched.iter().map(|r| r.1).sum();
        println!(
            "{what}: {:.2} ms a step in: {}",
            total * 1e3 / steps as f64,
            rows.join(", ")
        );
    }
    println!(
        "{threads} thread(s), {}",
        ab::summary(["fused", "alone"], times)
    );
    Ok(())
}

/// Computed nodes, reductions left on their own, and the groups that took reductions in.
fn describe(what: &str, g: &Graph) {
    let computed = g.nodes.iter().filter(|n| n.op.computes()).count();
    let alone = g
        .nodes
        .iter()
        .filter(|n| matches!(n.op, Op::Reduce { .. }))
        .count();
    let mut groups: std::collections::BTreeMap<String, (usize, usize)> = Default::default();
    for n in &g.nodes {
        if let Op::Fused(f) = &n.op
            && !f.reductions.is_empty()
        {
            let e = groups
                .entry(format!("{} {:?}", f.kernel.name, n.shape))
                .or_default();
            e.0 += 1;
            e.1 += f.reductions.len();
        }
    }
    println!("{what}: {computed} computed nodes, {alone} reductions on their own");
    for (name, (count, reductions)) in groups {
        println!("  x{count} {name} ({reductions} reductions)");
    }
}

/// The two patterns alone, fused and not, taking turns; the fastest of 40 runs each.
fn micro(threads: usize, [rows, columns]: [usize; 2]) -> Result<()> {
    let mut bias = Graph::new();
    let shape = [rows, columns];
    let a = bias.input("a", &shape, DType::F32, InputRole::Data)?;
    let b = bias.input("b", &shape, DType::F32, InputRole::Data)?;
    let c = bias.input("c", &shape, DType::F32, InputRole::Data)?;
    let dy = bias.add(a, b)?;
    let dy = bias.add(dy, c)?;
    let db = bias.sum(dy, &[0], false)?;
    bias.outputs.extend([dy, db]);
    let mut norm = Graph::new();
    let dy = norm.input("dy", &shape, DType::F32, InputRole::Data)?;
    let xhat = norm.input("xhat", &shape, DType::F32, InputRole::Data)?;
    let gamma = norm.input("gamma", &[columns], DType::F32, InputRole::Data)?;
    let dbeta = norm.sum(dy, &[0], false)?;
    let t = norm.mul(dy, xhat)?;
    let dgamma = norm.sum(t, &[0], false)?;
    let dxhat = norm.mul(dy, gamma)?;
    norm.outputs.extend([dxhat, dgamma, dbeta]);
    for (what, g) in [
        ("bias Σ(a + b + c)", &bias),
        ("norm Σdy, Σdy·x̂, dy·γ", &norm),
    ] {
        let mut programs = [true, false].map(|on| {
            Program::compile_with_fusion(
                g,
                threads,
                Recompute::None,
                CPU_FUSION.with_reductions(on),
            )
        });
        let data: Vec<Vec<f32>> = g
            .inputs()
            .map(|(id, _, _)| {
                (0..g.node(id).numel())
                    .map(|i| (i % 17) as f32 - 8.0)
                    .collect()
            })
            .collect();
        let feeds: Vec<Feed<'_>> = data.iter().map(|v| Feed::F32(v)).collect();
        let mut best = [f64::INFINITY; 2];
        for _ in 0..40 {
            for (k, p) in programs.iter_mut().enumerate() {
                let p = p.as_mut().map_err(|e| e.to_string())?;
                let started = Instant::now();
                p.run(&feeds, 0)?;
                best[k] = best[k].min(started.elapsed().as_secs_f64());
            }
        }
        println!(
            "{what} over [{rows}, {columns}], {threads} thread(s): fused {:.3} ms, alone {:.3} ms, ratio {:.3}",
            best[0] * 1e3,
            best[1] * 1e3,
            best[0] / best[1]
        );
    }
    Ok(())
}
