//! `#[vibee::model]`'s input: the struct, each field's role from its attribute, and the
//! attribute arguments, checked one by one so every problem is reported at its tokens.

use proc_macro2::TokenStream;
use quote::{ToTokens, format_ident, quote};
use syn::{Attribute, Expr, Ident, LitStr, Type};

use super::init::InitSpec;
use crate::ctxt::Ctxt;

/// The struct under `#[vibee::model]`.
pub struct ModelDef {
    pub item: syn::ItemStruct,
    pub config_ident: Ident,
    /// Path of the runtime crate in generated code (`::vibee::runtime`, or `crate` inside it).
    pub krate: TokenStream,
    pub fields: Vec<Field>,
}

pub struct Field {
    pub ident: Ident,
    pub ty: Type,
    pub docs: Vec<Attribute>,
    pub role: Role,
}

pub enum Role {
    Config {
        default: Option<Expr>,
        checks: Vec<Expr>,
    },
    Param {
        name: LitStr,
        shape: Vec<Expr>,
        init: Option<InitSpec>,
        when: Option<Expr>,
    },
    Module {
        name: LitStr,
        ty: Box<Type>,
        config: Box<Expr>,
        init: Option<InitSpec>,
        many: Many,
    },
}

/// How many sub-models a `#[module]` field holds.
pub enum Many {
    One,
    Vec(Expr),
    Option(Expr),
}

const ROLES: &str = "`#[config]`, `#[param(shape = [..])]` or `#[module(config = ..)]`";

/// Reads the struct and its attribute arguments, recording every problem in `cx`.
pub fn model(cx: &Ctxt, args: TokenStream, item: syn::ItemStruct) -> ModelDef {
    let (config_ident, krate) = macro_args(cx, args, &item.ident);
    if !item.generics.params.is_empty() {
        let msg = "a model cannot be generic: parameters are f32 tensors and sizes come from `#[config]` fields";
        cx.error_spanned_by(&item.generics, msg);
    }
    let named = match &item.fields {
        syn::Fields::Named(named) => named.named.iter().collect(),
        other => {
            let msg = "a model is a struct with named fields: `struct Mlp { #[module(..)] fc: Linear, .. }`";
            cx.error_spanned_by(other, msg);
            Vec::new()
        }
    };
    let fields = named.into_iter().filter_map(|f| field(cx, f)).collect();
    let mut item = item;
    for f in item.fields.iter_mut() {
        f.attrs.retain(|a| role_of(a).is_none());
    }
    ModelDef {
        item,
        config_ident,
        krate,
        fields,
    }
}

fn macro_args(cx: &Ctxt, args: TokenStream, name: &Ident) -> (Ident, TokenStream) {
    let mut config = format_ident!("{}Config", name);
    let mut krate = quote!(::vibee::runtime);
    let parser = syn::meta::parser(|meta| {
        if meta.path.is_ident("config") {
            config = meta.value()?.parse()?;
        } else if meta.path.is_ident("crate") {
            krate = meta.value()?.parse::<syn::Path>()?.into_token_stream();
        } else {
            return Err(meta.error(
                "unknown argument: `#[vibee::model]` takes `config = NameConfig` and `crate = path`",
            ));
        }
        Ok(())
    });
    if let Err(e) = syn::parse::Parser::parse2(parser, args) {
        cx.syn_error(e);
    }
    (config, krate)
}

fn role_of(attr: &Attribute) -> Option<&'static str> {
    ["config", "param", "module"]
        .into_iter()
        .find(|r| attr.path().is_ident(r))
}

