//! Calls from a graph to an elementwise kernel function (`#[vibee::kernel(differentiable)]`):
//! [`Op::Call`](super::Op::Call).
//!
//! The node applies one output of the user's [`ElementwiseFn`] to its operands, broadcast
//! (numpy rules) to the node's shape. It carries three forms of the same function:
//! - the function cut to that one output, which the f64 reference evaluates
//!   ([`eval_f64`]) and autodiff differentiates ([`vjp`](crate::kernel::autodiff::vjp));
//! - the buffer kernel over the operands as stored (`in0`, … read through their
//!   [`OperandMap`]s, one unit per element of `out`), which executors compile.
//!
//! The gradient with respect to operand `k` is another call: output `k` of the function's
//! vector-Jacobian product, over the same operands and the node's cotangent, summed over
//! the axes the operand was broadcast along.

use serde::{Deserialize, Serialize};

use super::fused::OperandMap;
use crate::kernel::elementwise::{ElementwiseFn, map_expr};
use crate::kernel::{
    BinaryOp, BufRef, Elem, Expr, ExprKind, Grid, Kernel, Lit, MathFn, ParamKind, Stmt, StmtKind,
    Ty, UnaryOp,
};

/// Units per group of a call's kernel (as the macro's elementwise launchers).
const GROUP_SIZE: u32 = 256;

/// One output of an elementwise function applied to broadcast operands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallOp {
    /// The function with only the called output (its name is the user's function's).
    pub function: ElementwiseFn,
    /// Which output of the user's function this is.
    pub output: usize,
    /// How each operand is read.
    pub operands: Vec<OperandMap>,
    /// Elements computed.
    pub numel: usize,
    /// One unit per element: reads `in0`, …, writes `out`; launched over [`CallOp::grid`].
    pub kernel: Kernel,
    /// A backward the user declared (inputs `x…, dy`, one gradient per input), used
    /// instead of the derived vector-Jacobian product.
    pub backward: Option<Box<ElementwiseFn>>,
}

