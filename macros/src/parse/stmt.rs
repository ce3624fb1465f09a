//! Blocks and statements.

use crate::ast::{Block, Expr, ExprKind, Stmt};
use crate::ctxt::Ctxt;
use crate::parse::{expr, types};
use crate::src::Src;

/// Converts a block.
pub fn block(cx: &Ctxt, b: &syn::Block) -> Block {
    Block {
        stmts: b.stmts.iter().filter_map(|s| stmt(cx, s)).collect(),
        src: Src::of(b),
    }
}

fn stmt(cx: &Ctxt, s: &syn::Stmt) -> Option<Stmt> {
    match s {
        syn::Stmt::Local(local) => local_stmt(cx, local),
        syn::Stmt::Expr(e, semi) => Some(Stmt::Expr {
            expr: expr::expr(cx, e),
            semi: semi.is_some(),
        }),
        syn::Stmt::Item(item) => {
            cx.error_spanned_by(
                item,
                "items (functions, structs, `use`, …) cannot be declared inside a kernel; declare them outside",
            );
            None
        }
        syn::Stmt::Macro(m) => {
            let name = quote::ToTokens::to_token_stream(&m.mac.path)
                .to_string()
                .replace(' ', "");
            cx.error_spanned_by(
                &m.mac,
                format!("macros such as `{name}!` are not supported in kernels; kernels cannot print or panic"),
            );
            None
        }
    }
}

fn local_stmt(cx: &Ctxt, local: &syn::Local) -> Option<Stmt> {
    let src = Src::of(local);
    let (pat, ty) = match &local.pat {
        syn::Pat::Type(t) => (&*t.pat, types::type_name(cx, &t.ty).map(Some)),
        other => (other, Some(None)),
    };
    let (name, mutable) = match pat {
        syn::Pat::Ident(p) if p.by_ref.is_none() && p.subpat.is_none() => {
            (Some(p.ident.clone()), p.mutability.is_some())
        }
        syn::Pat::Wild(_) => (None, false),
        other => {
            cx.error_spanned_by(
                other,
                "patterns are not supported in `let`; bind one name: `let x = …;`",
            );
            return None;
        }
    };
    let Some(init) = &local.init else {
        cx.error_spanned_by(
            local,
            "a `let` in a kernel needs an initial value: `let x = 0.0;`",
        );
        return None;
    };
    if let Some((_, diverge)) = &init.diverge {
        cx.error_spanned_by(diverge, "`let … else` is not supported in kernels");
    }
    let init = expr::expr(cx, &init.expr);
    let ty = ty?;
    if matches!(init.kind, ExprKind::Error) && name.is_none() {
        return None;
    }
    Some(Stmt::Let {
        name,
        mutable,
        ty,
        init,
        src,
    })
}

impl Block {
    /// The trailing expression without `;`, which gives the block its value.
    pub fn tail(&self) -> Option<&Expr> {
        match self.stmts.last() {
            Some(Stmt::Expr { expr, semi: false }) => Some(expr),
            _ => None,
        }
    }
}
