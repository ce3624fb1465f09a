//! Scalar semantics of every operator on one lane, mirroring `vibee_dsl::kernel::ops`:
//! wrapping integers, division and remainder by zero yield 0 (x86 `idiv` would trap, so
//! the divisor is guarded), `f16`/`bf16` computed in `f32` and rounded after each
//! operation, saturating float → int casts.

use cranelift_codegen::ir::condcodes::{FloatCC, IntCC};
use cranelift_codegen::ir::{Endianness, InstBuilder, MemFlagsData, Value, types};
use vibee_dsl::kernel::{BinaryOp, Elem, MathFn, UnaryOp};

use super::Lower;
use super::expr::is_identity;

impl Lower<'_, '_> {
    /// Rounds an `f32` register holding an `elem` value to `elem`'s precision.
    pub(super) fn round(&mut self, elem: Elem, v: Value) -> Result<Value, String> {
        match elem {
            Elem::F16 => self.call_helper("vibee_round_f16", &[v]),
            Elem::BF16 => self.call_helper("vibee_round_bf16", &[v]),
            _ => Ok(v),
        }
    }

    pub(super) fn unary_lane(
        &mut self,
        op: UnaryOp,
        elem: Elem,
        x: Value,
    ) -> Result<Value, String> {
        if is_identity(op, elem) {
            return Ok(x);
        }
        Ok(match (op, elem) {
            (UnaryOp::Neg, e) if e.is_float() => self.b.ins().fneg(x),
            (UnaryOp::Neg, _) => self.b.ins().ineg(x),
            (UnaryOp::Not, Elem::Bool) => self.b.ins().bxor_imm_u(x, 1),
            (UnaryOp::Not, _) => self.b.ins().bnot(x),
        })
    }

    /// `a op b` on one lane of `elem`; comparisons yield an `i8` bool.
    pub(super) fn binary_lane(
        &mut self,
        op: BinaryOp,
        elem: Elem,
        a: Value,
        b: Value,
    ) -> Result<Value, String> {
        if op.is_comparison() {
            return Ok(self.compare(op, elem, a, b));
        }
        match elem {
            Elem::Bool => Ok(self.bool_op(op, a, b)),
            Elem::I32 | Elem::U32 => Ok(self.int_op(op, elem == Elem::I32, a, b)),
            _ => {
                let v = self.float_op(op, a, b)?;
                self.round(elem, v)
            }
        }
    }

    pub(super) fn compare(&mut self, op: BinaryOp, elem: Elem, a: Value, b: Value) -> Value {
        if elem.is_float() {
            let cc = match op {
                BinaryOp::Eq => FloatCC::Equal,
                BinaryOp::Ne => FloatCC::NotEqual,
                BinaryOp::Lt => FloatCC::LessThan,
                BinaryOp::Le => FloatCC::LessThanOrEqual,
                BinaryOp::Gt => FloatCC::GreaterThan,
                _ => FloatCC::GreaterThanOrEqual,
            };
            return self.b.ins().fcmp(cc, a, b);
        }
        let signed = elem == Elem::I32;
        let cc = match (op, signed) {
            (BinaryOp::Eq, _) => IntCC::Equal,
            (BinaryOp::Ne, _) => IntCC::NotEqual,
            (BinaryOp::Lt, true) => IntCC::SignedLessThan,
            (BinaryOp::Lt, false) => IntCC::UnsignedLessThan,
            (BinaryOp::Le, true) => IntCC::SignedLessThanOrEqual,
            (BinaryOp::Le, false) => IntCC::UnsignedLessThanOrEqual,
            (BinaryOp::Gt, true) => IntCC::SignedGreaterThan,
            (BinaryOp::Gt, false) => IntCC::UnsignedGreaterThan,
            (_, true) => IntCC::SignedGreaterThanOrEqual,
            (_, false) => IntCC::UnsignedGreaterThanOrEqual,
        };
        self.b.ins().icmp(cc, a, b)
    }

    fn bool_op(&mut self, op: BinaryOp, a: Value, b: Value) -> Value {
        let ins = self.b.ins();
        match op {
            BinaryOp::And | BinaryOp::BitAnd | BinaryOp::Min => ins.band(a, b),
            BinaryOp::Or | BinaryOp::BitOr | BinaryOp::Max => ins.bor(a, b),
            BinaryOp::BitXor => ins.bxor(a, b),
            // Arithmetic on bools is `false` in the interpreter (validation rejects it).
            _ => ins.iconst(types::I8, 0),
        }
    }

