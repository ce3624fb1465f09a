//! Rule: every unit of a group reaches the same barriers.
//!
//! A value is *divergent* when it can differ between units of one group: it depends on the
//! unit's position, on data loaded from memory, on an atomic's result, or on a variable
//! assigned a divergent value (or assigned under divergent control). A barrier may not sit
//! under an `if`, `while` or `for` whose condition or bounds are divergent, in a loop a
//! unit can leave early through a divergent `break`/`continue`, nor after a divergent
//! `return`.

use super::{Diagnostic, each_stmt};
use crate::kernel::ir::*;

pub(super) fn check(kernel: &Kernel, out: &mut Vec<Diagnostic>) {
    if !kernel.has_barrier() {
        return;
    }
    let divergent = divergent_locals(kernel);
    let mut walker = Walker {
        divergent,
        returned_at: None,
        out,
    };
    walker.stmts(&kernel.body, None);
}

fn is_divergent(e: &Expr, locals: &[bool]) -> bool {
    let mut d = false;
    e.walk(&mut |sub| {
        d |= match &sub.kind {
            ExprKind::Builtin(Builtin::UnitPos(_) | Builtin::GlobalPos(_) | Builtin::PlaneUnit) => {
                true
            }
            ExprKind::Load { .. } | ExprKind::AtomicAdd { .. } | ExprKind::Plane(..) => true,
            ExprKind::Local(v) => locals.get(v.0 as usize).copied().unwrap_or(true),
            _ => false,
        }
    });
    d
}

/// Which locals may hold different values in different units (a fixpoint).
fn divergent_locals(kernel: &Kernel) -> Vec<bool> {
    let mut locals = vec![false; kernel.locals.len()];
    loop {
        let before = locals.clone();
        mark(&kernel.body, false, &mut locals);
        if locals == before {
            return locals;
        }
    }
}

fn mark(stmts: &[Stmt], under_divergence: bool, locals: &mut Vec<bool>) {
    for s in stmts {
        match &s.kind {
            StmtKind::Let { var, init: value } | StmtKind::Assign { var, value }
                if under_divergence || is_divergent(value, locals) =>
            {
                locals[var.0 as usize] = true;
            }
            StmtKind::If {
                cond,
                then_branch,
                else_branch,
            } => {
                let d = under_divergence || is_divergent(cond, locals);
                mark(then_branch, d, locals);
                mark(else_branch, d, locals);
            }
            StmtKind::While { cond, body } => {
                let d = under_divergence
                    || is_divergent(cond, locals)
                    || exits_divergently(body, locals);
                mark(body, d, locals);
            }
            StmtKind::For {
                var,
                start,
                end,
                step,
                body,
            } => {
                let d = under_divergence
                    || [start, end, step].iter().any(|e| is_divergent(e, locals))
                    || exits_divergently(body, locals);
                if d {
                    locals[var.0 as usize] = true;
                }
                mark(body, d, locals);
            }
            _ => {}
        }
    }
}

/// Whether a loop body has a `break`/`continue` under a divergent `if`.
fn exits_divergently(body: &[Stmt], locals: &[bool]) -> bool {
    let mut found = false;
    for s in body {
        if let StmtKind::If {
            cond,
            then_branch,
            else_branch,
        } = &s.kind
        {
            let divergent = is_divergent(cond, locals);
            let mut has_exit = false;
            let mut scan = |stmts: &[Stmt]| {
                each_stmt(stmts, &mut |s| {
                    has_exit |= matches!(s.kind, StmtKind::Break | StmtKind::Continue)
                })
            };
            scan(then_branch);
            scan(else_branch);
            found |= (divergent && has_exit)
                || exits_divergently(then_branch, locals)
                || exits_divergently(else_branch, locals);
        }
    }
    found
}

struct Walker<'o> {
    divergent: Vec<bool>,
    returned_at: Option<SpanId>,
    out: &'o mut Vec<Diagnostic>,
}

impl Walker<'_> {
    fn stmts(&mut self, stmts: &[Stmt], divergence: Option<&'static str>) {
        for s in stmts {
            self.stmt(s, divergence);
        }
    }

    fn stmt(&mut self, s: &Stmt, divergence: Option<&'static str>) {
        let cond_divergence = |e: &Expr, what: &'static str, d: &[bool]| {
            divergence.or(is_divergent(e, d).then_some(what))
        };
        match &s.kind {
            StmtKind::Barrier => {
                if let Some(what) = divergence {
                    self.out.push(Diagnostic::new(
                        s.span,
                        format!(
                            "`barrier()` inside {what} that can differ between units of a group: every unit must reach the same barriers; move the barrier out, or make the condition depend only on parameters, group positions and sizes"
                        ),
                    ));
                } else if self.returned_at.is_some() {
                    self.out.push(Diagnostic::new(
                        s.span,
                        "`barrier()` after a `return` that only some units of the group take: every unit must reach the same barriers; keep the units alive and guard the work with an `if` instead",
                    ));
                }
            }
            StmtKind::Return if divergence.is_some() => self.returned_at = Some(s.span),
            StmtKind::If {
                cond,
                then_branch,
                else_branch,
            } => {
                let d = cond_divergence(cond, "an `if`", &self.divergent);
                self.stmts(then_branch, d);
                self.stmts(else_branch, d);
            }
            StmtKind::While { cond, body } => {
                let mut d = cond_divergence(cond, "a `while` loop", &self.divergent);
                if d.is_none() && exits_divergently(body, &self.divergent) {
                    d = Some("a loop with a `break` or `continue`");
                }
                self.stmts(body, d);
            }
            StmtKind::For {
                start,
                end,
                step,
                body,
                ..
            } => {
                let mut d = divergence;
                for e in [start, end, step] {
                    d = d
                        .or(is_divergent(e, &self.divergent).then_some("a `for` loop with bounds"));
                }
                if d.is_none() && exits_divergently(body, &self.divergent) {
                    d = Some("a loop with a `break` or `continue`");
                }
                self.stmts(body, d);
            }
            _ => {}
        }
    }
}
