//! Expressions with a value.

use vibee_dsl::kernel::{BinaryOp, Elem, Expr, ExprKind, Lit, StmtKind, Ty, UnaryOp};

use super::typing::describe;
use super::{Binding, Lowerer, Mode};
use crate::ast::{self, BinOp, ExprKind as K, LitValue, UnOp};
use crate::src::Src;

impl Lowerer<'_> {
    /// Lowers `e`; `hint` is the type the context expects, used to type literals.
    pub(super) fn expr(&mut self, e: &ast::Expr, hint: Option<Ty>) -> Option<Expr> {
        let src = e.src;
        match &e.kind {
            K::Lit(v) | K::Const(v) => self.literal(*v, hint, src),
            K::Path(ident) => self.path(ident, src),
            K::Unary(op, inner) => self.unary(*op, inner, hint, src),
            K::Binary(op, l, r) => self.binary(*op, l, r, hint, src),
            K::Cast(inner, ty) => self.cast(inner, *ty, src),
            K::Call {
                func,
                turbofish,
                args,
            } => self.call(func, *turbofish, args, hint, src),
            K::MethodCall {
                receiver,
                method,
                args,
            } => self.method_call(receiver, method, args, hint, src),
            K::Index(base, index) => self.index(base, index, src),
            K::If {
                cond,
                then_branch,
                else_branch,
            } => self.if_value(cond, then_branch, else_branch.as_deref(), hint, src),
            K::Block(b) => self.block_value(b, hint).map(|(stmts, value)| {
                self.pending.extend(stmts);
                value
            }),
            K::Ref(_) => {
                self.error(src, "references are only used to pass buffers to intrinsics, as in `atomic_add(&mut hist, i, 1)`");
                None
            }
            K::Assign(..) | K::CompoundAssign(..) => {
                self.error(
                    src,
                    "an assignment has no value; write it as its own statement",
                );
                None
            }
            K::For { .. } | K::While { .. } | K::Break | K::Continue | K::Return(_) => {
                self.error(
                    src,
                    "this statement has no value; it cannot be used as an expression",
                );
                None
            }
            K::Tuple(_) => {
                self.error(
                    src,
                    "tuples are only supported as the result of a differentiable kernel",
                );
                None
            }
            K::Error => None,
        }
    }

    fn path(&mut self, ident: &syn::Ident, src: Src) -> Option<Expr> {
        match self.lookup(&ident.to_string()) {
            Some(Binding::Param { id, ty, .. }) => Some(self.node(ExprKind::Param(id), ty, src)),
            Some(Binding::Local { id, ty, .. }) => Some(self.node(ExprKind::Local(id), ty, src)),
            Some(Binding::Buffer { .. }) => {
                self.error(
                    src,
                    format!(
                        "`{ident}` is a buffer, not a value; read an element with `{ident}[i]`"
                    ),
                );
                None
            }
            Some(Binding::Poisoned) => None,
            None if super::call::is_intrinsic(&ident.to_string()) => {
                self.error(
                    src,
                    format!("`{ident}` is an intrinsic function; call it: `{ident}(…)`"),
                );
                None
            }
            None => {
                self.error(src, format!("cannot find `{ident}` in this kernel; kernels see their parameters, const generics and local variables"));
                None
            }
        }
    }

    fn unary(&mut self, op: UnOp, inner: &ast::Expr, hint: Option<Ty>, src: Src) -> Option<Expr> {
        // `-1` alone is an `i32`, not a negated `u32`.
        let hint = match (op, hint) {
            (UnOp::Neg, None) if matches!(inner.kind, K::Lit(LitValue::Int(_, None))) => {
                Some(Ty::I32)
            }
            _ => hint,
        };
        let value = self.expr(inner, hint)?;
        let ty = value.ty;
        let ok = match op {
            UnOp::Neg => ty.elem.is_float() || ty.elem == Elem::I32,
            UnOp::Not => ty.elem.is_int() || ty.elem == Elem::Bool,
        };
        if !ok {
            let (sym, accepted) = match op {
                UnOp::Neg => ("-", "floats and `i32`"),
                UnOp::Not => ("!", "`bool` and integers"),
            };
            self.error(
                src,
                format!(
                    "cannot apply `{sym}` to `{}`; it applies to {accepted}",
                    describe(ty)
                ),
            );
            return None;
        }
        // Fold negated literals so `-1.0` stays a literal in the IR.
        if let (UnOp::Neg, ExprKind::Lit(lit)) = (op, &value.kind) {
            let negated = match *lit {
                Lit::Int(v) => Lit::Int(-v),
                Lit::Float(v) => Lit::Float(-v),
                Lit::Bool(b) => Lit::Bool(b),
            };
            return Some(self.node(ExprKind::Lit(negated), ty, src));
        }
        let op = match op {
            UnOp::Neg => UnaryOp::Neg,
            UnOp::Not => UnaryOp::Not,
        };
        Some(self.node(ExprKind::Unary(op, Box::new(value)), ty, src))
    }

    /// Lowers both operands, typing an unsuffixed literal from the other side.
    pub(super) fn operands(
        &mut self,
        l: &ast::Expr,
        r: &ast::Expr,
        hint: Option<Ty>,
    ) -> (Option<Expr>, Option<Expr>) {
        if l.is_untyped_literal() && !r.is_untyped_literal() {
            let r = self.expr(r, hint);
            let l = self.expr(l, r.as_ref().map(|r| r.ty).or(hint));
            (l, r)
        } else {
            let l = self.expr(l, hint);
            let r = self.expr(r, l.as_ref().map(|l| l.ty).or(hint));
            (l, r)
        }
    }

    pub(super) fn binary(
        &mut self,
        op: BinOp,
        l: &ast::Expr,
        r: &ast::Expr,
        hint: Option<Ty>,
        src: Src,
    ) -> Option<Expr> {
        let ir_op = binary_op(op);
        let operand_hint = if ir_op.is_logical() {
            Some(Ty::BOOL)
        } else if ir_op.is_comparison() {
            None
        } else {
            hint
        };
        let (l, r) = self.operands(l, r, operand_hint);
        self.combine(ir_op, l?, r?, src)
    }

    /// Types `l op r` once both sides are lowered.
    pub(super) fn combine(&mut self, op: BinaryOp, l: Expr, r: Expr, src: Src) -> Option<Expr> {
        let (l, r) = self.broadcast(l, r);
        if l.ty != r.ty {
            let rsrc = self.src(r.span);
            self.error(
                rsrc,
                format!(
                    "mismatched types: `{}` {} `{}`; both sides of `{}` must have the same type (convert one with `as`)",
                    describe(l.ty), op.symbol(), describe(r.ty), op.symbol()
                ),
            );
            return None;
        }
        let ty = l.ty;
        let (ok, accepted) = match op {
            _ if op.is_logical() => (ty == Ty::BOOL, "`bool`"),
            BinaryOp::Eq | BinaryOp::Ne => (!ty.is_vector(), "scalars"),
            _ if op.is_comparison() => (!ty.is_vector() && ty.elem.is_numeric(), "numeric scalars"),
            BinaryOp::Shl | BinaryOp::Shr => (ty.elem.is_int(), "integers"),
            _ if op.is_bitwise() => (
                ty.elem.is_int() || ty.elem == Elem::Bool,
                "integers and `bool`",
            ),
            _ => (ty.elem.is_numeric(), "numbers"),
        };
        if !ok {
            self.error(
                src,
                format!(
                    "`{}` does not apply to `{}`; it applies to {accepted}",
                    op.symbol(),
                    describe(ty)
                ),
            );
            return None;
        }
        let result = if op.is_comparison() { Ty::BOOL } else { ty };
        Some(self.node(ExprKind::Binary(op, Box::new(l), Box::new(r)), result, src))
    }

    fn cast(&mut self, inner: &ast::Expr, to: ast::TypeName, src: Src) -> Option<Expr> {
        if to.lanes > 1 {
            self.error(to.src, "casts to vector types are not supported; cast a vector to its element type (`v as f16`) or build one with `f32x4(a, b, c, d)`");
            return None;
        }
        let value = self.expr(inner, None)?;
        if to.elem == Elem::Bool && value.ty.elem != Elem::Bool {
            self.error(
                to.src,
                "casts to `bool` are not supported; compare instead: `x != 0`",
            );
            return None;
        }
        if value.ty.elem == to.elem {
            return Some(value);
        }
        let ty = Ty::vector(to.elem, value.ty.lanes);
        Some(self.node(ExprKind::Cast(Box::new(value)), ty, src))
    }

    /// A `u32` index.
    pub(super) fn index_value(&mut self, index: &ast::Expr) -> Option<Expr> {
        let value = self.expr(index, Some(Ty::U32))?;
        if value.ty != Ty::U32 {
            self.error(
                index.src,
                format!(
                    "indices are `u32`, found `{}`; convert with `as u32`",
                    describe(value.ty)
                ),
            );
            return None;
        }
        Some(value)
    }

    fn index(&mut self, base: &ast::Expr, index: &ast::Expr, src: Src) -> Option<Expr> {
        match self.indexable(base)? {
            Indexable::Buffer { buf, elem } => {
                let index = self.index_value(index)?;
                let kind = ExprKind::Load {
                    buf,
                    index: Box::new(index),
                };
                Some(self.node(kind, Ty::scalar(elem), src))
            }
            Indexable::Vector(vector) => {
                let lane = self.lane(index)?;
                let ty = Ty::scalar(vector.ty.elem);
                Some(self.node(
                    ExprKind::Extract {
                        vector: Box::new(vector),
                        lane,
                    },
                    ty,
                    src,
                ))
            }
        }
    }

    /// What `base[…]` indexes: a buffer, a shared array or a vector value.
    pub(super) fn indexable(&mut self, base: &ast::Expr) -> Option<Indexable> {
        if let K::Path(ident) = &base.kind
            && let Some(Binding::Buffer { buf, elem, .. }) = self.lookup(&ident.to_string())
        {
            return Some(Indexable::Buffer { buf, elem });
        }
        let value = self.expr(base, None)?;
        if value.ty.is_vector() {
            return Some(Indexable::Vector(value));
        }
        self.error(
            base.src,
            format!(
                "cannot index a `{}`; only buffers, shared arrays and vectors can be indexed",
                describe(value.ty)
            ),
        );
        None
    }

    /// A lane number: a literal `0..=3`.
    pub(super) fn lane(&mut self, index: &ast::Expr) -> Option<u8> {
        match index.kind {
            K::Lit(LitValue::Int(v, _)) if v < vibee_dsl::kernel::VECTOR_LANES as u64 => {
                Some(v as u8)
            }
            _ => {
                self.error(
                    index.src,
                    "a vector lane is selected by a literal `0` … `3`",
                );
                None
            }
        }
    }

    /// `if c { a } else { b }` as a value: a `Select` when both branches are single pure
    /// expressions, otherwise a temporary assigned in an `if` statement.
    fn if_value(
        &mut self,
        cond: &ast::Expr,
        then_b: &ast::Block,
        else_e: Option<&ast::Expr>,
        hint: Option<Ty>,
        src: Src,
    ) -> Option<Expr> {
        let Some(else_e) = else_e else {
            self.error(
                src,
                "an `if` without `else` has no value; add an `else` branch",
            );
            return None;
        };
        let cond = self.condition(cond);
        let then_v = self.block_value(then_b, hint);
        let else_hint = then_v.as_ref().map(|(_, v)| v.ty).or(hint);
        let else_v = match &else_e.kind {
            K::Block(b) => self.block_value(b, else_hint),
            _ => self.expr(else_e, else_hint).map(|v| (Vec::new(), v)),
        };
        let (cond, (then_s, then_v), (else_s, else_v)) = (cond?, then_v?, else_v?);
        let else_v = self.coerce(else_v, then_v.ty, "in the `else` branch")?;
        let ty = then_v.ty;
        if then_s.is_empty() && else_s.is_empty() && is_pure(&then_v) && is_pure(&else_v) {
            let kind = ExprKind::Select {
                cond: Box::new(cond),
                then_value: Box::new(then_v),
                else_value: Box::new(else_v),
            };
            return Some(self.node(kind, ty, src));
        }
        if self.mode == Mode::Elementwise {
            self.error(src, "in a differentiable kernel, each `if` branch must be a single expression without side effects");
            return None;
        }
        let var = self.declare_local("if_value", ty, true, src);
        let init = self.zero(ty, src);
        let let_stmt = self.stmt_node(StmtKind::Let { var, init }, src);
        let then_branch = self.with_assign(then_s, var, then_v);
        let else_branch = self.with_assign(else_s, var, else_v);
        let if_stmt = self.stmt_node(
            StmtKind::If {
                cond,
                then_branch,
                else_branch,
            },
            src,
        );
        self.pending.extend([let_stmt, if_stmt]);
        Some(self.node(ExprKind::Local(var), ty, src))
    }

    fn with_assign(
        &mut self,
        mut stmts: Vec<vibee_dsl::kernel::Stmt>,
        var: vibee_dsl::kernel::VarId,
        value: Expr,
    ) -> Vec<vibee_dsl::kernel::Stmt> {
        let src = self.src(value.span);
        stmts.push(self.stmt_node(StmtKind::Assign { var, value }, src));
        stmts
    }

    /// A `bool` condition.
    pub(super) fn condition(&mut self, cond: &ast::Expr) -> Option<Expr> {
        let value = self.expr(cond, Some(Ty::BOOL))?;
        self.coerce(value, Ty::BOOL, "in the condition")
    }
}

