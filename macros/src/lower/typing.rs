//! Types: literals typed by their context, unification of operands, type names in
//! messages.

use vibee_dsl::kernel::{Elem, Expr, ExprKind, Lit, Ty, VECTOR_LANES};

use super::Lowerer;
use crate::ast::LitValue;
use crate::src::Src;

/// How a type reads in messages: `f32`, `u32x4`.
pub fn describe(ty: Ty) -> String {
    if ty.is_vector() {
        format!("{}x{}", ty.elem.rust_name(), ty.lanes)
    } else {
        ty.elem.rust_name().to_string()
    }
}

impl Lowerer<'_> {
    /// A literal; unsuffixed ones take the element type of `hint` when it fits.
    pub(super) fn literal(&mut self, value: LitValue, hint: Option<Ty>, src: Src) -> Option<Expr> {
        let want = hint.map(|t| t.elem);
        let (lit, elem) = match value {
            LitValue::Bool(b) => (Lit::Bool(b), Elem::Bool),
            LitValue::Int(v, suffix) => {
                let elem = match (suffix, want) {
                    (Some(e), _) => e,
                    (None, Some(w)) if w.is_int() => w,
                    (None, Some(w)) if w.is_float() => {
                        self.error(
                            src,
                            format!(
                                "expected `{}`, found integer literal `{v}`; write `{v}.0`",
                                w.rust_name()
                            ),
                        );
                        return None;
                    }
                    _ => Elem::U32,
                };
                if elem == Elem::I32 && v > i32::MAX as u64 {
                    self.error(src, "integer literal out of range for `i32`");
                    return None;
                }
                (Lit::Int(v as i64), elem)
            }
            LitValue::Float(v, suffix) => {
                let elem = match (suffix, want) {
                    (Some(e), _) => e,
                    (None, Some(w)) if w.is_float() => w,
                    (None, Some(w)) if w.is_int() => {
                        self.error(
                            src,
                            format!("expected `{}`, found a float literal; kernels do not convert implicitly", w.rust_name()),
                        );
                        return None;
                    }
                    _ => Elem::F32,
                };
                (Lit::Float(v), elem)
            }
        };
        Some(self.node(ExprKind::Lit(lit), Ty::scalar(elem), src))
    }

    /// `e` as a value of type `want`: equal types pass, a scalar is broadcast to a vector
    /// of its element type, anything else is a mismatch reported at `e`.
    pub(super) fn coerce(&mut self, e: Expr, want: Ty, context: &str) -> Option<Expr> {
        if e.ty == want {
            return Some(e);
        }
        if want.is_vector() && !e.ty.is_vector() && e.ty.elem == want.elem {
            return Some(self.splat(e, want.lanes));
        }
        let src = self.src(e.span);
        self.error(
            src,
            format!(
                "mismatched types: expected `{}`, found `{}` {context}{}",
                describe(want),
                describe(e.ty),
                conversion_hint(e.ty, want)
            ),
        );
        None
    }

    /// A vector whose lanes all hold `e`.
    pub(super) fn splat(&mut self, e: Expr, lanes: u8) -> Expr {
        let src = self.src(e.span);
        let ty = Ty::vector(e.ty.elem, lanes);
        let lanes = vec![e; lanes as usize];
        self.node(ExprKind::Construct(lanes), ty, src)
    }

    /// Makes two operands agree on lanes: a scalar beside a vector of its element type is
    /// broadcast.
    pub(super) fn broadcast(&mut self, a: Expr, b: Expr) -> (Expr, Expr) {
        match (a.ty.is_vector(), b.ty.is_vector()) {
            (true, false) if a.ty.elem == b.ty.elem => {
                let b = self.splat(b, a.ty.lanes);
                (a, b)
            }
            (false, true) if a.ty.elem == b.ty.elem => {
                let a = self.splat(a, b.ty.lanes);
                (a, b)
            }
            _ => (a, b),
        }
    }

    /// A zero of type `ty` (the initial value of temporaries).
    pub(super) fn zero(&mut self, ty: Ty, src: Src) -> Expr {
        let lit = match ty.elem {
            Elem::Bool => Lit::Bool(false),
            e if e.is_float() => Lit::Float(0.0),
            _ => Lit::Int(0),
        };
        let scalar = self.node(ExprKind::Lit(lit), Ty::scalar(ty.elem), src);
        if ty.is_vector() {
            self.splat(scalar, VECTOR_LANES)
        } else {
            scalar
        }
    }
}

fn conversion_hint(found: Ty, want: Ty) -> String {
    if found.lanes == want.lanes && found.elem.is_numeric() && want.elem.is_numeric() {
        format!("; convert with `as {}`", want.elem.rust_name())
    } else {
        String::new()
    }
}
