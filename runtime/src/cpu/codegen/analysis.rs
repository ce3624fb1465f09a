//! Static facts about a kernel body that the four-units shape and the bounds versioning
//! (per group and per loop) rely on: which locals hold the global position, which values
//! are consecutive or uniform across lanes, which kernels can run four units at a time, and
//! which accesses of a loop body are affine in the loop variable.

use vibee_dsl::kernel::{
    BinaryOp, BufRef, Builtin, Expr, ExprKind, Kernel, Stmt, StmtKind, Ty, VarId,
};

pub(super) use super::skeleton::for_each_expr;

/// Whether `e` is the global linear position itself (directly or through a local that
/// holds exactly it).
pub(super) fn is_global_pos(e: &Expr, gid_locals: &[VarId]) -> bool {
    match &e.kind {
        ExprKind::Builtin(Builtin::GlobalPos(None)) => true,
        ExprKind::Local(v) => gid_locals.contains(v),
        _ => false,
    }
}

/// Locals defined once, by a top-level `let` of the global linear position.
pub(super) fn gid_locals(body: &[Stmt]) -> Vec<VarId> {
    body.iter()
        .filter_map(|s| match &s.kind {
            StmtKind::Let { var, init }
                if matches!(init.kind, ExprKind::Builtin(Builtin::GlobalPos(None)))
                    && definitions(body, *var) == 1 =>
            {
                Some(*var)
            }
            _ => None,
        })
        .collect()
}

/// Whether the lanes of `e` are statically `v, v+1, v+2, v+3` (modulo 2^32).
pub(super) fn consecutive(e: &Expr, locals: &[VarId]) -> bool {
    match &e.kind {
        ExprKind::Builtin(Builtin::GlobalPos(None) | Builtin::UnitPos(None)) => true,
        ExprKind::Local(v) => locals.contains(v),
        ExprKind::Binary(BinaryOp::Add, a, b) if e.ty.elem.is_int() => {
            (consecutive(a, locals) && uniform(b)) || (uniform(a) && consecutive(b, locals))
        }
        ExprKind::Binary(BinaryOp::Sub, a, b) if e.ty.elem.is_int() => {
            consecutive(a, locals) && uniform(b)
        }
        ExprKind::Cast(a) if e.ty.elem.is_int() && a.ty.elem.is_int() => consecutive(a, locals),
        _ => false,
    }
}

/// Whether `e` has the same value in every lane (no locals, loads or unit positions).
pub(super) fn uniform(e: &Expr) -> bool {
    match &e.kind {
        ExprKind::Lit(_) | ExprKind::Param(_) | ExprKind::Len(_) => true,
        ExprKind::Builtin(b) => !matches!(
            b,
            Builtin::GlobalPos(_) | Builtin::UnitPos(_) | Builtin::PlaneUnit
        ),
        ExprKind::Unary(_, a) | ExprKind::Cast(a) => uniform(a),
        ExprKind::Binary(_, a, b) => uniform(a) && uniform(b),
        _ => false,
    }
}

/// Locals defined once, by a top-level `let` of a consecutive value.
pub(super) fn consecutive_locals(body: &[Stmt]) -> Vec<VarId> {
    let mut found: Vec<VarId> = Vec::new();
    for s in body {
        if let StmtKind::Let { var, init } = &s.kind
            && consecutive(init, &found)
            && definitions(body, *var) == 1
        {
            found.push(*var);
        }
    }
    found
}

/// How many statements (at any depth) set local `v`.
pub(super) fn definitions(stmts: &[Stmt], v: VarId) -> usize {
    stmts
        .iter()
        .map(|s| match &s.kind {
            StmtKind::Let { var, .. } | StmtKind::Assign { var, .. } => usize::from(*var == v),
            StmtKind::If {
                then_branch,
                else_branch,
                ..
            } => definitions(then_branch, v) + definitions(else_branch, v),
            StmtKind::For { var, body, .. } => usize::from(*var == v) + definitions(body, v),
            StmtKind::While { body, .. } => definitions(body, v),
            _ => 0,
        })
        .sum()
}

