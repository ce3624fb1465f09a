//! Validation of a kernel: one rule per function, every problem reported with its span.
//!
//! The macro's lowering already rejects syntax it does not know; these rules are the
//! semantic ones that need the whole kernel: types agree, read-only buffers are not
//! written, immutable locals are not assigned, `break`/`continue` sit in loops, shared
//! arrays have comptime lengths, and barriers are reached by every unit of a group.

use super::ir::*;

mod types;
mod uniformity;

/// One problem found in a kernel, at the span of its smallest culprit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    pub span: SpanId,
    pub message: String,
}

impl Diagnostic {
    pub fn new(span: SpanId, message: impl Into<String>) -> Self {
        Diagnostic {
            span,
            message: message.into(),
        }
    }
}

/// Every problem in `kernel`, in source order per rule; empty when it is valid.
pub fn validate(kernel: &Kernel) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    types::check(kernel, &mut out);
    writes_to_read_only(kernel, &kernel.body, &mut out);
    assigns_to_immutable(kernel, &kernel.body, &mut out);
    loop_control_outside_loop(&kernel.body, false, &mut out);
    shared_lengths_are_comptime(kernel, &mut out);
    uniformity::check(kernel, &mut out);
    out
}

/// Calls `f` on every statement, depth first, with whether it is inside a loop.
pub(crate) fn each_stmt(stmts: &[Stmt], f: &mut impl FnMut(&Stmt)) {
    for s in stmts {
        f(s);
        match &s.kind {
            StmtKind::If {
                then_branch,
                else_branch,
                ..
            } => {
                each_stmt(then_branch, f);
                each_stmt(else_branch, f);
            }
            StmtKind::For { body, .. } | StmtKind::While { body, .. } => each_stmt(body, f),
            _ => {}
        }
    }
}

/// Calls `f` on every expression of every statement.
pub(crate) fn each_expr(stmts: &[Stmt], f: &mut impl FnMut(&Expr)) {
    each_stmt(stmts, &mut |s| match &s.kind {
        StmtKind::Let { init: e, .. } | StmtKind::Assign { value: e, .. } | StmtKind::Eval(e) => {
            e.walk(f)
        }
        StmtKind::Store { index, value, .. } => {
            index.walk(f);
            value.walk(f);
        }
        StmtKind::If { cond, .. } | StmtKind::While { cond, .. } => cond.walk(f),
        StmtKind::For {
            start, end, step, ..
        } => {
            start.walk(f);
            end.walk(f);
            step.walk(f);
        }
        StmtKind::Break | StmtKind::Continue | StmtKind::Return | StmtKind::Barrier => {}
    });
}

fn read_only_message(kernel: &Kernel, buf: BufRef, what: &str) -> Option<String> {
    let BufRef::Param(p) = buf else { return None };
    let param = kernel.params.get(p.0 as usize)?;
    match param.kind {
        ParamKind::Buffer {
            elem,
            mutable: false,
        } => Some(format!(
            "cannot {what} `{}`: it is a read-only buffer `&[{e}]`; declare it `&mut [{e}]` to write to it",
            param.name,
            e = elem.rust_name()
        )),
        _ => None,
    }
}

fn writes_to_read_only(kernel: &Kernel, body: &[Stmt], out: &mut Vec<Diagnostic>) {
    each_stmt(body, &mut |s| {
        if let StmtKind::Store { buf, .. } = &s.kind
            && let Some(msg) = read_only_message(kernel, *buf, "write to")
        {
            out.push(Diagnostic::new(s.span, msg));
        }
    });
    each_expr(body, &mut |e| {
        if let ExprKind::AtomicAdd { buf, .. } = &e.kind
            && let Some(msg) = read_only_message(kernel, *buf, "atomically add to")
        {
            out.push(Diagnostic::new(e.span, msg));
        }
    });
}

fn assigns_to_immutable(kernel: &Kernel, body: &[Stmt], out: &mut Vec<Diagnostic>) {
    each_stmt(body, &mut |s| {
        if let StmtKind::Assign { var, .. } = &s.kind
            && let Some(local) = kernel.locals.get(var.0 as usize)
            && !local.mutable
        {
            out.push(Diagnostic::new(
                s.span,
                format!(
                    "cannot assign twice to immutable variable `{}`; declare it with `let mut {}`",
                    local.name, local.name
                ),
            ));
        }
    });
}

fn loop_control_outside_loop(stmts: &[Stmt], in_loop: bool, out: &mut Vec<Diagnostic>) {
    for s in stmts {
        match &s.kind {
            StmtKind::Break | StmtKind::Continue if !in_loop => out.push(Diagnostic::new(
                s.span,
                "`break` and `continue` are only accepted inside `for` and `while` loops",
            )),
            StmtKind::If {
                then_branch,
                else_branch,
                ..
            } => {
                loop_control_outside_loop(then_branch, in_loop, out);
                loop_control_outside_loop(else_branch, in_loop, out);
            }
            StmtKind::For { body, .. } | StmtKind::While { body, .. } => {
                loop_control_outside_loop(body, true, out)
            }
            _ => {}
        }
    }
}

/// Whether `e` is built only from literals, comptime parameters and arithmetic.
pub fn is_comptime(kernel: &Kernel, e: &Expr) -> bool {
    let mut ok = true;
    e.walk(&mut |sub| {
        ok &= match &sub.kind {
            ExprKind::Lit(_)
            | ExprKind::Cast(_)
            | ExprKind::Unary(..)
            | ExprKind::Binary(..)
            | ExprKind::Math(..) => true,
            ExprKind::Param(p) => kernel
                .params
                .get(p.0 as usize)
                .is_some_and(|p| matches!(p.kind, ParamKind::Comptime { .. })),
            _ => false,
        };
    });
    ok
}

fn shared_lengths_are_comptime(kernel: &Kernel, out: &mut Vec<Diagnostic>) {
    for array in &kernel.shared {
        if !is_comptime(kernel, &array.len) {
            out.push(Diagnostic::new(
                array.len.span,
                format!(
                    "the length of shared array `{}` must be known when the kernel is compiled: use literals, const generics and `#[comptime]` arguments, not runtime values",
                    array.name
                ),
            ));
        } else if !array.len.ty.elem.is_int() {
            out.push(Diagnostic::new(
                array.len.span,
                format!(
                    "the length of shared array `{}` must be an integer",
                    array.name
                ),
            ));
        }
    }
}
