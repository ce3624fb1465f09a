//! Intrinsic calls (`global_pos()`, `exp(x)`, `atomic_add(&mut h, i, 1)`, …) and methods
//! (`x.exp()`, `y.len()`).

use vibee_dsl::kernel::{
    Axis, BinaryOp, Builtin, Elem, Expr, ExprKind, MathFn, PlaneOp, Ty, VECTOR_LANES,
};

use super::typing::describe;
use super::{Binding, Lowerer, Mode};
use crate::ast::{self, ExprKind as K, TypeName};
use crate::src::Src;

/// Functions other than the position builtins and math.
const OTHER_INTRINSICS: [&str; 12] = [
    "barrier",
    "shared",
    "atomic_add",
    "load4",
    "store4",
    "plane_sum",
    "plane_max",
    "f32x4",
    "f16x4",
    "bf16x4",
    "i32x4",
    "u32x4",
];

const MATH_METHODS: &str = "`exp`, `ln`/`log`, `sqrt`, `rsqrt`, `tanh`, `erf`, `sin`, `cos`, `abs`, `powf`, `mul_add`/`fma`, `min`, `max`";

/// A position or size intrinsic: `global_pos()`, `unit_pos_x()`, `plane_size()`, ….
pub fn builtin(name: &str) -> Option<Builtin> {
    let (base, axis) = match name.rsplit_once('_') {
        Some((base, "x")) => (base, Some(Axis::X)),
        Some((base, "y")) => (base, Some(Axis::Y)),
        Some((base, "z")) => (base, Some(Axis::Z)),
        _ => (name, None),
    };
    Some(match (base, axis) {
        ("unit_pos", a) => Builtin::UnitPos(a),
        ("group_pos", a) => Builtin::GroupPos(a),
        ("group_size", a) => Builtin::GroupSize(a),
        ("num_groups", a) => Builtin::NumGroups(a),
        ("global_pos", a) => Builtin::GlobalPos(a),
        ("plane_size", None) => Builtin::PlaneSize,
        ("plane_unit", None) => Builtin::PlaneUnit,
        _ => return None,
    })
}

/// Whether `name` is any intrinsic function.
pub fn is_intrinsic(name: &str) -> bool {
    builtin(name).is_some()
        || crate::ast::math_fn(name).is_some()
        || matches!(name, "min" | "max")
        || OTHER_INTRINSICS.contains(&name)
}

