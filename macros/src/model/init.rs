//! `init = ...` on a `#[param]` or `#[module]` field: how parameters start.

use proc_macro2::TokenStream;
use quote::quote;
use syn::Expr;

const ACCEPTED: &str = "`zeros`, `ones`, `normal(std)`, `normal(mean, std)`, `uniform(bound)`, `xavier_uniform`, `xavier_uniform(gain)`, `xavier_normal` or `xavier_normal(gain)`";

/// A parsed initialiser: its rule and argument expressions (any `f32`-castable values).
pub struct InitSpec {
    rule: &'static str,
    args: Vec<Expr>,
}

/// Reads `zeros`, `normal(0.0, 0.02)`, `xavier_uniform(2.0)`, ...
pub fn parse(expr: &Expr) -> syn::Result<InitSpec> {
    let (path, args) = match expr {
        Expr::Path(p) => (&p.path, Vec::new()),
        Expr::Call(c) => match &*c.func {
            Expr::Path(p) => (&p.path, c.args.iter().cloned().collect()),
            _ => return Err(syn::Error::new_spanned(expr, unknown())),
        },
        _ => return Err(syn::Error::new_spanned(expr, unknown())),
    };
    let name = path
        .get_ident()
        .map(ToString::to_string)
        .unwrap_or_default();
    let (rule, arity): (&'static str, &[usize]) = match name.as_str() {
        "zeros" => ("zeros", &[0]),
        "ones" => ("ones", &[0]),
        "normal" => ("normal", &[1, 2]),
        "uniform" => ("uniform", &[1]),
        "xavier_uniform" => ("xavier_uniform", &[0, 1]),
        "xavier_normal" => ("xavier_normal", &[0, 1]),
        _ => return Err(syn::Error::new_spanned(path, unknown())),
    };
    if !arity.contains(&args.len()) {
        let counts: Vec<String> = arity.iter().map(ToString::to_string).collect();
        let msg = format!(
            "`{rule}` takes {} argument(s), not {}",
            counts.join(" or "),
            args.len()
        );
        return Err(syn::Error::new_spanned(expr, msg));
    }
    Ok(InitSpec { rule, args })
}

fn unknown() -> String {
    format!("unknown initialiser: use {ACCEPTED}")
}

impl InitSpec {
    /// The `Init` value, spelled through `nn` (the runtime's `nn` module path).
    pub fn tokens(&self, nn: &TokenStream) -> TokenStream {
        let a: Vec<TokenStream> = self.args.iter().map(|e| quote!((#e) as f32)).collect();
        match (self.rule, a.as_slice()) {
            ("zeros", _) => quote!(#nn::Init::Zeros),
            ("ones", _) => quote!(#nn::Init::Ones),
            ("normal", [std]) => quote!(#nn::Init::Normal { mean: 0.0, std: #std }),
            ("normal", [mean, std]) => quote!(#nn::Init::Normal { mean: #mean, std: #std }),
            ("uniform", [bound]) => quote!(#nn::Init::Uniform { bound: #bound }),
            ("xavier_uniform", [gain]) => quote!(#nn::Init::XavierUniform { gain: #gain }),
            ("xavier_uniform", _) => quote!(#nn::Init::XavierUniform { gain: 1.0 }),
            ("xavier_normal", [gain]) => quote!(#nn::Init::XavierNormal { gain: #gain }),
            _ => quote!(#nn::Init::XavierNormal { gain: 1.0 }),
        }
    }

    /// The argument expressions, for the check that they only read `#[config]` fields.
    pub fn args(&self) -> &[Expr] {
        &self.args
    }
}
