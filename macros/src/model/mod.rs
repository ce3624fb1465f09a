//! `#[vibee::model]`: a struct of `#[config]` values, `#[param]` tensors and `#[module]`
//! sub-models becomes a model: [`parse`] reads the fields' roles, [`check`]s them as a
//! whole (names, what attribute expressions read), [`codegen`] emits the config struct and
//! the `Module` / `Model` impls. Every error is reported at once; the struct itself is
//! always re-emitted (without the field attributes) so the rest of the crate still
//! type-checks.

mod codegen;
mod init;
mod parse;
mod reads;

use std::collections::{BTreeMap, BTreeSet};

use proc_macro2::TokenStream;
use quote::quote;

use crate::ctxt::Ctxt;
use parse::{Many, ModelDef, Role};

/// Expands `#[vibee::model(args)] item`, turning a panic into a spanned error.
pub fn model_guarded(args: TokenStream, item: TokenStream) -> TokenStream {
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| model(args, item)));
    let expanded = result.unwrap_or_else(|payload| crate::expand::bug(&payload));
    crate::debug::dump(&expanded);
    expanded
}

/// Expands `#[vibee::model(args)] item`.
pub fn model(args: TokenStream, item: TokenStream) -> TokenStream {
    let item: syn::ItemStruct = match syn::parse2(item.clone()) {
        Ok(s) => s,
        Err(_) => {
            let msg = "`#[vibee::model]` applies to structs: `struct Mlp { #[module(..)] fc: Linear, .. }`";
            return syn::Error::new_spanned(&item, msg).to_compile_error();
        }
    };
    let cx = Ctxt::new();
    let def = parse::model(&cx, args, item);
    check(&cx, &def);
    match cx.check() {
        Ok(()) => codegen::generate(&def),
        Err(errors) => {
            let (errors, item) = (errors.to_compile_error(), &def.item);
            quote!(#errors #item)
        }
    }
}

/// Whole-struct rules: unique dotted names, and attribute expressions that read only
/// `#[config]` fields (plus `i`, the index, in a `Vec` field's config).
fn check(cx: &Ctxt, def: &ModelDef) {
    let config: BTreeSet<String> = def
        .fields
        .iter()
        .filter(|f| matches!(f.role, Role::Config { .. }))
        .map(|f| f.ident.to_string())
        .collect();
    let model = &def.item.ident;
    let mut names: BTreeMap<String, &syn::Ident> = BTreeMap::new();
    for f in &def.fields {
        let (name, exprs, extra): (_, Vec<&syn::Expr>, &[&str]) = match &f.role {
            Role::Config { default, checks } => {
                // A default is a constant: it cannot see the other fields.
                if let Some(d) = default {
                    reads::check_constant(cx, d);
                }
                (None, checks.iter().collect(), &[])
            }
            Role::Param {
                name,
                shape,
                init,
                when,
            } => {
                let init = init.iter().flat_map(|i| i.args());
                (
                    Some(name),
                    shape.iter().chain(when).chain(init).collect(),
                    &[],
                )
            }
            Role::Module {
                name,
                config,
                init,
                many,
                ..
            } => {
                let init = init.iter().flat_map(|i| i.args());
                let (count, extra): (Option<&syn::Expr>, &[&str]) = match many {
                    Many::One => (None, &[]),
                    Many::Vec(len) => (Some(len), &["i"]),
                    Many::Option(when) => (Some(when), &[]),
                };
                let all = std::iter::once(&**config)
                    .chain(count)
                    .chain(init)
                    .collect();
                (Some(name), all, extra)
            }
        };
        for e in exprs {
            reads::check(cx, e, &config, extra, model);
        }
        if let Some(name) = name
            && let Some(first) = names.insert(name.value(), &f.ident)
        {
            let msg = format!(
                "duplicate name `{}`: field `{first}` already saves its parameters under it; give one of them `name = \"..\"`",
                name.value(),
            );
            cx.error_spanned_by(name, msg);
        }
    }
}
