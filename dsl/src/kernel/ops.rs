//! Scalar semantics of every operator: the single definition the interpreter uses and that
//! the backends must reproduce (wrapping integers, division by zero yields 0, `f16`/`bf16`
//! rounded after each operation).

use half::{bf16, f16};

use super::ir::{BinaryOp, Elem, Expr, ExprKind, Lit, MathFn, ParamId, UnaryOp};
use super::value::Scalar;

/// A literal as a value of `elem`.
pub fn literal(lit: Lit, elem: Elem) -> Scalar {
    match lit {
        Lit::Float(v) => float(elem, v),
        Lit::Int(v) => match elem {
            Elem::I32 => Scalar::I32(v as i32),
            Elem::U32 => Scalar::U32(v as u32),
            Elem::Bool => Scalar::Bool(v != 0),
            e => float(e, v as f64),
        },
        Lit::Bool(b) => Scalar::Bool(b).cast(elem),
    }
}

/// `v` rounded to the float type `elem`.
pub fn float(elem: Elem, v: f64) -> Scalar {
    match elem {
        Elem::F16 => Scalar::F16(f16::from_f64(v)),
        Elem::BF16 => Scalar::BF16(bf16::from_f64(v)),
        _ => Scalar::F32(v as f32),
    }
}

/// Float operands are computed in f32 and rounded back to their type.
fn as_f32(s: Scalar) -> f32 {
    match s {
        Scalar::F32(v) => v,
        Scalar::F16(v) => v.to_f32(),
        Scalar::BF16(v) => v.to_f32(),
        other => other.to_f64() as f32,
    }
}

fn from_f32(elem: Elem, v: f32) -> Scalar {
    match elem {
        Elem::F16 => Scalar::F16(f16::from_f32(v)),
        Elem::BF16 => Scalar::BF16(bf16::from_f32(v)),
        _ => Scalar::F32(v),
    }
}

pub fn unary(op: UnaryOp, a: Scalar) -> Scalar {
    match (op, a) {
        (UnaryOp::Neg, Scalar::I32(v)) => Scalar::I32(v.wrapping_neg()),
        (UnaryOp::Neg, Scalar::U32(v)) => Scalar::U32(v.wrapping_neg()),
        (UnaryOp::Neg, Scalar::Bool(v)) => Scalar::Bool(v),
        (UnaryOp::Neg, f) => from_f32(f.elem(), -as_f32(f)),
        (UnaryOp::Not, Scalar::Bool(v)) => Scalar::Bool(!v),
        (UnaryOp::Not, Scalar::I32(v)) => Scalar::I32(!v),
        (UnaryOp::Not, Scalar::U32(v)) => Scalar::U32(!v),
        (UnaryOp::Not, f) => f,
    }
}

/// `a op b`; comparisons yield `Bool`, everything else the operands' type.
pub fn binary(op: BinaryOp, a: Scalar, b: Scalar) -> Scalar {
    use BinaryOp::*;
    if op.is_comparison() {
        return Scalar::Bool(compare(op, a, b));
    }
    match (a, b) {
        (Scalar::I32(x), Scalar::I32(y)) => Scalar::I32(int_op(op, x, y)),
        (Scalar::U32(x), Scalar::U32(y)) => Scalar::U32(int_op(op, x, y)),
        (Scalar::Bool(x), Scalar::Bool(y)) => Scalar::Bool(match op {
            And | BitAnd | Min => x && y,
            Or | BitOr | Max => x || y,
            BitXor => x ^ y,
            _ => false,
        }),
        (x, y) => {
            let (p, q) = (as_f32(x), as_f32(y));
            let v = match op {
                Add => p + q,
                Sub => p - q,
                Mul => p * q,
                Div => p / q,
                Rem => p % q,
                Min => p.min(q),
                Max => p.max(q),
                _ => 0.0,
            };
            from_f32(x.elem(), v)
        }
    }
}

fn compare(op: BinaryOp, a: Scalar, b: Scalar) -> bool {
    use std::cmp::Ordering;
    let ord = match (a, b) {
        (Scalar::I32(x), Scalar::I32(y)) => Some(x.cmp(&y)),
        (Scalar::U32(x), Scalar::U32(y)) => Some(x.cmp(&y)),
        (Scalar::Bool(x), Scalar::Bool(y)) => Some(x.cmp(&y)),
        (x, y) => as_f32(x).partial_cmp(&as_f32(y)),
    };
    match (op, ord) {
        (BinaryOp::Ne, None) => true,
        (_, None) => false,
        (BinaryOp::Eq, Some(o)) => o == Ordering::Equal,
        (BinaryOp::Ne, Some(o)) => o != Ordering::Equal,
        (BinaryOp::Lt, Some(o)) => o == Ordering::Less,
        (BinaryOp::Le, Some(o)) => o != Ordering::Greater,
        (BinaryOp::Gt, Some(o)) => o == Ordering::Greater,
        (BinaryOp::Ge, Some(o)) => o != Ordering::Less,
        _ => false,
    }
}

