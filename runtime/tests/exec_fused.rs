//! Fused programs against unfused ones: every elementwise function (the fused kernels
//! repeat the executor's f32 arithmetic, so the bits match), each broadcast pattern the
//! fusion supports, one it does not, and a GPT training step (loss and every gradient);
//! the fused training program of a one-block GPT as a snapshot (`snapshots/ir`).

// Helpers outside `#[test]` functions unwrap too: a broken invariant should fail loudly.
#![allow(clippy::unwrap_used)]

mod exec_support;

use vibee_dsl::graph::passes::Recompute;
use vibee_dsl::graph::passes::fuse::FuseOptions;
use vibee_dsl::graph::{BinaryOp, DType, Graph, Op, UnaryOp};
use vibee_runtime::exec::{CPU_FUSION, CompileOptions, Feed, Program};
use vibee_runtime::nn::{CpuGpt, GptConfig};
use vibee_runtime::train::model::Trainable;

use exec_support::{input, tiny_gpt, values};

/// `g` fused with every elementwise op allowed (the compute-bound functions too, which
/// the CPU's own choice, [`CPU_FUSION`], leaves out), or unfused.
fn compile(g: &Graph, threads: usize, fuse: bool) -> Program {
    if fuse {
        Program::compile_with_fusion(g, threads, Recompute::None, FuseOptions::ALL).unwrap()
    } else {
        Program::compile_with_options(g, threads, CompileOptions::default()).unwrap()
    }
}

fn fused_count(p: &Program) -> usize {
    let g = p.graph();
    g.nodes
        .iter()
        .filter(|n| matches!(n.op, Op::Fused(_)))
        .count()
}

/// Equal as f32 values (NaN equals NaN; `-0 == +0`, which `max` may pick either of).
fn assert_same(a: &[f32], b: &[f32], what: &str) {
    assert_eq!(a.len(), b.len(), "{what}");
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!(
            x == y || (x.is_nan() && y.is_nan()),
            "{what}[{i}]: fused {x} vs unfused {y}"
        );
    }
}

/// Runs `g` fused and unfused on 1 and 2 threads with every input `lo..hi`; returns the
/// number of fused nodes.
fn compare(g: &Graph, lo: f32, hi: f32) -> usize {
    let mut fused_nodes = 0;
    for threads in [1, 2] {
        let mut fused = compile(g, threads, true);
        let mut plain = compile(g, threads, false);
        let data: Vec<Vec<f32>> = fused
            .inputs()
            .iter()
            .enumerate()
            .map(|(k, s)| values(s.shape.iter().product(), lo, hi, k))
            .collect();
        let feeds: Vec<Feed<'_>> = data.iter().map(|v| Feed::F32(v)).collect();
        fused.run(&feeds, 0).unwrap();
        plain.run(&feeds, 0).unwrap();
        for k in 0..g.outputs.len() {
            assert_same(fused.output(k), plain.output(k), &format!("output {k}"));
        }
        fused_nodes = fused_count(&fused);
    }
    fused_nodes
}

#[test]
fn every_unary_function_gives_the_unfused_bits() {
    use UnaryOp::*;
    let ops = [
        Neg,
        Exp,
        Log,
        Sqrt,
        Tanh,
        Sigmoid,
        Relu,
        Gelu,
        Square,
        Recip,
        Scale(0.37),
        AddScalar(-1.25),
    ];
    for op in ops {
        let mut g = Graph::new();
        let x = input(&mut g, "x", &[40, 1000]);
        let y = g.unary(op, x).unwrap();
        let y = g.unary(UnaryOp::Scale(1.0), y).unwrap();
        g.outputs.push(y);
        assert_eq!(compare(&g, -12.0, 12.0), 1, "{op:?}");
    }
}

#[test]
fn every_binary_function_gives_the_unfused_bits() {
    use BinaryOp::*;
    for op in [Add, Sub, Mul, Div, Maximum, Equal, GeluGrad, ReluGrad] {
        let mut g = Graph::new();
        let x = input(&mut g, "x", &[30, 999]);
        let z = input(&mut g, "z", &[30, 999]);
        let r = g.unary(UnaryOp::Square, z).unwrap();
        let y = g.binary(op, x, r).unwrap();
        let y = g.unary(UnaryOp::Scale(1.0), y).unwrap();
        g.outputs.push(y);
        assert_eq!(compare(&g, -9.0, 9.0), 1, "{op:?}");
    }
}

