//! Unit tests of the pipeline, driven with `proc_macro2` tokens.

mod codegen;
mod errors;
mod expand;
mod fixtures;
mod lowering;

use proc_macro2::TokenStream;
use vibee_dsl::kernel::Kernel;

use crate::ctxt::Ctxt;
use crate::{lower, parse};

/// Lowers `item` (a `fn`), returning the kernel or every error message.
pub fn lower_kernel(args: TokenStream, item: TokenStream) -> Result<Kernel, Vec<String>> {
    let item: syn::ItemFn = syn::parse2(item).expect("test input is a function");
    let cx = Ctxt::new();
    let f = parse::kernel(&cx, args, &item);
    let lowered = lower::kernel(&cx, &f);
    match cx.check() {
        Ok(()) => Ok(lowered.expect("no errors means a lowered kernel").kernel),
        Err(e) => Err(e.into_iter().map(|e| e.to_string()).collect()),
    }
}

/// The single error message of an input that must fail.
pub fn one_error(item: TokenStream) -> String {
    let errors = lower_kernel(TokenStream::new(), item).expect_err("the kernel must be rejected");
    assert_eq!(errors.len(), 1, "expected one error, got {errors:#?}");
    errors.into_iter().next().unwrap_or_default()
}
