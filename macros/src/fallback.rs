//! What the macro emits when the kernel has errors: the errors, plus a stub module whose
//! `launch` has the kernel's signature, so call sites keep type-checking and the user sees
//! the kernel's own errors rather than a cascade of "cannot find `launch`".
//!
//! The body itself is not re-emitted: it calls intrinsics (`global_pos()`), indexes slices
//! with `u32` and uses `shared::<T>`, none of which is valid plain Rust, so re-emitting it
//! would bury the real error under rustc's.

use proc_macro2::TokenStream;
use quote::quote;

use crate::ast::KernelFn;
use crate::codegen::{launch, paths};

/// The errors and a stub of the generated module.
pub fn generate(f: Option<&KernelFn>, errors: syn::Error) -> TokenStream {
    let errors = errors.to_compile_error();
    let Some(f) = f else {
        return errors;
    };
    let (vis, name, docs) = (&f.vis, &f.name, &f.docs);
    let stub = if f.attrs.differentiable.is_some() {
        TokenStream::new()
    } else {
        stub_launch(f)
    };
    quote! {
        #errors
        #(#docs)*
        #[allow(dead_code, unused_variables, clippy::all)]
        #vis mod #name {
            #stub
        }
    }
}

fn stub_launch(f: &KernelFn) -> TokenStream {
    let private = paths::private();
    let (generics, params) = launch::params_of_fn(f);
    let (idents, tys): (Vec<_>, Vec<_>) = params.iter().map(|p| (&p.ident, &p.ty)).unzip();
    quote! {
        /// Not generated: the kernel has errors.
        pub fn launch<#generics>(
            __device: &#private::Device,
            __grid: #private::Grid,
            #(#idents: #tys),*
        ) -> ::core::result::Result<(), #private::LaunchError> {
            ::core::unreachable!("the kernel failed to compile")
        }
    }
}