#[test]
fn biases_columns_scalars_casts_and_extra_outputs_match() {
    let mut g = Graph::new();
    let x = input(&mut g, "x", &[6, 33, 20]);
    let bias = input(&mut g, "bias", &[20]);
    let rows = input(&mut g, "rows", &[33, 20]);
    let col = input(&mut g, "col", &[6, 33, 1]);
    let s = input(&mut g, "s", &[]);
    let y = g.add(x, bias).unwrap();
    let y = g.mul(y, col).unwrap();
    let y = g.binary(BinaryOp::Sub, y, rows).unwrap();
    let h = g.gelu(y).unwrap();
    let h = g.cast(h, DType::BF16).unwrap();
    let h = g.unary(UnaryOp::Exp, h).unwrap();
    let h = g.cast(h, DType::F32).unwrap();
    let h = g.binary(BinaryOp::Maximum, h, s).unwrap();
    let total = g.sum(y, &[2], false).unwrap();
    g.outputs.extend([h, total]);
    assert_eq!(compare(&g, -3.0, 3.0), 1);
}

#[test]
fn the_cpu_fuses_memory_bound_ops_and_leaves_gelu_alone() {
    let mut g = Graph::new();
    let x = input(&mut g, "x", &[8, 64]);
    let bias = input(&mut g, "bias", &[64]);
    let r = input(&mut g, "r", &[8, 64]);
    let y = g.add(x, bias).unwrap();
    let y = g.add(y, r).unwrap();
    let h = g.gelu(y).unwrap();
    let h = g.unary(UnaryOp::Scale(0.5), h).unwrap();
    g.outputs.push(h);
    let options = CompileOptions {
        fuse: true,
        ..CompileOptions::default()
    };
    assert_eq!(CPU_FUSION, FuseOptions::MEMORY_BOUND);
    let p = Program::compile_with_options(&g, 1, options).unwrap();
    let ops: Vec<String> = p
        .graph()
        .nodes
        .iter()
        .filter(|n| !matches!(n.op, Op::Input { .. }))
        .map(|n| match &n.op {
            Op::Fused(f) => f.kernel.name.clone(),
            op => op.name().to_string(),
        })
        .collect();
    assert_eq!(ops, ["fused_add_add", "unary", "unary"], "{}", p.graph());
    assert_eq!(compare(&g, -4.0, 4.0), 1, "everything fused when allowed");
}

/// Both grids: rows of 18 (no group size of a multiple of 4 divides them: the guarded 2-D
/// grid) and of 24 (the row-aligned one), each with a bias, repeated rows and a column.
#[test]
fn repeated_rows_match_on_both_grids() {
    for width in [18, 24] {
        let mut g = Graph::new();
        let x = input(&mut g, "x", &[4, 6, width]);
        let bias = input(&mut g, "bias", &[width]);
        let rows = input(&mut g, "rows", &[6, width]);
        let col = input(&mut g, "col", &[4, 6, 1]);
        let y = g.add(x, bias).unwrap();
        let y = g.mul(y, rows).unwrap();
        let y = g.binary(BinaryOp::Sub, y, col).unwrap();
        g.outputs.push(y);
        assert_eq!(compare(&g, -3.0, 3.0), 1, "width {width}");
    }
}

#[test]
fn an_unsupported_broadcast_runs_unfused_and_correct() {
    let mut g = Graph::new();
    let x = input(&mut g, "x", &[5, 7, 9]);
    let m = input(&mut g, "m", &[5, 1, 9]);
    let y = g.mul(x, m).unwrap();
    let y = g.unary(UnaryOp::Tanh, y).unwrap();
    let y = g.unary(UnaryOp::AddScalar(0.5), y).unwrap();
    g.outputs.push(y);
    assert_eq!(compare(&g, -2.0, 2.0), 1);
    let p = compile(&g, 1, true);
    let mul = p
        .graph()
        .nodes
        .iter()
        .filter(|n| n.op == Op::Binary(BinaryOp::Mul));
    assert_eq!(
        mul.count(),
        1,
        "the product stays its own node: {}",
        p.graph()
    );
}

