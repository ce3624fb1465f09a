//! Expressions: `syn::Expr` → [`ast::Expr`], rejecting syntax kernels do not support.
//!
//! Unsupported syntax becomes an error plus an [`ExprKind::Error`] node, so parsing goes on
//! and every problem of the body is reported at once.

use vibee_dsl::kernel::Elem;

use crate::ast::{BinOp, Expr, ExprKind, LitValue, RangeExpr, UnOp};
use crate::ctxt::Ctxt;
use crate::parse::{literal, stmt, types};
use crate::src::Src;

/// Converts one expression.
pub fn expr(cx: &Ctxt, e: &syn::Expr) -> Expr {
    let src = Src::of(e);
    let kind = kind(cx, e, src);
    Expr { kind, src }
}

fn boxed(cx: &Ctxt, e: &syn::Expr) -> Box<Expr> {
    Box::new(expr(cx, e))
}

fn kind(cx: &Ctxt, e: &syn::Expr, src: Src) -> ExprKind {
    use syn::Expr as E;
    match e {
        E::Lit(l) => literal::lit(cx, &l.lit),
        E::Path(p) => path(cx, p),
        E::Paren(p) => expr(cx, &p.expr).kind,
        E::Group(g) => expr(cx, &g.expr).kind,
        E::Unary(u) => unary(cx, u),
        E::Binary(b) => binary(cx, b),
        E::Assign(a) => ExprKind::Assign(boxed(cx, &a.left), boxed(cx, &a.right)),
        E::Cast(c) => match types::type_name(cx, &c.ty) {
            Some(ty) => ExprKind::Cast(boxed(cx, &c.expr), ty),
            None => ExprKind::Error,
        },
        E::Call(c) => call(cx, c),
        E::MethodCall(m) => method_call(cx, m),
        E::Index(i) => ExprKind::Index(boxed(cx, &i.expr), boxed(cx, &i.index)),
        E::Reference(r) => ExprKind::Ref(boxed(cx, &r.expr)),
        E::If(i) => ExprKind::If {
            cond: condition(cx, &i.cond),
            then_branch: stmt::block(cx, &i.then_branch),
            else_branch: i.else_branch.as_ref().map(|(_, e)| boxed(cx, e)),
        },
        E::Block(b) => block_expr(cx, b),
        E::ForLoop(f) => for_loop(cx, f),
        E::While(w) => {
            reject_label(cx, w.label.as_ref());
            ExprKind::While {
                cond: condition(cx, &w.cond),
                body: stmt::block(cx, &w.body),
            }
        }
        E::Loop(l) => {
            reject_label(cx, l.label.as_ref());
            let always = Expr {
                kind: ExprKind::Lit(LitValue::Bool(true)),
                src: Src::of(&l.loop_token),
            };
            ExprKind::While {
                cond: Box::new(always),
                body: stmt::block(cx, &l.body),
            }
        }
        E::Break(b) => jump(
            cx,
            b.label.as_ref(),
            b.expr.as_deref(),
            "break",
            ExprKind::Break,
        ),
        E::Continue(c) => jump(cx, c.label.as_ref(), None, "continue", ExprKind::Continue),
        E::Return(r) => ExprKind::Return(r.expr.as_ref().map(|e| boxed(cx, e))),
        E::Tuple(t) => ExprKind::Tuple(t.elems.iter().map(|e| expr(cx, e)).collect()),
        other => unsupported(cx, other, src),
    }
}

fn unsupported(cx: &Ctxt, e: &syn::Expr, src: Src) -> ExprKind {
    use syn::Expr as E;
    let message = match e {
        E::Closure(_) => "closures are not supported in kernels; write the computation inline or as a `for` loop".to_string(),
        E::Async(_) | E::Await(_) => "`async` is not supported in kernels".into(),
        E::Macro(m) => format!(
            "macros such as `{}!` are not supported in kernels; kernels cannot print or panic",
            quote::ToTokens::to_token_stream(&m.mac.path).to_string().replace(' ', "")
        ),
        E::Match(_) => "`match` is not supported in kernels; use `if`/`else`".into(),
        E::Array(_) | E::Repeat(_) => "arrays are not supported in kernels; use `shared::<f32>(LEN)` for group-shared memory or a vector type such as `f32x4`".into(),
        E::Field(_) => "field access is not supported; lanes of a vector `v` are read as `v[0]` … `v[3]`".into(),
        E::Range(_) => "ranges are only supported as `for` loop bounds: `for i in a..b`".into(),
        E::Let(_) => "`let` in conditions (`if let`, `while let`) is not supported; kernels have no enums".into(),
        E::Try(_) => "the `?` operator is not supported in kernels".into(),
        E::Struct(_) => "struct literals are not supported in kernels".into(),
        E::Unsafe(_) => "`unsafe` blocks are not supported in kernels (and not needed: buffer accesses are checked)".into(),
        E::TryBlock(_) | E::Yield(_) | E::Const(_) | E::Infer(_) => "this expression is not supported in kernels".into(),
        _ => "this expression is not supported in kernels".into(),
    };
    cx.error_at(src, message);
    ExprKind::Error
}

