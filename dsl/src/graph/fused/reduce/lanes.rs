//! The 4-lane expressions and statements the fused reduction kernels are made of.
//!
//! Only plain arithmetic runs on whole vectors (`+ − × ÷`, `√`, negation, scaling, casts
//! to f32), whose lanes round exactly as scalars do; functions built on comparisons, `exp`
//! or `max` (whose vector forms differ from the scalar ones in the last bit or in NaN and
//! signed-zero handling) and reduced-precision steps run lane by lane.

use super::super::scalar::{Code, bin, cast, f};
use super::super::{FusedArg, FusedFn, FusedStep};
use crate::graph::ir::{BinaryOp as GBin, DType, ReduceOp, UnaryOp as GUn};
use crate::kernel::{BinaryOp, BufRef, Builtin, Elem, Expr, ExprKind, Local, Param, ParamId};
use crate::kernel::{ParamKind, SpanId, Stmt, StmtKind, Ty, VarId};

/// Lanes a unit computes at once.
pub(super) const LANES: usize = 4;

/// The value of one step on four lanes: whole vectors for plain arithmetic, else lane by
/// lane (see the module docs).
pub(super) fn step_value(code: &mut Code, step: &FusedStep, loads: &[Expr], vals: &[Expr]) -> Expr {
    let arg = |a: &FusedArg| match *a {
        FusedArg::Operand(k) => loads[k].clone(),
        FusedArg::Step(s) => vals[s].clone(),
        FusedArg::Constant { value, dtype } => f(dtype.round(value as f32)),
    };
    let args: Vec<Expr> = step.args.iter().map(arg).collect();
    if exact_on_vectors(step) {
        return apply(code, step, args);
    }
    let lanes = (0..LANES)
        .map(|l| {
            let lane: Vec<Expr> = args.iter().map(|a| extract(a, l)).collect();
            let v = apply(code, step, lane);
            code.bind(format!("t{}", code.locals.len()), v)
        })
        .collect();
    construct(lanes)
}

/// The step's function of `args`, rounded to its dtype.
pub(super) fn apply(code: &mut Code, step: &FusedStep, args: Vec<Expr>) -> Expr {
    let mut args = args.into_iter();
    let mut next = || args.next().unwrap_or_else(|| f(0.0));
    let v = match step.op {
        FusedFn::Unary(u) => code.unary(u, next()),
        FusedFn::Binary(b) => {
            let x = next();
            code.binary(b, x, next())
        }
        FusedFn::Cast => next(),
    };
    match step.dtype {
        DType::BF16 => cast(cast(v, Elem::BF16), Elem::F32),
        DType::F16 => cast(cast(v, Elem::F16), Elem::F32),
        DType::F32 | DType::U32 => v,
    }
}

/// Whether `step` computes the same bits on 4-lane vectors as on scalars.
pub(super) fn exact_on_vectors(step: &FusedStep) -> bool {
    let plain = match step.op {
        FusedFn::Unary(u) => matches!(
            u,
            GUn::Neg | GUn::Sqrt | GUn::Square | GUn::Recip | GUn::Scale(_) | GUn::AddScalar(_)
        ),
        FusedFn::Binary(b) => matches!(b, GBin::Add | GBin::Sub | GBin::Mul | GBin::Div),
        FusedFn::Cast => true,
    };
    plain && matches!(step.dtype, DType::F32)
}

/// `acc ⊕ value` for reduction `op`; a maximum lane by lane, as the executor's `f32::max`.
pub(super) fn accumulate(code: &mut Code, op: ReduceOp, acc: Expr, value: Expr) -> Expr {
    if op != ReduceOp::Max {
        return bin(BinaryOp::Add, acc, value);
    }
    let lanes = (0..LANES)
        .map(|l| {
            let m = bin(BinaryOp::Max, extract(&acc, l), extract(&value, l));
            code.bind(format!("t{}", code.locals.len()), m)
        })
        .collect();
    construct(lanes)
}

pub(super) fn init(op: ReduceOp) -> f32 {
    if op == ReduceOp::Max {
        f32::NEG_INFINITY
    } else {
        0.0
    }
}

/// A scalar repeated over four lanes; a vector as it is.
pub(super) fn widen(v: Expr) -> Expr {
    if v.ty.is_vector() { v } else { splat(v) }
}

pub(super) fn splat(v: Expr) -> Expr {
    construct(vec![v; LANES])
}

pub(super) fn construct(lanes: Vec<Expr>) -> Expr {
    Expr::new(ExprKind::Construct(lanes), vec4(), SpanId::NONE)
}

/// Lane `l` of a vector; a scalar as it is.
pub(super) fn extract(v: &Expr, l: usize) -> Expr {
    if !v.ty.is_vector() {
        return v.clone();
    }
    Expr::new(
        ExprKind::Extract {
            vector: Box::new(v.clone()),
            lane: l as u8,
        },
        Ty::F32,
        SpanId::NONE,
    )
}

pub(super) fn vec4() -> Ty {
    Ty::vector(Elem::F32, LANES as u8)
}

pub(super) fn builtin(b: Builtin) -> Expr {
    Expr::new(ExprKind::Builtin(b), Ty::U32, SpanId::NONE)
}

pub(super) fn mul(a: Expr, c: usize) -> Expr {
    if c == 1 {
        a
    } else {
        bin(BinaryOp::Mul, a, Expr::lit_u32(c as u32))
    }
}

pub(super) fn div(a: Expr, c: usize) -> Expr {
    if c == 1 {
        a
    } else {
        bin(BinaryOp::Div, a, Expr::lit_u32(c as u32))
    }
}

/// `buf[index]` of type `ty` (a vector load at vector index `index` for four lanes).
pub(super) fn load(k: usize, index: Expr, ty: Ty) -> Expr {
    Expr::new(
        ExprKind::Load {
            buf: BufRef::Param(ParamId(k as u32)),
            index: Box::new(index),
        },
        ty,
        SpanId::NONE,
    )
}

pub(super) fn store(param: usize, index: Expr, value: Expr) -> Stmt {
    stmt(StmtKind::Store {
        buf: BufRef::Param(ParamId(param as u32)),
        index,
        value,
    })
}

/// `in{k}` (read only), `out{j}`, then `part{r}` buffers (a reduction's partial sums), all
/// f32: the parameters of every fused kernel.
pub(in crate::graph::fused) fn params(n_in: usize, n_out: usize, n_red: usize) -> Vec<Param> {
    let buffer = |name: String, mutable: bool| Param {
        name,
        kind: ParamKind::Buffer {
            elem: Elem::F32,
            mutable,
        },
        span: SpanId::NONE,
    };
    let ins = (0..n_in).map(|k| buffer(format!("in{k}"), false));
    let outs = (0..n_out).map(|j| buffer(format!("out{j}"), true));
    let parts = (0..n_red).map(|r| buffer(format!("part{r}"), true));
    ins.chain(outs).chain(parts).collect()
}

pub(super) fn stmt(kind: StmtKind) -> Stmt {
    Stmt {
        kind,
        span: SpanId::NONE,
    }
}

impl Code {
    /// A declared local (a loop variable), not bound by a statement.
    pub(super) fn local(&mut self, name: String, ty: Ty) -> VarId {
        let var = VarId(self.locals.len() as u32);
        self.locals.push(Local {
            name,
            ty,
            mutable: false,
            span: SpanId::NONE,
        });
        var
    }
}