fn field(cx: &Ctxt, f: &syn::Field) -> Option<Field> {
    let ident = f.ident.clone()?;
    let docs = f
        .attrs
        .iter()
        .filter(|a| a.path().is_ident("doc"))
        .cloned()
        .collect();
    let mut roles = f.attrs.iter().filter(|a| role_of(a).is_some());
    let Some(attr) = roles.next() else {
        let hint = if last_ident(&f.ty).is_some_and(|i| i == "Param") {
            "a parameter needs `#[param(shape = [..])]`".to_string()
        } else {
            format!("each field of a model is {ROLES}")
        };
        cx.error_spanned_by(&ident, format!("field `{ident}` has no role: {hint}"));
        return None;
    };
    for extra in roles {
        cx.error_spanned_by(extra, format!("a field has one role: {ROLES}"));
    }
    let name = LitStr::new(ident.to_string().trim_start_matches("r#"), ident.span());
    let role = match role_of(attr) {
        Some("config") => config_role(cx, attr, &f.ty),
        Some("param") => param_role(cx, attr, &f.ty, name),
        _ => module_role(cx, attr, &f.ty, name),
    }?;
    Some(Field {
        ident,
        ty: f.ty.clone(),
        docs,
        role,
    })
}

fn config_role(cx: &Ctxt, attr: &Attribute, ty: &Type) -> Option<Role> {
    let (mut default, mut checks) = (None, Vec::new());
    if !matches!(attr.meta, syn::Meta::Path(_)) {
        let parsed = attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("default") {
                default = Some(meta.value()?.parse()?);
            } else if meta.path.is_ident("check") {
                checks.push(meta.value()?.parse()?);
            } else {
                return Err(meta.error(
                    "unknown key: `#[config]` takes `default = <expr>` and `check = <bool expr>`",
                ));
            }
            Ok(())
        });
        if let Err(e) = parsed {
            cx.syn_error(e);
            return None;
        }
    }
    match ty {
        Type::Reference(_) => cx.error_spanned_by(
            ty,
            "a config value is owned data (it is read from TOML): use `String`, not `&str`",
        ),
        _ if last_ident(ty).is_some_and(|i| i == "Param") => cx.error_spanned_by(
            ty,
            "a `Param` is a parameter, not a config value: use `#[param(shape = [..])]`",
        ),
        _ => {}
    }
    Some(Role::Config { default, checks })
}

/// Arguments common to `#[param]` and `#[module]`, read in one pass.
#[derive(Default)]
struct Args {
    name: Option<LitStr>,
    shape: Option<syn::ExprArray>,
    init: Option<InitSpec>,
    when: Option<Expr>,
    len: Option<Expr>,
    config: Option<Expr>,
}

fn args(cx: &Ctxt, attr: &Attribute, keys: &[&str]) -> Option<Args> {
    let mut a = Args::default();
    let role = role_of(attr).unwrap_or("param");
    if matches!(attr.meta, syn::Meta::Path(_)) {
        return Some(a);
    }
    let parsed = attr.parse_nested_meta(|meta| {
        let key = meta
            .path
            .get_ident()
            .map(Ident::to_string)
            .unwrap_or_default();
        if !keys.contains(&key.as_str()) {
            let list = keys.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>();
            let msg = format!("unknown key: `#[{role}]` takes {}", list.join(", "));
            return Err(meta.error(msg));
        }
        let value = meta.value()?;
        match key.as_str() {
            "name" => a.name = Some(value.parse()?),
            "shape" => a.shape = Some(value.parse()?),
            "init" => a.init = Some(super::init::parse(&value.parse()?)?),
            "when" => a.when = Some(value.parse()?),
            "len" => a.len = Some(value.parse()?),
            _ => a.config = Some(value.parse()?),
        }
        Ok(())
    });
    match parsed {
        Ok(()) => Some(a),
        Err(e) => {
            cx.syn_error(e);
            None
        }
    }
}

fn param_role(cx: &Ctxt, attr: &Attribute, ty: &Type, name: LitStr) -> Option<Role> {
    let a = args(cx, attr, &["shape", "init", "name", "when"])?;
    let optional = match container(ty) {
        Some(("Option", inner)) if is_param(inner) => true,
        None if is_param(ty) => false,
        _ => {
            let msg = "a `#[param]` field is a `Param`, or an `Option<Param>` with `when = <bool>`";
            cx.error_spanned_by(ty, msg);
            return None;
        }
    };
    match (&a.when, optional) {
        (None, true) => cx.error_spanned_by(
            ty,
            "an `Option<Param>` needs `when = <bool expr>`: whether the model has it",
        ),
        (Some(w), false) => cx.error_spanned_by(w, "`when` is for an `Option<Param>` field"),
        _ => {}
    }
    let Some(shape) = a.shape else {
        cx.error_spanned_by(attr, "missing `shape = [..]`: the parameter's dimensions");
        return None;
    };
    Some(Role::Param {
        name: checked_name(cx, a.name, name),
        shape: shape.elems.into_iter().collect(),
        init: a.init,
        when: a.when,
    })
}

