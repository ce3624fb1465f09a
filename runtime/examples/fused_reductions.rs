//! A GPT training step with and without column reductions fused into elementwise kernels
//! (`FuseOptions::reductions`): which reductions fuse, the node counts, and the step times
//! of the two programs taking turns (A/B/A/B…, so the machine's drift slows both alike).
//!
//! `cargo run --release -p vibee-runtime --example fused_reductions -- [layers dim heads block batch threads [steps]]`
//! (default: the anchor's small shape on 1 thread, `4 128 4 128 16 1 20`).

use std::time::Instant;

use vibee_dsl::graph::passes::Recompute;
use vibee_dsl::graph::{Graph, Op};
use vibee_runtime::exec::{CPU_FUSION, Feed, Program};
use vibee_runtime::nn::Module;
use vibee_runtime::nn::{Gpt, GptConfig};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

fn main() -> Result<()> {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| {
            a.parse::<usize>()
                .map_err(|e| format!("argument {a:?}: {e}"))
        })
        .collect::<std::result::Result<_, _>>()?;
    let [layers, dim, heads, block, batch, threads, steps] = match args.as_slice() {
        [] => [4, 128, 4, 128, 16, 1, 20],
        &[a, b, c, d, e, f] => [a, b, c, d, e, f, 20],
        &[a, b, c, d, e, f, g] => [a, b, c, d, e, f, g],
        _ => {
            return Err(
                "expected six or seven numbers: layers dim heads block batch threads [steps]"
                    .into(),
            );
        }
    };
    let cfg = GptConfig {
        vocab_size: 256,
        n_layer: layers,
        n_head: heads,
        d_model: dim,
        block_size: block,
        rope_theta: None,
    };
    let model = Gpt::new(cfg, 0)?;
    let graph = model.trace_loss_in(batch, block, true, None)?;
    let tokens: Vec<u32> = (0..batch * block).map(|i| (i * 7 % 256) as u32).collect();
    let targets: Vec<u32> = (0..batch * block).map(|i| (i * 13 % 256) as u32).collect();
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
        for (k, p) in programs.iter_mut().enumerate() {
            let p = p.as_mut().map_err(|e| e.to_string())?;
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
    let [fused, alone] = times.map(|mut v| {
        v.sort_by(f64::total_cmp);
        (v[v.len() / 2], v[0])
    });
    println!(
        "{threads} thread(s), median step: fused {:.1} ms, alone {:.1} ms, ratio {:.3}; fastest {:.1} vs {:.1} ms, {:.3}",
        fused.0 * 1e3,
        alone.0 * 1e3,
        fused.0 / alone.0,
        fused.1 * 1e3,
        alone.1 * 1e3,
        fused.1 / alone.1
    );
    Ok(())
}

/// Computed nodes, reductions left on their own, and the groups that took reductions in.
fn describe(what: &str, g: &Graph) {
    let computed = g
        .nodes
        .iter()
        .filter(|n| {
            !matches!(
                n.op,
                Op::Input { .. } | Op::Reshape | Op::FusedOutput { .. }
            )
        })
        .count();
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
