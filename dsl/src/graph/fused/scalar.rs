//! The graph's elementwise functions as kernel-IR expressions, written operation for
//! operation like the CPU executor's f32 loops (`vibee_runtime::exec`): the same constants,
//! the same association order, the same fused multiply-adds (`fma`, correctly rounded on
//! every backend), `tanh` as the same rational function. A backend whose
//! `exp`, `ln` and `sqrt` are the C library's (the Cranelift backend's are) therefore gets
//! the executor's bits.

use crate::graph::ir::{BinaryOp as GBin, UnaryOp as GUn};
use crate::kernel::{BinaryOp, Elem, Expr, ExprKind, Lit, Local, MathFn, SpanId, Stmt};
use crate::kernel::{StmtKind, Ty, UnaryOp, VarId};

/// `√(2/π)`, as GELU's tanh form uses it (the CPU executor imports these constants, so the
/// fused kernels and the executor's loops agree bit for bit).
pub const SQRT_2_OVER_PI: f32 = 0.797_884_6;
/// GELU's cubic coefficient.
pub const GELU_CUBIC: f32 = 0.044_715;
/// `tanh` saturates (to f32 precision) beyond this magnitude.
pub const TANH_CLAMP: f32 = 7.905_311;
/// Numerator of the rational `tanh`, highest power of `x²` first (times `x`).
pub const TANH_P: [f32; 7] = [
    -2.760_768_5e-16,
    2.000_188e-13,
    -8.604_672e-11,
    5.122_297e-8,
    1.485_722_4e-5,
    6.372_619_3e-4,
    4.893_524_6e-3,
];
/// Denominator of the rational `tanh`, highest power first.
pub const TANH_Q: [f32; 4] = [1.198_258_4e-6, 1.185_347_1e-4, 2.268_434_6e-3, 4.893_525e-3];

/// Straight-line code under construction: every bound value is an immutable local.
#[derive(Debug, Default)]
pub(super) struct Code {
    pub locals: Vec<Local>,
    pub stmts: Vec<Stmt>,
}

impl Code {
    /// `let <name> = e;`, returning the local.
    pub fn bind(&mut self, name: String, e: Expr) -> Expr {
        let var = VarId(self.locals.len() as u32);
        let ty = e.ty;
        self.locals.push(Local {
            name,
            ty,
            mutable: false,
            span: SpanId::NONE,
        });
        self.stmts.push(Stmt {
            kind: StmtKind::Let { var, init: e },
            span: SpanId::NONE,
        });
        Expr::new(ExprKind::Local(var), ty, SpanId::NONE)
    }

    /// A temporary (`t<n>`).
    fn tmp(&mut self, e: Expr) -> Expr {
        let name = format!("t{}", self.locals.len());
        self.bind(name, e)
    }

    /// `u(x)` as the executor computes it.
    pub fn unary(&mut self, u: GUn, x: Expr) -> Expr {
        match u {
            GUn::Neg => neg(x),
            GUn::Exp => math(MathFn::Exp, x),
            GUn::Log => math(MathFn::Log, x),
            GUn::Sqrt => math(MathFn::Sqrt, x),
            GUn::Tanh => self.tanh(x),
            GUn::Sigmoid => bin(
                BinaryOp::Div,
                f(1.0),
                bin(BinaryOp::Add, f(1.0), math(MathFn::Exp, neg(x))),
            ),
            GUn::Relu => bin(BinaryOp::Max, x, f(0.0)),
            GUn::Gelu => self.gelu(x),
            GUn::Square => {
                let x = self.tmp(x);
                bin(BinaryOp::Mul, x.clone(), x)
            }
            GUn::Recip => bin(BinaryOp::Div, f(1.0), x),
            GUn::Scale(c) => bin(BinaryOp::Mul, f(c as f32), x),
            GUn::AddScalar(c) => bin(BinaryOp::Add, x, f(c as f32)),
        }
    }

    /// `b(x, y)` as the executor computes it.
    pub fn binary(&mut self, b: GBin, x: Expr, y: Expr) -> Expr {
        match b {
            GBin::Add => bin(BinaryOp::Add, x, y),
            GBin::Sub => bin(BinaryOp::Sub, x, y),
            GBin::Mul => bin(BinaryOp::Mul, x, y),
            GBin::Div => bin(BinaryOp::Div, x, y),
            GBin::Maximum => bin(BinaryOp::Max, x, y),
            GBin::Equal => Expr::select(bin(BinaryOp::Eq, x, y), f(1.0), f(0.0)),
            GBin::GeluGrad => {
                let g = self.gelu_grad(x);
                bin(BinaryOp::Mul, y, g)
            }
            GBin::ReluGrad => Expr::select(bin(BinaryOp::Gt, x, f(0.0)), y, f(0.0)),
        }
    }

