//! Reverse-mode differentiation of elementwise functions: the VJP kernel.
//!
//! [`vjp`] turns `f(x₀, …) -> (y₀, …)` into `f_backward(x₀, …, dy₀, …) -> (dx₀, …)`:
//! the forward computation is replayed as three-address code (one local per operation, so
//! no subexpression is evaluated twice), then adjoints are accumulated in reverse order.
//! Only float values carry gradients; integer and bool values are constants.

use super::elementwise::ElementwiseFn;
use super::ir::*;

/// Why a function has no derived backward.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct AutodiffError {
    pub span: SpanId,
    pub message: String,
}

/// The vector-Jacobian product of `f`: inputs are `f`'s inputs then one cotangent per
/// output (`d_<name>` style names: `dy`, `dy0`, …); outputs are one gradient per input.
pub fn vjp(f: &ElementwiseFn) -> Result<ElementwiseFn, AutodiffError> {
    let mut b = Builder {
        locals: Vec::new(),
        body: Vec::new(),
    };
    // Forward replay: inputs into locals, then every operation into its own local.
    let inputs: Vec<VarId> = f
        .inputs
        .iter()
        .enumerate()
        .map(|(k, p)| {
            let ty = Ty::scalar(param_elem(p));
            let value = Expr::new(ExprKind::Param(ParamId(k as u32)), ty, SpanId::NONE);
            b.bind(&p.name, value)
        })
        .collect();
    let mut current: Vec<Option<VarId>> = vec![None; f.locals.len()];
    let mut tape = Vec::new();
    for s in &f.body {
        match &s.kind {
            StmtKind::Let { var, init: value } | StmtKind::Assign { var, value } => {
                let v = b.flatten(value, &inputs, &current, &mut tape)?;
                current[var.0 as usize] = Some(v);
            }
            _ => {
                return Err(AutodiffError {
                    span: s.span,
                    message: "differentiable kernels accept only `let` and assignments".into(),
                });
            }
        }
    }
    let results: Vec<VarId> = f
        .results
        .iter()
        .map(|r| b.flatten(r, &inputs, &current, &mut tape))
        .collect::<Result<_, _>>()?;
    // Reverse sweep.
    let mut adjoint: Vec<Option<VarId>> = vec![None; b.locals.len()];
    let n_in = f.inputs.len() as u32;
    let taken: Vec<&str> = f.inputs.iter().map(|p| p.name.as_str()).collect();
    let cotangent_names = cotangent_names(f.outputs.len(), &taken);
    for (j, (r, &elem)) in results.iter().zip(&f.outputs).enumerate() {
        if elem.is_float() {
            let dy = Expr::new(
                ExprKind::Param(ParamId(n_in + j as u32)),
                Ty::scalar(elem),
                SpanId::NONE,
            );
            b.accumulate(&mut adjoint, *r, dy);
        }
    }
    for op in tape.iter().rev() {
        b.backprop(op, &mut adjoint)?;
    }
    let gradients = inputs
        .iter()
        .zip(&f.inputs)
        .map(
            |(v, p)| match adjoint.get(v.0 as usize).copied().flatten() {
                Some(a) => local_expr(&b.locals, a),
                None => Expr::lit_f(0.0, float_or_f32(param_elem(p))),
            },
        )
        .collect();
    let mut params = f.inputs.clone();
    for (name, &elem) in cotangent_names.into_iter().zip(&f.outputs) {
        params.push(Param {
            name,
            kind: ParamKind::Scalar(elem),
            span: SpanId::NONE,
        });
    }
    Ok(ElementwiseFn {
        name: format!("{}_backward", f.name),
        outputs: f
            .inputs
            .iter()
            .map(|p| float_or_f32(param_elem(p)))
            .collect(),
        inputs: params,
        locals: b.locals,
        body: b.body,
        results: gradients,
    })
}

