//! Host-side checks of comptime values: `#[comptime(power_of_two, multiple_of = N)]` and
//! `#[vibee::kernel(assert(…))]`.
//!
//! A check that mentions only const generics becomes an inline `const { assert!(…) }` in
//! `launch`, so a bad block size fails to compile where the kernel is instantiated. A check
//! on `#[comptime]` arguments (values only known at run time on the host) makes `launch`
//! return `LaunchError::BadArgument` before anything runs.

use std::collections::HashSet;

use proc_macro2::TokenStream;
use quote::{ToTokens, quote};
use syn::visit::Visit;

use super::paths;
use crate::ast::{ComptimeChecks, KernelFn, ParamTy};
use crate::ctxt::Ctxt;

/// The checks `launch` runs first.
pub fn generate(cx: &Ctxt, f: &KernelFn) -> TokenStream {
    let names = Names::of(f);
    let kernel = f.name.to_string();
    let mut out = TokenStream::new();
    for g in &f.const_generics {
        let ident = &g.ident;
        out.extend(quote!(const { assert!((#ident as u64) <= u32::MAX as u64, "a const generic of a kernel must fit in `u32`") };));
        out.extend(value_checks(
            cx,
            &names,
            &kernel,
            &ident.to_token_stream(),
            &g.checks,
        ));
    }
    for p in f.params.iter().filter(|p| p.comptime.is_some()) {
        let checks = p.comptime.clone().unwrap_or_default();
        out.extend(value_checks(
            cx,
            &names,
            &kernel,
            &p.ident.to_token_stream(),
            &checks,
        ));
    }
    for condition in &f.attrs.asserts {
        out.extend(check(
            cx,
            &names,
            &kernel,
            condition.to_token_stream(),
            &format!("`{}`", condition.to_token_stream()),
        ));
    }
    out
}

fn value_checks(
    cx: &Ctxt,
    names: &Names,
    kernel: &str,
    value: &TokenStream,
    checks: &ComptimeChecks,
) -> Vec<TokenStream> {
    let mut out = Vec::new();
    if checks.power_of_two {
        let shown = format!("`{value}` to be a power of two");
        out.push(check(
            cx,
            names,
            kernel,
            quote!((#value).is_power_of_two()),
            &shown,
        ));
    }
    if let Some(m) = &checks.multiple_of {
        let shown = format!("`{value}` to be a multiple of `{}`", m.to_token_stream());
        out.push(check(
            cx,
            names,
            kernel,
            quote!((#m) != 0 && (#value) % (#m) == 0),
            &shown,
        ));
    }
    out
}

/// One condition, checked at compile time or at launch depending on what it mentions.
fn check(
    cx: &Ctxt,
    names: &Names,
    kernel: &str,
    condition: TokenStream,
    shown: &str,
) -> TokenStream {
    let Ok(expr) = syn::parse2::<syn::Expr>(condition.clone()) else {
        cx.error_spanned_by(&condition, "expected a boolean expression");
        return TokenStream::new();
    };
    let mut visitor = Mentions {
        names,
        runtime: Vec::new(),
        comptime_args: Vec::new(),
    };
    visitor.visit_expr(&expr);
    for ident in &visitor.runtime {
        cx.error_spanned_by(ident, format!("`{ident}` is a run-time argument; kernel checks may only use const generics and `#[comptime]` parameters"));
    }
    let message = format!("kernel `{kernel}` requires {shown}");
    if visitor.comptime_args.is_empty() {
        // `assert!` formats its message: braces from the user's condition are escaped.
        let literal = message.replace('{', "{{").replace('}', "}}");
        return quote!(const { assert!(#condition, #literal) };);
    }
    let private = paths::private();
    let first = &visitor.comptime_args[0];
    let index = names.index_of(&first.to_string());
    let param = first.to_string();
    quote! {
        if !(#condition) {
            return ::core::result::Result::Err(#private::check_failed(#kernel, #index, #param, #message));
        }
    }
}

/// The names a kernel's checks may mention, and those they must not.
struct Names {
    order: Vec<String>,
    comptime: HashSet<String>,
    runtime: HashSet<String>,
}

impl Names {
    fn of(f: &KernelFn) -> Names {
        let mut names = Names {
            order: Vec::new(),
            comptime: HashSet::new(),
            runtime: HashSet::new(),
        };
        for g in &f.const_generics {
            names.order.push(g.ident.to_string());
        }
        for p in &f.params {
            names.order.push(p.ident.to_string());
            let set = match (p.comptime.is_some(), p.ty) {
                (true, ParamTy::Scalar { .. }) => &mut names.comptime,
                _ => &mut names.runtime,
            };
            set.insert(p.ident.to_string());
        }
        names
    }

    fn index_of(&self, name: &str) -> usize {
        self.order.iter().position(|n| n == name).unwrap_or(0)
    }
}

struct Mentions<'a> {
    names: &'a Names,
    runtime: Vec<syn::Ident>,
    comptime_args: Vec<syn::Ident>,
}

impl<'ast> Visit<'ast> for Mentions<'_> {
    fn visit_expr_path(&mut self, p: &'ast syn::ExprPath) {
        if let Some(ident) = p.path.get_ident() {
            let name = ident.to_string();
            if self.names.runtime.contains(&name) {
                self.runtime.push(ident.clone());
            } else if self.names.comptime.contains(&name) {
                self.comptime_args.push(ident.clone());
            }
        }
        syn::visit::visit_expr_path(self, p);
    }
}