/// What an index expression's base refers to.
pub(super) enum Indexable {
    Buffer {
        buf: vibee_dsl::kernel::BufRef,
        elem: Elem,
    },
    Vector(Expr),
}

/// No effect other than its value: safe to evaluate even when not selected.
fn is_pure(e: &Expr) -> bool {
    let mut pure = true;
    e.walk(&mut |n| pure &= !matches!(n.kind, ExprKind::AtomicAdd { .. }));
    pure
}

pub(super) fn binary_op(op: BinOp) -> BinaryOp {
    match op {
        BinOp::Add => BinaryOp::Add,
        BinOp::Sub => BinaryOp::Sub,
        BinOp::Mul => BinaryOp::Mul,
        BinOp::Div => BinaryOp::Div,
        BinOp::Rem => BinaryOp::Rem,
        BinOp::BitAnd => BinaryOp::BitAnd,
        BinOp::BitOr => BinaryOp::BitOr,
        BinOp::BitXor => BinaryOp::BitXor,
        BinOp::Shl => BinaryOp::Shl,
        BinOp::Shr => BinaryOp::Shr,
        BinOp::And => BinaryOp::And,
        BinOp::Or => BinaryOp::Or,
        BinOp::Eq => BinaryOp::Eq,
        BinOp::Ne => BinaryOp::Ne,
        BinOp::Lt => BinaryOp::Lt,
        BinOp::Le => BinaryOp::Le,
        BinOp::Gt => BinaryOp::Gt,
        BinOp::Ge => BinaryOp::Ge,
    }
}