/// Whether `kernel` can run four units per iteration: no barriers, loops, shared memory,
/// atomics or vector values, integer indices, and no per-axis unit positions.
pub(super) fn eligible(kernel: &Kernel) -> bool {
    fn stmts_ok(stmts: &[Stmt]) -> bool {
        stmts.iter().all(|s| match &s.kind {
            StmtKind::Let { .. }
            | StmtKind::Assign { .. }
            | StmtKind::Eval(_)
            | StmtKind::Return => true,
            StmtKind::Store { index, .. } => index.ty.elem.is_int(),
            StmtKind::If {
                then_branch,
                else_branch,
                ..
            } => stmts_ok(then_branch) && stmts_ok(else_branch),
            _ => false,
        })
    }
    if !kernel.shared.is_empty()
        || kernel.locals.iter().any(|l| l.ty.lanes != 1)
        || !stmts_ok(&kernel.body)
    {
        return false;
    }
    let mut ok = true;
    for_each_expr(&kernel.body, &mut |e| {
        ok &= e.ty.lanes == 1
            && match &e.kind {
                ExprKind::AtomicAdd { .. } | ExprKind::Extract { .. } | ExprKind::Construct(_) => {
                    false
                }
                ExprKind::Builtin(b) => {
                    !matches!(b, Builtin::UnitPos(Some(_)) | Builtin::GlobalPos(Some(_)))
                }
                ExprKind::Load { index, .. } => index.ty.elem.is_int(),
                _ => true,
            };
    });
    ok
}

pub(super) fn has_return(stmts: &[Stmt]) -> bool {
    stmts.iter().any(|s| match &s.kind {
        StmtKind::Return => true,
        StmtKind::If {
            then_branch,
            else_branch,
            ..
        } => has_return(then_branch) || has_return(else_branch),
        _ => false,
    })
}

/// How an affine loop index scales with the loop variable.
#[derive(Clone, Copy, Debug)]
pub(super) enum Scale<'e> {
    /// The index does not depend on the loop variable.
    Zero,
    /// `offset + var`.
    One,
    /// `offset + var * scale`, with `scale` invariant in the loop.
    By(&'e Expr),
}

/// An access in the body of a `for` loop over a `u32` variable whose index is
/// `offset + var * scale` in wrapping `u32` arithmetic, every term invariant in the loop, so
/// one test before the loop (of the largest index the loop can reach) covers every
/// iteration's access.
#[derive(Clone, Debug)]
pub(super) struct LoopAccess<'e> {
    pub buf: BufRef,
    /// The access's own index expression: identifies the access while the body is lowered.
    pub index: &'e Expr,
    /// Elements one access touches (4 for a vector access at vector index `index`).
    pub lanes: u8,
    /// Terms whose (wrapping) sum is the offset; empty for 0.
    pub offset: Vec<&'e Expr>,
    pub scale: Scale<'e>,
}

/// The accesses of a loop body that are affine in the loop variable `var` with invariant
/// terms. Only innermost loops qualify (no nested loops, so versioning never doubles code
/// more than once) without barriers (a body's code is duplicated, its resume points must
/// not be) and only when the body never assigns `var`.
pub(super) fn loop_accesses(var: VarId, body: &[Stmt]) -> Vec<LoopAccess<'_>> {
    if definitions(body, var) > 0 || !straight_loop_body(body) {
        return Vec::new();
    }
    let mut all = Vec::new();
    for s in body {
        stmt_accesses(s, &mut all);
    }
    let invariant = |e: &Expr| invariant_in(e, var, body);
    all.into_iter()
        .filter_map(|(buf, index, lanes)| {
            let (offset, scale) = affine(index, var, &invariant)?;
            Some(LoopAccess {
                buf,
                index,
                lanes,
                offset,
                scale,
            })
        })
        .collect()
}

/// No loops and no barriers at any depth.
fn straight_loop_body(stmts: &[Stmt]) -> bool {
    stmts.iter().all(|s| match &s.kind {
        StmtKind::For { .. } | StmtKind::While { .. } | StmtKind::Barrier => false,
        StmtKind::If {
            then_branch,
            else_branch,
            ..
        } => straight_loop_body(then_branch) && straight_loop_body(else_branch),
        _ => true,
    })
}

