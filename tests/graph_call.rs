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

/// Swish's derivative written by hand: `dy·σ(x)·(1 + x·(1 − σ(x)))`.
#[vibee::kernel(differentiable)]
pub fn swish_backward(x: f32, dy: f32) -> f32 {
    let s = 1.0 / (1.0 + exp(-x));
    dy * s * (1.0 + x * (1.0 - s))
}

/// A wrong derivative, to prove the declared backward is the one used.
#[vibee::kernel(differentiable)]
pub fn wrong_backward(x: f32, dy: f32) -> f32 {
    dy * x
}

#[test]
fn a_declared_backward_replaces_the_derived_one() {
    let mut rng = Rng::new(11);
    let p = [param(&mut rng, &[3, 4], -2.0, 2.0)];
    let (f, right, wrong) = (
        swish::elementwise(),
        swish_backward::elementwise(),
        wrong_backward::elementwise(),
    );
    check_grad(&p, &[], |g, x, _| {
        g.call_with_backward(f, right, &[x[0]]).unwrap()
    })
    .unwrap();
    let caught = check_grad(&p, &[], |g, x, _| {
        g.call_with_backward(f, wrong, &[x[0]]).unwrap()
    });
    assert!(
        caught.is_err(),
        "a wrong declared backward must fail the check"
    );
    // A backward of the wrong arity is refused when the call is built.
    let mut g = Graph::new();
    let x = g.input("x", &[2], DType::F32, InputRole::Data).unwrap();
    let err = g.call_with_backward(f, f, &[x]).unwrap_err();
    assert!(err.to_string().contains("must take 2 input(s)"), "{err}");
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
    let (bad, line) = (x.call(soft_clip::elementwise(), &[&y]), line!());
    let bad = bad.sum(&[0], false);
    let err = tr.finish(&[&bad]).unwrap_err().to_string();
    assert!(err.contains("`call`"), "{err}");
    assert!(
        err.contains(&format!("tests/graph_call.rs:{line}")),
        "{err}"
    );
}

/// A two-layer perceptron whose activation is the user's `swish` kernel learns a smooth
/// target by gradient descent on the CPU executor.
#[test]
fn a_network_with_a_user_activation_learns() {
    let (n, d, h) = (64, 4, 16);
    let tr = Tracer::new();
    let x = tr.input("x", &[n, d], DType::F32, InputRole::Data);
    let y = tr.input("y", &[n, 1], DType::F32, InputRole::Data);
    let w1 = tr.input("w1", &[d, h], DType::F32, InputRole::Param);
    let b1 = tr.input("b1", &[h], DType::F32, InputRole::Param);
    let w2 = tr.input("w2", &[h, 1], DType::F32, InputRole::Param);
    let hidden = (x.matmul(&w1) + &b1).call(swish::elementwise(), &[]);
    let err = hidden.matmul(&w2) - &y;
    let loss = (err.clone() * &err).mean(&[0, 1], false);
    let mut g = tr.finish(&[&loss]).unwrap();
    let params: Vec<_> = ["w1", "b1", "w2"]
        .iter()
        .map(|p| g.input_named(p).unwrap())
        .collect();
    let grads = gradients(&mut g, loss.id(), &params).unwrap();
    g.outputs.extend(grads);
    let mut program = Program::compile(&g, 1).unwrap();

    let mut rng = Rng::new(12);
    let xs: Vec<f32> = rng
        .vec(n * d, -1.0, 1.0)
        .iter()
        .map(|&v| v as f32)
        .collect();
    let ys: Vec<f32> = xs
        .chunks(d)
        .map(|r| (r[0] * 2.0).sin() + r[1] * r[2])
        .collect();
    let mut values: HashMap<String, Vec<f32>> = HashMap::from([
        ("x".to_string(), xs),
        ("y".to_string(), ys),
        ("w1".to_string(), scaled(&mut rng, d * h, 0.5)),
        ("b1".to_string(), vec![0.0; h]),
        ("w2".to_string(), scaled(&mut rng, h, 0.25)),
    ]);
    let names: Vec<String> = program.inputs().iter().map(|s| s.name.clone()).collect();
    let mut losses = Vec::new();
    for _ in 0..400 {
        let feeds: Vec<Feed<'_>> = names.iter().map(|n| Feed::F32(&values[n])).collect();
        program.run(&feeds, 0).unwrap();
        losses.push(program.output(0)[0]);
        let steps: Vec<Vec<f32>> = (1..=3).map(|k| program.output(k).to_vec()).collect();
        for (p, step) in ["w1", "b1", "w2"].iter().zip(steps) {
            let v = values.get_mut(*p).unwrap();
            v.iter_mut().zip(step).for_each(|(w, g)| *w -= 0.2 * g);
        }
    }
    let (first, last) = (losses[0], losses[losses.len() - 1]);
    assert!(last < 0.1 * first, "loss {first} → {last}");
}

fn scaled(rng: &mut Rng, n: usize, scale: f64) -> Vec<f32> {
    rng.vec(n, -scale, scale)
        .iter()
        .map(|&v| v as f32)
        .collect()
}