/// Integer semantics shared by i32 and u32.
trait WrappingInt: Copy + Ord + Default {
    fn add(self, o: Self) -> Self;
    fn sub(self, o: Self) -> Self;
    fn mul(self, o: Self) -> Self;
    fn div(self, o: Self) -> Self;
    fn rem(self, o: Self) -> Self;
    fn and(self, o: Self) -> Self;
    fn or(self, o: Self) -> Self;
    fn xor(self, o: Self) -> Self;
    fn shl(self, o: Self) -> Self;
    fn shr(self, o: Self) -> Self;
}

macro_rules! wrapping_int {
    ($t:ty) => {
        impl WrappingInt for $t {
            fn add(self, o: Self) -> Self {
                self.wrapping_add(o)
            }
            fn sub(self, o: Self) -> Self {
                self.wrapping_sub(o)
            }
            fn mul(self, o: Self) -> Self {
                self.wrapping_mul(o)
            }
            fn div(self, o: Self) -> Self {
                if o == 0 { 0 } else { self.wrapping_div(o) }
            }
            fn rem(self, o: Self) -> Self {
                if o == 0 { 0 } else { self.wrapping_rem(o) }
            }
            fn and(self, o: Self) -> Self {
                self & o
            }
            fn or(self, o: Self) -> Self {
                self | o
            }
            fn xor(self, o: Self) -> Self {
                self ^ o
            }
            // Shift amounts are taken modulo 32, as WGSL, PTX and x86 do.
            fn shl(self, o: Self) -> Self {
                self.wrapping_shl(o as u32)
            }
            fn shr(self, o: Self) -> Self {
                self.wrapping_shr(o as u32)
            }
        }
    };
}
wrapping_int!(i32);
wrapping_int!(u32);

fn int_op<T: WrappingInt>(op: BinaryOp, x: T, y: T) -> T {
    use BinaryOp::*;
    match op {
        Add => x.add(y),
        Sub => x.sub(y),
        Mul => x.mul(y),
        Div => x.div(y),
        Rem => x.rem(y),
        BitAnd | And => x.and(y),
        BitOr | Or => x.or(y),
        BitXor => x.xor(y),
        Shl => x.shl(y),
        Shr => x.shr(y),
        Min => x.min(y),
        Max => x.max(y),
        _ => T::default(),
    }
}

/// A math intrinsic on `args` (already of the expression's type).
pub fn math(f: MathFn, args: &[Scalar]) -> Scalar {
    let a = args[0];
    match (f, a) {
        (MathFn::Abs, Scalar::I32(v)) => return Scalar::I32(v.wrapping_abs()),
        (MathFn::Abs, Scalar::U32(_)) => return a,
        _ => {}
    }
    let x = as_f32(a);
    let arg = |i: usize| args.get(i).map_or(0.0, |s| as_f32(*s));
    let v = match f {
        MathFn::Exp => x.exp(),
        MathFn::Log => x.ln(),
        MathFn::Sqrt => x.sqrt(),
        MathFn::Rsqrt => 1.0 / x.sqrt(),
        MathFn::Tanh => x.tanh(),
        MathFn::Erf => libm::erff(x),
        MathFn::Sin => x.sin(),
        MathFn::Cos => x.cos(),
        MathFn::Abs => x.abs(),
        MathFn::Powf => x.powf(arg(1)),
        MathFn::Fma => x.mul_add(arg(1), arg(2)),
    };
    from_f32(a.elem(), v)
}

/// Evaluates an expression built only from literals, comptime parameters, casts and
/// arithmetic; `None` if it depends on anything else (or a parameter is unknown).
pub fn const_eval(expr: &Expr, param: &dyn Fn(ParamId) -> Option<Scalar>) -> Option<Scalar> {
    Some(match &expr.kind {
        ExprKind::Lit(l) => literal(*l, expr.ty.elem),
        ExprKind::Param(p) => param(*p)?,
        ExprKind::Cast(a) => const_eval(a, param)?.cast(expr.ty.elem),
        ExprKind::Unary(op, a) => unary(*op, const_eval(a, param)?),
        ExprKind::Binary(op, a, b) => binary(*op, const_eval(a, param)?, const_eval(b, param)?),
        ExprKind::Math(f, args) => {
            let vals: Option<Vec<Scalar>> = args.iter().map(|a| const_eval(a, param)).collect();
            math(*f, &vals?)
        }
        _ => return None,
    })
}
