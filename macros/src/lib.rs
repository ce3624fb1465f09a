//! Procedural macros of vibee. `#[vibee::kernel]` runs a pipeline whose passes are
//! modules taking `proc_macro2` types, so each can be unit- and snapshot-tested:
//! [`parse`] (syn → [`ast`], rejecting syntax no kernel may use) → [`lower`] (names, types,
//! the kernel IR with a span table) → [`check`] (the IR validator, its diagnostics mapped
//! back to spans) → [`codegen`] (the module with `ir()`, `SOURCE` and `launch`). Errors
//! accumulate in a [`ctxt::Ctxt`] and are all reported at once, next to the
//! [`fallback`] stub module.

mod ast;
mod check;
mod codegen;
mod ctxt;
mod debug;
mod differentiable;
mod expand;
mod fallback;
mod lower;
mod model;
mod parse;
mod src;

#[cfg(test)]
mod tests;

use proc_macro::TokenStream;

/// Declares a kernel. See the `vibee` crate documentation for the supported surface.
#[proc_macro_attribute]
pub fn kernel(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::kernel_guarded(args.into(), item.into()).into()
}

/// Declares a model: a struct of `#[config]` values, `#[param]` tensors and `#[module]`
/// sub-models. See the `vibee` crate documentation.
#[proc_macro_attribute]
pub fn model(args: TokenStream, item: TokenStream) -> TokenStream {
    model::model_guarded(args.into(), item.into()).into()
}
