//! The pipeline of `#[vibee::kernel]`: parse → lower → check → generate, or the fallback.
//! Takes and returns `proc_macro2` tokens so tests can drive it.

use std::panic::{self, AssertUnwindSafe};

use proc_macro2::{Span, TokenStream};
use quote::quote;

use crate::ast::KernelFn;
use crate::ctxt::Ctxt;
use crate::{check, codegen, fallback, lower, parse};

/// Expands `#[vibee::kernel(args)] item`, turning a panic into a spanned error.
pub fn kernel_guarded(args: TokenStream, item: TokenStream) -> TokenStream {
    let expanded = match panic::catch_unwind(AssertUnwindSafe(|| kernel(args, item))) {
        Ok(tokens) => tokens,
        Err(payload) => bug(&payload),
    };
    crate::debug::dump(&expanded);
    expanded
}

/// Expands `#[vibee::kernel(args)] item`.
pub fn kernel(args: TokenStream, item: TokenStream) -> TokenStream {
    let item_fn: syn::ItemFn = match syn::parse2(item.clone()) {
        Ok(f) => f,
        Err(_) => {
            let error = syn::Error::new_spanned(
                &item,
                "`#[vibee::kernel]` applies to functions: `fn axpy(a: f32, x: &[f32], y: &mut [f32]) { … }`",
            );
            return error.to_compile_error();
        }
    };
    let cx = Ctxt::new();
    let f = parse::kernel(&cx, args, &item_fn);
    let output = generate(&cx, &f);
    match cx.check() {
        Ok(()) => output,
        Err(errors) => fallback::generate(Some(&f), errors),
    }
}

fn generate(cx: &Ctxt, f: &KernelFn) -> TokenStream {
    if f.attrs.differentiable.is_some() {
        return crate::differentiable::generate(cx, f);
    }
    let Some(lowered) = lower::kernel(cx, f) else {
        return TokenStream::new();
    };
    check::kernel(cx, &lowered.kernel, &lowered.spans);
    if cx.has_errors() {
        return TokenStream::new();
    }
    codegen::kernel_module(cx, f, &lowered)
}

/// A panic inside the macro: report it as what it is.
pub(crate) fn bug(payload: &Box<dyn std::any::Any + Send>) -> TokenStream {
    let message = payload
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| payload.downcast_ref::<&str>().copied())
        .unwrap_or("unknown panic");
    let text = format!(
        "this is a bug in vibee: `#[vibee::kernel]` panicked ({message}); please report it with the kernel that triggers it"
    );
    let error = syn::Error::new(Span::call_site(), text).to_compile_error();
    quote!(#error)
}
