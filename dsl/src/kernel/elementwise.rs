//! Elementwise functions (scalars in, scalars out) and their lowering to buffer kernels.
//!
//! `#[vibee::kernel(differentiable)] fn gelu(x: f32) -> f32 { … }` lowers to an
//! [`ElementwiseFn`]: straight-line `let`s and assignments over scalar inputs, then one
//! result per output. [`ElementwiseFn::to_kernel`] wraps it into a buffer kernel (one unit
//! per element), and [`super::autodiff::vjp`] derives its backward function.

use serde::{Deserialize, Serialize};

use super::ir::*;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ElementwiseFn {
    pub name: String,
    /// Scalar inputs; every `ParamKind` here is `Scalar`.
    pub inputs: Vec<Param>,
    pub outputs: Vec<Elem>,
    pub locals: Vec<Local>,
    /// Only `Let` and `Assign` statements.
    pub body: Vec<Stmt>,
    /// One expression per output, evaluated after `body`.
    pub results: Vec<Expr>,
}

impl ElementwiseFn {
    /// Names of the buffers of the kernel form: the inputs keep their names, outputs are
    /// `out` (one output) or `out0`, `out1`, ….
    /// (An input already called so gets `_`s appended: `out_`.)
    pub fn output_names(&self) -> Vec<String> {
        let taken: Vec<&str> = self.inputs.iter().map(|p| p.name.as_str()).collect();
        let base: Vec<String> = match self.outputs.len() {
            1 => vec!["out".to_string()],
            n => (0..n).map(|j| format!("out{j}")).collect(),
        };
        base.into_iter().map(|n| fresh_name(n, &taken)).collect()
    }

    /// The buffer kernel applying this function to every element: one unit per element of
    /// the first output, `if i < out.len() { out[i] = f(in0[i], …) }`.
    pub fn to_kernel(&self) -> Kernel {
        let n_in = self.inputs.len();
        let mut params: Vec<Param> = self
            .inputs
            .iter()
            .map(|p| Param {
                name: p.name.clone(),
                kind: ParamKind::Buffer {
                    elem: scalar_elem(p),
                    mutable: false,
                },
                span: p.span,
            })
            .collect();
        for (name, &elem) in self.output_names().into_iter().zip(&self.outputs) {
            params.push(Param {
                name,
                kind: ParamKind::Buffer {
                    elem,
                    mutable: true,
                },
                span: SpanId::NONE,
            });
        }
        let index = VarId(0);
        let mut locals = vec![Local {
            name: "i".into(),
            ty: Ty::U32,
            mutable: false,
            span: SpanId::NONE,
        }];
        let input_vars: Vec<VarId> = self
            .inputs
            .iter()
            .map(|p| {
                locals.push(Local {
                    name: p.name.clone(),
                    ty: Ty::scalar(scalar_elem(p)),
                    mutable: false,
                    span: p.span,
                });
                VarId(locals.len() as u32 - 1)
            })
            .collect();
        let offset = locals.len() as u32;
        locals.extend(self.locals.iter().cloned());
        let remap = |e: &Expr| remap(e, &input_vars, offset);
        let local_i = Expr::new(ExprKind::Local(index), Ty::U32, SpanId::NONE);
        let mut guarded: Vec<Stmt> = self
            .inputs
            .iter()
            .enumerate()
            .map(|(k, p)| {
                let load = Expr::new(
                    ExprKind::Load {
                        buf: BufRef::Param(ParamId(k as u32)),
                        index: Box::new(local_i.clone()),
                    },
                    Ty::scalar(scalar_elem(p)),
                    SpanId::NONE,
                );
                stmt(StmtKind::Let {
                    var: input_vars[k],
                    init: load,
                })
            })
            .collect();
        guarded.extend(self.body.iter().map(|s| remap_stmt(s, &remap, offset)));
        for (j, result) in self.results.iter().enumerate() {
            guarded.push(stmt(StmtKind::Store {
                buf: BufRef::Param(ParamId((n_in + j) as u32)),
                index: local_i.clone(),
                value: remap(result),
            }));
        }
        let out0 = BufRef::Param(ParamId(n_in as u32));
        let body = vec![
            stmt(StmtKind::Let {
                var: index,
                init: Expr::new(
                    ExprKind::Builtin(Builtin::GlobalPos(None)),
                    Ty::U32,
                    SpanId::NONE,
                ),
            }),
            stmt(StmtKind::If {
                cond: Expr::new(
                    ExprKind::Binary(
                        BinaryOp::Lt,
                        Box::new(local_i.clone()),
                        Box::new(Expr::new(ExprKind::Len(out0), Ty::U32, SpanId::NONE)),
                    ),
                    Ty::BOOL,
                    SpanId::NONE,
                ),
                then_branch: guarded,
                else_branch: Vec::new(),
            }),
        ];
        Kernel {
            name: self.name.clone(),
            params,
            locals,
            shared: Vec::new(),
            body,
        }
    }
}

