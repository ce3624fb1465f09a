//! The kernel's signature: qualifiers, const generics, parameters and return type.

use crate::ast::{ConstGeneric, HostInt, Param, TypeName};
use crate::ctxt::Ctxt;
use crate::parse::{attr, types};
use crate::src::Src;

/// Rejects qualifiers a kernel cannot have (`async`, `unsafe`, `const`, `extern`).
pub fn qualifiers(cx: &Ctxt, sig: &syn::Signature) {
    let reject = |node: &dyn quote::ToTokens, what: &str| {
        cx.error_spanned_by(
            node.to_token_stream(),
            format!("`{what}` kernels are not supported; remove `{what}` (kernels are launched with `<name>::launch`)"),
        );
    };
    if let Some(t) = &sig.asyncness {
        reject(t, "async");
    }
    if let Some(t) = &sig.unsafety {
        reject(t, "unsafe");
    }
    if let Some(t) = &sig.constness {
        reject(t, "const");
    }
    if let Some(abi) = &sig.abi {
        reject(abi, "extern");
    }
    if let Some(v) = &sig.variadic {
        cx.error_spanned_by(v, "variadic kernels are not supported");
    }
}

/// Const generics (`<const BLOCK: usize>`); any other generic parameter is an error.
pub fn const_generics(cx: &Ctxt, generics: &syn::Generics) -> Vec<ConstGeneric> {
    if let Some(clause) = &generics.where_clause {
        cx.error_spanned_by(
            clause,
            "`where` clauses are not supported; kernels are generic only over `const N: usize`",
        );
    }
    let mut out = Vec::new();
    for param in &generics.params {
        match param {
            syn::GenericParam::Const(c) => {
                if let Some(generic) = const_generic(cx, c) {
                    out.push(generic);
                }
            }
            syn::GenericParam::Type(t) => cx.error_spanned_by(
                t,
                format!(
                    "generic type parameter `{}` is not supported; kernels are generic only over `const N: usize` (write the element type, e.g. `f32`)",
                    t.ident
                ),
            ),
            syn::GenericParam::Lifetime(l) => cx.error_spanned_by(
                l,
                "lifetime parameters are not supported; buffers are written `&[T]` without lifetimes",
            ),
        }
    }
    out
}

fn const_generic(cx: &Ctxt, c: &syn::ConstParam) -> Option<ConstGeneric> {
    let checks = attr::comptime_attr(cx, &c.attrs).unwrap_or_default();
    if let Some(default) = &c.default {
        cx.error_spanned_by(default, "defaults of const generics are not supported");
    }
    let host_ty = match quote::ToTokens::to_token_stream(&c.ty).to_string().as_str() {
        "usize" => HostInt::Usize,
        "u32" => HostInt::U32,
        _ => {
            cx.error_spanned_by(
                &c.ty,
                "const generics of kernels must be `usize` or `u32` (block sizes, tile widths)",
            );
            return None;
        }
    };
    Some(ConstGeneric {
        ident: c.ident.clone(),
        host_ty,
        checks,
        src: Src::of(c),
    })
}

/// One parameter: a plain name (optionally `mut`) and a supported type.
pub fn param(cx: &Ctxt, arg: &syn::FnArg) -> Option<Param> {
    let typed = match arg {
        syn::FnArg::Receiver(r) => {
            cx.error_spanned_by(
                r,
                "kernels are free functions; `self` parameters are not supported",
            );
            return None;
        }
        syn::FnArg::Typed(t) => t,
    };
    let comptime = attr::comptime_attr(cx, &typed.attrs);
    let ident = match &*typed.pat {
        syn::Pat::Ident(p) if p.by_ref.is_none() && p.subpat.is_none() => Some(p),
        other => {
            cx.error_spanned_by(
                other,
                "patterns are not supported in kernel parameters; use a plain name such as `x: &[f32]`",
            );
            return None;
        }
    };
    let ty = types::param_type(cx, &typed.ty);
    if let (Some(_), Some(crate::ast::ParamTy::Buffer { .. })) = (&comptime, ty) {
        cx.error_spanned_by(
            &typed.attrs[0],
            "`#[comptime]` applies to integer and `bool` parameters; a buffer's contents are only known at run time",
        );
        return None;
    }
    let (ident, ty) = (ident?, ty?);
    Some(Param {
        ident: ident.ident.clone(),
        mutable: ident.mutability.is_some(),
        ty,
        comptime,
        src: Src::of(typed),
        ty_src: Src::of(&typed.ty),
    })
}

/// The name a parameter declares, if it is a plain one.
pub fn param_name(arg: &syn::FnArg) -> Option<syn::Ident> {
    match arg {
        syn::FnArg::Typed(t) => match &*t.pat {
            syn::Pat::Ident(p) => Some(p.ident.clone()),
            _ => None,
        },
        syn::FnArg::Receiver(_) => None,
    }
}

/// The return type: nothing, one scalar, or a tuple of scalars.
pub fn output(cx: &Ctxt, output: &syn::ReturnType) -> Vec<TypeName> {
    let syn::ReturnType::Type(_, ty) = output else {
        return Vec::new();
    };
    match &**ty {
        syn::Type::Tuple(t) => t
            .elems
            .iter()
            .filter_map(|e| types::type_name(cx, e))
            .collect(),
        one => types::type_name(cx, one).into_iter().collect(),
    }
}
