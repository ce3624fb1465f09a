//! Elementwise fusion: which nodes fuse, that the fused graph computes exactly what the
//! unfused one does (reference evaluator), that each fused kernel is valid kernel IR and
//! that interpreting it gives the reference's values, and the memory plan's view of extra
//! outputs.

// Helpers outside `#[test]` functions unwrap too: a broken invariant should fail loudly.
#![allow(clippy::unwrap_used)]

use vibee_dsl::graph::autodiff::gradients;
use vibee_dsl::graph::passes::{fuse_elementwise, plan_memory};
use vibee_dsl::graph::{BinaryOp, DType, Graph, GraphError, InputRole, NodeId, Op, UnaryOp};

#[path = "graph_fuse/support.rs"]
mod support;

use support::{fuse_and_check, fused_nodes, input};

#[test]
fn a_chain_with_a_bias_becomes_one_kernel_reading_each_operand_once() {
    let mut g = Graph::new();
    let x = input(&mut g, "x", &[4, 6]);
    let b = input(&mut g, "b", &[6]);
    let y = g.add(x, b).unwrap();
    let z = g.gelu(y).unwrap();
    let w = g.unary(UnaryOp::Scale(0.5), z).unwrap();
    let t = g.unary(UnaryOp::Tanh, w).unwrap();
    g.outputs.push(t);
    let fused = fuse_and_check(&g);
    assert_eq!(fused.nodes.len(), 3, "{fused}");
    let [(_, f)] = fused_nodes(&fused)[..] else {
        panic!("{fused}")
    };
    assert_eq!(
        (f.operands.len(), f.steps.len(), f.outputs.len()),
        (2, 4, 1)
    );
    assert_eq!((f.operands[1].stride, f.operands[1].len), (1, 6));
}

#[test]
fn a_member_read_outside_the_group_stays_materialised_as_an_extra_output() {
    let mut g = Graph::new();
    let x = input(&mut g, "x", &[3, 5]);
    let y = g.unary(UnaryOp::Exp, x).unwrap();
    let z = g.unary(UnaryOp::AddScalar(1.0), y).unwrap();
    let r = g.unary(UnaryOp::Recip, z).unwrap();
    let s = g.sum(y, &[1], false).unwrap();
    g.outputs.extend([r, s]);
    let fused = fuse_and_check(&g);
    let [(id, f)] = fused_nodes(&fused)[..] else {
        panic!("{fused}")
    };
    assert_eq!(
        f.outputs,
        vec![0, 2],
        "exp (read by the sum) and the result"
    );
    let extra = &fused.nodes[id.index() + 1];
    assert_eq!(
        extra.op,
        Op::FusedOutput {
            index: 1,
            dtype: DType::F32
        }
    );
    assert_eq!(fused.outputs[0], NodeId(id.0 + 1));
}

#[test]
fn columns_scalars_and_constants_fuse_too() {
    let mut g = Graph::new();
    let x = input(&mut g, "x", &[3, 5]);
    let c = input(&mut g, "c", &[3, 1]);
    let s = input(&mut g, "s", &[]);
    let two = g.constant(2.0, &[]);
    let y = g.mul(x, c).unwrap();
    let y = g.binary(BinaryOp::Sub, y, two).unwrap();
    let y = g.binary(BinaryOp::Maximum, y, s).unwrap();
    let y = g.unary(UnaryOp::Relu, y).unwrap();
    let y = g.binary(BinaryOp::Div, y, c).unwrap();
    g.outputs.push(y);
    let fused = fuse_and_check(&g);
    assert_eq!(fused_nodes(&fused).len(), 1, "{fused}");
    assert!(
        !fused
            .nodes
            .iter()
            .any(|n| matches!(n.op, Op::Constant { .. })),
        "the constant is inlined: {fused}"
    );
}

#[test]
fn reduced_precision_steps_round_like_the_unfused_nodes() {
    let mut g = Graph::new();
    let x = input(&mut g, "x", &[4, 8]);
    let h = g.cast(x, DType::BF16).unwrap();
    let h = g.unary(UnaryOp::Square, h).unwrap();
    let h = g.unary(UnaryOp::Sigmoid, h).unwrap();
    let y = g.cast(h, DType::F32).unwrap();
    let y = g.add(y, x).unwrap();
    g.outputs.push(y);
    let fused = fuse_and_check(&g);
    let [(_, f)] = fused_nodes(&fused)[..] else {
        panic!("{fused}")
    };
    assert_eq!(f.steps.len(), 5);
    assert_eq!(f.steps[2].dtype, DType::BF16);
}

