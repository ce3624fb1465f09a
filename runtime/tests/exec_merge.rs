//! Runs of ops the executor computes in one pass (`exec/merge.rs`: bias + GELU, GELU's
//! gradient + its bias gradient, a layer norm + its affine, a norm's gradient with its
//! `dy·γ` sums, the residual add and the bias sum, the cross-entropy and its gradient, the
//! attention's gradient and its `qkv` bias gradient) against the same program unfused: the
//! same bits, on one thread and on several, and each run found where a GPT has it (the
//! attention's run on every tail in `exec_attention.rs`).

// Helpers outside `#[test]` functions unwrap too: a broken invariant should fail loudly.
#![allow(clippy::unwrap_used)]

mod exec_support;

use std::collections::BTreeMap;

use vibee_dsl::graph::{BinaryOp, DType, Graph, InputRole, ReduceOp};
use vibee_runtime::exec::{CompileOptions, Feed, Program};
use vibee_runtime::nn::{CpuGpt, Split};
use vibee_runtime::train::model::Trainable;

use exec_support::{input, tiny_gpt, values};

fn compile(g: &Graph, threads: usize, fuse: bool) -> Program {
    let options = CompileOptions {
        fuse,
        ..CompileOptions::default()
    };
    Program::compile_with_options(g, threads, options).unwrap()
}

/// How many runs of each kind the program merges, and (as `"unstored"`) how many values
/// they leave unstored.
fn runs(p: &Program) -> BTreeMap<&'static str, usize> {
    let mut by = BTreeMap::new();
    for i in 0..p.graph().nodes.len() {
        if let Some(name) = p.merged(i) {
            *by.entry(name).or_default() += 1;
        }
        if !p.stored(i) {
            *by.entry("unstored").or_default() += 1;
        }
    }
    by
}

fn assert_bits(a: &[f32], b: &[f32], what: &str) {
    assert_eq!(a.len(), b.len(), "{what}");
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert_eq!(
            x.to_bits(),
            y.to_bits(),
            "{what}[{i}]: merged {x} vs alone {y}"
        );
    }
}

/// `h = z + b`, `gelu(h)`, `dz = dy·gelu'(h)` and `Σ dz` (or the mean) over the rows, on
/// rows of 40 (not a whole number of the interleaved GELU's 32 values) and 900 rows (three
/// blocks of the column sums), the bias on either side of the add; `dz` from the
/// derivative the forward run kept (`h` stored or not), and a GELU gradient of an input's.
#[test]
fn bias_gelu_and_gelu_gradient_sums_give_the_unmerged_bits() {
    for (op, bias_first) in [(ReduceOp::Sum, false), (ReduceOp::Mean, true)] {
        let mut g = Graph::new();
        let z = input(&mut g, "z", &[3, 300, 40]);
        let b = input(&mut g, "b", &[40]);
        let dy = input(&mut g, "dy", &[3, 300, 40]);
        let h = if bias_first {
            g.add(b, z).unwrap()
        } else {
            g.add(z, b).unwrap()
        };
        let y = g.gelu(h).unwrap();
        let dz = g.binary(BinaryOp::GeluGrad, h, dy).unwrap();
        let db = g.reduce(op, dz, &[0, 1], false).unwrap();
        let dz2 = g.binary(BinaryOp::GeluGrad, z, dy).unwrap();
        let db2 = g.reduce(op, dz2, &[0, 1], true).unwrap();
        g.outputs.extend([y, dz, db, dz2, db2]);
        if bias_first {
            // `h` read after its gradient's run: stored as well as its derivative.
            g.outputs.push(h);
        }
        let feeds = [
            values(36_000, -6.0, 6.0, 1),
            values(40, -1.0, 1.0, 2),
            values(36_000, -2.0, 2.0, 3),
        ];
        let feeds: Vec<Feed<'_>> = feeds.iter().map(|v| Feed::F32(v)).collect();
        let mut alone = compile(&g, 1, false);
        alone.run(&feeds, 0).unwrap();
        for threads in [1, 3] {
            let mut merged = compile(&g, threads, true);
            let found = runs(&merged);
            assert_eq!(found.get("merged add+gelu"), Some(&1), "{found:?}");
            assert_eq!(found.get("merged gelu_grad+sum"), Some(&2), "{found:?}");
            merged.run(&feeds, 0).unwrap();
            for k in 0..g.outputs.len() {
                assert_bits(merged.output(k), alone.output(k), &format!("output {k}"));
            }
        }
    }
}

