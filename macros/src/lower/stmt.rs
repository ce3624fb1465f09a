//! Statements and blocks.

use vibee_dsl::kernel::{Expr, ExprKind, Stmt, StmtKind, Ty};

use super::typing::describe;
use super::{Binding, Lowerer, Mode};
use crate::ast::{self, BinOp, ExprKind as K};
use crate::src::Src;

impl Lowerer<'_> {
    /// The kernel's body: statements only; a trailing value is an error.
    pub(super) fn kernel_body(&mut self, body: &ast::Block) -> Vec<Stmt> {
        self.block(body)
    }

    /// A block of statements in its own scope.
    pub(super) fn block(&mut self, b: &ast::Block) -> Vec<Stmt> {
        self.scopes.push(Default::default());
        self.block_depth += 1;
        let outer = std::mem::take(&mut self.pending);
        let mut out = Vec::new();
        for s in &b.stmts {
            self.stmt(s, &mut out);
        }
        self.pending = outer;
        self.block_depth -= 1;
        self.scopes.pop();
        out
    }

    /// A block whose trailing expression is its value: the statements before it (including
    /// those the value needs) and the value.
    pub(super) fn block_value(
        &mut self,
        b: &ast::Block,
        hint: Option<Ty>,
    ) -> Option<(Vec<Stmt>, Expr)> {
        let Some(tail) = b.tail() else {
            self.error(
                b.src,
                "this block has no value; end it with an expression (without `;`)",
            );
            return None;
        };
        self.scopes.push(Default::default());
        self.block_depth += 1;
        let outer = std::mem::take(&mut self.pending);
        let mut out = Vec::new();
        for s in &b.stmts[..b.stmts.len() - 1] {
            self.stmt(s, &mut out);
        }
        let value = self.expr(tail, hint);
        out.append(&mut self.pending);
        self.pending = outer;
        self.block_depth -= 1;
        self.scopes.pop();
        Some((out, value?))
    }

    /// Lowers one statement into `out`, after whatever its expressions hoisted.
    pub(super) fn stmt(&mut self, s: &ast::Stmt, out: &mut Vec<Stmt>) {
        let mut lowered = Vec::new();
        match s {
            ast::Stmt::Let {
                name,
                mutable,
                ty,
                init,
                src,
            } => {
                self.let_stmt(name.as_ref(), *mutable, *ty, init, *src, &mut lowered);
            }
            ast::Stmt::Expr { expr, .. } => self.stmt_expr(expr, &mut lowered),
        }
        out.append(&mut self.pending);
        out.extend(lowered);
    }

    fn let_stmt(
        &mut self,
        name: Option<&syn::Ident>,
        mutable: bool,
        ty: Option<ast::TypeName>,
        init: &ast::Expr,
        src: Src,
        out: &mut Vec<Stmt>,
    ) {
        if let (
            Some(name),
            K::Call {
                func,
                turbofish,
                args,
            },
        ) = (name, &init.kind)
            && func == "shared"
        {
            self.shared_decl(name, *turbofish, args, init.src);
            return;
        }
        let hint = ty.map(|t| Ty::vector(t.elem, t.lanes));
        let value = self.expr(init, hint).and_then(|v| match hint {
            Some(want) => self.coerce(v, want, "in this `let`"),
            None => Some(v),
        });
        let Some(name) = name else {
            if let Some(v) = value {
                self.effect(v, out);
            }
            return;
        };
        let Some(value) = value else {
            self.bind(name, Binding::Poisoned);
            return;
        };
        let var = self.declare_local(&name.to_string(), value.ty, mutable, src);
        self.bind(
            name,
            Binding::Local {
                id: var,
                ty: value.ty,
                mutable,
            },
        );
        out.push(self.stmt_node(StmtKind::Let { var, init: value }, src));
    }

    /// An expression statement.
    fn stmt_expr(&mut self, e: &ast::Expr, out: &mut Vec<Stmt>) {
        let src = e.src;
        if self.mode == Mode::Elementwise
            && !matches!(e.kind, K::Assign(..) | K::CompoundAssign(..) | K::Error)
        {
            self.error(src, "a differentiable kernel is straight-line code: `let`s, assignments to local variables, then the result");
            return;
        }
        match &e.kind {
            K::Assign(place, value) => self.assign(place, None, value, src, out),
            K::CompoundAssign(op, place, value) => self.assign(place, Some(*op), value, src, out),
            K::If {
                cond,
                then_branch,
                else_branch,
            } => {
                self.if_stmt(cond, then_branch, else_branch.as_deref(), src, out);
            }
            K::Block(b) => out.extend(self.block(b)),
            K::For { var, range, body } => self.for_stmt(var.as_ref(), range, body, src, out),
            K::While { cond, body } => self.while_stmt(cond, body, src, out),
            K::Break | K::Continue => self.jump(&e.kind, src, out),
            K::Return(value) => {
                if let Some(v) = value {
                    self.error(v.src, "kernels return nothing; write results into a `&mut [T]` buffer and use `return;`");
                } else {
                    out.push(self.stmt_node(StmtKind::Return, src));
                }
            }
            K::Call { func, args, .. } if func == "barrier" || func == "store4" => {
                self.statement_call(func, args, src, out);
            }
            K::Error => {}
            _ => {
                if let Some(v) = self.expr(e, None) {
                    self.effect(v, out);
                }
            }
        }
    }

    /// An expression used only for its effect: an atomic add; anything else is unused.
    fn effect(&mut self, v: Expr, out: &mut Vec<Stmt>) {
        let src = self.src(v.span);
        if matches!(v.kind, ExprKind::AtomicAdd { .. }) {
            out.push(self.stmt_node(StmtKind::Eval(v), src));
        } else {
            self.error(src, format!("this `{}` value is unused; kernels produce results by writing to a `&mut [T]` buffer: `y[i] = …`", describe(v.ty)));
        }
    }

    fn if_stmt(
        &mut self,
        cond: &ast::Expr,
        then_b: &ast::Block,
        else_e: Option<&ast::Expr>,
        src: Src,
        out: &mut Vec<Stmt>,
    ) {
        let cond = self.condition(cond);
        let then_branch = self.block(then_b);
        let else_branch = match else_e {
            None => Vec::new(),
            Some(e) => {
                let mut stmts = Vec::new();
                self.block_depth += 1;
                self.stmt_expr(e, &mut stmts);
                self.block_depth -= 1;
                stmts
            }
        };
        if let Some(cond) = cond {
            out.push(self.stmt_node(
                StmtKind::If {
                    cond,
                    then_branch,
                    else_branch,
                },
                src,
            ));
        }
    }

    fn for_stmt(
        &mut self,
        var: Option<&syn::Ident>,
        range: &ast::RangeExpr,
        body: &ast::Block,
        src: Src,
        out: &mut Vec<Stmt>,
    ) {
        let (start, end) = self.operands(&range.start, &range.end, None);
        let step = match (&range.step, &start) {
            (Some(s), _) => self.expr(s, start.as_ref().map(|v| v.ty)),
            (None, Some(v)) => self.literal(
                crate::ast::LitValue::Int(1, None),
                Some(v.ty),
                range.start.src,
            ),
            (None, None) => None,
        };
        let (Some(start), Some(end), Some(step)) = (start, end, step) else {
            return;
        };
        let Some(end) = self.coerce(end, start.ty, "as the loop's end") else {
            return;
        };
        let Some(step) = self.coerce(step, start.ty, "as the loop's step") else {
            return;
        };
        if !start.ty.elem.is_int() || start.ty.is_vector() {
            let s = self.src(start.span);
            self.error(
                s,
                format!(
                    "loop bounds must be integers, found `{}`",
                    describe(start.ty)
                ),
            );
            return;
        }
        let end = if range.inclusive {
            let one = self.literal(
                crate::ast::LitValue::Int(1, None),
                Some(end.ty),
                range.end.src,
            );
            match one {
                Some(one) => {
                    match self.combine(vibee_dsl::kernel::BinaryOp::Add, end, one, range.end.src) {
                        Some(e) => e,
                        None => return,
                    }
                }
                None => return,
            }
        } else {
            end
        };
        self.scopes.push(Default::default());
        let name = var.map_or_else(|| "_".to_string(), ToString::to_string);
        let var_src = var.map_or(src, Src::of);
        let id = self.declare_local(&name, start.ty, false, var_src);
        if let Some(v) = var {
            self.bind(
                v,
                Binding::Local {
                    id,
                    ty: start.ty,
                    mutable: false,
                },
            );
        }
        self.loop_depth += 1;
        let body = self.block(body);
        self.loop_depth -= 1;
        self.scopes.pop();
        out.push(self.stmt_node(
            StmtKind::For {
                var: id,
                start,
                end,
                step,
                body,
            },
            src,
        ));
    }

    fn while_stmt(&mut self, cond: &ast::Expr, body: &ast::Block, src: Src, out: &mut Vec<Stmt>) {
        let outer = std::mem::take(&mut self.pending);
        let cond = self.condition(cond);
        if !self.pending.is_empty() {
            self.error(src, "a `while` condition cannot contain an `if` with statements in its branches; compute it in the loop body");
        }
        self.pending = outer;
        self.loop_depth += 1;
        let body = self.block(body);
        self.loop_depth -= 1;
        if let Some(cond) = cond {
            out.push(self.stmt_node(StmtKind::While { cond, body }, src));
        }
    }

    fn jump(&mut self, kind: &K, src: Src, out: &mut Vec<Stmt>) {
        let (name, stmt) = match kind {
            K::Break => ("break", StmtKind::Break),
            _ => ("continue", StmtKind::Continue),
        };
        if self.loop_depth == 0 {
            self.error(src, format!("`{name}` outside of a loop"));
            return;
        }
        out.push(self.stmt_node(stmt, src));
    }

    /// `place = value` or `place op= value`.
    fn assign(
        &mut self,
        place: &ast::Expr,
        op: Option<BinOp>,
        value: &ast::Expr,
        src: Src,
        out: &mut Vec<Stmt>,
    ) {
        match &place.kind {
            K::Path(ident) => self.assign_name(ident, place.src, op, value, src, out),
            K::Index(base, index) => self.assign_index(base, index, op, value, src, out),
            K::Error => {}
            _ => self.error(place.src, "only local variables (`x = …`), buffer elements (`y[i] = …`) and vector lanes (`v[0] = …`) can be assigned"),
        }
    }

    /// The new value of a place: `value`, or `current op value` for compound assignments.
    pub(super) fn assigned_value(
        &mut self,
        current: Option<Expr>,
        ty: Ty,
        op: Option<BinOp>,
        value: &ast::Expr,
        src: Src,
    ) -> Option<Expr> {
        let rhs = self.expr(value, Some(ty))?;
        match (op, current) {
            (None, _) => self.coerce(rhs, ty, "in this assignment"),
            (Some(op), Some(current)) => {
                let combined = self.combine(super::expr::binary_op(op), current, rhs, src)?;
                self.coerce(combined, ty, "in this assignment")
            }
            (Some(_), None) => None,
        }
    }

    fn assign_name(
        &mut self,
        ident: &syn::Ident,
        place_src: Src,
        op: Option<BinOp>,
        value: &ast::Expr,
        src: Src,
        out: &mut Vec<Stmt>,
    ) {
        let (id, ty) = match self.lookup(&ident.to_string()) {
            Some(Binding::Local {
                id,
                ty,
                mutable: true,
            }) => (id, ty),
            Some(Binding::Local { mutable: false, .. }) => {
                return self.error(place_src, format!("cannot assign twice to immutable variable `{ident}`; declare it `let mut {ident}`"));
            }
            Some(Binding::Param { comptime: true, .. }) => {
                return self.error(place_src, format!("cannot assign to comptime parameter `{ident}`: its value is fixed when the kernel is specialized; copy it into a local (`let mut v = {ident};`)"));
            }
            Some(Binding::Param { .. }) => {
                return self.error(place_src, format!("cannot assign to parameter `{ident}`; declare it `mut {ident}` or copy it into a local"));
            }
            Some(Binding::Buffer { .. }) => {
                return self.error(place_src, format!("cannot assign to buffer `{ident}` as a whole; write an element: `{ident}[i] = …`"));
            }
            Some(Binding::Poisoned) => return,
            None => return self.error(place_src, format!("cannot find `{ident}` in this kernel")),
        };
        let current = op.map(|_| self.node(ExprKind::Local(id), ty, place_src));
        if let Some(value) = self.assigned_value(current, ty, op, value, src) {
            out.push(self.stmt_node(StmtKind::Assign { var: id, value }, src));
        }
    }
}
