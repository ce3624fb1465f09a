//! Column reductions fused into elementwise groups: which reductions a group takes in (and
//! which it leaves alone), that the fused graph computes what the unfused one does
//! (reference evaluator, bit for bit), and that each kernel is valid kernel IR whose
//! partial results, interpreted and combined, give the reference's values.

// Helpers outside `#[test]` functions unwrap too: a broken invariant should fail loudly.
#![allow(clippy::unwrap_used)]

use vibee_dsl::graph::fused::FusedOp;
use vibee_dsl::graph::passes::fuse::{FuseOptions, fuse_elementwise_with};
use vibee_dsl::graph::{BinaryOp, DType, Graph, Op, UnaryOp};

#[path = "graph_fuse/support.rs"]
mod support;

use support::{fuse_and_check, fused_nodes, input};

fn reductions_left(g: &Graph) -> usize {
    g.nodes
        .iter()
        .filter(|n| matches!(n.op, Op::Reduce { .. }))
        .count()
}

/// A bias gradient: `dy = a + b + c` (a residual stream's gradient, summed) is read by a
/// product and summed over rows; the sum joins the adds' kernel, and the reshape after it
/// does not keep it out. One add and its sum stay apart (the executor's loops are as fast).
#[test]
fn a_bias_gradient_joins_the_kernel_of_its_value() {
    let mut g = Graph::new();
    let a = input(&mut g, "a", &[3, 5, 8]);
    let b = input(&mut g, "b", &[3, 5, 8]);
    let c = input(&mut g, "c", &[3, 5, 8]);
    let w = input(&mut g, "w", &[8, 4]);
    let dy = g.add(a, b).unwrap();
    let dy = g.add(dy, c).unwrap();
    let db = g.sum(dy, &[0, 1], true).unwrap();
    let db = g.reshape(db, &[8]).unwrap();
    let dx = g.matmul(dy, w, false, false).unwrap();
    let single = g.add(a, c).unwrap();
    let ds = g.sum(single, &[0, 1], false).unwrap();
    let dz = g.matmul(single, w, false, false).unwrap();
    g.outputs.extend([dx, db, dz, ds]);
    let fused = fuse_and_check(&g);
    assert_eq!(reductions_left(&fused), 1, "{fused}");
    let [(_, f)] = fused_nodes(&fused)[..] else {
        panic!("{fused}")
    };
    assert_eq!((f.outputs.len(), f.reductions.len()), (1, 1));
    assert_eq!(f.kernel.name, "fused_add_add_sum");
}

/// A norm's parameter gradients: `Σ dy` and `Σ dy·x̂` beside `dy·γ`, one kernel reading
/// `dy` once; `dy·x̂`, read only by its sum, is never stored.
#[test]
fn norm_parameter_gradients_share_one_kernel_and_store_nothing_only_summed() {
    let mut g = Graph::new();
    let dy = input(&mut g, "dy", &[2, 6, 12]);
    let xhat = input(&mut g, "xhat", &[2, 6, 12]);
    let gamma = input(&mut g, "gamma", &[12]);
    let dbeta = g.sum(dy, &[0, 1], false).unwrap();
    let dgamma = g.mul(dy, xhat).unwrap();
    let dgamma = g.sum(dgamma, &[0, 1], false).unwrap();
    let dxhat = g.mul(dy, gamma).unwrap();
    let dx = g.unary(UnaryOp::Exp, dxhat).unwrap();
    g.outputs.extend([dx, dgamma, dbeta]);
    let fused = fuse_and_check(&g);
    assert_eq!(reductions_left(&fused), 0, "{fused}");
    let with_sums: Vec<&FusedOp> = fused_nodes(&fused)
        .into_iter()
        .map(|(_, f)| f)
        .filter(|f| !f.reductions.is_empty())
        .collect();
    let [f] = with_sums[..] else {
        panic!("{fused}")
    };
    assert_eq!(f.reductions.len(), 2, "{}", f.describe());
    assert_eq!(f.operands.len(), 3, "dy, x̂ and γ, each read once");
}

/// Every reduction and function the lowering treats specially: means and maxima, a ragged
/// last block of rows, functions computed lane by lane, a per-row operand, reduced
/// precision.
#[test]
fn means_maxima_ragged_blocks_and_lane_by_lane_functions_match() {
    for (rows, columns) in [(5, 8), (300, 64), (2, 4100)] {
        let mut g = Graph::new();
        let x = input(&mut g, "x", &[rows, columns]);
        let y = input(&mut g, "y", &[rows, columns]);
        let col = input(&mut g, "col", &[rows, 1]);
        let t = g.binary(BinaryOp::ReluGrad, x, y).unwrap();
        let t = g.binary(BinaryOp::Sub, t, col).unwrap();
        let u = g.unary(UnaryOp::Tanh, t).unwrap();
        let m = g.binary(BinaryOp::Maximum, u, y).unwrap();
        let h = g.cast(m, DType::BF16).unwrap();
        let mean = g.mean(t, &[0], false).unwrap();
        let max = g.max(m, &[0], false).unwrap();
        let sum = g.sum(h, &[0], false).unwrap();
        g.outputs.extend([u, mean, max, sum]);
        let fused = fuse_and_check(&g);
        assert_eq!(reductions_left(&fused), 0, "{rows}×{columns}: {fused}");
    }
}

/// Left alone: sums along the last axis (rows, not columns), rows whose length is not a
/// multiple of 4, and any reduction when the options say so. Ops on a reduction's result
/// start a group of their own (no epilogues).
#[test]
fn rows_odd_columns_and_disabled_reductions_stay_alone() {
    let mut g = Graph::new();
    let x = input(&mut g, "x", &[4, 8]);
    let z = input(&mut g, "z", &[4, 5]);
    let y = g.unary(UnaryOp::Square, x).unwrap();
    let rows = g.sum(y, &[1], false).unwrap();
    let w = g.unary(UnaryOp::Neg, z).unwrap();
    let odd = g.sum(w, &[0], false).unwrap();
    let s = g.unary(UnaryOp::Sqrt, x).unwrap();
    let cols = g.sum(s, &[0], true).unwrap();
    let again = g.unary(UnaryOp::Scale(2.0), cols).unwrap();
    let again = g.unary(UnaryOp::AddScalar(1.0), again).unwrap();
    g.outputs.extend([y, rows, w, odd, again]);
    let fused = fuse_and_check(&g);
    assert_eq!(reductions_left(&fused), 3, "{fused}");
    let groups: Vec<(usize, usize)> = fused_nodes(&fused)
        .iter()
        .map(|(_, f)| (f.steps.len(), f.reductions.len()))
        .collect();
    // `√x` alone (the square is read by its row sum first): one op, left with its sum.
    assert_eq!(groups, [(2, 0)], "{fused}");
    let off = fuse_elementwise_with(&g, FuseOptions::ALL.with_reductions(false)).unwrap();
    assert_eq!(reductions_left(&off), 3, "{off}");
}

/// Reductions over different axes of one value go to different kernels (a group shares
/// one row loop); the first one joins.
#[test]
fn one_set_of_axes_per_group() {
    let mut g = Graph::new();
    let x = input(&mut g, "x", &[3, 4, 8]);
    let y = g.unary(UnaryOp::Square, x).unwrap();
    let y = g.unary(UnaryOp::AddScalar(1.0), y).unwrap();
    let over_all = g.sum(y, &[0, 1], false).unwrap();
    let over_first = g.sum(y, &[0], false).unwrap();
    g.outputs.extend([over_all, over_first]);
    let fused = fuse_and_check(&g);
    assert_eq!(reductions_left(&fused), 1, "{fused}");
}
