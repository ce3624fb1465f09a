//! Static facts about a kernel body that the four-units shape and the per-group bounds
//! versioning rely on: which locals hold the global position, which values are
//! consecutive or uniform across lanes, and which kernels can run four units at a time.

use vibee_dsl::kernel::{BinaryOp, Builtin, Expr, ExprKind, Kernel, Stmt, StmtKind, VarId};

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