    fn int_op(&mut self, op: BinaryOp, signed: bool, a: Value, b: Value) -> Value {
        match op {
            BinaryOp::Add => self.b.ins().iadd(a, b),
            BinaryOp::Sub => self.b.ins().isub(a, b),
            BinaryOp::Mul => self.b.ins().imul(a, b),
            BinaryOp::Div | BinaryOp::Rem => self.int_div(op == BinaryOp::Div, signed, a, b),
            BinaryOp::BitAnd | BinaryOp::And => self.b.ins().band(a, b),
            BinaryOp::BitOr | BinaryOp::Or => self.b.ins().bor(a, b),
            BinaryOp::BitXor => self.b.ins().bxor(a, b),
            BinaryOp::Shl | BinaryOp::Shr => {
                // Shift amounts are taken modulo 32, like `wrapping_shl`.
                let n = self.b.ins().band_imm_u(b, 31);
                match (op, signed) {
                    (BinaryOp::Shl, _) => self.b.ins().ishl(a, n),
                    (_, true) => self.b.ins().sshr(a, n),
                    (_, false) => self.b.ins().ushr(a, n),
                }
            }
            BinaryOp::Min if signed => self.b.ins().smin(a, b),
            BinaryOp::Min => self.b.ins().umin(a, b),
            BinaryOp::Max if signed => self.b.ins().smax(a, b),
            BinaryOp::Max => self.b.ins().umax(a, b),
            _ => self.iconst32(0),
        }
    }

    /// Division or remainder that never traps: by 0 yields 0, and `i32::MIN / -1` wraps.
    fn int_div(&mut self, div: bool, signed: bool, a: Value, b: Value) -> Value {
        let zero = self.iconst32(0);
        let one = self.iconst32(1);
        let by_zero = self.b.ins().icmp_imm_u(IntCC::Equal, b, 0);
        if !signed {
            let safe = self.b.ins().select(by_zero, one, b);
            let q = if div {
                self.b.ins().udiv(a, safe)
            } else {
                self.b.ins().urem(a, safe)
            };
            return self.b.ins().select(by_zero, zero, q);
        }
        let by_minus_one = self.b.ins().icmp_imm_s(IntCC::Equal, b, -1);
        let special = self.b.ins().bor(by_zero, by_minus_one);
        let safe = self.b.ins().select(special, one, b);
        let (q, minus_one_result) = if div {
            (self.b.ins().sdiv(a, safe), self.b.ins().ineg(a))
        } else {
            (self.b.ins().srem(a, safe), zero)
        };
        let q = self.b.ins().select(by_minus_one, minus_one_result, q);
        self.b.ins().select(by_zero, zero, q)
    }

    fn float_op(&mut self, op: BinaryOp, a: Value, b: Value) -> Result<Value, String> {
        Ok(match op {
            BinaryOp::Add => self.b.ins().fadd(a, b),
            BinaryOp::Sub => self.b.ins().fsub(a, b),
            BinaryOp::Mul => self.b.ins().fmul(a, b),
            BinaryOp::Div => self.b.ins().fdiv(a, b),
            BinaryOp::Rem => self.call_helper("vibee_rem_f32", &[a, b])?,
            BinaryOp::Min | BinaryOp::Max => self.float_min_max(op == BinaryOp::Min, a, b),
            // Bitwise operators on floats yield 0 in the interpreter (validation rejects them).
            _ => self.b.ins().f32const(0.0),
        })
    }

    /// Rust's `f32::min`/`max`: a NaN operand yields the other operand, and between equal
    /// operands (`0.0` and `-0.0`) the first wins, as Rust's own code does on x86.
    /// `b < a` and `a < b` (not `b > a`) are the shapes Cranelift lowers to one `minss` or
    /// `maxss` instead of a branch; only the rarely taken NaN test stays a branch.
    pub(super) fn float_min_max(&mut self, min: bool, a: Value, b: Value) -> Value {
        let b_wins = if min {
            self.b.ins().fcmp(FloatCC::LessThan, b, a)
        } else {
            self.b.ins().fcmp(FloatCC::LessThan, a, b)
        };
        let m = self.b.ins().select(b_wins, b, a);
        let a_nan = self.b.ins().fcmp(FloatCC::Unordered, a, a);
        self.b.ins().select(a_nan, b, m)
    }