/// Loss and gradients of one step of a small GPT.
fn gpt_step(
    fuse: bool,
    threads: usize,
    precision: Option<DType>,
) -> (f32, Vec<Vec<f32>>, usize, usize) {
    let cfg = tiny_gpt();
    let tokens: Vec<u32> = (0..32).map(|i| (i * 7 + 3) % 32).collect();
    let targets: Vec<u32> = (0..32).map(|i| (i * 5 + 1) % 32).collect();
    let mut m = CpuGpt::new(cfg, 5, threads).unwrap();
    m.set_fusion(fuse);
    m.set_precision(precision);
    let mut grads: Vec<Vec<f32>> = m.params().iter().map(|p| vec![0.0; p.len()]).collect();
    let loss = m
        .loss_and_grad(&tokens, &targets, 4, 8, &mut grads)
        .unwrap();
    let program = m.training_program(4, 8).unwrap();
    let ops = program
        .graph()
        .nodes
        .iter()
        .filter(|n| n.op.computes())
        .count();
    (loss, grads, ops, fused_count(program))
}

#[test]
fn a_gpt_training_step_gives_the_same_loss_and_gradients_fused() {
    let cases = [(1, None), (2, None), (2, Some(DType::BF16))];
    for (threads, precision) in cases {
        let (loss, grads, ops, none) = gpt_step(false, threads, precision);
        let (f_loss, f_grads, f_ops, fused) = gpt_step(true, threads, precision);
        assert_eq!(loss.to_bits(), f_loss.to_bits());
        for (k, (a, b)) in f_grads.iter().zip(&grads).enumerate() {
            assert_same(a, b, &format!("gradient {k}"));
        }
        assert_eq!(none, 0);
        assert!(fused >= 2 * 2, "at least two groups per layer, got {fused}");
        assert!(f_ops < ops, "{f_ops} ops fused vs {ops}");
    }
}

/// The fused training program of a one-block GPT, call sites left out (they move with
/// every edit of the model's source), and the kernel of an MLP's `bias + gelu` fused.
#[test]
fn the_fused_program_of_a_gpt_block() {
    let cfg = GptConfig {
        vocab_size: 16,
        n_layer: 1,
        n_head: 2,
        d_model: 8,
        block_size: 4,
        rope_theta: None,
    };
    let mut m = CpuGpt::new(cfg, 0, 1).unwrap();
    m.set_fusion(true);
    let g = m.training_program(2, 4).unwrap().graph().clone();
    let text: String = g
        .to_string()
        .lines()
        .map(|l| l.split("  @ ").next().unwrap_or(l).to_string() + "\n")
        .collect();
    // The CPU leaves GELU unfused; the kernel it would get, from the block's MLP shapes.
    let mut mlp = Graph::new();
    let x = input(&mut mlp, "x", &[2, 4, 32]);
    let bias = input(&mut mlp, "bias", &[32]);
    let y = mlp.add(x, bias).unwrap();
    let h = mlp.gelu(y).unwrap();
    mlp.outputs.extend([y, h]);
    let gelu = compile(&mlp, 1, true)
        .graph()
        .nodes
        .iter()
        .find_map(|n| match &n.op {
            Op::Fused(f) if f.kernel.name == "fused_add_gelu" => Some(f.kernel.clone()),
            _ => None,
        })
        .unwrap();
    ir_snapshots().bind(|| {
        insta::assert_snapshot!("fused_gpt_block", text);
        insta::assert_snapshot!("fused_add_gelu", vibee_dsl::kernel::pretty::print(&gelu));
    });
}

/// Snapshots of IR, stored in `snapshots/ir/` under their own names.
fn ir_snapshots() -> insta::Settings {
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path("../../snapshots/ir");
    settings.set_prepend_module_to_snapshot(false);
    settings.set_omit_expression(true);
    settings
}

/// `g` with no fusion at all, or fused as the CPU fuses by default (column reductions in).
fn compile_cpu(g: &Graph, threads: usize, fuse: bool) -> Program {
    let options = CompileOptions {
        fuse,
        ..CompileOptions::default()
    };
    Program::compile_with_options(g, threads, options).unwrap()
}

fn reductions_left(p: &Program) -> usize {
    let g = p.graph();
    g.nodes
        .iter()
        .filter(|n| matches!(n.op, Op::Reduce { .. }))
        .count()
}

