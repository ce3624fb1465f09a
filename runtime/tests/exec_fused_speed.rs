//! Timing of fused against unfused elementwise chains of a GPT's shapes (ignored: a
//! measurement, run with `--ignored --nocapture`).

#![allow(clippy::unwrap_used)]

use vibee_dsl::graph::passes::Recompute;
use vibee_dsl::graph::passes::fuse::FuseOptions;
use vibee_dsl::graph::{BinaryOp, DType, Graph, InputRole, NodeId};
use vibee_runtime::exec::{CompileOptions, Feed, Program};

/// Seconds per run spent outside the permutes that make the operands slots.
fn time(g: &Graph, fuse: Option<FuseOptions>) -> f64 {
    let mut p = match fuse {
        Some(f) => Program::compile_with_fusion(g, 1, Recompute::None, f).unwrap(),
        None => Program::compile_with_options(g, 1, CompileOptions::default()).unwrap(),
    };
    let data: Vec<Vec<f32>> = p
        .inputs()
        .iter()
        .map(|s| {
            (0..s.shape.iter().product::<usize>())
                .map(|i| (i % 17) as f32 * 0.3 - 2.5)
                .collect()
        })
        .collect();
    let feeds: Vec<Feed<'_>> = data.iter().map(|v| Feed::F32(v)).collect();
    p.run(&feeds, 0).unwrap();
    let mut best = f64::MAX;
    for _ in 0..20 {
        p.set_profiling(true);
        p.run(&feeds, 0).unwrap();
        let t: f64 = p
            .profile()
            .iter()
            .filter(|(name, ..)| name != "permute")
            .map(|r| r.1)
            .sum();
        best = best.min(t);
    }
    best
}

/// An `[rows, cols]` slot (an input transposed by a permute, which stays unfused).
fn slot(g: &mut Graph, name: &str, rows: usize, cols: usize) -> NodeId {
    let x = g
        .input(name, &[cols, rows], DType::F32, InputRole::Data)
        .unwrap();
    g.permute(x, &[1, 0]).unwrap()
}

fn bias(g: &mut Graph, n: usize) -> NodeId {
    g.input("b", &[n], DType::F32, InputRole::Data).unwrap()
}

#[test]
#[ignore = "a measurement"]
fn fused_chain_speed() {
    let mut gelu = Graph::new();
    let x = slot(&mut gelu, "x", 2048, 512);
    let b = bias(&mut gelu, 512);
    let y = gelu.add(x, b).unwrap();
    let h = gelu.gelu(y).unwrap();
    gelu.outputs.extend([y, h]);
    let mut grad = Graph::new();
    let x = slot(&mut grad, "x", 2048, 512);
    let d = slot(&mut grad, "d", 2048, 512);
    let y = grad.binary(BinaryOp::GeluGrad, x, d).unwrap();
    let y = grad
        .unary(vibee_dsl::graph::UnaryOp::Scale(0.5), y)
        .unwrap();
    grad.outputs.push(y);
    let mut adds = Graph::new();
    let x = slot(&mut adds, "x", 2048, 128);
    let r = slot(&mut adds, "r", 2048, 128);
    let b = bias(&mut adds, 128);
    let y = adds.add(x, b).unwrap();
    let y = adds.add(y, r).unwrap();
    adds.outputs.push(y);
    // A `[100, 128]` operand against `[16, 100, 128]` beside a bias: read at `i % 12800`.
    let mut rows = Graph::new();
    let x = slot(&mut rows, "x", 1600, 128);
    let x = rows.reshape(x, &[16, 100, 128]).unwrap();
    let r = rows
        .input("r", &[100, 128], DType::F32, InputRole::Data)
        .unwrap();
    let b = bias(&mut rows, 128);
    let y = rows.add(x, b).unwrap();
    let y = rows.mul(y, r).unwrap();
    rows.outputs.push(y);
    for round in 0..2 {
        let cases = [
            ("add_gelu", &gelu),
            ("gelu_grad", &grad),
            ("add_add", &adds),
            ("add_mul_rows", &rows),
        ];
        for (name, g) in cases {
            let u = time(g, None);
            let f = time(g, Some(FuseOptions::ALL));
            println!(
                "{round} {name}: unfused {:.3} ms, all fused {:.3} ms, fused/unfused {:.2}",
                u * 1e3,
                f * 1e3,
                f / u
            );
        }
    }
}

/// Seconds per run in matrix products.
fn matmul_time(g: &Graph, threads: usize) -> f64 {
    let mut p = Program::compile(g, threads).unwrap();
    let data: Vec<Vec<f32>> = p
        .inputs()
        .iter()
        .map(|s| {
            (0..s.shape.iter().product::<usize>())
                .map(|i| (i % 17) as f32 * 0.03 - 0.25)
                .collect()
        })
        .collect();
    let feeds: Vec<Feed<'_>> = data.iter().map(|v| Feed::F32(v)).collect();
    p.run(&feeds, 0).unwrap();
    let mut best = f64::MAX;
    for _ in 0..10 {
        p.set_profiling(true);
        p.run(&feeds, 0).unwrap();
        let t: f64 = p
            .profile()
            .iter()
            .filter(|(name, ..)| name.starts_with("matmul"))
            .map(|r| r.1)
            .sum();
        best = best.min(t);
    }
    best
}

#[test]
#[ignore = "a measurement"]
fn causal_attention_speed() {
    use vibee_dsl::graph::autodiff::gradients;
    let mut g = Graph::new();
    let s: &[usize] = &[16, 4, 128, 32];
    let [q, k, v] = ["q", "k", "v"].map(|n| g.input(n, s, DType::F32, InputRole::Param).unwrap());
    let o = g.causal_attention(q, k, v).unwrap();
    let loss = g.sum(o, &[0, 1, 2, 3], false).unwrap();
    let grads = gradients(&mut g, loss, &[q, k, v]).unwrap();
    g.outputs = [loss].into_iter().chain(grads).collect();
    let block = std::env::var("VIBEE_CAUSAL_BLOCK").unwrap_or_default();
    for threads in [1, 2] {
        println!(
            "block {block} threads {threads}: matmuls {:.3} ms",
            matmul_time(&g, threads) * 1e3
        );
    }
}
