//! Rule: every expression's type follows from its operands, and statements get the types
//! they need (bool conditions, integer indices, stores of the buffer's element type).

use super::{Diagnostic, each_expr, each_stmt};
use crate::kernel::ir::*;
use crate::kernel::pretty::ty_name;

pub(super) fn check(kernel: &Kernel, out: &mut Vec<Diagnostic>) {
    each_expr(&kernel.body, &mut |e| {
        if let Err(msg) = expected(kernel, e) {
            out.push(Diagnostic::new(e.span, msg));
        }
    });
    each_stmt(&kernel.body, &mut |s| {
        if let Err(msg) = statement(kernel, s) {
            out.push(Diagnostic::new(s.span, msg));
        }
    });
}

fn mismatch(what: &str, want: Ty, got: Ty) -> Result<(), String> {
    if want == got {
        Ok(())
    } else {
        Err(format!(
            "mismatched types: {what} expects `{}`, found `{}`",
            ty_name(want),
            ty_name(got)
        ))
    }
}

fn is_index(ty: Ty) -> bool {
    ty.elem.is_int() && !ty.is_vector()
}

fn statement(kernel: &Kernel, s: &Stmt) -> Result<(), String> {
    match &s.kind {
        StmtKind::Let { var, init: value } | StmtKind::Assign { var, value } => {
            let local = kernel
                .locals
                .get(var.0 as usize)
                .ok_or("assignment to an undeclared variable")?;
            mismatch(&format!("variable `{}`", local.name), local.ty, value.ty)
        }
        StmtKind::Store { buf, index, value } => {
            let elem = kernel
                .buf_elem(*buf)
                .ok_or("store to something that is not a buffer")?;
            if !is_index(index.ty) {
                return Err(format!(
                    "buffer indices must be `u32` or `i32`, found `{}`",
                    ty_name(index.ty)
                ));
            }
            mismatch(
                &format!("buffer `{}`", kernel.buf_name(*buf)),
                Ty::vector(elem, value.ty.lanes),
                value.ty,
            )
        }
        StmtKind::If { cond, .. } | StmtKind::While { cond, .. } => {
            mismatch("a condition", Ty::BOOL, cond.ty)
        }
        StmtKind::For {
            var,
            start,
            end,
            step,
            ..
        } => {
            let ty = kernel
                .locals
                .get(var.0 as usize)
                .ok_or("undeclared loop variable")?
                .ty;
            if !is_index(ty) {
                return Err(format!(
                    "`for` loops run over `u32` or `i32` ranges, found `{}`",
                    ty_name(ty)
                ));
            }
            mismatch("the range start", ty, start.ty)?;
            mismatch("the range end", ty, end.ty)?;
            mismatch("`step_by`", ty, step.ty)
        }
        _ => Ok(()),
    }
}

