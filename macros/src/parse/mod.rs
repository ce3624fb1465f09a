//! `syn` → [`crate::ast`]: what syntax a kernel may use. Meaning (names, types) is
//! `lower`'s business; this pass only rejects syntax no kernel can contain.

pub mod attr;
pub mod expr;
pub mod literal;
pub mod signature;
pub mod stmt;
pub mod types;

use proc_macro2::TokenStream;

use crate::ast::KernelFn;
use crate::ctxt::Ctxt;
use crate::src::Src;

/// Parses the attribute arguments and the function. `None` only when the item is not a
/// function at all; otherwise the returned AST may be partial and `cx` holds the errors.
pub fn kernel(cx: &Ctxt, args: TokenStream, item: &syn::ItemFn) -> KernelFn {
    let attrs = attr::kernel_attrs(cx, args);
    signature::qualifiers(cx, &item.sig);
    let const_generics = signature::const_generics(cx, &item.sig.generics);
    let mut params = Vec::new();
    let mut poisoned = Vec::new();
    for arg in &item.sig.inputs {
        match signature::param(cx, arg) {
            Some(p) => params.push(p),
            None => poisoned.extend(signature::param_name(arg)),
        }
    }
    let output = signature::output(cx, &item.sig.output);
    let output_src = match &item.sig.output {
        syn::ReturnType::Type(_, ty) => Some(Src::of(ty)),
        syn::ReturnType::Default => None,
    };
    KernelFn {
        attrs,
        docs: fn_attributes(cx, &item.attrs),
        vis: item.vis.clone(),
        name: item.sig.ident.clone(),
        const_generics,
        params,
        poisoned,
        output,
        output_src,
        body: stmt::block(cx, &item.block),
    }
}

/// Keeps doc comments for the generated module; lint attributes are accepted and
/// dropped (they have nothing to apply to); anything else is an error rather than
/// silently ignored.
fn fn_attributes(cx: &Ctxt, attrs: &[syn::Attribute]) -> Vec<syn::Attribute> {
    let mut docs = Vec::new();
    for attr in attrs {
        let path = attr.path();
        if path.is_ident("doc") {
            docs.push(attr.clone());
        } else if !["allow", "expect", "warn", "deny"]
            .iter()
            .any(|l| path.is_ident(l))
        {
            cx.error_spanned_by(
                attr,
                "unsupported attribute on a kernel; only doc comments and lint attributes are accepted",
            );
        }
    }
    docs
}