/// A GELU read by something besides the add's own run, or a sum over a trailing axis,
/// is not merged, and the program still computes it.
#[test]
fn other_shapes_stay_apart() {
    let mut g = Graph::new();
    let z = input(&mut g, "z", &[8, 12]);
    let dy = input(&mut g, "dy", &[8, 12]);
    let h = g.add(z, dy).unwrap();
    let y = g.gelu(h).unwrap();
    let dz = g.binary(BinaryOp::GeluGrad, h, dy).unwrap();
    let rows = g.reduce(ReduceOp::Sum, dz, &[1], false).unwrap();
    g.outputs.extend([y, rows]);
    let mut merged = compile(&g, 1, true);
    assert!(runs(&merged).is_empty(), "{:?}", runs(&merged));
    let (zv, dv) = (values(96, -3.0, 3.0, 4), values(96, -1.0, 1.0, 5));
    merged.run(&[Feed::F32(&zv), Feed::F32(&dv)], 0).unwrap();
    let mut alone = compile(&g, 1, false);
    alone.run(&[Feed::F32(&zv), Feed::F32(&dv)], 0).unwrap();
    assert_bits(merged.output(1), alone.output(1), "row sums");
}

/// Loss and gradients of one step, and the runs the training program merged.
fn gpt_step(
    fuse: bool,
    threads: usize,
    split: Split,
) -> (f32, Vec<Vec<f32>>, BTreeMap<&'static str, usize>) {
    let tokens: Vec<u32> = (0..48).map(|i| (i * 7 + 3) % 32).collect();
    let targets: Vec<u32> = (0..48).map(|i| (i * 5 + 1) % 32).collect();
    let mut m = CpuGpt::new(tiny_gpt(), 11, threads).unwrap();
    m.set_fusion(fuse);
    m.set_split(split);
    let mut grads: Vec<Vec<f32>> = m.params().iter().map(|p| vec![0.0; p.len()]).collect();
    let loss = m
        .loss_and_grad(&tokens, &targets, 6, 8, &mut grads)
        .unwrap();
    let found = runs(m.training_program(6, 8).unwrap());
    (loss, grads, found)
}

/// Every MLP and norm of the GPT step is merged (per block a bias + GELU, its gradient, two
/// norms and their gradients; the final norm and its gradient; the loss and its gradient;
/// no `h` nor `x̂` stored),
/// with the unmerged loss and gradients on one thread, a split batch, and ops split over
/// three threads.
#[test]
fn a_gpt_step_merges_its_mlps_and_norms_with_the_same_bits() {
    let cases = [(1, Split::Batch), (2, Split::Batch), (3, Split::Ops)];
    for (threads, split) in cases {
        let (loss, grads, none) = gpt_step(false, threads, split);
        let (m_loss, m_grads, found) = gpt_step(true, threads, split);
        assert!(none.is_empty(), "{none:?}");
        let want: BTreeMap<&str, usize> = [
            ("merged add+gelu", 2),
            ("merged gelu_grad+sum", 2),
            ("merged layer_norm+affine", 5),
            ("merged layer_norm_grad (dy·γ, sums)", 5),
            ("merged cross_entropy+grad", 1),
            ("merged self_attention_grad+sum", 2),
            // Each MLP's `h` (its gradient reads the kept `gelu'(h)`) and each norm's `x̂`
            // (its gradient recomputes it).
            ("unstored", 2 + 5),
        ]
        .into();
        assert_eq!(found, want);
        assert_eq!(loss.to_bits(), m_loss.to_bits(), "{threads} threads");
        for (k, (a, b)) in m_grads.iter().zip(&grads).enumerate() {
            assert_bits(a, b, &format!("gradient {k}, {threads} threads"));
        }
    }
}

