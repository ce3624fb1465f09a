//! Writes and other statement-only constructs: element stores, `store4`, `barrier()`,
//! shared-memory declarations.

use vibee_dsl::kernel::{
    BufRef, Elem, Expr, ExprKind, SharedArray, SharedId, SpanId, Stmt, StmtKind, Ty, VECTOR_LANES,
};

use super::typing::describe;
use super::{Binding, Lowerer, Mode};
use crate::ast::{self, BinOp, ExprKind as K};
use crate::src::Src;

impl Lowerer<'_> {
    /// `base[index] = value` (or `op=`) on a buffer, a shared array or a vector lane.
    pub(super) fn assign_index(
        &mut self,
        base: &ast::Expr,
        index: &ast::Expr,
        op: Option<BinOp>,
        value: &ast::Expr,
        src: Src,
        out: &mut Vec<Stmt>,
    ) {
        let K::Path(ident) = &base.kind else {
            return self.error(base.src, "only buffers, shared arrays and vector variables can be indexed on the left of `=`");
        };
        match self.lookup(&ident.to_string()) {
            Some(Binding::Buffer { buf, elem, mutable }) => {
                if !mutable {
                    return self.error(base.src, format!("cannot write to `{ident}`: it is a read-only `&[{0}]` buffer; declare it `&mut [{0}]`", elem.rust_name()));
                }
                let Some(index) = self.index_value(index) else {
                    return;
                };
                let ty = Ty::scalar(elem);
                let current = op.map(|_| {
                    self.node(
                        ExprKind::Load {
                            buf,
                            index: Box::new(index.clone()),
                        },
                        ty,
                        src,
                    )
                });
                if let Some(value) = self.assigned_value(current, ty, op, value, src) {
                    out.push(self.stmt_node(StmtKind::Store { buf, index, value }, src));
                }
            }
            Some(Binding::Local { id, ty, mutable }) if ty.is_vector() => {
                if !mutable {
                    return self.error(base.src, format!("cannot assign to a lane of immutable variable `{ident}`; declare it `let mut {ident}`"));
                }
                let Some(lane) = self.lane(index) else { return };
                self.assign_lane(id, ty, lane, op, value, src, out);
            }
            Some(Binding::Poisoned) => {}
            Some(_) => self.error(
                base.src,
                format!(
                    "cannot index `{ident}`; only buffers, shared arrays and vectors can be indexed"
                ),
            ),
            None => self.error(base.src, format!("cannot find `{ident}` in this kernel")),
        }
    }

    /// `v[lane] = value`: rebuilds the vector with one lane replaced.
    #[allow(clippy::too_many_arguments)] // reason: one place, the pieces of an assignment
    fn assign_lane(
        &mut self,
        id: vibee_dsl::kernel::VarId,
        ty: Ty,
        lane: u8,
        op: Option<BinOp>,
        value: &ast::Expr,
        src: Src,
        out: &mut Vec<Stmt>,
    ) {
        let elem_ty = Ty::scalar(ty.elem);
        let extract = |lw: &mut Self, k: u8| {
            let vector = lw.node(ExprKind::Local(id), ty, src);
            lw.node(
                ExprKind::Extract {
                    vector: Box::new(vector),
                    lane: k,
                },
                elem_ty,
                src,
            )
        };
        let current = op.map(|_| extract(self, lane));
        let Some(value) = self.assigned_value(current, elem_ty, op, value, src) else {
            return;
        };
        let lanes = (0..VECTOR_LANES)
            .map(|k| {
                if k == lane {
                    value.clone()
                } else {
                    extract(self, k)
                }
            })
            .collect();
        let rebuilt = self.node(ExprKind::Construct(lanes), ty, src);
        out.push(self.stmt_node(
            StmtKind::Assign {
                var: id,
                value: rebuilt,
            },
            src,
        ));
    }

    /// `barrier()` and `store4(&mut y, i, v)`.
    pub(super) fn statement_call(
        &mut self,
        func: &syn::Ident,
        args: &[ast::Expr],
        src: Src,
        out: &mut Vec<Stmt>,
    ) {
        if self.mode == Mode::Elementwise {
            return self.error(
                src,
                format!("`{func}` is not available in a differentiable kernel"),
            );
        }
        if func == "barrier" {
            if self.check_arity(func, args, 0, src) {
                out.push(self.stmt_node(StmtKind::Barrier, src));
            }
            return;
        }
        if !self.check_arity(func, args, 3, src) {
            return;
        }
        let Some((buf, elem)) = self.buffer_arg(&args[0], true, "store4") else {
            return;
        };
        let index = self.index_value(&args[1]);
        let want = Ty::vector(elem, VECTOR_LANES);
        let value = self
            .expr(&args[2], Some(want))
            .and_then(|v| self.coerce(v, want, "as the stored vector"));
        if let (Some(index), Some(value)) = (index, value) {
            out.push(self.stmt_node(StmtKind::Store { buf, index, value }, src));
        }
    }

    /// A buffer passed to an intrinsic: `&x`, `&mut x` or `x`; `write` requires it to be
    /// writable.
    pub(super) fn buffer_arg(
        &mut self,
        arg: &ast::Expr,
        write: bool,
        intrinsic: &str,
    ) -> Option<(BufRef, Elem)> {
        let inner = match &arg.kind {
            K::Ref(expr) => expr,
            _ => arg,
        };
        let K::Path(ident) = &inner.kind else {
            self.error(
                arg.src,
                format!("`{intrinsic}` expects a buffer or shared array here, such as `&x`"),
            );
            return None;
        };
        match self.lookup(&ident.to_string()) {
            Some(Binding::Buffer { buf, elem, mutable }) => {
                if write && !mutable {
                    self.error(inner.src, format!("`{intrinsic}` writes to `{ident}`, a read-only `&[{0}]` buffer; declare it `&mut [{0}]`", elem.rust_name()));
                    return None;
                }
                Some((buf, elem))
            }
            Some(Binding::Poisoned) => None,
            Some(_) => {
                self.error(
                    inner.src,
                    format!(
                        "`{intrinsic}` expects a buffer or shared array, but `{ident}` is a value"
                    ),
                );
                None
            }
            None => {
                self.error(inner.src, format!("cannot find `{ident}` in this kernel"));
                None
            }
        }
    }

    /// `let tile = shared::<f32>(LEN);` at the top level of the kernel body.
    pub(super) fn shared_decl(
        &mut self,
        name: &syn::Ident,
        elem: Option<ast::TypeName>,
        args: &[ast::Expr],
        src: Src,
    ) {
        self.bind(name, Binding::Poisoned);
        if self.mode == Mode::Elementwise {
            return self.error(
                src,
                "shared memory is not available in a differentiable kernel",
            );
        }
        if self.block_depth > 1 {
            return self.error(src, "declare shared memory at the top level of the kernel body, not inside a branch or loop");
        }
        let Some(elem) = elem else {
            return self.error(
                src,
                "name the element type of shared memory: `shared::<f32>(LEN)`",
            );
        };
        if elem.elem == Elem::Bool || elem.lanes > 1 {
            return self.error(elem.src, format!("shared arrays of `{}` are not supported; use `f32`, `f16`, `bf16`, `i32` or `u32`", describe(Ty::vector(elem.elem, elem.lanes))));
        }
        if !self.check_arity(&syn::Ident::new("shared", src.first), args, 1, src) {
            return;
        }
        let Some(len) = self
            .expr(&args[0], Some(Ty::U32))
            .and_then(|v| self.coerce(v, Ty::U32, "as the shared-memory length"))
        else {
            return;
        };
        if let Some(culprit) = self.runtime_leaf(&len) {
            let culprit = self.src(culprit);
            return self.error(culprit, "the length of shared memory must be known when the kernel is specialized; this is a run-time value (use literals, `#[comptime]` parameters and const generics)");
        }
        let span = self.span(src);
        self.shared.push(SharedArray {
            name: name.to_string(),
            elem: elem.elem,
            len,
            span,
        });
        let id = SharedId(self.shared.len() as u32 - 1);
        self.bind(
            name,
            Binding::Buffer {
                buf: BufRef::Shared(id),
                elem: elem.elem,
                mutable: true,
            },
        );
    }

    /// The first part of `e` that is not fixed at specialization, if any.
    fn runtime_leaf(&self, e: &Expr) -> Option<SpanId> {
        match &e.kind {
            ExprKind::Lit(_) => None,
            ExprKind::Param(p) => match self.params[p.0 as usize].kind {
                vibee_dsl::kernel::ParamKind::Comptime { .. } => None,
                _ => Some(e.span),
            },
            ExprKind::Unary(_, a) | ExprKind::Cast(a) => self.runtime_leaf(a),
            ExprKind::Binary(_, a, b) => self.runtime_leaf(a).or_else(|| self.runtime_leaf(b)),
            _ => Some(e.span),
        }
    }

    /// Whether `args` has `n` elements; reports the mismatch otherwise.
    pub(super) fn check_arity(
        &self,
        func: &syn::Ident,
        args: &[ast::Expr],
        n: usize,
        src: Src,
    ) -> bool {
        if args.len() == n {
            return true;
        }
        let plural = if n == 1 { "" } else { "s" };
        self.error(
            src,
            format!(
                "`{func}` takes {n} argument{plural}, but {} were given",
                args.len()
            ),
        );
        false
    }
}
