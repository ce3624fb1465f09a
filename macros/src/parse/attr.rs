//! Attribute arguments: `#[vibee::kernel(differentiable, assert(…))]` and
//! `#[comptime(power_of_two, multiple_of = N)]` on parameters and const generics.

use proc_macro2::TokenStream;
use syn::meta::ParseNestedMeta;

use crate::ast::{ComptimeChecks, KernelAttrs};
use crate::ctxt::Ctxt;
use crate::src::Src;

/// Parses the arguments of `#[vibee::kernel(...)]`.
pub fn kernel_attrs(cx: &Ctxt, args: TokenStream) -> KernelAttrs {
    let mut attrs = KernelAttrs::default();
    let parser = syn::meta::parser(|meta| kernel_arg(&mut attrs, meta));
    if let Err(err) = syn::parse::Parser::parse2(parser, args) {
        cx.syn_error(err);
    }
    attrs
}

fn kernel_arg(attrs: &mut KernelAttrs, meta: ParseNestedMeta<'_>) -> syn::Result<()> {
    if meta.path.is_ident("differentiable") {
        if attrs.differentiable.is_some() {
            return Err(meta.error("duplicate `differentiable` argument"));
        }
        attrs.differentiable = Some(Src::of(&meta.path));
        return Ok(());
    }
    if meta.path.is_ident("assert") {
        let content;
        syn::parenthesized!(content in meta.input);
        attrs.asserts.push(content.parse()?);
        return Ok(());
    }
    let path = &meta.path;
    Err(meta.error(format!(
        "unknown `#[vibee::kernel]` argument `{}`; expected `differentiable` or `assert(<condition on comptime values>)`",
        quote::quote!(#path).to_string().replace(' ', "")
    )))
}

/// Finds `#[comptime]` / `#[comptime(...)]` among `attrs`; other attributes are errors
/// (doc comments excepted), since the macro would silently drop them.
pub fn comptime_attr(cx: &Ctxt, attrs: &[syn::Attribute]) -> Option<ComptimeChecks> {
    let mut found = None;
    for attr in attrs {
        if !attr.path().is_ident("comptime") {
            cx.error_spanned_by(
                attr,
                "unsupported attribute on a kernel parameter; only `#[comptime]` and `#[comptime(power_of_two, multiple_of = N)]` are accepted",
            );
            continue;
        }
        let mut checks = ComptimeChecks::default();
        if let syn::Meta::List(_) = attr.meta
            && let Err(err) = attr.parse_nested_meta(|meta| comptime_arg(&mut checks, meta))
        {
            cx.syn_error(err);
        }
        found = Some(checks);
    }
    found
}

fn comptime_arg(checks: &mut ComptimeChecks, meta: ParseNestedMeta<'_>) -> syn::Result<()> {
    if meta.path.is_ident("power_of_two") {
        checks.power_of_two = true;
        return Ok(());
    }
    if meta.path.is_ident("multiple_of") {
        checks.multiple_of = Some(meta.value()?.parse()?);
        return Ok(());
    }
    Err(meta.error(
        "unknown `#[comptime]` check; expected `power_of_two` or `multiple_of = <integer or comptime value>`",
    ))
}
