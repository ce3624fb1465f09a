//! Every op's gradient against central finite differences of the f64 reference evaluator.

// Helpers outside `#[test]` functions unwrap too: a broken invariant should fail loudly.
#![allow(clippy::unwrap_used)]

#[path = "graph_grad/check.rs"]
mod check;

use check::{Param, Rng, check_grad, check_pair, param};
use vibee_dsl::graph::{BinaryOp, Graph, NodeId, UnaryOp};

fn unary_ok(op: UnaryOp, lo: f64, hi: f64) {
    let mut rng = Rng::new(1);
    let p = [param(&mut rng, &[3, 4], lo, hi)];
    check_grad(&p, &[], |g, x, _| g.unary(op, x[0]).unwrap())
        .unwrap_or_else(|e| panic!("{op:?}: {e}"));
}

#[test]
fn unary_ops() {
    for op in [
        UnaryOp::Neg,
        UnaryOp::Exp,
        UnaryOp::Tanh,
        UnaryOp::Sigmoid,
        UnaryOp::Gelu,
        UnaryOp::Square,
        UnaryOp::Scale(-1.5),
        UnaryOp::AddScalar(0.3),
    ] {
        unary_ok(op, -2.0, 2.0);
    }
    for op in [UnaryOp::Log, UnaryOp::Sqrt, UnaryOp::Recip] {
        unary_ok(op, 0.5, 2.0);
    }
    // Away from the kink, where the derivative exists.
    unary_ok(UnaryOp::Relu, 0.1, 1.0);
    unary_ok(UnaryOp::Relu, -1.0, -0.1);
}

#[test]
fn binary_ops_with_broadcasting() {
    let shapes: [(&[usize], &[usize]); 4] = [
        (&[2, 3], &[2, 3]),
        (&[2, 3, 4], &[3, 1]),
        (&[4], &[2, 3, 4]),
        (&[2, 1, 4], &[3, 1]),
    ];
    for op in [
        BinaryOp::Add,
        BinaryOp::Sub,
        BinaryOp::Mul,
        BinaryOp::Div,
        BinaryOp::Maximum,
    ] {
        for (sa, sb) in shapes {
            let mut rng = Rng::new(2);
            let p = [param(&mut rng, sa, 0.5, 2.0), param(&mut rng, sb, 0.5, 2.0)];
            check_grad(&p, &[], |g, x, _| g.binary(op, x[0], x[1]).unwrap())
                .unwrap_or_else(|e| panic!("{op:?} {sa:?} {sb:?}: {e}"));
        }
    }
}

#[test]
fn matmul_all_transposes_and_batching() {
    // (a shape, b shape, trans_a, trans_b)
    let cases: [(&[usize], &[usize], bool, bool); 8] = [
        (&[3, 4], &[4, 5], false, false),
        (&[4, 3], &[4, 5], true, false),
        (&[3, 4], &[5, 4], false, true),
        (&[4, 3], &[5, 4], true, true),
        (&[2, 3, 4], &[2, 4, 5], false, false),
        (&[2, 3, 4], &[5, 4], false, true),
        (&[2, 4, 3], &[4, 5], true, false),
        (&[3, 4], &[2, 4, 5], false, false),
    ];
    for (sa, sb, ta, tb) in cases {
        let mut rng = Rng::new(3);
        let p = [
            param(&mut rng, sa, -1.0, 1.0),
            param(&mut rng, sb, -1.0, 1.0),
        ];
        check_grad(&p, &[], |g, x, _| g.matmul(x[0], x[1], ta, tb).unwrap())
            .unwrap_or_else(|e| panic!("{sa:?}{ta} {sb:?}{tb}: {e}"));
    }
}

#[test]
fn reductions() {
    let mut rng = Rng::new(4);
    let p = [param(&mut rng, &[2, 3, 4], -1.0, 1.0)];
    for axes in [&[0][..], &[1], &[2], &[0, 2], &[0, 1, 2]] {
        for keep in [false, true] {
            check_grad(&p, &[], |g, x, _| g.sum(x[0], axes, keep).unwrap()).unwrap();
            check_grad(&p, &[], |g, x, _| g.mean(x[0], axes, keep).unwrap()).unwrap();
            check_grad(&p, &[], |g, x, _| g.max(x[0], axes, keep).unwrap()).unwrap();
        }
    }
}