impl Lowerer<'_> {
    pub(super) fn call(
        &mut self,
        func: &syn::Ident,
        turbofish: Option<TypeName>,
        args: &[ast::Expr],
        hint: Option<Ty>,
        src: Src,
    ) -> Option<Expr> {
        let name = func.to_string();
        if let Some(t) = turbofish.filter(|_| name != "shared") {
            self.error(t.src, format!("`{name}` takes no type argument"));
            return None;
        }
        if self.mode == Mode::Elementwise && !is_pure_math(&name) && is_intrinsic(&name) {
            self.error(src, format!("`{name}` is not available in a differentiable kernel: its result must be a function of its scalar inputs"));
            return None;
        }
        if let Some(b) = builtin(&name) {
            return self
                .check_arity(func, args, 0, src)
                .then(|| self.node(ExprKind::Builtin(b), Ty::U32, src));
        }
        if let Some(f) = crate::ast::math_fn(&name) {
            let refs: Vec<&ast::Expr> = args.iter().collect();
            return self.math(func, f, &refs, hint, src);
        }
        match name.as_str() {
            "min" | "max" => self.min_max(func, &args.iter().collect::<Vec<_>>(), hint, src),
            "plane_sum" | "plane_max" => self.plane(func, args, hint, src),
            "atomic_add" => {
                self.atomic_add(func, &args.iter().collect::<Vec<_>>(), src, "atomic_add")
            }
            "load4" => self.load4(func, args, src),
            "barrier" | "store4" => {
                self.error(src, format!("`{name}(…)` is a statement and has no value; call it on its own: `{name}(…);`"));
                None
            }
            "shared" => {
                self.error(src, "`shared::<T>(LEN)` declares group-shared memory; use it to initialize a `let` at the top level of the kernel: `let tile = shared::<f32>(LEN);`");
                None
            }
            _ if name.ends_with("x4") && OTHER_INTRINSICS.contains(&name.as_str()) => {
                self.construct(func, args, src)
            }
            _ if name == self.name => {
                self.error(src, format!("kernel `{name}` calls itself; recursion is not supported in kernels (devices have no call stack); use a loop"));
                None
            }
            _ => {
                self.error(Src::of(func), format!("unknown intrinsic `{name}`; kernels can call position intrinsics (`global_pos()`, `unit_pos()`, `group_pos()`, `group_size()`, `num_groups()`, with `_x`/`_y`/`_z` variants, `plane_size()`, `plane_unit()`), math ({MATH_METHODS}), `plane_sum`, `plane_max`, `barrier`, `shared`, `atomic_add`, `load4`, `store4` and `f32x4(…)`"));
                None
            }
        }
    }

    pub(super) fn method_call(
        &mut self,
        receiver: &ast::Expr,
        method: &syn::Ident,
        args: &[ast::Expr],
        hint: Option<Ty>,
        src: Src,
    ) -> Option<Expr> {
        let name = method.to_string();
        if let K::Path(ident) = &receiver.kind
            && let Some(Binding::Buffer { buf, .. }) = self.lookup(&ident.to_string())
        {
            return match name.as_str() {
                "len" => self
                    .check_arity(method, args, 0, src)
                    .then(|| self.node(ExprKind::Len(buf), Ty::U32, src)),
                "atomic_add" => {
                    let mut all: Vec<&ast::Expr> = vec![receiver];
                    all.extend(args);
                    self.atomic_add(method, &all, src, "atomic_add")
                }
                _ => {
                    self.error(Src::of(method), format!("no method `{name}` on buffer `{ident}`; buffers have `len()` and `atomic_add(index, value)`"));
                    None
                }
            };
        }
        let mut all: Vec<&ast::Expr> = vec![receiver];
        all.extend(args);
        if let Some(f) = crate::ast::math_fn(&name) {
            return self.math(method, f, &all, hint, src);
        }
        if name == "min" || name == "max" {
            return self.min_max(method, &all, hint, src);
        }
        let shown = self.expr(receiver, hint).map_or_else(
            || "this value".to_string(),
            |v| format!("`{}`", describe(v.ty)),
        );
        self.error(Src::of(method), format!("no method `{name}` on {shown}; kernels support the math methods {MATH_METHODS} on numbers, and `len()`/`atomic_add` on buffers"));
        None
    }

    /// Lowers `args` to values of one type: the first non-literal argument sets it.
    fn same_type_args(&mut self, args: &[&ast::Expr], hint: Option<Ty>) -> Option<Vec<Expr>> {
        let lead = args
            .iter()
            .position(|a| !a.is_untyped_literal())
            .unwrap_or(0);
        let first = self.expr(args[lead], hint);
        let ty = first.as_ref().map(|f| f.ty).or(hint);
        let mut out = Vec::with_capacity(args.len());
        let mut ok = first.is_some();
        for (i, a) in args.iter().enumerate() {
            let v = if i == lead {
                first.clone()
            } else {
                self.expr(a, ty)
            };
            match (v, ty) {
                (Some(v), Some(ty)) => match self.coerce(v, ty, "in this argument") {
                    Some(v) => out.push(v),
                    None => ok = false,
                },
                _ => ok = false,
            }
        }
        ok.then_some(out)
    }

    fn math(
        &mut self,
        func: &syn::Ident,
        f: MathFn,
        args: &[&ast::Expr],
        hint: Option<Ty>,
        src: Src,
    ) -> Option<Expr> {
        let _ = func;
        if args.len() != f.arity() {
            let plural = if f.arity() == 1 { "" } else { "s" };
            self.error(
                src,
                format!(
                    "`{}` takes {} argument{plural}, but {} were given",
                    f.name(),
                    f.arity(),
                    args.len()
                ),
            );
            return None;
        }
        let hint = hint.filter(|h| h.elem.is_float()).or(Some(Ty::F32));
        let values = self.same_type_args(args, hint)?;
        let ty = values[0].ty;
        if !(ty.elem.is_float() || (f == MathFn::Abs && ty.elem == Elem::I32)) {
            let accepted = if f == MathFn::Abs {
                "floats and `i32`"
            } else {
                "floats (`f32`, `f16`, `bf16`)"
            };
            self.error(
                src,
                format!(
                    "`{}` applies to {accepted}, not `{}`; convert with `as f32`",
                    f.name(),
                    describe(ty)
                ),
            );
            return None;
        }
        Some(self.node(ExprKind::Math(f, values), ty, src))
    }

    fn min_max(
        &mut self,
        func: &syn::Ident,
        args: &[&ast::Expr],
        hint: Option<Ty>,
        src: Src,
    ) -> Option<Expr> {
        if args.len() != 2 {
            self.error(
                src,
                format!("`{func}` takes 2 arguments, but {} were given", args.len()),
            );
            return None;
        }
        let values = self.same_type_args(args, hint)?;
        let op = if func == "min" {
            BinaryOp::Min
        } else {
            BinaryOp::Max
        };
        let mut it = values.into_iter();
        let (a, b) = (it.next()?, it.next()?);
        self.combine(op, a, b, src)
    }

    fn plane(
        &mut self,
        func: &syn::Ident,
        args: &[ast::Expr],
        hint: Option<Ty>,
        src: Src,
    ) -> Option<Expr> {
        if !self.check_arity(func, args, 1, src) {
            return None;
        }
        let value = self.expr(&args[0], hint)?;
        if !value.ty.elem.is_numeric() || value.ty.is_vector() {
            self.error(
                args[0].src,
                format!(
                    "`{func}` reduces numeric scalars, not `{}`",
                    describe(value.ty)
                ),
            );
            return None;
        }
        let op = if func == "plane_sum" {
            PlaneOp::Sum
        } else {
            PlaneOp::Max
        };
        let ty = value.ty;
        Some(self.node(ExprKind::Plane(op, Box::new(value)), ty, src))
    }

    fn atomic_add(
        &mut self,
        func: &syn::Ident,
        args: &[&ast::Expr],
        src: Src,
        what: &str,
    ) -> Option<Expr> {
        if args.len() != 3 {
            self.error(src, format!("`{what}` takes a buffer, an index and a value (`atomic_add(&mut hist, i, 1)` or `hist.atomic_add(i, 1)`), but {} arguments were given", args.len()));
            return None;
        }
        let _ = func;
        let (buf, elem) = self.buffer_arg(args[0], true, what)?;
        if !matches!(elem, Elem::U32 | Elem::I32 | Elem::F32) {
            self.error(
                args[0].src,
                format!(
                    "`atomic_add` works on `u32`, `i32` and `f32` buffers, not `{}`",
                    elem.rust_name()
                ),
            );
            return None;
        }
        let index = self.index_value(args[1]);
        let ty = Ty::scalar(elem);
        let value = self
            .expr(args[2], Some(ty))
            .and_then(|v| self.coerce(v, ty, "as the added value"));
        let kind = ExprKind::AtomicAdd {
            buf,
            index: Box::new(index?),
            value: Box::new(value?),
        };
        Some(self.node(kind, ty, src))
    }

    fn load4(&mut self, func: &syn::Ident, args: &[ast::Expr], src: Src) -> Option<Expr> {
        if !self.check_arity(func, args, 2, src) {
            return None;
        }
        let (buf, elem) = self.buffer_arg(&args[0], false, "load4")?;
        let index = self.index_value(&args[1])?;
        let ty = Ty::vector(elem, VECTOR_LANES);
        Some(self.node(
            ExprKind::Load {
                buf,
                index: Box::new(index),
            },
            ty,
            src,
        ))
    }

    /// `f32x4(a, b, c, d)`.
    fn construct(&mut self, func: &syn::Ident, args: &[ast::Expr], src: Src) -> Option<Expr> {
        let name = func.to_string();
        let elem = Elem::from_rust_name(name.trim_end_matches("x4"))?;
        if !self.check_arity(func, args, VECTOR_LANES as usize, src) {
            return None;
        }
        let ty = Ty::scalar(elem);
        let mut lanes = Vec::new();
        for a in args {
            let v = self
                .expr(a, Some(ty))
                .and_then(|v| self.coerce(v, ty, "as a lane"));
            lanes.push(v);
        }
        let lanes: Option<Vec<Expr>> = lanes.into_iter().collect();
        Some(self.node(
            ExprKind::Construct(lanes?),
            Ty::vector(elem, VECTOR_LANES),
            src,
        ))
    }
}

/// Intrinsics a differentiable kernel may call: pure functions of their arguments.
fn is_pure_math(name: &str) -> bool {
    crate::ast::math_fn(name).is_some() || matches!(name, "min" | "max")
}