fn module_role(cx: &Ctxt, attr: &Attribute, ty: &Type, name: LitStr) -> Option<Role> {
    let a = args(cx, attr, &["config", "init", "name", "len", "when"])?;
    let (many, inner) = match (container(ty), a.len, a.when) {
        (Some(("Vec", inner)), Some(len), None) => (Many::Vec(len), inner),
        (Some(("Option", inner)), None, Some(when)) => (Many::Option(when), inner),
        (None, None, None) if !is_param(ty) => (Many::One, ty),
        (Some(("Vec", _)), None, _) => {
            cx.error_spanned_by(ty, "a `Vec` of sub-models needs `len = <usize expr>`");
            return None;
        }
        (Some(("Option", _)), _, None) => {
            cx.error_spanned_by(ty, "an `Option` sub-model needs `when = <bool expr>`");
            return None;
        }
        (None, Some(len), _) => {
            cx.error_spanned_by(len, "`len` is for a `Vec` of sub-models");
            return None;
        }
        (_, _, Some(when)) if container(ty).is_none() => {
            cx.error_spanned_by(when, "`when` is for an `Option` sub-model");
            return None;
        }
        _ => {
            cx.error_spanned_by(ty, format!("unsupported field type: {SUPPORTED}"));
            return None;
        }
    };
    if !plain_model_type(inner) {
        cx.error_spanned_by(inner, format!("unsupported field type: {SUPPORTED}"));
        return None;
    }
    let Some(config) = a.config else {
        let msg = "missing `config = <expr>`: the sub-model's config, built from this model's `#[config]` fields";
        cx.error_spanned_by(attr, msg);
        return None;
    };
    Some(Role::Module {
        name: checked_name(cx, a.name, name),
        ty: Box::new(inner.clone()),
        config: Box::new(config),
        init: a.init,
        many,
    })
}

const SUPPORTED: &str = "a model holds `Param`s, sub-models (`T`, `Vec<T>`, `Option<T>` where `T` is a model) and `#[config]` values";

fn checked_name(cx: &Ctxt, given: Option<LitStr>, default: LitStr) -> LitStr {
    let Some(lit) = given else { return default };
    let v = lit.value();
    if v.is_empty() || v.contains('.') || v.chars().any(char::is_whitespace) {
        let msg = "a name is one segment of a dotted parameter name: not empty, no `.` or spaces";
        cx.error_spanned_by(&lit, msg);
    }
    lit
}

/// `Vec<T>` / `Option<T>` (and other one-argument generics) as `(outer, T)`.
fn container(ty: &Type) -> Option<(&'static str, &Type)> {
    let Type::Path(p) = ty else { return None };
    let seg = p.path.segments.last()?;
    let syn::PathArguments::AngleBracketed(args) = &seg.arguments else {
        return None;
    };
    let Some(syn::GenericArgument::Type(inner)) = args.args.first() else {
        return None;
    };
    let outer = match seg.ident.to_string().as_str() {
        "Vec" => "Vec",
        "Option" => "Option",
        _ => "other",
    };
    Some((outer, inner))
}

fn last_ident(ty: &Type) -> Option<&Ident> {
    match ty {
        Type::Path(p) if p.qself.is_none() => p.path.segments.last().map(|s| &s.ident),
        _ => None,
    }
}

fn is_param(ty: &Type) -> bool {
    last_ident(ty).is_some_and(|i| i == "Param") && container(ty).is_none()
}

/// A path naming a model type: no references, tuples, arrays or containers.
fn plain_model_type(ty: &Type) -> bool {
    matches!(ty, Type::Path(p) if p.qself.is_none()) && container(ty).is_none() && !is_param(ty)
}