#[test]
fn shape_ops() {
    let mut rng = Rng::new(5);
    let p = [param(&mut rng, &[2, 3, 4], -1.0, 1.0)];
    check_grad(&p, &[], |g, x, _| g.reshape(x[0], &[6, 4]).unwrap()).unwrap();
    check_grad(&p, &[], |g, x, _| g.permute(x[0], &[2, 0, 1]).unwrap()).unwrap();
    check_grad(&p, &[], |g, x, _| g.slice(x[0], 1, 1, 3).unwrap()).unwrap();
    check_grad(&p, &[], |g, x, _| g.pad(x[0], 2, 1, 2).unwrap()).unwrap();
    check_grad(&p, &[], |g, x, _| g.broadcast(x[0], &[5, 2, 3, 4]).unwrap()).unwrap();
    let q = [param(&mut rng, &[2, 3, 1], -1.0, 1.0)];
    check_grad(&q, &[], |g, x, _| g.broadcast(x[0], &[2, 3, 4]).unwrap()).unwrap();
    let two = [
        param(&mut rng, &[2, 3], -1.0, 1.0),
        param(&mut rng, &[2, 2], -1.0, 1.0),
    ];
    check_grad(&two, &[], |g, x, _| {
        g.concat(&[x[0], x[1], x[0]], 1).unwrap()
    })
    .unwrap();
}

#[test]
fn softmaxes() {
    let mut rng = Rng::new(6);
    let p = [param(&mut rng, &[3, 5], -2.0, 2.0)];
    check_grad(&p, &[], |g, x, _| g.softmax(x[0]).unwrap()).unwrap();
    check_grad(&p, &[], |g, x, _| g.log_softmax(x[0]).unwrap()).unwrap();
    let s = [param(&mut rng, &[2, 4, 4], -2.0, 2.0)];
    check_grad(&s, &[], |g, x, _| g.causal_softmax(x[0], 0.7).unwrap()).unwrap();
}

#[test]
fn norms_with_affine() {
    let mut rng = Rng::new(7);
    let p = [
        param(&mut rng, &[3, 6], -2.0, 2.0),
        param(&mut rng, &[6], 0.5, 1.5),
        param(&mut rng, &[6], -0.5, 0.5),
    ];
    check_grad(&p, &[], |g, x, _| {
        g.layer_norm(x[0], Some(x[1]), Some(x[2]), 1e-5).unwrap()
    })
    .unwrap();
    check_grad(&p, &[], |g, x, _| {
        g.rms_norm(x[0], Some(x[1]), 1e-6).unwrap()
    })
    .unwrap();
}

fn ids() -> (&'static str, Vec<usize>, Vec<f64>) {
    // Repeated ids: their gradients must add up.
    ("ids", vec![2, 3], vec![1.0, 4.0, 1.0, 0.0, 4.0, 4.0])
}

#[test]
fn gather_and_scatter_add() {
    let mut rng = Rng::new(8);
    let table = [param(&mut rng, &[5, 3], -1.0, 1.0)];
    check_grad(&table, &[ids()], |g, x, d| g.gather(x[0], d[0]).unwrap()).unwrap();
    let src = [param(&mut rng, &[2, 3, 2], -1.0, 1.0)];
    check_grad(&src, &[ids()], |g, x, d| {
        g.scatter_add(d[0], x[0], 5).unwrap()
    })
    .unwrap();
}

#[test]
fn cross_entropy() {
    let mut rng = Rng::new(9);
    let logits = [param(&mut rng, &[4, 5], -2.0, 2.0)];
    let targets = ("t", vec![4], vec![0.0, 3.0, 4.0, 3.0]);
    check_grad(&logits, &[targets], |g, x, d| {
        g.cross_entropy(x[0], d[0]).unwrap()
    })
    .unwrap();
}

#[test]
fn dropout_replays_its_mask() {
    let mut rng = Rng::new(10);
    let p = [param(&mut rng, &[4, 8], -1.0, 1.0)];
    check_grad(&p, &[], |g, x, _| g.dropout(x[0], 0.3, 17).unwrap()).unwrap();
}

