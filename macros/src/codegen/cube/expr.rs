//! Expressions of the kernel IR as `#[cube]` expressions (fully parenthesized, so Rust's
//! precedence never has a say).

use proc_macro2::{Literal, TokenStream};
use quote::quote;
use vibee_dsl::kernel::{
    Axis, BinaryOp, BufRef, Builtin, Elem, Expr, ExprKind, Lit, MathFn, PlaneOp, Ty, UnaryOp,
};

use super::Cx;
use super::body::shared_name;

/// The helpers of `vibee_runtime::cube::ops`, imported as `__ops` by the generated module.
fn ops() -> TokenStream {
    quote!(__ops)
}

/// The CubeCL spelling of an element type (`f16`/`bf16` are imported by the module).
pub(crate) fn elem_type(elem: Elem) -> TokenStream {
    match elem {
        Elem::F32 => quote!(f32),
        Elem::F16 => quote!(f16),
        Elem::BF16 => quote!(bf16),
        Elem::I32 => quote!(i32),
        Elem::U32 => quote!(u32),
        Elem::Bool => quote!(bool),
    }
}

/// The CubeCL spelling of a value type: a scalar or a `Vector<T, Const<4>>`.
pub(crate) fn ty_tokens(ty: Ty) -> TokenStream {
    let elem = elem_type(ty.elem);
    if ty.is_vector() {
        let lanes = Literal::usize_unsuffixed(ty.lanes as usize);
        quote!(Vector<#elem, Const<#lanes>>)
    } else {
        elem
    }
}

/// Whether a builtin needs the `__planes` flag.
pub(crate) fn is_plane_builtin(b: Builtin) -> bool {
    matches!(b, Builtin::PlaneSize | Builtin::PlaneUnit)
}

/// An expression.
pub(crate) fn expr(cx: &Cx<'_>, e: &Expr) -> TokenStream {
    match &e.kind {
        ExprKind::Lit(lit) => literal(*lit, e.ty),
        ExprKind::Local(v) => {
            let name = cx.local(*v);
            quote!(#name)
        }
        ExprKind::Param(p) => {
            let name = cx.param(*p);
            quote!(#name)
        }
        ExprKind::Builtin(b) => builtin(*b),
        ExprKind::Unary(op, a) => {
            let a = expr(cx, a);
            match op {
                UnaryOp::Neg => quote!((-#a)),
                UnaryOp::Not => quote!((!#a)),
            }
        }
        ExprKind::Binary(op, a, b) => binary(cx, *op, a, b),
        ExprKind::Cast(a) => {
            let inner = expr(cx, a);
            let to = ty_tokens(e.ty);
            // `as` only converts Rust's primitives, and `#[cube]` bodies must type-check as
            // Rust: the half types convert through CubeCL's `Cast` instead.
            let half = |t: Elem| matches!(t, Elem::F16 | Elem::BF16);
            if half(e.ty.elem) && a.ty == Ty::scalar(Elem::F32) {
                // Round on the bits first (see `ops::round_to_f16`): a driver may fold the
                // conversion pair `f32 → f16 → f32` away, and the rounding with it.
                let ops = ops();
                let round = match e.ty.elem {
                    Elem::F16 => quote!(#ops::round_to_f16),
                    _ => quote!(#ops::round_to_bf16),
                };
                quote!(<#to as Cast>::cast_from(#round(#inner)))
            } else if half(e.ty.elem) || half(a.ty.elem) {
                quote!(<#to as Cast>::cast_from(#inner))
            } else {
                quote!((#inner as #to))
            }
        }
        ExprKind::Math(f, args) => math(cx, *f, args),
        ExprKind::Load { buf, index } => load(cx, *buf, index, e.ty),
        ExprKind::Len(buf) => {
            let b = match *buf {
                BufRef::Param(p) => cx.param(p),
                BufRef::Shared(s) => shared_name(cx, s),
            };
            quote!((#b.len() as u32))
        }
        ExprKind::Extract { vector, lane } => {
            let v = expr(cx, vector);
            let lane = Literal::usize_suffixed(*lane as usize);
            quote!(#v.extract(#lane))
        }
        ExprKind::Construct(lanes) => {
            let ops = ops();
            let t = elem_type(e.ty.elem);
            let lanes = lanes.iter().map(|l| expr(cx, l));
            quote!(#ops::vec4::<#t>(#(#lanes),*))
        }
        ExprKind::AtomicAdd { buf, index, value } => {
            let ops = ops();
            let t = elem_type(e.ty.elem);
            let (b, i, v) = (buf_ref(cx, *buf, false), expr(cx, index), expr(cx, value));
            quote!(#ops::atomic_add::<#t>(#b, #i, #v))
        }
        ExprKind::Plane(op, a) => {
            let ops = ops();
            let t = elem_type(e.ty.elem);
            let a = expr(cx, a);
            match op {
                PlaneOp::Sum => quote!(#ops::plane_sum_or_self::<#t>(#a, __planes)),
                PlaneOp::Max => quote!(#ops::plane_max_or_self::<#t>(#a, __planes)),
            }
        }
        ExprKind::Select {
            cond,
            then_value,
            else_value,
        } => {
            let (c, a, b) = (expr(cx, cond), expr(cx, then_value), expr(cx, else_value));
            quote!(cubecl::prelude::select(#c, #a, #b))
        }
    }
}

/// A literal of type `ty` (a vector type broadcasts it to every lane).
fn literal(lit: Lit, ty: Ty) -> TokenStream {
    let scalar = match (lit, ty.elem) {
        (Lit::Bool(b), _) => quote!(#b),
        (Lit::Float(v), Elem::F32) => float_lit(v),
        (Lit::Int(v), Elem::F32) => float_lit(v as f64),
        (Lit::Float(v), elem @ (Elem::F16 | Elem::BF16)) => half_lit(elem, v),
        (Lit::Int(v), elem @ (Elem::F16 | Elem::BF16)) => half_lit(elem, v as f64),
        (Lit::Int(v), Elem::I32) => signed_lit(v as i32),
        (Lit::Int(v), Elem::U32) => {
            let l = Literal::u32_suffixed(v as u32);
            quote!(#l)
        }
        (Lit::Float(v), Elem::I32) => signed_lit(v as i32),
        (Lit::Float(v), Elem::U32) => {
            let l = Literal::u32_suffixed(v as u32);
            quote!(#l)
        }
        (Lit::Int(v), Elem::Bool) => {
            let b = v != 0;
            quote!(#b)
        }
        (Lit::Float(v), Elem::Bool) => {
            let b = v != 0.0;
            quote!(#b)
        }
    };
    if ty.is_vector() {
        let elem = elem_type(ty.elem);
        let lanes = Literal::usize_unsuffixed(ty.lanes as usize);
        quote!(Vector::<#elem, Const<#lanes>>::new(#scalar))
    } else {
        scalar
    }
}

fn float_lit(v: f64) -> TokenStream {
    let v = v as f32;
    if v.is_sign_negative() && v != 0.0 {
        // CubeCL expands `-lit` to a comptime `f32`, which a later assignment of a runtime
        // value cannot replace; `f32::new` makes the negative constant a runtime value.
        let l = Literal::f32_suffixed(-v);
        quote!(f32::new(-#l))
    } else {
        let l = Literal::f32_suffixed(v);
        quote!(#l)
    }
}

fn signed_lit(v: i32) -> TokenStream {
    // `i32::MIN` has no positive counterpart to negate.
    if v == i32::MIN {
        quote!(i32::MIN)
    } else if v < 0 {
        let l = Literal::i32_suffixed(-v);
        quote!((-#l))
    } else {
        let l = Literal::i32_suffixed(v);
        quote!(#l)
    }
}

fn half_lit(elem: Elem, v: f64) -> TokenStream {
    let t = elem_type(elem);
    let l = Literal::f32_suffixed(v as f32);
    quote!(#t::new(#l))
}

fn builtin(b: Builtin) -> TokenStream {
    let ops = ops();
    match b {
        Builtin::UnitPos(None) => quote!(UNIT_POS),
        Builtin::UnitPos(Some(a)) => axis_name("UNIT_POS", a),
        // CubeCL reads the linear cube position, cube count and absolute position as usize.
        Builtin::GroupPos(None) => quote!((CUBE_POS as u32)),
        Builtin::GroupPos(Some(a)) => axis_name("CUBE_POS", a),
        Builtin::GroupSize(None) => quote!(CUBE_DIM),
        Builtin::GroupSize(Some(a)) => axis_name("CUBE_DIM", a),
        Builtin::NumGroups(None) => quote!((CUBE_COUNT as u32)),
        Builtin::NumGroups(Some(a)) => axis_name("CUBE_COUNT", a),
        Builtin::GlobalPos(None) => quote!((ABSOLUTE_POS as u32)),
        Builtin::GlobalPos(Some(a)) => axis_name("ABSOLUTE_POS", a),
        Builtin::PlaneSize => quote!(#ops::plane_size(__planes)),
        Builtin::PlaneUnit => quote!(#ops::plane_unit(__planes)),
    }
}

fn axis_name(base: &str, axis: Axis) -> TokenStream {
    let suffix = match axis {
        Axis::X => "X",
        Axis::Y => "Y",
        Axis::Z => "Z",
    };
    let ident = quote::format_ident!("{}_{}", base, suffix);
    quote!(#ident)
}

fn binary(cx: &Cx<'_>, op: BinaryOp, a: &Expr, b: &Expr) -> TokenStream {
    let int = a.ty.elem.is_int();
    let (x, y) = (expr(cx, a), expr(cx, b));
    let ops = ops();
    match op {
        BinaryOp::Div if int => {
            let t = elem_type(a.ty.elem);
            quote!(#ops::div::<#t>(#x, #y))
        }
        BinaryOp::Rem if int => {
            let t = elem_type(a.ty.elem);
            quote!(#ops::rem::<#t>(#x, #y))
        }
        BinaryOp::Min => quote!(cubecl::prelude::min(#x, #y)),
        BinaryOp::Max => quote!(cubecl::prelude::max(#x, #y)),
        _ => {
            let sym: TokenStream = op.symbol().parse().unwrap_or_default();
            quote!((#x #sym #y))
        }
    }
}

fn math(cx: &Cx<'_>, f: MathFn, args: &[Expr]) -> TokenStream {
    let a: Vec<TokenStream> = args.iter().map(|e| expr(cx, e)).collect();
    let method = |name: &str| {
        let m = quote::format_ident!("{}", name);
        let x = &a[0];
        quote!(#x.#m())
    };
    match f {
        MathFn::Exp => method("exp"),
        MathFn::Log => method("ln"),
        MathFn::Sqrt => method("sqrt"),
        MathFn::Rsqrt => method("inverse_sqrt"),
        MathFn::Tanh => method("tanh"),
        MathFn::Erf => method("erf"),
        MathFn::Sin => method("sin"),
        MathFn::Cos => method("cos"),
        MathFn::Abs => method("abs"),
        MathFn::Powf => {
            let (x, y) = (&a[0], &a[1]);
            quote!(#x.powf(#y))
        }
        MathFn::Fma => {
            let (x, y, z) = (&a[0], &a[1], &a[2]);
            quote!(cubecl::prelude::fma(#x, #y, #z))
        }
    }
}

/// A buffer parameter or shared array as an argument of a helper. Parameters are already
/// slice references; a shared array is borrowed (mutably where the helper writes).
fn buf_ref(cx: &Cx<'_>, buf: BufRef, write: bool) -> TokenStream {
    match buf {
        BufRef::Param(p) => {
            let name = cx.param(p);
            quote!(#name)
        }
        BufRef::Shared(s) => {
            let name = shared_name(cx, s);
            if write && !cx.is_atomic(buf) {
                quote!(&mut #name)
            } else {
                quote!(&#name)
            }
        }
    }
}

/// `buf[index]` (a vector load with four lanes), bounds-checked.
fn load(cx: &Cx<'_>, buf: BufRef, index: &Expr, ty: Ty) -> TokenStream {
    let ops = ops();
    let t = elem_type(ty.elem);
    let (b, i) = (buf_ref(cx, buf, false), expr(cx, index));
    // CubeCL does not reborrow a `&mut [T]` parameter as `&[T]` in a call, so loads from a
    // buffer the kernel writes use the `_mut` helpers.
    let writable = matches!(buf, BufRef::Param(p)
        if matches!(cx.kernel.param(p).kind, vibee_dsl::kernel::ParamKind::Buffer { mutable: true, .. }));
    match (cx.is_atomic(buf), ty.is_vector()) {
        (false, false) if writable => quote!(#ops::load_mut::<#t>(#b, #i)),
        (false, true) if writable => quote!(#ops::load_vec4_mut::<#t>(#b, #i)),
        (false, false) => quote!(#ops::load::<#t>(#b, #i)),
        (false, true) => quote!(#ops::load_vec4::<#t>(#b, #i)),
        (true, false) => quote!(#ops::atomic_load::<#t>(#b, #i)),
        (true, true) => quote!(compile_error!(
            "vector loads from a buffer that is also updated atomically are not supported on CubeCL"
        )),
    }
}

/// `buf[index] = value;` (a vector store with four lanes), bounds-checked. The index and
/// value are bound first: they may read the buffer being written, which Rust's borrow rules
/// (that CubeCL's expansion keeps) forbid inside the call.
pub(crate) fn store(cx: &Cx<'_>, buf: BufRef, index: &Expr, value: &Expr) -> TokenStream {
    let ops = ops();
    let t = elem_type(value.ty.elem);
    let (b, i, v) = (buf_ref(cx, buf, true), expr(cx, index), expr(cx, value));
    let call = match (cx.is_atomic(buf), value.ty.is_vector()) {
        (false, false) => quote!(#ops::store::<#t>(#b, __index, __value);),
        (false, true) => quote!(#ops::store_vec4::<#t>(#b, __index, __value);),
        (true, false) => quote!(#ops::atomic_store::<#t>(#b, __index, __value);),
        (true, true) => quote!(compile_error!(
            "vector stores to a buffer that is also updated atomically are not supported on CubeCL"
        );),
    };
    quote! {
        let __index = #i;
        let __value = #v;
        #call
    }
}