/// `dy` (one output) or `dy0`, `dy1`, …, each followed by `_`s until it differs from every
/// input's name (an input may itself be called `dy`).
fn cotangent_names(n: usize, taken: &[&str]) -> Vec<String> {
    let base: Vec<String> = match n {
        1 => vec!["dy".to_string()],
        n => (0..n).map(|j| format!("dy{j}")).collect(),
    };
    base.into_iter()
        .map(|name| super::elementwise::fresh_name(name, taken))
        .collect()
}

fn param_elem(p: &Param) -> Elem {
    match p.kind {
        ParamKind::Scalar(e) | ParamKind::Comptime { elem: e, .. } => e,
        ParamKind::Buffer { elem, .. } => elem,
    }
}

fn float_or_f32(e: Elem) -> Elem {
    if e.is_float() { e } else { Elem::F32 }
}

fn local_expr(locals: &[Local], v: VarId) -> Expr {
    Expr::new(ExprKind::Local(v), locals[v.0 as usize].ty, SpanId::NONE)
}

/// One forward operation: `out = kind` where every operand of `kind` is a local or literal.
struct TapeOp {
    out: VarId,
    kind: ExprKind,
    span: SpanId,
}

struct Builder {
    locals: Vec<Local>,
    body: Vec<Stmt>,
}

impl Builder {
    fn bind(&mut self, name: &str, value: Expr) -> VarId {
        let var = VarId(self.locals.len() as u32);
        self.locals.push(Local {
            name: name.into(),
            ty: value.ty,
            mutable: false,
            span: SpanId::NONE,
        });
        self.body.push(Stmt {
            kind: StmtKind::Let { var, init: value },
            span: SpanId::NONE,
        });
        var
    }

    fn local(&self, v: VarId) -> Expr {
        local_expr(&self.locals, v)
    }

    /// Emits `e` as three-address code; returns the local holding its value.
    fn flatten(
        &mut self,
        e: &Expr,
        inputs: &[VarId],
        current: &[Option<VarId>],
        tape: &mut Vec<TapeOp>,
    ) -> Result<VarId, AutodiffError> {
        let unsupported = |what: &str| AutodiffError {
            span: e.span,
            message: format!("{what} is not accepted in a differentiable kernel"),
        };
        let mut operand = |a: &Expr, b: &mut Self| -> Result<Box<Expr>, AutodiffError> {
            let v = b.flatten(a, inputs, current, tape)?;
            Ok(Box::new(b.local(v)))
        };
        let kind = match &e.kind {
            ExprKind::Param(p) => {
                return inputs
                    .get(p.0 as usize)
                    .copied()
                    .ok_or_else(|| unsupported("this parameter"));
            }
            ExprKind::Local(v) => {
                return current
                    .get(v.0 as usize)
                    .copied()
                    .flatten()
                    .ok_or_else(|| unsupported("a variable read before it is set"));
            }
            ExprKind::Lit(l) => ExprKind::Lit(*l),
            ExprKind::Unary(op, a) => ExprKind::Unary(*op, operand(a, self)?),
            ExprKind::Binary(op, a, b) => {
                let a = operand(a, self)?;
                ExprKind::Binary(*op, a, operand(b, self)?)
            }
            ExprKind::Cast(a) => ExprKind::Cast(operand(a, self)?),
            ExprKind::Math(f, args) => {
                let args = args
                    .iter()
                    .map(|a| operand(a, self).map(|b| *b))
                    .collect::<Result<_, _>>()?;
                ExprKind::Math(*f, args)
            }
            ExprKind::Select {
                cond,
                then_value,
                else_value,
            } => ExprKind::Select {
                cond: operand(cond, self)?,
                then_value: operand(then_value, self)?,
                else_value: operand(else_value, self)?,
            },
            _ => return Err(unsupported("this expression (memory, positions, vectors)")),
        };
        let out = self.bind("t", Expr::new(kind.clone(), e.ty, e.span));
        tape.push(TapeOp {
            out,
            kind,
            span: e.span,
        });
        Ok(out)
    }

