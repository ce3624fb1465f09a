//! What the expressions in a model's attributes read. Shapes, lengths, sub-model configs
//! and checks are evaluated from the model's `#[config]` fields alone (bound as locals),
//! so a lower-case name that is not one of them is a missing config field: reported here
//! with that advice rather than as rustc's "cannot find value".

use std::collections::BTreeSet;

use syn::visit::Visit;
use syn::{Expr, Ident};

use crate::ctxt::Ctxt;

/// The single-segment, lower-case names `expr` reads as values, in order of appearance.
pub fn names(expr: &Expr) -> Vec<Ident> {
    let mut v = Reads::default();
    v.visit_expr(expr);
    v.found
}

/// Reports each name in `expr` that is neither a `#[config]` field nor one of `extra`.
pub fn check(cx: &Ctxt, expr: &Expr, config: &BTreeSet<String>, extra: &[&str], model: &Ident) {
    for name in names(expr) {
        let s = name.to_string();
        if !config.contains(&s) && !extra.contains(&s.as_str()) {
            let msg = format!(
                "`{s}` is not a `#[config]` field of `{model}`: attribute expressions read only config fields; add `#[config] {s}: usize` (or the type it has)"
            );
            cx.error_spanned_by(&name, msg);
        }
    }
}

#[derive(Default)]
struct Reads {
    found: Vec<Ident>,
}

impl<'ast> Visit<'ast> for Reads {
    fn visit_expr_path(&mut self, p: &'ast syn::ExprPath) {
        let Some(ident) = p.path.get_ident() else {
            return;
        };
        let lower = ident
            .to_string()
            .starts_with(|c: char| c.is_lowercase() || c == '_');
        if p.qself.is_none() && lower && !self.found.iter().any(|f| f == ident) {
            self.found.push(ident.clone());
        }
    }

    fn visit_expr_call(&mut self, c: &'ast syn::ExprCall) {
        // A called function's name is not a value read.
        if !matches!(&*c.func, Expr::Path(_)) {
            self.visit_expr(&c.func);
        }
        for arg in &c.args {
            self.visit_expr(arg);
        }
    }

    // Closures bind their own names; macros' tokens are not expressions.
    fn visit_expr_closure(&mut self, _: &'ast syn::ExprClosure) {}
    fn visit_expr_macro(&mut self, _: &'ast syn::ExprMacro) {}
}

/// Reports every name a `default = ..` reads: a default is a constant, filled in when the
/// key is absent, before any other field is known.
pub fn check_constant(cx: &Ctxt, expr: &Expr) {
    for name in names(expr) {
        let msg = format!(
            "a default is a constant: it cannot read `{name}` (write the value, or compute it in a `check` or where the config is built)"
        );
        cx.error_spanned_by(&name, msg);
    }
}