fn path(cx: &Ctxt, p: &syn::ExprPath) -> ExprKind {
    if p.qself.is_none()
        && let Some(ident) = p.path.get_ident()
    {
        return ExprKind::Path(ident.clone());
    }
    match literal::named_constant(&p.path) {
        Ok(value) => ExprKind::Const(value),
        Err(message) => {
            cx.error_spanned_by(p, message);
            ExprKind::Error
        }
    }
}

fn unary(cx: &Ctxt, u: &syn::ExprUnary) -> ExprKind {
    let op = match u.op {
        syn::UnOp::Neg(_) => UnOp::Neg,
        syn::UnOp::Not(_) => UnOp::Not,
        _ => {
            cx.error_spanned_by(
                u.op,
                "dereferencing is not supported in kernels; buffers are indexed directly: `x[i]`",
            );
            return ExprKind::Error;
        }
    };
    ExprKind::Unary(op, boxed(cx, &u.expr))
}

fn binary(cx: &Ctxt, b: &syn::ExprBinary) -> ExprKind {
    use syn::BinOp as B;
    let (op, compound) = match b.op {
        B::Add(_) => (BinOp::Add, false),
        B::Sub(_) => (BinOp::Sub, false),
        B::Mul(_) => (BinOp::Mul, false),
        B::Div(_) => (BinOp::Div, false),
        B::Rem(_) => (BinOp::Rem, false),
        B::BitAnd(_) => (BinOp::BitAnd, false),
        B::BitOr(_) => (BinOp::BitOr, false),
        B::BitXor(_) => (BinOp::BitXor, false),
        B::Shl(_) => (BinOp::Shl, false),
        B::Shr(_) => (BinOp::Shr, false),
        B::And(_) => (BinOp::And, false),
        B::Or(_) => (BinOp::Or, false),
        B::Eq(_) => (BinOp::Eq, false),
        B::Ne(_) => (BinOp::Ne, false),
        B::Lt(_) => (BinOp::Lt, false),
        B::Le(_) => (BinOp::Le, false),
        B::Gt(_) => (BinOp::Gt, false),
        B::Ge(_) => (BinOp::Ge, false),
        B::AddAssign(_) => (BinOp::Add, true),
        B::SubAssign(_) => (BinOp::Sub, true),
        B::MulAssign(_) => (BinOp::Mul, true),
        B::DivAssign(_) => (BinOp::Div, true),
        B::RemAssign(_) => (BinOp::Rem, true),
        B::BitAndAssign(_) => (BinOp::BitAnd, true),
        B::BitOrAssign(_) => (BinOp::BitOr, true),
        B::BitXorAssign(_) => (BinOp::BitXor, true),
        B::ShlAssign(_) => (BinOp::Shl, true),
        B::ShrAssign(_) => (BinOp::Shr, true),
        _ => {
            cx.error_spanned_by(b.op, "this operator is not supported in kernels");
            return ExprKind::Error;
        }
    };
    let (left, right) = (boxed(cx, &b.left), boxed(cx, &b.right));
    if compound {
        ExprKind::CompoundAssign(op, left, right)
    } else {
        ExprKind::Binary(op, left, right)
    }
}

