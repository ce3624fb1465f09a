//! Graph calls to `#[vibee::kernel(differentiable)]` functions ([`Op::Call`]): the derived
//! gradient against central finite differences of the f64 reference, broadcasting, several
//! outputs, the CPU executor against the reference, and the errors.
#![allow(clippy::unwrap_used)] // a failed unwrap in a test is a failed test

#[path = "../dsl/tests/graph_grad/check.rs"]
mod check;

use std::collections::HashMap;

use check::{Rng, check_grad, param};
use vibee::dsl::graph::autodiff::gradients;
use vibee::dsl::graph::reference::evaluate;
use vibee::dsl::graph::{DType, Graph, InputRole, Op, Tracer};
use vibee::runtime::exec::{Feed, Program};

/// SiLU / swish, written as users would.
#[vibee::kernel(differentiable)]
pub fn swish(x: f32) -> f32 {
    x / (1.0 + exp(-x))
}

/// Two inputs, a branch, math: `c + tanh(x − c)` above the knee, `x` below.
#[vibee::kernel(differentiable)]
pub fn soft_clip(x: f32, c: f32) -> f32 {
    let over = x - c;
    if over > 0.0 { c + tanh(over) } else { x }
}

/// Two outputs.
#[vibee::kernel(differentiable)]
pub fn polar(r: f32, t: f32) -> (f32, f32) {
    (r * cos(t), r * sin(t))
}

#[test]
fn gradients_match_finite_differences() {
    let mut rng = Rng::new(7);
    let p = [param(&mut rng, &[3, 4], -2.0, 2.0)];
    check_grad(&p, &[], |g, x, _| {
        g.call(swish::elementwise(), 0, &[x[0]]).unwrap()
    })
    .unwrap();
    // Both inputs, away from the knee (x − c = 0) where the derivative jumps.
    let x: Vec<f64> = (0..12)
        .map(|i| [-1.5, -0.4, 0.6, 1.7][i % 4] + 0.01 * i as f64)
        .collect();
    let xs = check::Param {
        shape: vec![3, 4],
        values: x,
    };
    let cs = check::Param {
        shape: vec![3, 4],
        values: vec![0.1; 12],
    };
    check_grad(&[xs, cs], &[], |g, x, _| {
        g.call(soft_clip::elementwise(), 0, &[x[0], x[1]]).unwrap()
    })
    .unwrap();
    for output in 0..2 {
        let mut rng = Rng::new(8);
        let p = [
            param(&mut rng, &[2, 3], 0.5, 2.0),
            param(&mut rng, &[2, 3], -3.0, 3.0),
        ];
        check_grad(&p, &[], |g, x, _| {
            g.call(polar::elementwise(), output, &[x[0], x[1]]).unwrap()
        })
        .unwrap_or_else(|e| panic!("output {output}: {e}"));
    }
}

#[test]
fn broadcast_operands_sum_their_gradients() {
    // A bias along the last axis, a column, a scalar, and a broadcast that is not one run
    // of axes (expanded by an explicit broadcast node first).
    let shapes: [(&[usize], &[usize]); 4] = [
        (&[2, 3, 4], &[4]),
        (&[2, 3, 4], &[2, 3, 1]),
        (&[2, 3], &[]),
        (&[2, 3, 4], &[2, 1, 4]),
    ];
    for (sx, sc) in shapes {
        let mut rng = Rng::new(9);
        let p = [
            param(&mut rng, sx, -2.0, 2.0),
            param(&mut rng, sc, 2.1, 3.0),
        ];
        check_grad(&p, &[], |g, x, _| {
            g.call(soft_clip::elementwise(), 0, &[x[0], x[1]]).unwrap()
        })
        .unwrap_or_else(|e| panic!("{sx:?} with {sc:?}: {e}"));
    }
}

