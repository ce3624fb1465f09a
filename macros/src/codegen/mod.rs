//! The generated module: `pub mod <kernel> { ir(), SOURCE, CUBE, launch(…) }`.
//!
//! Fixed boilerplate lives in the facade's `macro_rules!` templates (`kernel_source!`,
//! `kernel_launch!`); this pass only fills their slots, so the expansion reads as plain
//! Rust.

pub mod checks;
pub mod cube;
pub mod launch;
pub mod paths;
pub mod shared_len;

use proc_macro2::TokenStream;
use quote::quote;
use vibee_dsl::kernel::Kernel;

use crate::ast::KernelFn;
use crate::ctxt::Ctxt;
use crate::lower::Lowered;

/// The module generated for a kernel.
pub fn kernel_module(cx: &Ctxt, f: &KernelFn, lowered: &Lowered) -> TokenStream {
    let source = kernel_source(cx, &lowered.kernel);
    let cube = cube::generate(&lowered.kernel);
    let mut checks = checks::generate(cx, f);
    checks.extend(shared_len::checks(cx, &lowered.kernel, &lowered.spans));
    let (generics, params) = launch::params_of_fn(f);
    let doc = format!(
        "Launches `{}` on `__device` over `__grid`; arguments follow the kernel's parameters.",
        f.name
    );
    let launch = launch::launch_fn(launch::LaunchFn {
        doc,
        name: "launch",
        generics,
        params: &params,
        leading_args: launch::const_generic_args(f),
        grid: TokenStream::new(),
        checks,
        source: quote!(SOURCE),
    });
    let (vis, name, docs) = (&f.vis, &f.name, &f.docs);
    quote! {
        #(#docs)*
        #vis mod #name {
            #source
            #cube
            #launch
        }
    }
}

/// `ir()` (the IR embedded as JSON, parsed once) and `SOURCE`.
pub fn kernel_source(cx: &Ctxt, kernel: &Kernel) -> TokenStream {
    let json = to_json(cx, kernel);
    let private = paths::private();
    quote!(#private::kernel_source! { ir_json = #json; })
}

/// IR as JSON, to embed in the expansion.
pub fn to_json(cx: &Ctxt, value: &impl serde::Serialize) -> String {
    serde_json::to_string(value).unwrap_or_else(|e| {
        cx.error_at(
            crate::src::Src::call_site(),
            format!("this is a bug in vibee: the kernel IR does not serialize ({e})"),
        );
        String::new()
    })
}