/// `index` as `offset terms + var * scale`, every node a `u32` scalar.
fn affine<'e>(
    index: &'e Expr,
    var: VarId,
    invariant: &impl Fn(&Expr) -> bool,
) -> Option<(Vec<&'e Expr>, Scale<'e>)> {
    if index.ty != Ty::U32 {
        return None;
    }
    let is_var = |e: &Expr| matches!(e.kind, ExprKind::Local(v) if v == var);
    if invariant(index) {
        return Some((vec![index], Scale::Zero));
    }
    match &index.kind {
        ExprKind::Local(v) if *v == var => Some((Vec::new(), Scale::One)),
        ExprKind::Binary(BinaryOp::Mul, a, b) if is_var(a) && invariant(b) => {
            Some((Vec::new(), Scale::By(b)))
        }
        ExprKind::Binary(BinaryOp::Mul, a, b) if is_var(b) && invariant(a) => {
            Some((Vec::new(), Scale::By(a)))
        }
        ExprKind::Binary(BinaryOp::Add, a, b) => {
            let (a, b) = (&**a, &**b);
            let (term, rest) = if invariant(a) { (a, b) } else { (b, a) };
            if !invariant(term) {
                return None;
            }
            let (mut offset, scale) = affine(rest, var, invariant)?;
            offset.push(term);
            Some((offset, scale))
        }
        _ => None,
    }
}

/// Whether `e` has one value through the whole loop: no memory reads, no calls, no locals
/// the body sets, not the loop variable.
pub(super) fn invariant_in(e: &Expr, var: VarId, body: &[Stmt]) -> bool {
    let mut ok = true;
    e.walk(&mut |x| {
        ok &= match &x.kind {
            ExprKind::Lit(_) | ExprKind::Param(_) | ExprKind::Builtin(_) | ExprKind::Len(_) => true,
            ExprKind::Local(v) => *v != var && definitions(body, *v) == 0,
            ExprKind::Unary(..) | ExprKind::Binary(..) | ExprKind::Cast(_) => x.ty.lanes == 1,
            _ => false,
        };
    });
    ok
}

/// Every buffer access of `s` (loads at any depth, stores), with its index and lanes.
fn stmt_accesses<'e>(s: &'e Stmt, out: &mut Vec<(BufRef, &'e Expr, u8)>) {
    let exprs: Vec<&Expr> = match &s.kind {
        StmtKind::Let { init: e, .. } | StmtKind::Assign { value: e, .. } | StmtKind::Eval(e) => {
            vec![e]
        }
        StmtKind::Store { buf, index, value } => {
            out.push((*buf, index, value.ty.lanes));
            vec![index, value]
        }
        StmtKind::If {
            cond,
            then_branch,
            else_branch,
        } => {
            for s in then_branch.iter().chain(else_branch) {
                stmt_accesses(s, out);
            }
            vec![cond]
        }
        StmtKind::For {
            start, end, step, ..
        } => vec![start, end, step],
        StmtKind::While { cond, .. } => vec![cond],
        _ => Vec::new(),
    };
    for e in exprs {
        expr_accesses(e, out);
    }
}

fn expr_accesses<'e>(e: &'e Expr, out: &mut Vec<(BufRef, &'e Expr, u8)>) {
    match &e.kind {
        ExprKind::Load { buf, index } => {
            out.push((*buf, &**index, e.ty.lanes));
            expr_accesses(index, out);
        }
        ExprKind::Unary(_, a) | ExprKind::Cast(a) | ExprKind::Plane(_, a) => expr_accesses(a, out),
        ExprKind::Extract { vector, .. } => expr_accesses(vector, out),
        ExprKind::Binary(_, a, b) => {
            expr_accesses(a, out);
            expr_accesses(b, out);
        }
        ExprKind::Math(_, args) | ExprKind::Construct(args) => {
            args.iter().for_each(|a| expr_accesses(a, out));
        }
        ExprKind::AtomicAdd { index, value, .. } => {
            expr_accesses(index, out);
            expr_accesses(value, out);
        }
        ExprKind::Select {
            cond,
            then_value,
            else_value,
        } => {
            expr_accesses(cond, out);
            expr_accesses(then_value, out);
            expr_accesses(else_value, out);
        }
        ExprKind::Lit(_)
        | ExprKind::Local(_)
        | ExprKind::Param(_)
        | ExprKind::Builtin(_)
        | ExprKind::Len(_) => {}
    }
}
