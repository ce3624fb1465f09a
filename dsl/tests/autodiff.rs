//! The derived backward of elementwise functions against central finite differences (f64
//! reference of the f32 interpretation), and the interpreter on the kernel form.
#![allow(clippy::unwrap_used)] // a failed unwrap in a test helper is a failed test

use vibee_dsl::kernel::autodiff::vjp;
use vibee_dsl::kernel::elementwise::ElementwiseFn;
use vibee_dsl::kernel::interp::{self, InterpArg};
use vibee_dsl::kernel::*;

fn e(kind: ExprKind, ty: Ty) -> Expr {
    Expr::new(kind, ty, SpanId::NONE)
}
fn x(k: u32) -> Expr {
    e(ExprKind::Param(ParamId(k)), Ty::F32)
}
fn c(v: f64) -> Expr {
    Expr::lit_f(v, Elem::F32)
}
fn b(op: BinaryOp, l: Expr, r: Expr) -> Expr {
    let ty = if op.is_comparison() { Ty::BOOL } else { l.ty };
    e(ExprKind::Binary(op, Box::new(l), Box::new(r)), ty)
}
fn m(f: MathFn, args: Vec<Expr>) -> Expr {
    e(ExprKind::Math(f, args), Ty::F32)
}
fn scalar(name: &str) -> Param {
    Param {
        name: name.into(),
        kind: ParamKind::Scalar(Elem::F32),
        span: SpanId::NONE,
    }
}

/// gelu(x) = 0.5 x (1 + tanh(0.7978845608 (x + 0.044715 x³)))
fn gelu() -> ElementwiseFn {
    let cube = b(BinaryOp::Mul, b(BinaryOp::Mul, x(0), x(0)), x(0));
    let inner = b(
        BinaryOp::Mul,
        c(0.7978845608),
        b(BinaryOp::Add, x(0), b(BinaryOp::Mul, c(0.044715), cube)),
    );
    let y = b(
        BinaryOp::Mul,
        b(BinaryOp::Mul, c(0.5), x(0)),
        b(BinaryOp::Add, c(1.0), m(MathFn::Tanh, vec![inner])),
    );
    ElementwiseFn {
        name: "gelu".into(),
        inputs: vec![scalar("x")],
        outputs: vec![Elem::F32],
        locals: vec![],
        body: vec![],
        results: vec![y],
    }
}

/// A two-input function touching every differentiable construct.
fn mixed() -> ElementwiseFn {
    let t = Local {
        name: "t".into(),
        ty: Ty::F32,
        mutable: true,
        span: SpanId::NONE,
    };
    let tv = || e(ExprKind::Local(VarId(0)), Ty::F32);
    let body = vec![
        Stmt {
            kind: StmtKind::Let {
                var: VarId(0),
                init: b(
                    BinaryOp::Div,
                    m(MathFn::Exp, vec![x(0)]),
                    b(BinaryOp::Add, c(2.0), m(MathFn::Sin, vec![x(1)])),
                ),
            },
            span: SpanId::NONE,
        },
        Stmt {
            kind: StmtKind::Assign {
                var: VarId(0),
                value: b(
                    BinaryOp::Add,
                    tv(),
                    m(MathFn::Powf, vec![m(MathFn::Abs, vec![x(1)]), c(1.5)]),
                ),
            },
            span: SpanId::NONE,
        },
    ];
    let sel = e(
        ExprKind::Select {
            cond: Box::new(b(BinaryOp::Gt, x(0), x(1))),
            then_value: Box::new(m(MathFn::Erf, vec![x(0)])),
            else_value: Box::new(m(MathFn::Sqrt, vec![b(BinaryOp::Mul, x(1), x(1))])),
        },
        Ty::F32,
    );
    let out0 = b(
        BinaryOp::Sub,
        m(MathFn::Fma, vec![tv(), x(1), sel]),
        b(BinaryOp::Max, x(0), m(MathFn::Cos, vec![x(1)])),
    );
    let out1 = b(
        BinaryOp::Mul,
        m(MathFn::Log, vec![b(BinaryOp::Add, tv(), c(3.0))]),
        m(
            MathFn::Rsqrt,
            vec![b(BinaryOp::Add, c(1.0), b(BinaryOp::Mul, x(0), x(0)))],
        ),
    );
    ElementwiseFn {
        name: "mixed".into(),
        inputs: vec![scalar("a"), scalar("b")],
        outputs: vec![Elem::F32, Elem::F32],
        locals: vec![t],
        body,
        results: vec![out0, out1],
    }
}