    /// `x.clamp(-TANH_CLAMP, TANH_CLAMP)`, then the rational function: `x·p(x²)/q(x²)`.
    fn tanh(&mut self, x: Expr) -> Expr {
        let x = self.tmp(x);
        let low = self.tmp(Expr::select(
            bin(BinaryOp::Lt, x.clone(), f(-TANH_CLAMP)),
            f(-TANH_CLAMP),
            x,
        ));
        let x = self.tmp(Expr::select(
            bin(BinaryOp::Gt, low.clone(), f(TANH_CLAMP)),
            f(TANH_CLAMP),
            low,
        ));
        let x2 = self.tmp(bin(BinaryOp::Mul, x.clone(), x.clone()));
        let p = horner(&TANH_P, &x2);
        let q = horner(&TANH_Q, &x2);
        bin(BinaryOp::Div, bin(BinaryOp::Mul, x, p), q)
    }

    /// `tanh(x·fma(0.044715·C, x², C))` (`= tanh(C·(x + 0.044715·x³))`) with `x` already
    /// bound.
    fn gelu_tanh(&mut self, x: &Expr) -> Expr {
        let inner = bin(
            BinaryOp::Mul,
            x.clone(),
            fma(
                f(GELU_CUBIC * SQRT_2_OVER_PI),
                bin(BinaryOp::Mul, x.clone(), x.clone()),
                f(SQRT_2_OVER_PI),
            ),
        );
        self.tanh(inner)
    }

    /// `0.5·x·(1 + tanh(…))` as `fma(0.5·x, t, 0.5·x)`.
    fn gelu(&mut self, x: Expr) -> Expr {
        let x = self.tmp(x);
        let t = self.gelu_tanh(&x);
        let half = self.tmp(bin(BinaryOp::Mul, f(0.5), x));
        fma(half.clone(), t, half)
    }

    /// `0.5·(1 + t) + 0.5·x·(1 − t²)·C·(1 + 3·0.044715·x²)` as
    /// `fma(0.5·x·fma(−t, t, 1), fma(3·0.044715·C, x², C), fma(0.5, t, 0.5))`.
    fn gelu_grad(&mut self, x: Expr) -> Expr {
        let x = self.tmp(x);
        let t = self.gelu_tanh(&x);
        let t = self.tmp(t);
        let one_minus = fma(neg(t.clone()), t.clone(), f(1.0));
        let slope = fma(
            f(3.0 * GELU_CUBIC * SQRT_2_OVER_PI),
            bin(BinaryOp::Mul, x.clone(), x.clone()),
            f(SQRT_2_OVER_PI),
        );
        let left = fma(f(0.5), t, f(0.5));
        let scaled = bin(BinaryOp::Mul, bin(BinaryOp::Mul, f(0.5), x), one_minus);
        fma(scaled, slope, left)
    }
}

/// `((c0·x + c1)·x + c2)…` with each step one `fma`, the executor's Horner loop.
fn horner(coeffs: &[f32], x: &Expr) -> Expr {
    coeffs[1..]
        .iter()
        .fold(f(coeffs[0]), |acc, &c| fma(acc, x.clone(), f(c)))
}

/// `fma(a, b, c) = a·b + c` rounded once, with the lanes of its widest operand.
fn fma(a: Expr, b: Expr, c: Expr) -> Expr {
    let lanes = a.ty.lanes.max(b.ty.lanes).max(c.ty.lanes);
    let ty = Ty::vector(a.ty.elem, lanes);
    Expr::new(ExprKind::Math(MathFn::Fma, vec![a, b, c]), ty, SpanId::NONE)
}

/// An f32 literal holding exactly `v`.
pub(super) fn f(v: f32) -> Expr {
    Expr::new(
        ExprKind::Lit(Lit::Float(f64::from(v))),
        Ty::F32,
        SpanId::NONE,
    )
}

/// `a op b`; comparisons are bool, everything else has `a`'s element type and the lanes
/// of the wider side (a scalar against a vector is repeated over its lanes).
pub(super) fn bin(op: BinaryOp, a: Expr, b: Expr) -> Expr {
    let ty = if op.is_comparison() {
        Ty::BOOL
    } else {
        Ty::vector(a.ty.elem, a.ty.lanes.max(b.ty.lanes))
    };
    Expr::new(
        ExprKind::Binary(op, Box::new(a), Box::new(b)),
        ty,
        SpanId::NONE,
    )
}

fn neg(x: Expr) -> Expr {
    let ty = x.ty;
    Expr::new(ExprKind::Unary(UnaryOp::Neg, Box::new(x)), ty, SpanId::NONE)
}

fn math(fun: MathFn, x: Expr) -> Expr {
    let ty = x.ty;
    Expr::new(ExprKind::Math(fun, vec![x]), ty, SpanId::NONE)
}

/// `x` converted to `elem` (a rounding to f16/bf16, or back to f32).
pub(super) fn cast(x: Expr, elem: Elem) -> Expr {
    let ty = Ty::vector(elem, x.ty.lanes);
    Expr::new(ExprKind::Cast(Box::new(x)), ty, SpanId::NONE)
}