fn call(cx: &Ctxt, c: &syn::ExprCall) -> ExprKind {
    let args = c.args.iter().map(|a| expr(cx, a)).collect();
    let syn::Expr::Path(p) = &*c.func else {
        cx.error_spanned_by(
            &c.func,
            "only intrinsics can be called in kernels, by name: `exp(x)`",
        );
        return ExprKind::Error;
    };
    let segments = &p.path.segments;
    let last = segments.last();
    let turbofish = match last.map(|s| &s.arguments) {
        Some(syn::PathArguments::AngleBracketed(a)) => match a.args.first() {
            Some(syn::GenericArgument::Type(ty)) if a.args.len() == 1 => types::type_name(cx, ty),
            _ => {
                cx.error_spanned_by(a, "expected one element type, as in `shared::<f32>(LEN)`");
                None
            }
        },
        _ => None,
    };
    match last {
        Some(seg) if segments.len() == 1 && p.qself.is_none() => ExprKind::Call {
            func: seg.ident.clone(),
            turbofish,
            args,
        },
        _ => {
            cx.error_spanned_by(
                p,
                "paths to functions are not supported in kernels; call intrinsics by their plain name, e.g. `exp(x)` or `x.exp()`",
            );
            ExprKind::Error
        }
    }
}

fn method_call(cx: &Ctxt, m: &syn::ExprMethodCall) -> ExprKind {
    if let Some(t) = &m.turbofish {
        cx.error_spanned_by(t, "turbofish on methods is not supported in kernels");
    }
    ExprKind::MethodCall {
        receiver: boxed(cx, &m.receiver),
        method: m.method.clone(),
        args: m.args.iter().map(|a| expr(cx, a)).collect(),
    }
}

fn condition(cx: &Ctxt, e: &syn::Expr) -> Box<Expr> {
    boxed(cx, e)
}

fn block_expr(cx: &Ctxt, b: &syn::ExprBlock) -> ExprKind {
    reject_label(cx, b.label.as_ref());
    ExprKind::Block(stmt::block(cx, &b.block))
}

fn reject_label(cx: &Ctxt, label: Option<&syn::Label>) {
    if let Some(l) = label {
        cx.error_spanned_by(l, "loop labels are not supported in kernels; `break` and `continue` apply to the innermost loop");
    }
}

fn jump(
    cx: &Ctxt,
    label: Option<&syn::Lifetime>,
    value: Option<&syn::Expr>,
    what: &str,
    kind: ExprKind,
) -> ExprKind {
    // A label here needs a labeled loop, which is already reported.
    let _ = label;
    if let Some(v) = value {
        cx.error_spanned_by(
            v,
            format!("`{what}` with a value is not supported in kernels"),
        );
    }
    kind
}

fn for_loop(cx: &Ctxt, f: &syn::ExprForLoop) -> ExprKind {
    reject_label(cx, f.label.as_ref());
    let var = match &*f.pat {
        syn::Pat::Ident(p)
            if p.by_ref.is_none() && p.subpat.is_none() && p.mutability.is_none() =>
        {
            Some(p.ident.clone())
        }
        syn::Pat::Wild(_) => None,
        other => {
            cx.error_spanned_by(
                other,
                "the loop variable must be a plain name, as in `for i in 0..n`",
            );
            None
        }
    };
    let body = stmt::block(cx, &f.body);
    match range(cx, &f.expr) {
        Some(range) => ExprKind::For { var, range, body },
        None => {
            cx.error_spanned_by(
                &f.expr,
                "`for` loops run over ranges: `for i in a..b`, `for i in a..=b` or `for i in (a..b).step_by(s)`",
            );
            ExprKind::Error
        }
    }
}

fn range(cx: &Ctxt, e: &syn::Expr) -> Option<RangeExpr> {
    match e {
        syn::Expr::Paren(p) => range(cx, &p.expr),
        syn::Expr::Group(g) => range(cx, &g.expr),
        syn::Expr::Range(r) => {
            let (start, end) = (r.start.as_ref()?, r.end.as_ref()?);
            Some(RangeExpr {
                start: boxed(cx, start),
                end: boxed(cx, end),
                inclusive: matches!(r.limits, syn::RangeLimits::Closed(_)),
                step: None,
            })
        }
        syn::Expr::MethodCall(m) if m.method == "step_by" && m.args.len() == 1 => {
            let mut inner = range(cx, &m.receiver)?;
            if inner.step.is_some() {
                return None;
            }
            inner.step = Some(boxed(cx, &m.args[0]));
            Some(inner)
        }
        _ => None,
    }
}

/// The element type a literal suffix names, if it is one kernels support.
pub fn suffix_elem(suffix: &str) -> Option<Elem> {
    types::scalar_elem(suffix).map(|(e, _)| e)
}
