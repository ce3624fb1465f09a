//! Parameters: const generics first (in declaration order), then the function's
//! parameters. This order is the kernel's parameter order, which launchers and the
//! interpreter follow.

use vibee_dsl::kernel::{BufRef, Elem, ExprKind, Param, ParamId, ParamKind, Stmt, StmtKind, Ty};

use super::{Binding, Lowerer};
use crate::ast::{KernelFn, ParamTy};

impl Lowerer<'_> {
    /// Declares every parameter; returns the prologue copying `mut` scalar parameters
    /// into locals.
    pub(super) fn signature(&mut self, f: &KernelFn) -> Vec<Stmt> {
        for g in &f.const_generics {
            let kind = ParamKind::Comptime {
                elem: Elem::U32,
                const_generic: true,
            };
            let id = self.push_param(&g.ident, kind, g.src);
            let binding = Binding::Param {
                id,
                ty: Ty::U32,
                comptime: true,
            };
            self.bind(&g.ident, binding);
        }
        for ident in &f.poisoned {
            self.bind(ident, Binding::Poisoned);
        }
        let mut prologue = Vec::new();
        for p in &f.params {
            let kind = match (p.ty, &p.comptime) {
                (ParamTy::Buffer { elem, mutable }, _) => ParamKind::Buffer { elem, mutable },
                (ParamTy::Scalar { elem, .. }, Some(_)) => ParamKind::Comptime {
                    elem,
                    const_generic: false,
                },
                (ParamTy::Scalar { elem, .. }, None) => ParamKind::Scalar(elem),
            };
            let id = self.push_param(&p.ident, kind, p.src);
            let binding = match kind {
                ParamKind::Buffer { elem, mutable } => Binding::Buffer {
                    buf: BufRef::Param(id),
                    elem,
                    mutable,
                },
                ParamKind::Scalar(elem) | ParamKind::Comptime { elem, .. } => Binding::Param {
                    id,
                    ty: Ty::scalar(elem),
                    comptime: p.comptime.is_some(),
                },
            };
            self.bind(&p.ident, binding);
            if p.mutable {
                prologue.extend(self.mutable_copy(p, binding));
            }
        }
        prologue
    }

    fn push_param(&mut self, ident: &syn::Ident, kind: ParamKind, src: crate::src::Src) -> ParamId {
        let span = self.span(src);
        self.params.push(Param {
            name: ident.to_string(),
            kind,
            span,
        });
        ParamId(self.params.len() as u32 - 1)
    }

    /// `mut x: f32` gives the body a local copy it may assign to.
    fn mutable_copy(&mut self, p: &crate::ast::Param, binding: Binding) -> Option<Stmt> {
        let Binding::Param { id, ty, comptime } = binding else {
            self.error(
                p.src,
                "`mut` applies to scalar parameters; to write a buffer, declare it `&mut [T]`",
            );
            return None;
        };
        if comptime {
            self.error(
                p.src,
                "a `#[comptime]` parameter cannot be `mut`: its value is fixed when the kernel is specialized",
            );
            return None;
        }
        let init = self.node(ExprKind::Param(id), ty, p.src);
        let var = self.declare_local(&p.ident.to_string(), ty, true, p.src);
        self.bind(
            &p.ident,
            Binding::Local {
                id: var,
                ty,
                mutable: true,
            },
        );
        Some(self.stmt_node(StmtKind::Let { var, init }, p.src))
    }
}
