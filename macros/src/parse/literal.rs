//! Literals and named constants (`f32::MAX`, `u32::MAX`).

use vibee_dsl::kernel::Elem;

use crate::ast::{ExprKind, LitValue};
use crate::ctxt::Ctxt;
use crate::parse::expr::suffix_elem;

/// A literal; its suffix, if any, fixes the type.
pub fn lit(cx: &Ctxt, lit: &syn::Lit) -> ExprKind {
    match lit {
        syn::Lit::Int(i) => int(cx, i),
        syn::Lit::Float(f) => float(cx, f),
        syn::Lit::Bool(b) => ExprKind::Lit(LitValue::Bool(b.value)),
        other => {
            cx.error_spanned_by(
                other,
                "only numeric and `bool` literals are supported in kernels",
            );
            ExprKind::Error
        }
    }
}

fn int(cx: &Ctxt, i: &syn::LitInt) -> ExprKind {
    let suffix = match i.suffix() {
        "" => None,
        "f32" | "f16" | "bf16" => {
            return match i.base10_parse::<u64>() {
                Ok(v) => ExprKind::Lit(LitValue::Float(v as f64, suffix_elem(i.suffix()))),
                Err(e) => error(cx, e),
            };
        }
        s => match suffix_elem(s) {
            Some(e) if e.is_int() => Some(e),
            _ => {
                cx.error_spanned_by(i, format!("integer literals of type `{s}` are not supported in kernels; use `i32` or `u32`"));
                return ExprKind::Error;
            }
        },
    };
    match i.base10_parse::<u64>() {
        Ok(v) if v <= u32::MAX as u64 => ExprKind::Lit(LitValue::Int(v, suffix)),
        Ok(_) => {
            cx.error_spanned_by(i, "integer literal out of range for 32-bit integers");
            ExprKind::Error
        }
        Err(e) => error(cx, e),
    }
}

fn float(cx: &Ctxt, f: &syn::LitFloat) -> ExprKind {
    let suffix = match f.suffix() {
        "" => None,
        s => match suffix_elem(s) {
            Some(e) if e.is_float() => Some(e),
            _ => {
                cx.error_spanned_by(f, format!("float literals of type `{s}` are not supported in kernels; use `f32` (or `f16`/`bf16`)"));
                return ExprKind::Error;
            }
        },
    };
    match f.base10_parse::<f64>() {
        Ok(v) if v.is_finite() => ExprKind::Lit(LitValue::Float(v, suffix)),
        Ok(_) => {
            cx.error_spanned_by(f, "float literal out of range");
            ExprKind::Error
        }
        Err(e) => error(cx, e),
    }
}

fn error(cx: &Ctxt, e: syn::Error) -> ExprKind {
    cx.syn_error(e);
    ExprKind::Error
}

/// `f32::MAX`, `f32::MIN`, `f32::EPSILON`, `u32::MAX`, `i32::MIN`, `i32::MAX`.
pub fn named_constant(path: &syn::Path) -> Result<LitValue, String> {
    let names: Vec<String> = path.segments.iter().map(|s| s.ident.to_string()).collect();
    let [ty, name] = names.as_slice() else {
        return Err(format!(
            "`{}` is not supported in kernels; only local names, parameters and constants such as `f32::MAX` are",
            names.join("::")
        ));
    };
    let float = |v: f64| LitValue::Float(v, Some(Elem::F32));
    Ok(match (ty.as_str(), name.as_str()) {
        ("f32", "MAX") => float(f32::MAX as f64),
        ("f32", "MIN") => float(f32::MIN as f64),
        ("f32", "EPSILON") => float(f32::EPSILON as f64),
        ("f32", "MIN_POSITIVE") => float(f32::MIN_POSITIVE as f64),
        ("u32", "MAX") => LitValue::Int(u32::MAX as u64, Some(Elem::U32)),
        ("u32", "MIN") => LitValue::Int(0, Some(Elem::U32)),
        ("i32", "MAX") => LitValue::Int(i32::MAX as u64, Some(Elem::I32)),
        ("f32", "INFINITY" | "NEG_INFINITY" | "NAN") => {
            return Err(format!(
                "`f32::{name}` is not supported in kernels (the IR holds finite literals); use `f32::MAX` or `f32::MIN`"
            ));
        }
        _ => {
            return Err(format!(
                "`{ty}::{name}` is not supported in kernels; supported constants: `f32::MAX`, `f32::MIN`, `f32::EPSILON`, `f32::MIN_POSITIVE`, `u32::MAX`, `u32::MIN`, `i32::MAX`"
            ));
        }
    })
}