    /// `adjoint[v] += g`, creating the adjoint local on first use.
    fn accumulate(&mut self, adjoint: &mut Vec<Option<VarId>>, v: VarId, g: Expr) {
        if !self.locals[v.0 as usize].ty.elem.is_float() {
            return;
        }
        if adjoint.len() < self.locals.len() {
            adjoint.resize(self.locals.len(), None);
        }
        let value = match adjoint[v.0 as usize] {
            Some(a) => bin(BinaryOp::Add, self.local(a), g),
            None => g,
        };
        let name = format!("d_{}", self.locals[v.0 as usize].name);
        let a = self.bind(&name, value);
        adjoint.resize(self.locals.len(), None);
        adjoint[v.0 as usize] = Some(a);
    }

    fn backprop(
        &mut self,
        op: &TapeOp,
        adjoint: &mut Vec<Option<VarId>>,
    ) -> Result<(), AutodiffError> {
        let Some(g) = adjoint.get(op.out.0 as usize).copied().flatten() else {
            return Ok(());
        };
        let g = self.local(g);
        let t = self.local(op.out);
        for (v, partial) in partials(&op.kind, g, t).map_err(|message| AutodiffError {
            span: op.span,
            message,
        })? {
            self.accumulate(adjoint, v, partial);
        }
        Ok(())
    }
}

fn bin(op: BinaryOp, a: Expr, b: Expr) -> Expr {
    let ty = if op.is_comparison() { Ty::BOOL } else { a.ty };
    Expr::new(
        ExprKind::Binary(op, Box::new(a), Box::new(b)),
        ty,
        SpanId::NONE,
    )
}

fn lit(v: f64, like: &Expr) -> Expr {
    Expr::lit_f(v, like.ty.elem)
}

fn math(f: MathFn, args: Vec<Expr>) -> Expr {
    let ty = args[0].ty;
    Expr::new(ExprKind::Math(f, args), ty, SpanId::NONE)
}

fn var_of(e: &Expr) -> Option<VarId> {
    match e.kind {
        ExprKind::Local(v) => Some(v),
        _ => None,
    }
}

/// The contribution `g * ∂t/∂operand` for every local operand of `t = kind`.
fn partials(kind: &ExprKind, g: Expr, t: Expr) -> Result<Vec<(VarId, Expr)>, String> {
    use BinaryOp::*;
    let mut out = Vec::new();
    let mut push = |operand: &Expr, partial: Expr| {
        if let Some(v) = var_of(operand)
            && operand.ty.elem.is_float()
        {
            out.push((v, partial));
        }
    };
    match kind {
        ExprKind::Lit(_) => {}
        ExprKind::Unary(UnaryOp::Neg, a) => push(
            a,
            Expr::new(
                ExprKind::Unary(UnaryOp::Neg, Box::new(g)),
                a.ty,
                SpanId::NONE,
            ),
        ),
        ExprKind::Unary(UnaryOp::Not, _) => {}
        ExprKind::Binary(op, a, b) if t.ty.elem.is_float() => match op {
            Add => {
                push(a, g.clone());
                push(b, g);
            }
            Sub => {
                push(a, g.clone());
                push(
                    b,
                    Expr::new(
                        ExprKind::Unary(UnaryOp::Neg, Box::new(g)),
                        b.ty,
                        SpanId::NONE,
                    ),
                );
            }
            Mul => {
                push(a, bin(Mul, g.clone(), (**b).clone()));
                push(b, bin(Mul, g, (**a).clone()));
            }
            Div => {
                push(a, bin(Div, g.clone(), (**b).clone()));
                let neg_t = Expr::new(
                    ExprKind::Unary(UnaryOp::Neg, Box::new(t)),
                    b.ty,
                    SpanId::NONE,
                );
                push(b, bin(Div, bin(Mul, g, neg_t), (**b).clone()));
            }
            Min | Max => {
                let cmp = if *op == Min { Le } else { Ge };
                let a_wins = bin(cmp, (**a).clone(), (**b).clone());
                push(a, Expr::select(a_wins.clone(), g.clone(), lit(0.0, &g)));
                push(b, Expr::select(a_wins, lit(0.0, &g), g));
            }
            other => return Err(format!("`{}` has no derivative here", other.symbol())),
        },
        ExprKind::Binary(..) => {}
        ExprKind::Cast(a) => {
            if a.ty.elem.is_float() && t.ty.elem.is_float() {
                push(
                    a,
                    Expr::new(ExprKind::Cast(Box::new(g)), a.ty, SpanId::NONE),
                );
            }
        }
        ExprKind::Math(f, args) => math_partials(*f, args, g, t, &mut push),
        ExprKind::Select {
            cond,
            then_value,
            else_value,
        } => {
            push(
                then_value,
                Expr::select((**cond).clone(), g.clone(), lit(0.0, &g)),
            );
            push(else_value, Expr::select((**cond).clone(), lit(0.0, &g), g));
        }
        _ => return Err("this expression has no derivative".into()),
    }
    Ok(out)
}

