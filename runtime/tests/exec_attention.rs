//! The fused self-attention (`Op::SelfAttention` and its gradient) through the CPU
//! executor against the f64 reference and against its expansion into primitive ops (whose
//! products run through `gemm`), on every kind of tail the executor's per-head kernels
//! have: `T` below, at and past a 4-row tile, a 16-key panel and a 32-row block; heads 32
//! and 64 wide (the tiled AVX2 kernels on hosts that run them) and 24 and 8 wide (which
//! take the `gemm` path everywhere); and the gradient merged with the `qkv` bias's.

// A failed unwrap in a test is a failed test.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;

use vibee_dsl::graph::autodiff::gradients;
use vibee_dsl::graph::reference::evaluate;
use vibee_dsl::graph::{DType, Graph, InputRole, NodeId};
use vibee_runtime::exec::{CompileOptions, Feed, Program};

/// Values in `[lo, hi)` from a xorshift stream.
fn values(n: usize, mut seed: u64, lo: f32, hi: f32) -> Vec<f32> {
    (0..n)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            lo + (hi - lo) * ((seed >> 40) as f32 / (1u64 << 24) as f32)
        })
        .collect()
}

/// `loss = Σ attention(qkv) ∘ r`; outputs: the attention, the loss, `∂loss/∂qkv`.
fn graph(b: usize, t: usize, hd: usize, heads: usize) -> Graph {
    let c = hd * heads;
    let mut g = Graph::new();
    let qkv = g
        .input("qkv", &[b, t, 3 * c], DType::F32, InputRole::Param)
        .unwrap();
    let y = g.self_attention(qkv, heads).unwrap();
    let r = g
        .input("r", &[b, t, c], DType::F32, InputRole::Data)
        .unwrap();
    let w = g.mul(y, r).unwrap();
    let loss = g.sum(w, &[0, 1, 2], false).unwrap();
    let grads: Vec<NodeId> = gradients(&mut g, loss, &[qkv]).unwrap();
    g.outputs = [y, loss].into_iter().chain(grads).collect();
    g
}

/// The graph's inputs for a shape: `qkv` spread like a trained model's projections, so
/// some rows' softmax is sharp, and the loss weights `r`.
fn feeds(b: usize, t: usize, hd: usize, heads: usize) -> [Vec<f32>; 2] {
    let c = hd * heads;
    [
        values(b * t * 3 * c, 0x2545_F491_4F6C_DD1D, -2.0, 2.0),
        values(b * t * c, 0x9E37_79B9_7F4A_7C15, -1.0, 1.0),
    ]
}

/// The graph's outputs on `threads` threads.
fn run(g: &Graph, inputs: &[Vec<f32>; 2], threads: usize) -> Vec<Vec<f32>> {
    let mut p = Program::compile(g, threads).unwrap();
    let bound: Vec<Feed<'_>> = p
        .inputs()
        .iter()
        .map(|s| match s.name.as_str() {
            "qkv" => Feed::F32(&inputs[0]),
            _ => Feed::F32(&inputs[1]),
        })
        .collect();
    p.run(&bound, 0).unwrap();
    (0..g.outputs.len()).map(|k| p.output(k).to_vec()).collect()
}

/// Every output within `tol` (relative to the output's largest magnitude) of `want`.
fn assert_near(got: &[Vec<f32>], want: &[Vec<f64>], tol: f64, what: &str) {
    for (k, (a, b)) in got.iter().zip(want).enumerate() {
        assert_eq!(a.len(), b.len(), "{what}: output {k}");
        let scale = b.iter().fold(1.0f64, |m, v| m.max(v.abs()));
        for (i, (&x, &y)) in a.iter().zip(b).enumerate() {
            assert!(
                (f64::from(x) - y).abs() <= tol * scale,
                "{what}: output {k}[{i}] is {x}, expected {y}"
            );
        }
    }
}

/// `g`'s outputs from the f64 reference evaluator, input `names[k]` bound to `inputs[k]`.
fn reference(g: &Graph, names: &[&str], inputs: &[Vec<f32>]) -> Vec<Vec<f64>> {
    let feeds64: HashMap<String, Vec<f64>> = names
        .iter()
        .zip(inputs)
        .map(|(n, v)| (n.to_string(), v.iter().map(|&x| f64::from(x)).collect()))
        .collect();
    let all = evaluate(g, &feeds64, 0).unwrap();
    g.outputs.iter().map(|o| all[o.index()].clone()).collect()
}

/// The shapes `(batch, T, head width, heads)` every test covers.
const SHAPES: [(usize, usize, usize, usize); 8] = [
    (2, 1, 32, 2),
    (1, 3, 32, 1),
    (2, 17, 32, 2),
    (1, 33, 64, 2),
    (2, 77, 32, 3),
    (1, 130, 64, 2),
    (2, 21, 24, 2),
    (1, 40, 8, 3),
];

#[test]
fn fused_attention_matches_the_f64_reference() {
    for (b, t, hd, heads) in SHAPES {
        let g = graph(b, t, hd, heads);
        let inputs = feeds(b, t, hd, heads);
        let want = reference(&g, &["qkv", "r"], &inputs);
        for threads in [1, 2] {
            let what = format!("B {b}, T {t}, hd {hd}, {heads} heads, {threads} threads");
            assert_near(&run(&g, &inputs, threads), &want, 2e-5, &what);
        }
    }
}

