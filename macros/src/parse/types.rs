//! Types as kernels spell them: scalars, `usize` (u32 in the IR), `f32x4`-style vectors,
//! and `&[T]` / `&mut [T]` buffers in signatures.

use vibee_dsl::kernel::{Elem, VECTOR_LANES};

use crate::ast::{ParamTy, TypeName};
use crate::ctxt::Ctxt;
use crate::src::Src;

const SCALARS: &str = "`f32`, `f16`, `bf16`, `i32`, `u32`, `usize` or `bool`";

/// A scalar or vector type used in a body (`let x: f32`, `as u32`, `shared::<f32>`).
pub fn type_name(cx: &Ctxt, ty: &syn::Type) -> Option<TypeName> {
    let src = Src::of(ty);
    let Some(name) = single_ident(ty) else {
        cx.error_at(src, unsupported_type_message(ty));
        return None;
    };
    if let Some((elem, _)) = scalar_elem(&name) {
        return Some(TypeName {
            elem,
            lanes: 1,
            src,
        });
    }
    if let Some(elem) = name
        .strip_suffix(&format!("x{VECTOR_LANES}"))
        .and_then(Elem::from_rust_name)
        .filter(|e| *e != Elem::Bool)
    {
        return Some(TypeName {
            elem,
            lanes: VECTOR_LANES,
            src,
        });
    }
    cx.error_at(src, unsupported_type_message(ty));
    None
}

/// The element type of a scalar spelled `name`, and whether it was spelled `usize`.
pub fn scalar_elem(name: &str) -> Option<(Elem, bool)> {
    match name {
        "usize" => Some((Elem::U32, true)),
        other => Elem::from_rust_name(other).map(|e| (e, false)),
    }
}

/// The type of a parameter: a scalar or a buffer.
pub fn param_type(cx: &Ctxt, ty: &syn::Type) -> Option<ParamTy> {
    let src = Src::of(ty);
    if let syn::Type::Reference(reference) = ty {
        return buffer_type(cx, reference);
    }
    let name = single_ident(ty);
    match name.as_deref().and_then(scalar_elem) {
        Some((elem, usize)) => Some(ParamTy::Scalar { elem, usize }),
        None => {
            let message = match name {
                Some(n) if n.ends_with("x4") => format!(
                    "vector parameters such as `{n}` are not supported; pass a buffer and read it with `load4(&x, i)`"
                ),
                _ => unsupported_type_message(ty),
            };
            cx.error_at(src, message);
            None
        }
    }
}

fn buffer_type(cx: &Ctxt, reference: &syn::TypeReference) -> Option<ParamTy> {
    let mutable = reference.mutability.is_some();
    let syn::Type::Slice(slice) = &*reference.elem else {
        let inner = &reference.elem;
        cx.error_at(
            Src::of(reference),
            format!(
                "references to `{}` are not supported; kernels take buffers (`&[f32]`, `&mut [f32]`) or scalars by value",
                quote::quote!(#inner)
            ),
        );
        return None;
    };
    let elem_src = Src::of(&*slice.elem);
    let name = single_ident(&slice.elem);
    match name.as_deref().and_then(scalar_elem) {
        Some((Elem::Bool, _)) => {
            cx.error_at(
                elem_src,
                "buffers of `bool` are not supported (devices store no 1-bit elements); use `u32` holding 0 or 1",
            );
            None
        }
        Some((_, true)) => {
            cx.error_at(elem_src, "buffers of `usize` are not supported; use `u32`");
            None
        }
        Some((elem, false)) => Some(ParamTy::Buffer { elem, mutable }),
        None => {
            cx.error_at(
                elem_src,
                format!(
                    "{}; buffer elements are `f32`, `f16`, `bf16`, `i32` or `u32`",
                    unsupported_type_message(&slice.elem)
                ),
            );
            None
        }
    }
}

/// The identifier of a one-segment path type without generics: `f32`, `String`.
fn single_ident(ty: &syn::Type) -> Option<String> {
    match ty {
        syn::Type::Path(p) if p.qself.is_none() => {
            let ident = p.path.get_ident()?;
            Some(ident.to_string())
        }
        syn::Type::Paren(p) => single_ident(&p.elem),
        syn::Type::Group(g) => single_ident(&g.elem),
        _ => None,
    }
}

/// Why a type is rejected, and what would be accepted instead.
pub fn unsupported_type_message(ty: &syn::Type) -> String {
    let shown = quote::quote!(#ty)
        .to_string()
        .replace(" < ", "<")
        .replace(" >", ">");
    let name = single_ident(ty);
    let hint = match name.as_deref() {
        Some("f64") => "devices lack fast double precision; use `f32`".to_string(),
        Some("i64" | "i128" | "isize" | "i8" | "i16") => "use `i32`".to_string(),
        Some("u64" | "u128" | "u8" | "u16") => "use `u32`".to_string(),
        _ => match ty {
            syn::Type::Array(_) => {
                "pass a buffer (`&[f32]`); for group-shared arrays use `shared::<f32>(LEN)`".into()
            }
            syn::Type::Tuple(t) if t.elems.is_empty() => format!("use one of {SCALARS}"),
            syn::Type::ImplTrait(_) | syn::Type::TraitObject(_) => {
                "kernels are not generic over types; write the element type, e.g. `f32`".into()
            }
            _ if shown.starts_with("Vec") || shown.starts_with("String") => {
                "kernels cannot allocate; pass a buffer (`&[f32]` or `&mut [f32]`)".into()
            }
            _ => format!("use one of {SCALARS}, or a buffer `&[T]` / `&mut [T]`"),
        },
    };
    format!("`{shown}` is not supported in kernels; {hint}")
}