fn expected(kernel: &Kernel, e: &Expr) -> Result<(), String> {
    let ty = e.ty;
    match &e.kind {
        ExprKind::Lit(Lit::Float(_)) if !ty.elem.is_float() => {
            Err(format!("a float literal cannot be `{}`", ty_name(ty)))
        }
        ExprKind::Lit(Lit::Int(_)) if ty.elem == Elem::Bool => {
            Err("an integer literal cannot be `bool`".into())
        }
        ExprKind::Lit(_) => Ok(()),
        ExprKind::Local(v) => {
            let local = kernel
                .locals
                .get(v.0 as usize)
                .ok_or("undeclared variable")?;
            mismatch(&format!("variable `{}`", local.name), local.ty, ty)
        }
        ExprKind::Param(p) => match kernel.params.get(p.0 as usize).map(|p| (p, p.kind)) {
            Some((_, ParamKind::Scalar(elem) | ParamKind::Comptime { elem, .. })) => {
                mismatch("this parameter", Ty::scalar(elem), ty)
            }
            Some((p, ParamKind::Buffer { .. })) => Err(format!(
                "buffer `{}` cannot be used as a value; index it (`{}[i]`) or take its `len()`",
                p.name, p.name
            )),
            None => Err("unknown parameter".into()),
        },
        ExprKind::Builtin(_) | ExprKind::Len(_) => mismatch("this intrinsic", Ty::U32, ty),
        ExprKind::Unary(UnaryOp::Neg, a) if !a.ty.elem.is_numeric() => {
            Err(format!("cannot negate `{}`", ty_name(a.ty)))
        }
        ExprKind::Unary(UnaryOp::Not, a) if a.ty.elem.is_float() => {
            Err(format!("cannot apply `!` to `{}`", ty_name(a.ty)))
        }
        ExprKind::Unary(_, a) => mismatch("this operator", a.ty, ty),
        ExprKind::Binary(op, a, b) => binary(*op, a.ty, b.ty, ty),
        ExprKind::Cast(a) if a.ty.lanes != ty.lanes => {
            Err("a cast cannot change the number of lanes".into())
        }
        ExprKind::Cast(_) => Ok(()),
        ExprKind::Math(f, args) => math(*f, args, ty),
        ExprKind::Load { buf, index } => {
            let elem = kernel
                .buf_elem(*buf)
                .ok_or("indexing something that is not a buffer")?;
            if !is_index(index.ty) {
                return Err(format!(
                    "buffer indices must be `u32` or `i32`, found `{}`",
                    ty_name(index.ty)
                ));
            }
            if ty.is_vector() && matches!(buf, BufRef::Shared(_)) {
                return Err("vector loads are accepted from buffer parameters only".into());
            }
            mismatch(
                &format!("buffer `{}`", kernel.buf_name(*buf)),
                Ty::vector(elem, ty.lanes),
                ty,
            )
        }
        ExprKind::Extract { vector, lane } => {
            if !vector.ty.is_vector() || *lane >= vector.ty.lanes {
                return Err(format!(
                    "lane {lane} does not exist in `{}`",
                    ty_name(vector.ty)
                ));
            }
            mismatch("a lane", Ty::scalar(vector.ty.elem), ty)
        }
        ExprKind::Construct(parts) => {
            if parts.len() != ty.lanes as usize {
                return Err(format!(
                    "`{}` needs {} lanes, found {}",
                    ty_name(ty),
                    ty.lanes,
                    parts.len()
                ));
            }
            parts
                .iter()
                .try_for_each(|p| mismatch("a lane", Ty::scalar(ty.elem), p.ty))
        }
        ExprKind::AtomicAdd { buf, index, value } => {
            let elem = kernel
                .buf_elem(*buf)
                .ok_or("atomic add on something that is not a buffer")?;
            if !matches!(elem, Elem::F32 | Elem::I32 | Elem::U32)
                || !matches!(buf, BufRef::Param(_))
            {
                return Err("atomic add is accepted on `&mut [f32]`, `&mut [i32]` and `&mut [u32]` buffer parameters".into());
            }
            if !is_index(index.ty) {
                return Err("buffer indices must be `u32` or `i32`".into());
            }
            mismatch("the atomic add", Ty::scalar(elem), value.ty)?;
            mismatch("the atomic add", Ty::scalar(elem), ty)
        }
        ExprKind::Plane(_, a) => {
            if !a.ty.elem.is_numeric() || a.ty.is_vector() {
                return Err("plane reductions take a numeric scalar".into());
            }
            mismatch("the plane reduction", a.ty, ty)
        }
        ExprKind::Select {
            cond,
            then_value,
            else_value,
        } => {
            mismatch("a condition", Ty::BOOL, cond.ty)?;
            mismatch("the `if` branches", then_value.ty, else_value.ty)?;
            mismatch("the `if` value", then_value.ty, ty)
        }
    }
}

fn binary(op: BinaryOp, a: Ty, b: Ty, ty: Ty) -> Result<(), String> {
    let lanes_ok = a.lanes == b.lanes || a.lanes == 1 || b.lanes == 1;
    if a.elem != b.elem || !lanes_ok {
        return Err(format!(
            "mismatched types: `{}` {} `{}`; convert one side with `as`",
            ty_name(a),
            op.symbol(),
            ty_name(b)
        ));
    }
    let operand = Ty::vector(a.elem, a.lanes.max(b.lanes));
    if op.is_comparison() {
        if operand.is_vector() {
            return Err("comparisons are accepted on scalars only".into());
        }
        return mismatch("a comparison", Ty::BOOL, ty);
    }
    if op.is_logical() && a.elem != Elem::Bool {
        return Err(format!(
            "`{}` takes `bool` operands, found `{}`",
            op.symbol(),
            ty_name(a)
        ));
    }
    if op.is_bitwise()
        && !(a.elem.is_int()
            || (a.elem == Elem::Bool && !matches!(op, BinaryOp::Shl | BinaryOp::Shr)))
    {
        return Err(format!(
            "`{}` takes integer operands, found `{}`",
            op.symbol(),
            ty_name(a)
        ));
    }
    if !op.is_logical() && !op.is_bitwise() && !a.elem.is_numeric() {
        return Err(format!(
            "`{}` takes numeric operands, found `{}`",
            op.symbol(),
            ty_name(a)
        ));
    }
    mismatch("this operation", operand, ty)
}

fn math(f: MathFn, args: &[Expr], ty: Ty) -> Result<(), String> {
    if args.len() != f.arity() {
        return Err(format!(
            "`{}` takes {} argument(s), found {}",
            f.name(),
            f.arity(),
            args.len()
        ));
    }
    let ok_elem = ty.elem.is_float() || (f == MathFn::Abs && ty.elem.is_numeric());
    if !ok_elem {
        return Err(format!(
            "`{}` takes float arguments, found `{}`",
            f.name(),
            ty_name(ty)
        ));
    }
    args.iter().try_for_each(|a| {
        if a.ty.elem == ty.elem && (a.ty.lanes == ty.lanes || a.ty.lanes == 1) {
            Ok(())
        } else {
            mismatch(&format!("`{}`", f.name()), ty, a.ty)
        }
    })
}