impl CallOp {
    /// Output `output` of `f` over operands of `shapes`, giving a tensor of `out`; `Err`
    /// says why the call is refused (the function's types, its arity, the shapes).
    pub fn new(
        f: &ElementwiseFn,
        output: usize,
        shapes: &[&[usize]],
        out: &[usize],
    ) -> Result<Self, String> {
        check_signature(f, output, shapes.len())?;
        let operands = shapes
            .iter()
            .enumerate()
            .map(|(k, s)| {
                OperandMap::between(s, out).ok_or_else(|| {
                    format!("operand {k} of shape {s:?} is not read as one run of {out:?}")
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let function = ElementwiseFn {
            outputs: vec![f.outputs[output]],
            results: vec![f.results[output].clone()],
            ..f.clone()
        };
        let numel = out.iter().product();
        let kernel = broadcast_loads(function.to_kernel(), &operands, numel);
        Ok(Self {
            function,
            output,
            operands,
            numel,
            kernel,
            backward: None,
        })
    }

    /// This call with the declared backward `b` of a one-output function: `b` takes the
    /// inputs and the output's cotangent, and returns one gradient per input (all `f32`).
    pub fn with_backward(mut self, b: &ElementwiseFn) -> Result<Self, String> {
        let n = self.function.inputs.len();
        if b.inputs.len() != n + 1 || b.outputs.len() != n {
            return Err(format!(
                "the backward `{}` of `{}` must take {} input(s) (the inputs, then the cotangent) and return {n} gradient(s); it takes {} and returns {}",
                b.name,
                self.function.name,
                n + 1,
                b.inputs.len(),
                b.outputs.len()
            ));
        }
        for k in 0..n {
            check_signature(b, k, n + 1)?;
        }
        self.backward = Some(Box::new(b.clone()));
        Ok(self)
    }

    /// The grid that runs [`CallOp::kernel`] over every element.
    pub fn grid(&self) -> Grid {
        Grid::cover(self.numel, GROUP_SIZE)
    }

    /// Every element in f64, reading each operand through its map.
    pub fn evaluate(&self, operands: &[&[f64]]) -> Vec<f64> {
        let mut args = vec![0.0; operands.len()];
        (0..self.numel)
            .map(|i| {
                for (k, a) in args.iter_mut().enumerate() {
                    *a = operands[k][self.operands[k].index(i)];
                }
                eval_f64(&self.function, &args)[0]
            })
            .collect()
    }
}

/// Graph values are f32 tensors: every input and the called output must be `f32`.
fn check_signature(f: &ElementwiseFn, output: usize, operands: usize) -> Result<(), String> {
    if f.inputs.len() != operands {
        return Err(format!(
            "`{}` takes {} input(s), got {operands} operand(s)",
            f.name,
            f.inputs.len()
        ));
    }
    if output >= f.outputs.len() {
        return Err(format!(
            "`{}` has {} output(s); output {output} does not exist",
            f.name,
            f.outputs.len()
        ));
    }
    for p in &f.inputs {
        if !matches!(p.kind, ParamKind::Scalar(Elem::F32)) {
            return Err(format!(
                "input `{}` of `{}` is not an f32 scalar; graph calls take f32 functions",
                p.name, f.name
            ));
        }
    }
    if f.outputs[output] != Elem::F32 {
        return Err(format!(
            "output {output} of `{}` is {:?}; graph calls take f32 functions",
            f.name, f.outputs[output]
        ));
    }
    Ok(())
}

/// Rewrites the loads of `to_kernel` (`in_k[i]`) to read broadcast operands at
/// `(i / stride) % len`; same-shape operands keep `in_k[i]`.
fn broadcast_loads(mut kernel: Kernel, operands: &[OperandMap], numel: usize) -> Kernel {
    let rewrite = |e: &Expr| {
        map_expr(e, &|kind| match kind {
            ExprKind::Load {
                buf: BufRef::Param(p),
                index,
            } => {
                let map = operands.get(p.0 as usize)?;
                if map.stride == 1 && map.len == numel {
                    return None;
                }
                Some(ExprKind::Load {
                    buf: BufRef::Param(*p),
                    index: Box::new(mapped_index(index, map)),
                })
            }
            _ => None,
        })
    };
    kernel.body = kernel
        .body
        .iter()
        .map(|s| rewrite_stmt(s, &rewrite))
        .collect();
    kernel
}

/// `(i / stride) % len` with the identity parts left out.
fn mapped_index(i: &Expr, map: &OperandMap) -> Expr {
    let u32_lit = |v: usize| Expr::new(ExprKind::Lit(Lit::Int(v as i64)), Ty::U32, i.span);
    let bin = |op, a: Expr, b: Expr| {
        Expr::new(
            ExprKind::Binary(op, Box::new(a), Box::new(b)),
            Ty::U32,
            i.span,
        )
    };
    let mut e = i.clone();
    if map.stride > 1 {
        e = bin(BinaryOp::Div, e, u32_lit(map.stride));
    }
    bin(BinaryOp::Rem, e, u32_lit(map.len.max(1)))
}

fn rewrite_stmt(s: &Stmt, f: &impl Fn(&Expr) -> Expr) -> Stmt {
    let kind = match &s.kind {
        StmtKind::Let { var, init } => StmtKind::Let {
            var: *var,
            init: f(init),
        },
        StmtKind::If {
            cond,
            then_branch,
            else_branch,
        } => StmtKind::If {
            cond: f(cond),
            then_branch: then_branch.iter().map(|s| rewrite_stmt(s, f)).collect(),
            else_branch: else_branch.iter().map(|s| rewrite_stmt(s, f)).collect(),
        },
        other => other.clone(),
    };
    Stmt { kind, span: s.span }
}

/// `f` at `args` in f64: the reference semantics of an elementwise function (floats exact
/// to f64, comparisons and `if` expressions as written, casts to integers truncating).
pub fn eval_f64(f: &ElementwiseFn, args: &[f64]) -> Vec<f64> {
    let mut locals = vec![0.0; f.locals.len()];
    for s in &f.body {
        match &s.kind {
            StmtKind::Let { var, init } | StmtKind::Assign { var, value: init } => {
                locals[var.0 as usize] = eval(init, args, &locals);
            }
            // An elementwise function's body holds nothing else (see `ElementwiseFn`).
            _ => {}
        }
    }
    f.results.iter().map(|r| eval(r, args, &locals)).collect()
}

fn eval(e: &Expr, args: &[f64], locals: &[f64]) -> f64 {
    let ev = |x: &Expr| eval(x, args, locals);
    let truth = |b: bool| if b { 1.0 } else { 0.0 };
    match &e.kind {
        ExprKind::Lit(Lit::Float(v)) => *v,
        ExprKind::Lit(Lit::Int(v)) => *v as f64,
        ExprKind::Lit(Lit::Bool(b)) => truth(*b),
        ExprKind::Local(v) => locals[v.0 as usize],
        ExprKind::Param(p) => args[p.0 as usize],
        ExprKind::Unary(UnaryOp::Neg, a) => -ev(a),
        ExprKind::Unary(UnaryOp::Not, a) => truth(ev(a) == 0.0),
        ExprKind::Binary(op, a, b) => binary(*op, ev(a), ev(b), e.ty.elem.is_float()),
        ExprKind::Cast(a) => {
            let v = ev(a);
            match e.ty.elem {
                Elem::Bool => truth(v != 0.0),
                Elem::I32 | Elem::U32 => v.trunc(),
                _ => v,
            }
        }
        ExprKind::Math(m, xs) => math(*m, &xs.iter().map(ev).collect::<Vec<_>>()),
        ExprKind::Select {
            cond,
            then_value,
            else_value,
        } => {
            if ev(cond) != 0.0 {
                ev(then_value)
            } else {
                ev(else_value)
            }
        }
        // Buffers, positions, vectors, atomics and planes do not occur in elementwise
        // functions (the macro's lowering refuses them).
        _ => f64::NAN,
    }
}

fn binary(op: BinaryOp, a: f64, b: f64, float: bool) -> f64 {
    let truth = |c: bool| if c { 1.0 } else { 0.0 };
    match op {
        BinaryOp::Add => a + b,
        BinaryOp::Sub => a - b,
        BinaryOp::Mul => a * b,
        BinaryOp::Div if float => a / b,
        BinaryOp::Div => (a / b).trunc(),
        BinaryOp::Rem => a % b,
        BinaryOp::Min => a.min(b),
        BinaryOp::Max => a.max(b),
        BinaryOp::Eq => truth(a == b),
        BinaryOp::Ne => truth(a != b),
        BinaryOp::Lt => truth(a < b),
        BinaryOp::Le => truth(a <= b),
        BinaryOp::Gt => truth(a > b),
        BinaryOp::Ge => truth(a >= b),
        BinaryOp::And => truth(a != 0.0 && b != 0.0),
        BinaryOp::Or => truth(a != 0.0 || b != 0.0),
        BinaryOp::BitAnd => ((a as i64) & (b as i64)) as f64,
        BinaryOp::BitOr => ((a as i64) | (b as i64)) as f64,
        BinaryOp::BitXor => ((a as i64) ^ (b as i64)) as f64,
        BinaryOp::Shl => ((a as i64) << (b as i64 & 63)) as f64,
        BinaryOp::Shr => ((a as i64) >> (b as i64 & 63)) as f64,
    }
}

fn math(m: MathFn, x: &[f64]) -> f64 {
    match m {
        MathFn::Exp => x[0].exp(),
        MathFn::Log => x[0].ln(),
        MathFn::Sqrt => x[0].sqrt(),
        MathFn::Rsqrt => 1.0 / x[0].sqrt(),
        MathFn::Tanh => x[0].tanh(),
        MathFn::Erf => libm::erf(x[0]),
        MathFn::Sin => x[0].sin(),
        MathFn::Cos => x[0].cos(),
        MathFn::Abs => x[0].abs(),
        MathFn::Powf => x[0].powf(x[1]),
        MathFn::Fma => x[0].mul_add(x[1], x[2]),
    }
}