/// `name`, with `_` appended until it is none of `taken`.
pub fn fresh_name(mut name: String, taken: &[&str]) -> String {
    while taken.contains(&name.as_str()) {
        name.push('_');
    }
    name
}

fn scalar_elem(p: &Param) -> Elem {
    match p.kind {
        ParamKind::Scalar(e) | ParamKind::Comptime { elem: e, .. } => e,
        ParamKind::Buffer { elem, .. } => elem,
    }
}

fn stmt(kind: StmtKind) -> Stmt {
    Stmt {
        kind,
        span: SpanId::NONE,
    }
}

fn remap_stmt(s: &Stmt, remap: &impl Fn(&Expr) -> Expr, offset: u32) -> Stmt {
    let shift = |v: &VarId| VarId(v.0 + offset);
    let kind = match &s.kind {
        StmtKind::Let { var, init } => StmtKind::Let {
            var: shift(var),
            init: remap(init),
        },
        StmtKind::Assign { var, value } => StmtKind::Assign {
            var: shift(var),
            value: remap(value),
        },
        other => other.clone(),
    };
    Stmt { kind, span: s.span }
}

/// Rewrites input parameters into the locals holding their loaded values and shifts the
/// function's own locals past them.
fn remap(e: &Expr, inputs: &[VarId], offset: u32) -> Expr {
    map_expr(e, &|kind| match kind {
        ExprKind::Param(p) => inputs.get(p.0 as usize).map(|v| ExprKind::Local(*v)),
        ExprKind::Local(v) => Some(ExprKind::Local(VarId(v.0 + offset))),
        _ => None,
    })
}

/// Rebuilds `e` bottom-up, replacing leaves for which `f` returns a new kind.
pub fn map_expr(e: &Expr, f: &dyn Fn(&ExprKind) -> Option<ExprKind>) -> Expr {
    let m = |a: &Expr| Box::new(map_expr(a, f));
    let kind = if let Some(k) = f(&e.kind) {
        k
    } else {
        match &e.kind {
            ExprKind::Unary(op, a) => ExprKind::Unary(*op, m(a)),
            ExprKind::Binary(op, a, b) => ExprKind::Binary(*op, m(a), m(b)),
            ExprKind::Cast(a) => ExprKind::Cast(m(a)),
            ExprKind::Math(fun, args) => {
                ExprKind::Math(*fun, args.iter().map(|a| map_expr(a, f)).collect())
            }
            ExprKind::Construct(args) => {
                ExprKind::Construct(args.iter().map(|a| map_expr(a, f)).collect())
            }
            ExprKind::Load { buf, index } => ExprKind::Load {
                buf: *buf,
                index: m(index),
            },
            ExprKind::Extract { vector, lane } => ExprKind::Extract {
                vector: m(vector),
                lane: *lane,
            },
            ExprKind::AtomicAdd { buf, index, value } => ExprKind::AtomicAdd {
                buf: *buf,
                index: m(index),
                value: m(value),
            },
            ExprKind::Plane(op, a) => ExprKind::Plane(*op, m(a)),
            ExprKind::Select {
                cond,
                then_value,
                else_value,
            } => ExprKind::Select {
                cond: m(cond),
                then_value: m(then_value),
                else_value: m(else_value),
            },
            leaf => leaf.clone(),
        }
    };
    Expr::new(kind, e.ty, e.span)
}