fn math_partials(f: MathFn, args: &[Expr], g: Expr, t: Expr, push: &mut impl FnMut(&Expr, Expr)) {
    use BinaryOp::*;
    let a = args[0].clone();
    let mul = |x: Expr, y: Expr| bin(Mul, x, y);
    match f {
        MathFn::Exp => push(&a, mul(g, t)),
        MathFn::Log => push(&a, bin(Div, g, a.clone())),
        MathFn::Sqrt => push(&a, bin(Div, mul(g, lit(0.5, &t)), t)),
        // d/da a^(-1/2) = -1/2 · t³
        MathFn::Rsqrt => push(
            &a,
            mul(mul(g, lit(-0.5, &t)), mul(t.clone(), mul(t.clone(), t))),
        ),
        MathFn::Tanh => push(&a, mul(g, bin(Sub, lit(1.0, &t), mul(t.clone(), t)))),
        MathFn::Erf => {
            let gauss = math(
                MathFn::Exp,
                vec![Expr::new(
                    ExprKind::Unary(UnaryOp::Neg, Box::new(mul(a.clone(), a.clone()))),
                    a.ty,
                    SpanId::NONE,
                )],
            );
            push(
                &a,
                mul(mul(g, lit(std::f64::consts::FRAC_2_SQRT_PI, &t)), gauss),
            );
        }
        MathFn::Sin => push(&a, mul(g, math(MathFn::Cos, vec![a.clone()]))),
        MathFn::Cos => push(
            &a,
            mul(
                Expr::new(
                    ExprKind::Unary(UnaryOp::Neg, Box::new(g)),
                    a.ty,
                    SpanId::NONE,
                ),
                math(MathFn::Sin, vec![a.clone()]),
            ),
        ),
        MathFn::Abs => {
            let nonneg = bin(Ge, a.clone(), lit(0.0, &a));
            let neg_g = Expr::new(
                ExprKind::Unary(UnaryOp::Neg, Box::new(g.clone())),
                a.ty,
                SpanId::NONE,
            );
            push(&a, Expr::select(nonneg, g, neg_g));
        }
        MathFn::Powf => {
            let b = args[1].clone();
            let pow_b_minus_1 = math(
                MathFn::Powf,
                vec![a.clone(), bin(Sub, b.clone(), lit(1.0, &b))],
            );
            push(&a, mul(mul(g.clone(), b.clone()), pow_b_minus_1));
            push(&b, mul(mul(g, t), math(MathFn::Log, vec![a])));
        }
        MathFn::Fma => {
            let (b, c) = (args[1].clone(), args[2].clone());
            push(&a, mul(g.clone(), b.clone()));
            push(&b, mul(g.clone(), a));
            push(&c, g);
        }
    }
}