#[test]
fn rotary_embedding() {
    let mut rng = Rng::new(12);
    let p = [param(&mut rng, &[2, 5, 6], -1.0, 1.0)];
    check_grad(&p, &[], |g, x, _| g.rope(x[0], 10_000.0).unwrap()).unwrap();
    check_grad(&p, &[], |g, x, _| g.rope(x[0], 3.0).unwrap()).unwrap();
}

#[test]
fn causal_attention_composite() {
    let mut rng = Rng::new(11);
    let p = [
        param(&mut rng, &[2, 4, 3], -1.0, 1.0),
        param(&mut rng, &[2, 4, 3], -1.0, 1.0),
        param(&mut rng, &[2, 4, 3], -1.0, 1.0),
    ];
    check_grad(&p, &[], |g, x, _| {
        g.causal_attention(x[0], x[1], x[2]).unwrap()
    })
    .unwrap();
}

/// The fused self-attention's gradient (its own op, with its own reference) against finite
/// differences, over two heads of width 3, and the same values as its expansion into
/// slices, products and the causal softmax.
#[test]
fn self_attention_from_qkv() {
    let mut rng = Rng::new(13);
    let p = [param(&mut rng, &[2, 5, 18], -1.0, 1.0)];
    check_grad(&p, &[], |g, x, _| g.self_attention(x[0], 2).unwrap()).unwrap();
    // The expansion, differentiated through its primitive ops.
    check_pair(
        &p,
        &[],
        &|g: &mut Graph, x: &[NodeId], _: &[NodeId]| expanded(g, x[0]),
        &|g: &mut Graph, x: &[NodeId], _: &[NodeId]| g.self_attention(x[0], 2).unwrap(),
    )
    .unwrap();
}

/// `self_attention(qkv, 2)` spelled out with the graph's primitive ops by the expansion
/// pass (which keeps the nodes before it where they are); returns the expanded output.
fn expanded(g: &mut Graph, qkv: NodeId) -> NodeId {
    let y = g.self_attention(qkv, 2).unwrap();
    g.outputs = vec![y];
    *g = vibee_dsl::graph::passes::expand_attention(g).unwrap();
    assert!(
        g.nodes
            .iter()
            .all(|n| !matches!(n.op, vibee_dsl::graph::Op::SelfAttention { .. })),
        "the pass leaves no fused attention"
    );
    let out = g.outputs[0];
    g.outputs.clear();
    out
}

#[test]
fn a_parameter_used_twice_accumulates() {
    let mut rng = Rng::new(12);
    let p = [param(&mut rng, &[3, 3], -1.0, 1.0)];
    check_grad(&p, &[], |g, x, _| {
        let y = g.matmul(x[0], x[0], false, true).unwrap();
        let t = g.unary(UnaryOp::Tanh, y).unwrap();
        g.add(t, x[0]).unwrap()
    })
    .unwrap();
}

/// The checker itself must reject a wrong derivative: autodiff of `gelu` compared with
/// finite differences of `tanh`-GELU's close cousin `x·sigmoid(1.702x)` (equal to within
/// ~1e-2, so only a checker with a tight tolerance notices), and of `x²` against `x³`.
#[test]
fn the_checker_catches_a_wrong_derivative() {
    let mut rng = Rng::new(13);
    let p = [Param {
        shape: vec![3],
        values: rng.vec(3, 0.5, 1.5),
    }];
    let square = |g: &mut Graph, x: &[NodeId], _: &[NodeId]| g.mul(x[0], x[0]).unwrap();
    let cube = |g: &mut Graph, x: &[NodeId], _: &[NodeId]| {
        let sq = g.mul(x[0], x[0]).unwrap();
        g.mul(sq, x[0]).unwrap()
    };
    assert!(check_pair(&p, &[], &square, &cube).is_err());
    let gelu = |g: &mut Graph, x: &[NodeId], _: &[NodeId]| g.gelu(x[0]).unwrap();
    let sig_gelu = |g: &mut Graph, x: &[NodeId], _: &[NodeId]| {
        let s = g.unary(UnaryOp::Scale(1.702), x[0]).unwrap();
        let s = g.unary(UnaryOp::Sigmoid, s).unwrap();
        g.mul(x[0], s).unwrap()
    };
    assert!(check_pair(&p, &[], &gelu, &sig_gelu).is_err());
    assert!(check_pair(&p, &[], &gelu, &gelu).is_ok());
}
