//! Statements of the kernel IR as `#[cube]` statements.

use proc_macro2::{Ident, TokenStream};
use quote::{format_ident, quote};
use vibee_dsl::kernel::{BufRef, Elem, Expr, ExprKind, Lit, ParamKind, SharedId, Stmt, StmtKind};

use super::expr::{self, elem_type};
use super::{Cx, has_loop_continue};

/// The kernel body in braces: float comptime values rebuilt from their bits, shared arrays
/// declared up front (their sizes are comptime), then the statements.
pub(crate) fn block_with_shared(cx: &Cx<'_>) -> TokenStream {
    let floats: Vec<TokenStream> = cx
        .kernel
        .comptime_params()
        .filter(|(id, _)| cx.is_float_comptime(*id))
        .map(|(id, p)| {
            let name = cx.param(id);
            let bits = super::bits_name(&name);
            let value = match p.kind {
                ParamKind::Comptime {
                    elem: Elem::F16, ..
                } => {
                    quote!(f16::from_f32(f32::from_bits(#bits)))
                }
                ParamKind::Comptime {
                    elem: Elem::BF16, ..
                } => {
                    quote!(bf16::from_f32(f32::from_bits(#bits)))
                }
                _ => quote!(f32::from_bits(#bits)),
            };
            quote!(let #name = comptime!(#value);)
        })
        .collect();
    let shared = cx.kernel.shared.iter().enumerate().map(|(i, s)| {
        let name = shared_name(cx, SharedId(i as u32));
        let t = elem_type(s.elem);
        let len = comptime_expr(cx, &s.len);
        let elem = if cx.is_atomic(BufRef::Shared(SharedId(i as u32))) {
            quote!(Atomic<#t>)
        } else {
            t
        };
        quote!(let mut #name = Shared::<[#elem]>::new_slice(comptime!((#len) as usize));)
    });
    let stmts = stmts(cx, &cx.kernel.body, None);
    quote!({
        #(#floats)*
        #(#shared)*
        #stmts
    })
}

/// The Rust name of a shared array.
pub(crate) fn shared_name(cx: &Cx<'_>, id: SharedId) -> Ident {
    let name = &cx.kernel.shared_array(id).name;
    if cx.kernel.params.iter().any(|p| &p.name == name) {
        format_ident!("{}_shared", name)
    } else {
        format_ident!("{}", name)
    }
}

/// A comptime expression (shared sizes) as plain Rust over the comptime parameters,
/// evaluated while CubeCL expands the kernel.
fn comptime_expr(cx: &Cx<'_>, e: &Expr) -> TokenStream {
    match &e.kind {
        ExprKind::Lit(Lit::Int(v)) => {
            let v = proc_macro2::Literal::i64_unsuffixed(*v);
            quote!(#v)
        }
        ExprKind::Param(p) => {
            let name = cx.param(*p);
            quote!((#name as i64))
        }
        ExprKind::Cast(inner) => comptime_expr(cx, inner),
        ExprKind::Binary(op, a, b) => {
            let (a, b) = (comptime_expr(cx, a), comptime_expr(cx, b));
            let op: TokenStream = op.symbol().parse().unwrap_or_default();
            quote!((#a #op #b))
        }
        // Validation only admits literals and comptime parameters in shared sizes; anything
        // else reaching here is a bug in the macro, reported where the kernel is expanded.
        _ => quote!(compile_error!(
            "vibee bug: a shared-memory size that is not a comptime expression"
        )),
    }
}

/// The statements of a block. `skip` names the continue flag of the innermost enclosing
/// loop when that loop's body contains a `continue`: the statements after one that may
/// continue are wrapped in `if !flag { … }`.
fn stmts(cx: &Cx<'_>, stmts: &[Stmt], skip: Option<&Ident>) -> TokenStream {
    let mut out = TokenStream::new();
    for (i, s) in stmts.iter().enumerate() {
        out.extend(stmt(cx, s, skip));
        // Code after an unconditional jump is unreachable: leave it out, as rustc would warn.
        if matches!(
            s.kind,
            StmtKind::Break | StmtKind::Continue | StmtKind::Return
        ) {
            return out;
        }
        if let Some(flag) = skip
            && may_continue(s)
            && i + 1 < stmts.len()
        {
            let rest = self::stmts(cx, &stmts[i + 1..], skip);
            out.extend(quote!(if !#flag { #rest }));
            return out;
        }
    }
    out
}

/// Whether `s` may execute a `continue` of the innermost enclosing loop.
fn may_continue(s: &Stmt) -> bool {
    has_loop_continue(std::slice::from_ref(s))
}

fn stmt(cx: &Cx<'_>, s: &Stmt, skip: Option<&Ident>) -> TokenStream {
    match &s.kind {
        StmtKind::Let { var, init } => {
            // No type annotation: CubeCL's expansion would keep it verbatim where the
            // variable holds an expand value. Literals are suffixed and helpers take turbofish
            // types, so every initializer has the local's type already.
            let local = cx.kernel.local(*var);
            let name = cx.local(*var);
            let init = expr::expr(cx, init);
            let mutability = local.mutable.then(|| quote!(mut));
            quote!(let #mutability #name = #init;)
        }
        StmtKind::Assign { var, value } => {
            let name = cx.local(*var);
            let value = expr::expr(cx, value);
            quote!(#name = #value;)
        }
        StmtKind::Store { buf, index, value } => expr::store(cx, *buf, index, value),
        StmtKind::If {
            cond,
            then_branch,
            else_branch,
        } => {
            let cond = expr::expr(cx, cond);
            let then_branch = stmts(cx, then_branch, skip);
            if else_branch.is_empty() {
                quote!(if #cond { #then_branch })
            } else {
                let else_branch = stmts(cx, else_branch, skip);
                quote!(if #cond { #then_branch } else { #else_branch })
            }
        }
        StmtKind::For {
            var,
            start,
            end,
            step,
            body,
        } => {
            let name = cx.local(*var);
            let (start, end) = (expr::expr(cx, start), expr::expr(cx, end));
            if is_one(step) {
                let body = loop_body(cx, body, TokenStream::new());
                return quote!(for #name in #start..#end #body);
            }
            // CubeCL's `step_by` does not take a runtime step here, so a strided loop is a
            // `while` over a hidden counter; bounds and step are evaluated once, as in Rust,
            // and the step runs after a `continue` too (it follows the flagged part).
            let id = cx.next_loop_id();
            let (counter, end_name, step_name) = (
                format_ident!("__i_{}", id),
                format_ident!("__end_{}", id),
                format_ident!("__step_{}", id),
            );
            let step = expr::expr(cx, step);
            let body = loop_body(cx, body, quote!(let #name = #counter;));
            let body = inject_tail(body, quote!(#counter += #step_name;));
            quote!({
                let #end_name = #end;
                let #step_name = #step;
                let mut #counter = #start;
                while #counter < #end_name #body
            })
        }
        StmtKind::While { cond, body } => {
            let cond = expr::expr(cx, cond);
            let body = loop_body(cx, body, TokenStream::new());
            quote!(while #cond #body)
        }
        StmtKind::Break => quote!(break;),
        StmtKind::Continue => match skip {
            Some(flag) => quote!(#flag = true;),
            None => quote!(compile_error!("vibee bug: `continue` outside a loop");),
        },
        StmtKind::Return => quote!(terminate!();),
        StmtKind::Barrier => quote!(sync_cube();),
        StmtKind::Eval(e) => {
            let e = expr::expr(cx, e);
            quote!(#e;)
        }
    }
}

/// A loop body in braces, starting with `head`; with a `continue` inside, a fresh flag skips
/// the rest of the body.
fn loop_body(cx: &Cx<'_>, body: &[Stmt], head: TokenStream) -> TokenStream {
    if has_loop_continue(body) {
        let flag = format_ident!("__continue_{}", cx.next_loop_id());
        let inner = stmts(cx, body, Some(&flag));
        quote!({
            #head
            let mut #flag = false;
            #inner
        })
    } else {
        let inner = stmts(cx, body, None);
        quote!({ #head #inner })
    }
}

/// `block` (a braced group) with `tail` appended inside the braces.
fn inject_tail(block: TokenStream, tail: TokenStream) -> TokenStream {
    let mut trees: Vec<proc_macro2::TokenTree> = block.into_iter().collect();
    if let Some(proc_macro2::TokenTree::Group(g)) = trees.pop() {
        let mut inner = g.stream();
        inner.extend(tail);
        quote!({ #inner })
    } else {
        let trees = trees.into_iter();
        quote!({ #(#trees)* #tail })
    }
}

fn is_one(e: &Expr) -> bool {
    matches!(e.kind, ExprKind::Lit(Lit::Int(1)))
}

/// Calls `f` on every expression of `stmts`, nested statements included.
pub(crate) fn visit_exprs(stmts: &[Stmt], f: &mut impl FnMut(&Expr)) {
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
                visit_exprs(then_branch, f);
                visit_exprs(else_branch, f);
            }
            StmtKind::For {
                start,
                end,
                step,
                body,
                ..
            } => {
                start.walk(f);
                end.walk(f);
                step.walk(f);
                visit_exprs(body, f);
            }
            StmtKind::While { cond, body } => {
                cond.walk(f);
                visit_exprs(body, f);
            }
            StmtKind::Break | StmtKind::Continue | StmtKind::Return | StmtKind::Barrier => {}
        }
    }
}