/// A profile names each run once, at its first node: none of the nodes a run computes
/// after it (the norm gradient five nodes on, its residual add, the bias sums) is listed.
#[test]
fn a_profile_lists_each_run_once() {
    let tokens: Vec<u32> = (0..48).map(|i| (i * 7 + 3) % 32).collect();
    let targets: Vec<u32> = (0..48).map(|i| (i * 5 + 1) % 32).collect();
    let mut m = CpuGpt::new(tiny_gpt(), 11, 1).unwrap();
    let mut grads: Vec<Vec<f32>> = m.params().iter().map(|p| vec![0.0; p.len()]).collect();
    m.loss_and_grad(&tokens, &targets, 6, 8, &mut grads)
        .unwrap();
    m.training_program(6, 8).unwrap().set_profiling(true);
    m.loss_and_grad(&tokens, &targets, 6, 8, &mut grads)
        .unwrap();
    let profile = m.training_program(6, 8).unwrap().profile();
    let names: Vec<&str> = profile.iter().map(|(n, ..)| n.as_str()).collect();
    assert!(
        names.contains(&"merged layer_norm_grad (dy·γ, sums)"),
        "{names:?}"
    );
    for alone in ["layer_norm_grad", "cross_entropy_grad", "unary Gelu"] {
        assert!(!names.contains(&alone), "{alone} listed: {names:?}");
    }
}

/// The loss and its gradient as one run: the unmerged bits, and a target outside the
/// vocabulary still refused.
#[test]
fn cross_entropy_and_its_gradient_merge_and_check_targets() {
    let mut g = Graph::new();
    let x = input(&mut g, "x", &[37, 11]);
    let t = g.input("t", &[37], DType::U32, InputRole::Data).unwrap();
    let loss = g.cross_entropy(x, t).unwrap();
    let dx = vibee_dsl::graph::autodiff::gradients(&mut g, loss, &[x]).unwrap()[0];
    g.outputs.extend([loss, dx]);
    let xv = values(37 * 11, -8.0, 8.0, 6);
    let good: Vec<u32> = (0..37).map(|i| (i * 5 % 11) as u32).collect();
    let mut alone = compile(&g, 1, false);
    alone.run(&[Feed::F32(&xv), Feed::U32(&good)], 0).unwrap();
    for threads in [1, 2] {
        let mut merged = compile(&g, threads, true);
        assert_eq!(runs(&merged).get("merged cross_entropy+grad"), Some(&1));
        merged.run(&[Feed::F32(&xv), Feed::U32(&good)], 0).unwrap();
        assert_bits(merged.output(0), alone.output(0), "loss");
        assert_bits(merged.output(1), alone.output(1), "gradient");
        // The profile names the run once, not the gradient it computes too.
        merged.set_profiling(true);
        merged.run(&[Feed::F32(&xv), Feed::U32(&good)], 0).unwrap();
        let names: Vec<String> = merged.profile().into_iter().map(|(n, ..)| n).collect();
        assert!(
            names.contains(&"merged cross_entropy+grad".into()),
            "{names:?}"
        );
        assert!(
            !names.iter().any(|n| n.contains("cross_entropy_grad")),
            "{names:?}"
        );
        let mut bad = good.clone();
        bad[30] = 11;
        let err = merged.run(&[Feed::F32(&xv), Feed::U32(&bad)], 0);
        assert!(
            matches!(
                err,
                Err(vibee_runtime::exec::ExecError::IndexOutOfRange { index: 11, .. })
            ),
            "{err:?}"
        );
    }
}