    /// [`Self::float_min_max`] on four `f32` lanes: the `bitselect` shapes Cranelift lowers
    /// to one `minps` or `maxps`, then the lanes where `a` is NaN take `b`.
    pub(super) fn vector_min_max(&mut self, min: bool, a: Value, b: Value) -> Value {
        let lanes = MemFlagsData::new().with_endianness(Endianness::Little);
        let b_wins = if min {
            self.b.ins().fcmp(FloatCC::LessThan, b, a)
        } else {
            self.b.ins().fcmp(FloatCC::LessThan, a, b)
        };
        let b_wins = self.b.ins().bitcast(types::F32X4, lanes, b_wins);
        let m = self.b.ins().bitselect(b_wins, b, a);
        let a_nan = self.b.ins().fcmp(FloatCC::Unordered, a, a);
        let a_nan = self.b.ins().bitcast(types::F32X4, lanes, a_nan);
        self.b.ins().bitselect(a_nan, b, m)
    }

    /// Rust `as` between element types (float → int saturates, NaN → 0).
    pub(super) fn cast_lane(&mut self, v: Value, from: Elem, to: Elem) -> Result<Value, String> {
        if from == to {
            return Ok(v);
        }
        Ok(match (from, to) {
            (f, Elem::Bool) if f.is_float() => {
                let z = self.b.ins().f32const(0.0);
                self.b.ins().fcmp(FloatCC::NotEqual, v, z)
            }
            (_, Elem::Bool) => self.b.ins().icmp_imm_u(IntCC::NotEqual, v, 0),
            (Elem::Bool, t) if t.is_int() => self.b.ins().uextend(types::I32, v),
            (f, Elem::I32) if f.is_float() => self.b.ins().fcvt_to_sint_sat(types::I32, v),
            (f, Elem::U32) if f.is_float() => self.b.ins().fcvt_to_uint_sat(types::I32, v),
            // i32 <-> u32 reinterpret the bits.
            (_, Elem::I32 | Elem::U32) => v,
            (Elem::F32 | Elem::F16 | Elem::BF16, t) => self.round(t, v)?,
            (i, t) => {
                // Integers convert to f16/bf16 in one rounding, through exact f64.
                let wide = match i {
                    Elem::I32 => self.b.ins().fcvt_from_sint(types::F64, v),
                    Elem::U32 => self.b.ins().fcvt_from_uint(types::F64, v),
                    _ => {
                        let w = self.b.ins().uextend(types::I32, v);
                        self.b.ins().fcvt_from_uint(types::F64, w)
                    }
                };
                match t {
                    Elem::F16 => self.call_helper("vibee_f16_from_f64", &[wide])?,
                    Elem::BF16 => self.call_helper("vibee_bf16_from_f64", &[wide])?,
                    _ => self.b.ins().fdemote(types::F32, wide),
                }
            }
        })
    }

    /// A math intrinsic on one lane; floats computed in `f32` and rounded to `elem`.
    pub(super) fn math_lane(
        &mut self,
        f: MathFn,
        elem: Elem,
        x: &[Value],
    ) -> Result<Value, String> {
        if elem.is_int() {
            return match (f, elem) {
                (MathFn::Abs, Elem::I32) => Ok(self.b.ins().iabs(x[0])),
                (MathFn::Abs, _) => Ok(x[0]),
                _ => Err(format!("`{}` needs a float argument", f.name())),
            };
        }
        if !elem.is_float() {
            return Err(format!("`{}` needs a float argument", f.name()));
        }
        let v = match f {
            MathFn::Sqrt => self.b.ins().sqrt(x[0]),
            MathFn::Abs => self.b.ins().fabs(x[0]),
            MathFn::Fma => self.b.ins().fma(x[0], x[1], x[2]),
            MathFn::Rsqrt => {
                let s = self.b.ins().sqrt(x[0]);
                let one = self.b.ins().f32const(1.0);
                self.b.ins().fdiv(one, s)
            }
            MathFn::Exp if self.inline_exp && elem == Elem::F32 => self.exp_f32(x[0]),
            MathFn::Exp => self.call_helper("vibee_exp_f32", x)?,
            MathFn::Log => self.call_helper("vibee_log_f32", x)?,
            MathFn::Tanh => self.call_helper("vibee_tanh_f32", x)?,
            MathFn::Erf => self.call_helper("vibee_erf_f32", x)?,
            MathFn::Sin => self.call_helper("vibee_sin_f32", x)?,
            MathFn::Cos => self.call_helper("vibee_cos_f32", x)?,
            MathFn::Powf => self.call_helper("vibee_powf_f32", x)?,
        };
        self.round(elem, v)
    }
}