/// Loss `Σ swish(x·w + b)·r` on the CPU executor against the reference, with gradients.
#[test]
fn executor_matches_the_reference() {
    let tr = Tracer::new();
    let x = tr.input("x", &[8, 16], DType::F32, InputRole::Data);
    let w = tr.input("w", &[16, 32], DType::F32, InputRole::Param);
    let b = tr.input("b", &[32], DType::F32, InputRole::Param);
    let c = tr.input("c", &[8, 1], DType::F32, InputRole::Param);
    let r = tr.input("r", &[8, 32], DType::F32, InputRole::Data);
    let h = x.matmul(&w).call(soft_clip::elementwise(), &[&c]) + &b;
    let y = h.call(swish::elementwise(), &[]) * &r;
    let loss = y.sum(&[0, 1], false);
    let mut g = tr.finish(&[&loss]).unwrap();
    let wrt: Vec<_> = ["w", "b", "c"]
        .iter()
        .map(|n| g.input_named(n).unwrap())
        .collect();
    let grads = gradients(&mut g, loss.id(), &wrt).unwrap();
    g.outputs.extend(grads);
    assert!(
        g.nodes
            .iter()
            .filter(|n| matches!(n.op, Op::Call(_)))
            .count()
            >= 4
    );

    let mut rng = Rng::new(10);
    let names = ["x", "w", "b", "c", "r"];
    let values: Vec<Vec<f64>> = names
        .iter()
        .map(|n| {
            let id = g.input_named(n).unwrap();
            let len = g.node(id).numel();
            rng.vec(len, -1.0, 1.0)
        })
        .collect();
    let feeds: HashMap<String, Vec<f64>> = names
        .iter()
        .zip(&values)
        .map(|(n, v)| (n.to_string(), v.clone()))
        .collect();
    let reference = evaluate(&g, &feeds, 0).unwrap();

    let mut program = Program::compile(&g, 2).unwrap();
    let f32s: Vec<Vec<f32>> = program
        .inputs()
        .iter()
        .map(|spec| feeds[&spec.name].iter().map(|&v| v as f32).collect())
        .collect();
    let bound: Vec<Feed<'_>> = f32s.iter().map(|v| Feed::F32(v)).collect();
    program.run(&bound, 0).unwrap();
    for (k, &out) in g.outputs.iter().enumerate() {
        let want = &reference[out.index()];
        let got = program.output(k);
        let scale = want.iter().fold(1e-3f64, |m, v| m.max(v.abs()));
        let err = want
            .iter()
            .zip(got)
            .map(|(w, &v)| (w - f64::from(v)).abs())
            .fold(0.0, f64::max);
        assert!(err <= 2e-5 * scale, "output {k}: {err} of {scale}");
    }
}

#[test]
fn refused_calls_name_the_function_and_the_site() {
    let mut g = Graph::new();
    let x = g.input("x", &[2, 3], DType::F32, InputRole::Data).unwrap();
    let y = g.input("y", &[4], DType::F32, InputRole::Data).unwrap();
    let h = g.input("h", &[2, 3], DType::BF16, InputRole::Data).unwrap();
    let arity = g.call(swish::elementwise(), 0, &[x, x]).unwrap_err();
    assert!(
        arity
            .to_string()
            .contains("`swish` takes 1 input(s), got 2"),
        "{arity}"
    );
    let shapes = g.call(soft_clip::elementwise(), 0, &[x, y]).unwrap_err();
    assert!(shapes.to_string().contains("do not broadcast"), "{shapes}");
    assert!(shapes.to_string().contains("graph_call.rs"), "{shapes}");
    let output = g.call(polar::elementwise(), 2, &[x, x]).unwrap_err();
    assert!(
        output.to_string().contains("output 2 does not exist"),
        "{output}"
    );
    let dtype = g.call(swish::elementwise(), 0, &[h]).unwrap_err();
    assert!(dtype.to_string().contains("take f32"), "{dtype}");
    // The tracer keeps the first error for `finish`.
    let tr = Tracer::new();
    let x = tr.input("x", &[2, 3], DType::F32, InputRole::Data);
    let y = tr.input("y", &[4], DType::F32, InputRole::Data);
    let bad = x.call(soft_clip::elementwise(), &[&y]).sum(&[0], false);
    let err = tr.finish(&[&bad]).unwrap_err();
    assert!(err.to_string().contains("`call`"), "{err}");
}
