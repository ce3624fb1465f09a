//! The typed launcher: `launch(&device, grid, args…)`, arguments in parameter order, as a
//! short plain function over the facade's argument helpers.

use proc_macro2::{Ident, Span, TokenStream};
use quote::{format_ident, quote};
use vibee_dsl::kernel::{Kernel, ParamKind};

use super::paths;
use crate::ast::{HostInt, KernelFn, ParamTy};

/// One argument of a generated launcher.
pub struct LaunchParam {
    pub ident: Ident,
    pub ty: TokenStream,
    /// The `ArgRef` handed to the runtime.
    pub arg: TokenStream,
}

/// The const generics of a kernel's launcher and its parameters, from the signature.
pub fn params_of_fn(f: &KernelFn) -> (TokenStream, Vec<LaunchParam>) {
    let private = paths::private();
    let kernel = f.name.to_string();
    let generics = f.const_generics.iter().map(|g| {
        let (ident, ty) = (&g.ident, host_int(g.host_ty));
        quote!(const #ident: #ty)
    });
    let mut params = Vec::new();
    for (i, p) in f.params.iter().enumerate() {
        let index = i + f.const_generics.len();
        let (ident, name) = (&p.ident, p.ident.to_string());
        let (ty, arg) = match (p.ty, p.comptime.is_some()) {
            (
                ParamTy::Buffer {
                    elem,
                    mutable: true,
                },
                _,
            ) => (
                paths::buffer_ty(elem, true),
                quote!(#private::buffer_mut(#ident)),
            ),
            (
                ParamTy::Buffer {
                    elem,
                    mutable: false,
                },
                _,
            ) => (
                paths::buffer_ty(elem, false),
                quote!(#private::buffer(#ident)),
            ),
            (ParamTy::Scalar { usize: true, .. }, comptime) => {
                let convert = if comptime {
                    quote!(comptime_usize)
                } else {
                    quote!(scalar_usize)
                };
                (
                    quote!(usize),
                    quote!(#private::#convert(#kernel, #index, #name, #ident)?),
                )
            }
            (ParamTy::Scalar { elem, .. }, true) => {
                (paths::elem_ty(elem), quote!(#private::comptime(#ident)))
            }
            (ParamTy::Scalar { elem, .. }, false) => {
                (paths::elem_ty(elem), quote!(#private::scalar(#ident)))
            }
        };
        params.push(LaunchParam {
            ident: ident.clone(),
            ty,
            arg,
        });
    }
    (quote!(#(#generics),*), params)
}

/// The arguments const generics contribute (they are the kernel's first parameters).
pub fn const_generic_args(f: &KernelFn) -> Vec<TokenStream> {
    let private = paths::private();
    f.const_generics
        .iter()
        .map(|g| {
            let ident = &g.ident;
            match g.host_ty {
                HostInt::U32 => quote!(#private::comptime(#ident)),
                HostInt::Usize => quote!(#private::comptime(#ident as u32)),
            }
        })
        .collect()
}

/// Launcher parameters of a kernel the IR built (an elementwise kernel and its VJP):
/// names come from the IR, spans from the macro invocation.
pub fn params_of_ir(kernel: &Kernel) -> Vec<LaunchParam> {
    let private = paths::private();
    kernel
        .params
        .iter()
        .map(|p| {
            let ident = Ident::new(&p.name, Span::call_site());
            let (ty, arg) = match p.kind {
                ParamKind::Buffer {
                    elem,
                    mutable: true,
                } => (
                    paths::buffer_ty(elem, true),
                    quote!(#private::buffer_mut(#ident)),
                ),
                ParamKind::Buffer {
                    elem,
                    mutable: false,
                } => (
                    paths::buffer_ty(elem, false),
                    quote!(#private::buffer(#ident)),
                ),
                ParamKind::Scalar(elem) => (paths::elem_ty(elem), quote!(#private::scalar(#ident))),
                ParamKind::Comptime { elem, .. } => {
                    (paths::elem_ty(elem), quote!(#private::comptime(#ident)))
                }
            };
            LaunchParam { ident, ty, arg }
        })
        .collect()
}

/// What a generated launcher needs: its name, generics, parameters and grid.
pub struct LaunchFn<'a> {
    pub doc: String,
    pub name: &'a str,
    pub generics: TokenStream,
    pub params: &'a [LaunchParam],
    /// Arguments before the parameters' own (const generics).
    pub leading_args: Vec<TokenStream>,
    /// How the grid is computed; empty when it is the launcher's `__grid` argument.
    pub grid: TokenStream,
    pub checks: TokenStream,
    /// The `KernelSource` constant to launch.
    pub source: TokenStream,
}

/// The launcher function.
pub fn launch_fn(l: LaunchFn<'_>) -> TokenStream {
    let private = paths::private();
    let fn_name = format_ident!("{}", l.name);
    let (idents, tys): (Vec<_>, Vec<_>) = l.params.iter().map(|p| (&p.ident, &p.ty)).unzip();
    let args = l
        .leading_args
        .into_iter()
        .chain(l.params.iter().map(|p| p.arg.clone()));
    let (doc, generics, checks, source) = (l.doc, l.generics, l.checks, l.source);
    let (grid_param, grid) = if l.grid.is_empty() {
        (quote!(__grid: #private::Grid,), quote!(__grid))
    } else {
        (TokenStream::new(), l.grid)
    };
    // The launcher takes the kernel's parameters plus the device and the grid, so a kernel
    // with six parameters already passes clippy's limit; that count is the user's choice.
    quote! {
        #[doc = #doc]
        #[allow(clippy::too_many_arguments)]
        pub fn #fn_name<#generics>(
            __device: &#private::Device,
            #grid_param
            #(#idents: #tys),*
        ) -> ::core::result::Result<(), #private::LaunchError> {
            #checks
            #private::launch(__device, &#source, #grid, &mut [#(#args),*])
        }
    }
}

fn host_int(t: HostInt) -> TokenStream {
    match t {
        HostInt::U32 => quote!(u32),
        HostInt::Usize => quote!(usize),
    }
}
