//! What a device must support for a kernel to run on it, checked before the launch so an
//! unsupported kernel is a typed error rather than a failure on the device thread.

use cubecl::features::AtomicUsage;
use cubecl::ir::{ElemType, FloatKind, IntKind, Type, UIntKind};
use cubecl::prelude::Client;
use vibee_dsl::kernel::{Elem, ExprKind, Kernel, ParamKind, Stmt, StmtKind};

use crate::LaunchError;

/// Checks the element types `kernel` uses and the atomics it performs against `client`.
pub(crate) fn check(kernel: &Kernel, client: &Client, device: &str) -> Result<(), LaunchError> {
    let unsupported = |reason: String| LaunchError::Unsupported {
        kernel: kernel.name.clone(),
        device: device.to_string(),
        reason,
    };
    let props = client.properties();
    let (elems, atomics) = used(kernel);
    for elem in elems {
        if let Some(ty) = elem_type(elem)
            && !props.supports_type(ty)
        {
            return Err(unsupported(format!(
                "the device has no {} arithmetic",
                elem.rust_name()
            )));
        }
    }
    for elem in atomics {
        let Some(ty) = elem_type(elem) else { continue };
        if !props
            .atomic_type_usage(Type::atomic(ty))
            .contains(AtomicUsage::Add)
        {
            return Err(unsupported(format!(
                "the device has no atomic add on {}",
                elem.rust_name()
            )));
        }
    }
    Ok(())
}

/// CubeCL's element type for a vibee element (bool needs no check).
fn elem_type(elem: Elem) -> Option<ElemType> {
    Some(match elem {
        Elem::F32 => ElemType::Float(FloatKind::F32),
        Elem::F16 => ElemType::Float(FloatKind::F16),
        Elem::BF16 => ElemType::Float(FloatKind::BF16),
        Elem::I32 => ElemType::Int(IntKind::I32),
        Elem::U32 => ElemType::UInt(UIntKind::U32),
        Elem::Bool => return None,
    })
}

/// The element types a kernel computes with, and those it adds to atomically.
fn used(kernel: &Kernel) -> (Vec<Elem>, Vec<Elem>) {
    let mut elems: Vec<Elem> = kernel
        .params
        .iter()
        .map(|p| match p.kind {
            ParamKind::Buffer { elem, .. }
            | ParamKind::Scalar(elem)
            | ParamKind::Comptime { elem, .. } => elem,
        })
        .chain(kernel.locals.iter().map(|l| l.ty.elem))
        .chain(kernel.shared.iter().map(|s| s.elem))
        .collect();
    let mut atomics = Vec::new();
    visit(&kernel.body, &mut |e: &vibee_dsl::kernel::Expr| {
        elems.push(e.ty.elem);
        if let ExprKind::AtomicAdd { value, .. } = &e.kind {
            atomics.push(value.ty.elem);
        }
    });
    elems.sort_by_key(|e| *e as u8);
    elems.dedup();
    atomics.sort_by_key(|e| *e as u8);
    atomics.dedup();
    (elems, atomics)
}

fn visit(stmts: &[Stmt], f: &mut impl FnMut(&vibee_dsl::kernel::Expr)) {
    for s in stmts {
        match &s.kind {
            StmtKind::Let { init: e, .. }
            | StmtKind::Assign { value: e, .. }
            | StmtKind::Eval(e) => e.walk(f),
            StmtKind::Store { index, value, .. } => {
                index.walk(f);
                value.walk(f);
            }
            StmtKind::If {
                cond,
                then_branch,
                else_branch,
            } => {
                cond.walk(f);
                visit(then_branch, f);
                visit(else_branch, f);
            }
            StmtKind::For {
                start,
                end,
                step,
                body,
                ..
            } => {
                for e in [start, end, step] {
                    e.walk(f);
                }
                visit(body, f);
            }
            StmtKind::While { cond, body } => {
                cond.walk(f);
                visit(body, f);
            }
            StmtKind::Break | StmtKind::Continue | StmtKind::Return | StmtKind::Barrier => {}
        }
    }
}
