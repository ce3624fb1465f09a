//! `#[vibee::kernel(differentiable)]`: lowered to an elementwise function; its forward and
//! backward (VJP) kernels come from the IR. (Code generation lands with the IR's
//! `ElementwiseFn::to_kernel` and `autodiff::vjp`.)

use proc_macro2::TokenStream;

use crate::ast::KernelFn;
use crate::ctxt::Ctxt;
use crate::lower;

/// The module of a differentiable kernel.
pub fn generate(cx: &Ctxt, f: &KernelFn) -> TokenStream {
    let Some(lowered) = lower::elementwise(cx, f) else {
        return TokenStream::new();
    };
    let _ = lowered;
    cx.error_at(
        crate::src::Src::of(&f.name),
        "`#[vibee::kernel(differentiable)]` is not available yet in this build",
    );
    TokenStream::new()
}