#[test]
fn an_unsupported_broadcast_stays_unfused_and_correct() {
    let mut g = Graph::new();
    let x = input(&mut g, "x", &[2, 3, 4]);
    let m = input(&mut g, "m", &[2, 1, 4]);
    let y = g.mul(x, m).unwrap();
    let z = g.unary(UnaryOp::Exp, y).unwrap();
    let w = g.binary(BinaryOp::Sub, z, x).unwrap();
    g.outputs.push(w);
    let fused = fuse_and_check(&g);
    assert!(
        matches!(fused.nodes[2].op, Op::Binary(BinaryOp::Mul)),
        "{fused}"
    );
    let [(_, f)] = fused_nodes(&fused)[..] else {
        panic!("{fused}")
    };
    assert_eq!(f.steps.len(), 2, "exp and sub");
}

#[test]
fn a_group_never_swallows_a_path_through_an_outside_op() {
    let mut g = Graph::new();
    let x = input(&mut g, "x", &[4, 4]);
    let a = g.unary(UnaryOp::Exp, x).unwrap();
    let b = g.matmul(a, x, false, false).unwrap();
    let c = g.add(a, b).unwrap();
    let d = g.unary(UnaryOp::Scale(2.0), c).unwrap();
    g.outputs.push(d);
    let fused = fuse_and_check(&g);
    assert!(
        matches!(fused.nodes[1].op, Op::Unary(UnaryOp::Exp)),
        "{fused}"
    );
    let [(_, f)] = fused_nodes(&fused)[..] else {
        panic!("{fused}")
    };
    assert_eq!(f.steps.len(), 2, "add and scale, not exp: {fused}");
}

#[test]
fn siblings_reading_one_operand_share_a_kernel() {
    let mut g = Graph::new();
    let x = input(&mut g, "x", &[4, 8]);
    let w = input(&mut g, "w", &[8]);
    let p = g.mul(x, w).unwrap();
    let q = g.binary(BinaryOp::ReluGrad, x, x).unwrap();
    let r = g.binary(BinaryOp::GeluGrad, x, q).unwrap();
    g.outputs.extend([p, r]);
    let fused = fuse_and_check(&g);
    let [(_, f)] = fused_nodes(&fused)[..] else {
        panic!("{fused}")
    };
    assert_eq!((f.operands.len(), f.outputs.len()), (2, 2));
}

#[test]
fn extra_outputs_never_share_a_slot_with_what_the_kernel_reads() {
    let mut g = Graph::new();
    let x = input(&mut g, "x", &[64]);
    let a = g.unary(UnaryOp::Neg, x).unwrap();
    let a = g.unary(UnaryOp::Exp, a).unwrap();
    let b = g.unary(UnaryOp::Log, a).unwrap();
    let s1 = g.sum(a, &[0], false).unwrap();
    let t = g.unary(UnaryOp::Sqrt, x).unwrap();
    let c = g.mul(b, t).unwrap();
    let c = g.unary(UnaryOp::Tanh, c).unwrap();
    g.outputs.extend([c, s1]);
    let fused = fuse_and_check(&g);
    let extras = fused
        .nodes
        .iter()
        .filter(|n| matches!(n.op, Op::FusedOutput { .. }));
    assert_eq!(extras.count(), 1, "{fused}");
    let plan = plan_memory(&fused);
    for (id, _) in fused_nodes(&fused) {
        let outs: Vec<usize> = (0..fused.nodes.len())
            .filter(|&u| {
                u == id.index()
                    || fused.nodes[u].inputs.first() == Some(&id)
                        && matches!(fused.nodes[u].op, Op::FusedOutput { .. })
            })
            .collect();
        for &o in &outs {
            for j in &fused.node(id).inputs {
                let r = plan.root[j.index()];
                assert!(
                    plan.slot[r].is_none() || plan.slot[r] != plan.slot[o],
                    "{fused}"
                );
            }
            for &p in outs.iter().filter(|&&p| p != o) {
                assert_ne!(plan.slot[p], plan.slot[o]);
            }
        }
    }
}

#[test]
fn autodiff_refuses_a_fused_graph() {
    let mut g = Graph::new();
    let x = g.input("x", &[3], DType::F32, InputRole::Param).unwrap();
    let y = g.unary(UnaryOp::Exp, x).unwrap();
    let y = g.unary(UnaryOp::Square, y).unwrap();
    let l = g.sum(y, &[0], false).unwrap();
    g.outputs.push(l);
    let mut fused = fuse_elementwise(&g).unwrap();
    let (loss, x) = (fused.outputs[0], fused.input_named("x").unwrap());
    let err = gradients(&mut fused, loss, &[x]).unwrap_err();
    assert!(
        matches!(err, GraphError::NotDifferentiable { op: "fused", .. }),
        "{err}"
    );
}