/// Runs the kernel form of `f` on columns of inputs; returns one column per output.
fn run(f: &ElementwiseFn, inputs: &[Vec<f32>]) -> Vec<Vec<f32>> {
    let kernel = f.to_kernel();
    assert!(
        validate::validate(&kernel).is_empty(),
        "{:?}",
        validate::validate(&kernel)
    );
    let n = inputs[0].len();
    let mut args: Vec<InterpArg> = inputs
        .iter()
        .map(|c| InterpArg::Buffer(HostBuffer::F32(c.clone())))
        .collect();
    args.extend(
        f.outputs
            .iter()
            .map(|_| InterpArg::Buffer(HostBuffer::F32(vec![0.0; n]))),
    );
    let report = interp::run(&kernel, Grid::cover(n, 64), &mut args).unwrap();
    assert_eq!(report.oob_reads + report.oob_writes, 0);
    args[inputs.len()..]
        .iter()
        .map(|a| match a {
            InterpArg::Buffer(HostBuffer::F32(v)) => v.clone(),
            other => panic!("unexpected {other:?}"),
        })
        .collect()
}

fn check_gradients(f: &ElementwiseFn, points: &[Vec<f64>]) {
    let back = vjp(f).unwrap();
    let n_in = f.inputs.len();
    let n_out = f.outputs.len();
    for point in points {
        // Cotangents: a fixed, distinct weight per output.
        let dy: Vec<f64> = (0..n_out).map(|j| 0.7 - 0.3 * j as f64).collect();
        let mut cols: Vec<Vec<f32>> = point.iter().map(|&v| vec![v as f32]).collect();
        cols.extend(dy.iter().map(|&d| vec![d as f32]));
        let grads = run(&back, &cols);
        for (k, grad) in grads.iter().enumerate().take(n_in) {
            let h = 1e-3;
            let eval = |delta: f64| -> f64 {
                let cols: Vec<Vec<f32>> = point
                    .iter()
                    .enumerate()
                    .map(|(i, &v)| vec![(v + if i == k { delta } else { 0.0 }) as f32])
                    .collect();
                let outs = run(f, &cols);
                outs.iter().zip(&dy).map(|(o, d)| o[0] as f64 * d).sum()
            };
            let fd = (eval(h) - eval(-h)) / (2.0 * h);
            let got = grad[0] as f64;
            assert!(
                (got - fd).abs() <= 2e-2 * fd.abs().max(1.0),
                "{}: d/d{} at {point:?}: derived {got}, finite difference {fd}",
                f.name,
                f.inputs[k].name
            );
        }
    }
}

#[test]
fn gelu_forward_matches_f64_reference() {
    let xs: Vec<f32> = (-40..=40).map(|i| i as f32 * 0.1).collect();
    let out = run(&gelu(), std::slice::from_ref(&xs));
    for (x, y) in xs.iter().zip(&out[0]) {
        let x = *x as f64;
        let want = 0.5 * x * (1.0 + (0.7978845608 * (x + 0.044715 * x * x * x)).tanh());
        assert!(
            (*y as f64 - want).abs() < 1e-5,
            "gelu({x}) = {y}, want {want}"
        );
    }
}

#[test]
fn gelu_backward_matches_finite_differences() {
    let points: Vec<Vec<f64>> = [-3.0, -1.2, -0.3, 0.0, 0.4, 1.1, 2.5]
        .iter()
        .map(|&v| vec![v])
        .collect();
    check_gradients(&gelu(), &points);
}

#[test]
fn every_differentiable_construct_matches_finite_differences() {
    let points = vec![
        vec![0.3, -0.8],
        vec![-0.5, 1.3],
        vec![1.2, 0.4],
        vec![-1.0, -2.0],
    ];
    check_gradients(&mixed(), &points);
}

#[test]
fn backward_is_named_and_shaped() {
    let back = vjp(&mixed()).unwrap();
    assert_eq!(back.name, "mixed_backward");
    let names: Vec<&str> = back.inputs.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["a", "b", "dy0", "dy1"]);
    assert_eq!(back.outputs, vec![Elem::F32, Elem::F32]);
}
