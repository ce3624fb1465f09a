//! Shared-memory lengths must be positive once comptime values are known. A length from
//! literals alone is checked while the macro expands; one with comptime values becomes a
//! check in `launch` (a `const` assertion when it only uses const generics), evaluated
//! with the IR's `u32` wrapping arithmetic.

use proc_macro2::{Ident, Span, TokenStream};
use quote::quote;
use vibee_dsl::kernel::{BinaryOp, Expr, ExprKind, Kernel, Lit, ParamKind};

use super::paths;
use crate::ctxt::Ctxt;
use crate::lower::SpanTable;

/// The launcher's checks of every shared array's length.
pub fn checks(cx: &Ctxt, kernel: &Kernel, spans: &SpanTable) -> TokenStream {
    let mut out = TokenStream::new();
    for array in &kernel.shared {
        let Some(value) = rust_u32(kernel, &array.len) else {
            continue;
        };
        let message = format!(
            "kernel `{}`: shared array `{}` must have a positive length",
            kernel.name, array.name
        );
        let mut uses = Uses::default();
        uses.collect(kernel, &array.len);
        if uses.runtime.is_empty() && uses.const_generic.is_empty() {
            if let Some(0) = literal_value(&array.len) {
                cx.error_at(
                    spans.get(array.len.span),
                    format!("{message}; this length is 0"),
                );
            }
            continue;
        }
        out.extend(check(kernel, &uses, value, &message));
    }
    out
}

fn check(kernel: &Kernel, uses: &Uses, value: TokenStream, message: &str) -> TokenStream {
    let Some(&first) = uses.runtime.first() else {
        return quote!(const { assert!(#value > 0, #message) };);
    };
    let private = paths::private();
    let (kernel_name, param) = (&kernel.name, &kernel.params[first].name);
    quote! {
        if #value == 0 {
            return ::core::result::Result::Err(#private::check_failed(#kernel_name, #first, #param, #message));
        }
    }
}

/// Parameters a length mentions: const generics, and `#[comptime]` arguments.
#[derive(Default)]
struct Uses {
    const_generic: Vec<usize>,
    runtime: Vec<usize>,
}

impl Uses {
    fn collect(&mut self, kernel: &Kernel, e: &Expr) {
        e.walk(&mut |n| {
            if let ExprKind::Param(p) = n.kind {
                let i = p.0 as usize;
                match kernel.params[i].kind {
                    ParamKind::Comptime {
                        const_generic: true,
                        ..
                    } => self.const_generic.push(i),
                    _ => self.runtime.push(i),
                }
            }
        });
    }
}

fn literal_value(e: &Expr) -> Option<i64> {
    match e.kind {
        ExprKind::Lit(Lit::Int(v)) => Some(v),
        _ => None,
    }
}

/// `e` as a `u32` Rust expression over the launcher's comptime values, or `None` if it has
/// nodes a length should not (those are rejected by validation anyway).
fn rust_u32(kernel: &Kernel, e: &Expr) -> Option<TokenStream> {
    Some(match &e.kind {
        ExprKind::Lit(Lit::Int(v)) => {
            let v = *v as u32;
            quote!(#v)
        }
        ExprKind::Param(p) => {
            let ident = Ident::new(&kernel.params[p.0 as usize].name, Span::call_site());
            quote!((#ident as u32))
        }
        ExprKind::Binary(op, a, b) => {
            let (a, b) = (rust_u32(kernel, a)?, rust_u32(kernel, b)?);
            match op {
                BinaryOp::Add => quote!(#a.wrapping_add(#b)),
                BinaryOp::Sub => quote!(#a.wrapping_sub(#b)),
                BinaryOp::Mul => quote!(#a.wrapping_mul(#b)),
                BinaryOp::Div => quote!(match #a.checked_div(#b) { Some(v) => v, None => 0 }),
                BinaryOp::Rem => quote!(match #a.checked_rem(#b) { Some(v) => v, None => 0 }),
                BinaryOp::Shl => quote!(#a.wrapping_shl(#b)),
                BinaryOp::Shr => quote!(#a.wrapping_shr(#b)),
                BinaryOp::Min => quote!(if #a < #b { #a } else { #b }),
                BinaryOp::Max => quote!(if #a > #b { #a } else { #b }),
                _ => return None,
            }
        }
        _ => return None,
    })
}