#[test]
fn fused_attention_matches_its_gemm_expansion_and_is_thread_independent() {
    for (b, t, hd, heads) in SHAPES {
        let g = graph(b, t, hd, heads);
        let inputs = feeds(b, t, hd, heads);
        let one = run(&g, &inputs, 1);
        let what = format!("B {b}, T {t}, hd {hd}, {heads} heads");
        assert_eq!(
            one,
            run(&g, &inputs, 2),
            "{what}: thread count changed bits"
        );
        let expanded = vibee_dsl::graph::passes::expand_attention(&g).unwrap();
        let want: Vec<Vec<f64>> = run(&expanded, &inputs, 1)
            .iter()
            .map(|o| o.iter().map(|&x| f64::from(x)).collect())
            .collect();
        assert_near(&one, &want, 1e-5, &format!("{what}, against the expansion"));
    }
}

/// `h = z + bias`, `y = attention(h)`, `loss = Σ y ∘ r`; outputs: `y`, the loss, `∂z` and
/// `∂bias` (the column sum of `∂h` over batch and positions).
fn bias_graph(b: usize, t: usize, hd: usize, heads: usize) -> Graph {
    let c = hd * heads;
    let mut g = Graph::new();
    let z = g
        .input("qkv", &[b, t, 3 * c], DType::F32, InputRole::Param)
        .unwrap();
    let bias = g
        .input("bias", &[3 * c], DType::F32, InputRole::Param)
        .unwrap();
    let h = g.add(z, bias).unwrap();
    let y = g.self_attention(h, heads).unwrap();
    let r = g
        .input("r", &[b, t, c], DType::F32, InputRole::Data)
        .unwrap();
    let w = g.mul(y, r).unwrap();
    let loss = g.sum(w, &[0, 1, 2], false).unwrap();
    let grads: Vec<NodeId> = gradients(&mut g, loss, &[z, bias]).unwrap();
    g.outputs = [y, loss].into_iter().chain(grads).collect();
    g
}

/// Whether this host runs the tiled attention kernels (AVX2 and FMA, no AVX-512).
#[cfg(target_arch = "x86_64")]
fn tiled_host() -> bool {
    std::arch::is_x86_feature_detected!("avx2")
        && std::arch::is_x86_feature_detected!("fma")
        && !std::arch::is_x86_feature_detected!("avx512f")
}

#[cfg(not(target_arch = "x86_64"))]
fn tiled_host() -> bool {
    false
}

/// [`bias_graph`]'s outputs, fused (merged runs) or not, on `threads` threads; and the
/// names of the runs merged.
fn run_bias(
    g: &Graph,
    inputs: &[Vec<f32>; 3],
    threads: usize,
    fuse: bool,
) -> (Vec<Vec<f32>>, Vec<&'static str>) {
    let options = CompileOptions {
        fuse,
        ..CompileOptions::default()
    };
    let mut p = Program::compile_with_options(g, threads, options).unwrap();
    let bound: Vec<Feed<'_>> = p
        .inputs()
        .iter()
        .map(|s| match s.name.as_str() {
            "qkv" => Feed::F32(&inputs[0]),
            "r" => Feed::F32(&inputs[1]),
            _ => Feed::F32(&inputs[2]),
        })
        .collect();
    p.run(&bound, 0).unwrap();
    let mut runs: Vec<&str> = (0..g.nodes.len()).filter_map(|i| p.merged(i)).collect();
    if p.kept_attention_floats() > 0 {
        runs.push("kept numerators");
    }
    (
        (0..g.outputs.len()).map(|k| p.output(k).to_vec()).collect(),
        runs,
    )
}

/// The `qkv` bias gradient summed inside the attention gradient's tasks (the merged run),
/// from the softmax numerators the forward kept (the tiled kernels), gives the bits of the
/// ops run alone, on one thread and two, within the f64
/// reference's tolerance; on every tail of `T`, both head widths of the tiled path and a
/// `gemm`-path one, with enough rows (`B·T`) that the column sum's blocks of rows
/// (`partial_rows(3·C)`) start and end inside batch rows and run across them.
#[test]
fn the_qkv_bias_gradient_merges_into_the_attention_gradient_with_the_same_bits() {
    let shapes = [
        (3, 1, 32, 2),
        (5, 3, 32, 1),
        (4, 17, 32, 2),
        (3, 33, 64, 2),
        (2, 77, 32, 3),
        (2, 130, 64, 2),
        (3, 130, 32, 1),
        (4, 21, 24, 2),
    ];
    for (b, t, hd, heads) in shapes {
        let c = hd * heads;
        let [z, r] = feeds(b, t, hd, heads);
        let inputs = [z, r, values(3 * c, 0x0123_4567_89AB_CDEF, -1.0, 1.0)];
        let g = bias_graph(b, t, hd, heads);
        let what = format!("B {b}, T {t}, hd {hd}, {heads} heads");
        let (alone, none) = run_bias(&g, &inputs, 1, false);
        assert!(none.is_empty(), "{what}: {none:?}");
        for threads in [1, 2] {
            let (merged, runs) = run_bias(&g, &inputs, threads, true);
            // The tiled kernels (heads a multiple of 16 wide, on AVX2 hosts without
            // AVX-512) keep the forward's numerators for the gradient.
            let tiled = hd % 16 == 0 && tiled_host();
            let want: &[&str] = if tiled {
                &["merged self_attention_grad+sum", "kept numerators"]
            } else {
                &["merged self_attention_grad+sum"]
            };
            assert_eq!(runs, want, "{what}");
            for (k, (m, a)) in merged.iter().zip(&alone).enumerate() {
                let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert!(bits(m) == bits(a), "{what}, {threads} threads: output {k}");
            }
        }
        let want = reference(&g, &["qkv", "r", "bias"], &inputs);
        assert_near(&alone, &want, 2e-5, &what);
    }
}