/// Column reductions inside fused kernels sum in the executor's blocks of rows and combine
/// the blocks in its order, so they give the unfused bits — on 1, 2 or 3 threads, with a
/// ragged last block (300 rows of 64: blocks of 256), blocks of 3 rows (rows of 4100),
/// sums, means and maxima, a bias, a per-row operand and a bf16 result.
#[test]
fn fused_column_reductions_give_the_unfused_bits_on_any_thread_count() {
    for (rows, columns) in [(300, 64), (7, 4100), (2, 8)] {
        let mut g = Graph::new();
        let a = input(&mut g, "a", &[rows, columns]);
        let b = input(&mut g, "b", &[rows, columns]);
        let bias = input(&mut g, "bias", &[columns]);
        let col = input(&mut g, "col", &[rows, 1]);
        let dy = g.add(a, b).unwrap();
        let t = g.mul(dy, bias).unwrap();
        let t = g.binary(BinaryOp::Sub, t, col).unwrap();
        let m = g.binary(BinaryOp::Maximum, t, a).unwrap();
        let h = g.cast(t, DType::BF16).unwrap();
        let sums = [
            g.sum(dy, &[0], false).unwrap(),
            g.mean(t, &[0], true).unwrap(),
            g.max(m, &[0], false).unwrap(),
            g.sum(h, &[0], false).unwrap(),
        ];
        g.outputs.push(t);
        g.outputs.extend(sums);
        let data: Vec<Vec<f32>> = (0..4)
            .map(|k| {
                let n = compile_cpu(&g, 1, false).inputs()[k].shape.iter().product();
                values(n, -3.0, 3.0, k)
            })
            .collect();
        let feeds: Vec<Feed<'_>> = data.iter().map(|v| Feed::F32(v)).collect();
        let mut plain = compile_cpu(&g, 1, false);
        plain.run(&feeds, 0).unwrap();
        for threads in [1, 2, 3] {
            let mut fused = compile_cpu(&g, threads, true);
            assert_eq!(reductions_left(&fused), 0, "{}", fused.graph());
            fused.run(&feeds, 0).unwrap();
            for k in 0..g.outputs.len() {
                let what = format!("{rows}×{columns}, {threads} threads, output {k}");
                assert_same(fused.output(k), plain.output(k), &what);
            }
        }
    }
}

/// The GPT step's norm-parameter gradients are summed inside the kernel computing `dy·γ`
/// (the biases' sums stay: each reads one add, or GELU's gradient, which the CPU leaves
/// unfused, or the QKV gradient, read through a permute), with the same loss and gradients
/// as unfused.
#[test]
fn a_gpt_step_sums_its_norm_gradients_in_fused_kernels() {
    let cfg = tiny_gpt();
    let model = vibee_runtime::nn::Gpt::new(cfg, 3).unwrap();
    let g = model.trace_loss(4, 8, true).unwrap();
    let with = |on: bool, threads: usize| {
        Program::compile_with_fusion(&g, threads, Recompute::None, CPU_FUSION.with_reductions(on))
            .unwrap()
    };
    let (alone, fused) = (
        reductions_left(&with(false, 1)),
        reductions_left(&with(true, 1)),
    );
    // γ and β of 2 norms per block and of the final norm join; per block the biases of
    // QKV, the attention output, the MLP's input and output, and the position embedding's
    // gradient (a sum over the batch) stay.
    let (joined, left) = (2 * 2 * 2 + 2, 2 * 4 + 1);
    assert_eq!(
        (alone - fused, fused),
        (joined, left),
        "{}",
        with(true, 1).graph()
    );
    let (loss, grads, _, _) = gpt_step(false, 2, None);
    let (f_loss, f_grads, _, _) = gpt_step(true, 2, None);
    assert_eq!(loss.to_bits(), f_loss.to_bits());
    for (k, (a, b)) in f_grads.iter().zip(&grads).enumerate() {
        assert_same(a, b, &format!("gradient {k}"));
    }
}

/// The kernel of a bias gradient's sum fused with the adds producing it.
#[test]
fn the_kernel_of_a_fused_bias_gradient() {
    let mut g = Graph::new();
    let a = input(&mut g, "a", &[2, 3, 8]);
    let b = input(&mut g, "b", &[2, 3, 8]);
    let c = input(&mut g, "c", &[2, 3, 8]);
    let w = input(&mut g, "w", &[8, 8]);
    let dy = g.add(a, b).unwrap();
    let dy = g.add(dy, c).unwrap();
    let db = g.sum(dy, &[0, 1], false).unwrap();
    let dx = g.matmul(dy, w, false, false).unwrap();
    g.outputs.extend([dx, db]);
    let p = compile_cpu(&g, 1, true);
    let kernel = p
        .graph()
        .nodes
        .iter()
        .find_map(|n| match &n.op {
            Op::Fused(f) => Some(f.kernel.clone()),
            _ => None,
        })
        .unwrap();
    ir_snapshots().bind(|| {
        insta::assert_snapshot!(
            "fused_add_add_sum",
            vibee_dsl::kernel::pretty::print(&kernel)
        );
    });
}
