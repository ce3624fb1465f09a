//! Expressions: every `ExprKind`, vector lanes split and joined around scalar semantics.

use cranelift_codegen::ir::{InstBuilder, InstructionData, Opcode, Value, types};
use vibee_dsl::kernel::{
    BinaryOp, Elem, Expr, ExprKind, Lit, MathFn, ParamKind, Scalar, Ty, UnaryOp, ops as sem,
};

use super::{ArgVal, Lower, clif_ty};

impl Lower<'_, '_> {
    /// Lowers `e`; the result always has the register type of `e.ty`.
    pub(super) fn expr(&mut self, e: &Expr) -> Result<Value, String> {
        let want = clif_ty(e.ty)?;
        let v = self.expr_kind(e)?;
        if self.ty_of(v) != want {
            return Err(format!(
                "an expression declared {:?} computes another type",
                e.ty
            ));
        }
        Ok(v)
    }

    fn expr_kind(&mut self, e: &Expr) -> Result<Value, String> {
        match &e.kind {
            ExprKind::Lit(l) => {
                let s = self.lit_lane(*l, e.ty.elem);
                Ok(self.splat(s, e.ty))
            }
            ExprKind::Local(v) => {
                let var = *self
                    .locals
                    .get(v.0 as usize)
                    .ok_or_else(|| format!("local #{} does not exist", v.0))?;
                Ok(self.b.use_var(var))
            }
            ExprKind::Param(p) => self.param_value(p.0 as usize),
            ExprKind::Builtin(b) => self.builtin(*b),
            ExprKind::Unary(op, a) => {
                let v = self.expr(a)?;
                self.lanewise(e.ty, &[(v, a.ty)], |l, x| {
                    l.unary_lane(*op, a.ty.elem, x[0])
                })
            }
            ExprKind::Binary(op @ (BinaryOp::And | BinaryOp::Or), a, b) => {
                self.short_circuit(*op, a, b)
            }
            ExprKind::Binary(op, a, b) => self.binary(*op, e.ty, a, b),
            ExprKind::Cast(a) => {
                let v = self.expr(a)?;
                let (from, to) = (a.ty.elem, e.ty.elem);
                self.lanewise(e.ty, &[(v, a.ty)], |l, x| l.cast_lane(x[0], from, to))
            }
            ExprKind::Math(f, args) => self.math(*f, e.ty, args),
            ExprKind::Load { buf, index } => self.load(*buf, index, e.ty),
            ExprKind::Len(buf) => self.buf_len(*buf),
            ExprKind::Extract { vector, lane } => {
                let v = self.expr(vector)?;
                let lanes = self.split(v, vector.ty);
                Ok(lanes[(*lane as usize).min(lanes.len() - 1)])
            }
            ExprKind::Construct(parts) => {
                if parts.len() != e.ty.lanes as usize || parts.iter().any(|p| p.ty.lanes != 1) {
                    return Err(format!(
                        "a vector of {} lanes built from {} scalars",
                        e.ty.lanes,
                        parts.len()
                    ));
                }
                let vals = parts
                    .iter()
                    .map(|p| self.expr(p))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(self.join(e.ty.elem, &vals))
            }
            ExprKind::AtomicAdd { buf, index, value } => {
                let i = self.expr(index)?;
                let v = self.expr(value)?;
                self.atomic_add(*buf, i, index.ty, v, value.ty)
            }
            // The CPU has no planes (plane size 1): a reduction over one unit is the value.
            ExprKind::Plane(_, a) => self.expr(a),
            ExprKind::Select {
                cond,
                then_value,
                else_value,
            } => {
                let c = self.expr(cond)?;
                let c = self.split(c, cond.ty)[0];
                let c = self.cast_lane(c, cond.ty.elem, Elem::Bool)?;
                let t = self.expr(then_value)?;
                let f = self.expr(else_value)?;
                Ok(self.b.ins().select(c, t, f))
            }
        }
    }

    /// A scalar or comptime parameter's value.
    pub(super) fn param_value(&mut self, index: usize) -> Result<Value, String> {
        match self.param_kind(index)? {
            ParamKind::Comptime { elem, .. } => {
                let s = self
                    .comptime
                    .get(index)
                    .copied()
                    .flatten()
                    .ok_or_else(|| format!("comptime parameter #{index} has no value"))?;
                Ok(self.scalar_const(s.cast(elem)))
            }
            ParamKind::Scalar(_) => match self.args.get(index) {
                Some(Some(ArgVal::Scalar(v))) => Ok(*v),
                _ => Err(format!("parameter #{index} is not loaded")),
            },
            ParamKind::Buffer { .. } => Err(format!("buffer parameter #{index} used as a value")),
        }
    }

    /// A literal as one lane of `elem`, converted the way the interpreter converts it.
    pub(super) fn lit_lane(&mut self, lit: Lit, elem: Elem) -> Value {
        let s = match (lit, elem) {
            // `ops::literal` leaves a float literal typed as an integer as f32; Rust `as`.
            (Lit::Float(v), Elem::I32) => Scalar::I32(v as i32),
            (Lit::Float(v), Elem::U32) => Scalar::U32(v as u32),
            (Lit::Float(v), Elem::Bool) => Scalar::Bool(v != 0.0),
            _ => sem::literal(lit, elem),
        };
        self.scalar_const(s)
    }

    pub(super) fn scalar_const(&mut self, s: Scalar) -> Value {
        match s {
            Scalar::F32(v) => self.b.ins().f32const(v),
            Scalar::F16(v) => self.b.ins().f32const(v.to_f32()),
            Scalar::BF16(v) => self.b.ins().f32const(v.to_f32()),
            Scalar::I32(v) => self.iconst32(v as u32),
            Scalar::U32(v) => self.iconst32(v),
            Scalar::Bool(v) => self.b.ins().iconst(types::I8, i64::from(v)),
        }
    }

    pub(super) fn zero_of(&mut self, ty: Ty) -> Result<Value, String> {
        let z = self.scalar_const(Scalar::zero(ty.elem));
        Ok(self.splat(z, ty))
    }

    /// A scalar lane repeated over `ty`'s lanes (the scalar itself for scalars).
    pub(super) fn splat(&mut self, lane: Value, ty: Ty) -> Value {
        if ty.lanes == 1 {
            return lane;
        }
        match ty.elem {
            Elem::Bool => self.join(ty.elem, &[lane; 4]),
            e if e.is_float() => self.b.ins().splat(types::F32X4, lane),
            _ => self.b.ins().splat(types::I32X4, lane),
        }
    }

    /// The lanes of `v` as scalars in their scalar register type.
    pub(super) fn split(&mut self, v: Value, ty: Ty) -> Vec<Value> {
        if ty.lanes == 1 {
            return vec![v];
        }
        // A splatted scalar is every lane: reusing it keeps a literal visible to the
        // scalar code (a division by a constant then becomes a multiplication).
        if ty.elem != Elem::Bool
            && let Some(scalar) = self.splatted(v)
        {
            return vec![scalar; ty.lanes as usize];
        }
        (0..ty.lanes)
            .map(|l| {
                let x = self.b.ins().extractlane(v, l);
                if ty.elem == Elem::Bool {
                    self.b.ins().ireduce(types::I8, x)
                } else {
                    x
                }
            })
            .collect()
    }

    /// The scalar `v` is a `splat` of, if it is one.
    fn splatted(&self, v: Value) -> Option<Value> {
        let dfg = &self.b.func.dfg;
        let inst = dfg.value_def(v).inst()?;
        match dfg.insts[inst] {
            InstructionData::Unary {
                opcode: Opcode::Splat,
                arg,
            } => Some(arg),
            _ => None,
        }
    }

    /// A vector from scalar lanes (the scalar itself for one lane).
    pub(super) fn join(&mut self, elem: Elem, lanes: &[Value]) -> Value {
        if lanes.len() == 1 {
            return lanes[0];
        }
        let lanes: Vec<Value> = lanes
            .iter()
            .map(|&x| {
                if elem == Elem::Bool {
                    self.b.ins().uextend(types::I32, x)
                } else {
                    x
                }
            })
            .collect();
        let vt = if elem.is_float() {
            types::F32X4
        } else {
            types::I32X4
        };
        let mut v = self.b.ins().splat(vt, lanes[0]);
        for (i, &x) in lanes.iter().enumerate().skip(1) {
            v = self.b.ins().insertlane(v, x, i as u8);
        }
        v
    }

    /// Applies the scalar `f` lane by lane; scalar operands are broadcast, and a vector
    /// operand of a scalar result contributes its first lane (as the interpreter does).
    pub(super) fn lanewise(
        &mut self,
        out: Ty,
        args: &[(Value, Ty)],
        mut f: impl FnMut(&mut Self, &[Value]) -> Result<Value, String>,
    ) -> Result<Value, String> {
        let split: Vec<Vec<Value>> = args.iter().map(|&(v, t)| self.split(v, t)).collect();
        let mut lanes = Vec::with_capacity(out.lanes as usize);
        for l in 0..out.lanes as usize {
            let xs: Vec<Value> = split.iter().map(|s| s[l.min(s.len() - 1)]).collect();
            lanes.push(f(self, &xs)?);
        }
        Ok(self.join(out.elem, &lanes))
    }

    /// `&&` and `||`: the right side runs only when it decides the result.
    fn short_circuit(&mut self, op: BinaryOp, a: &Expr, b: &Expr) -> Result<Value, String> {
        if a.ty != Ty::BOOL || b.ty != Ty::BOOL {
            return Err(format!("`{}` needs two scalar bools", op.symbol()));
        }
        let result = self.b.declare_var(types::I8);
        let av = self.expr(a)?;
        self.b.def_var(result, av);
        let [rhs, merge] = [(); 2].map(|()| self.b.create_block());
        if op == BinaryOp::And {
            self.b.ins().brif(av, rhs, &[], merge, &[]);
        } else {
            self.b.ins().brif(av, merge, &[], rhs, &[]);
        }
        self.b.switch_to_block(rhs);
        let bv = self.expr(b)?;
        self.b.def_var(result, bv);
        self.b.ins().jump(merge, &[]);
        self.b.switch_to_block(merge);
        Ok(self.b.use_var(result))
    }

    fn binary(&mut self, op: BinaryOp, out: Ty, a: &Expr, b: &Expr) -> Result<Value, String> {
        if a.ty.elem != b.ty.elem {
            return Err(format!(
                "`{}` between {} and {}",
                op.symbol(),
                a.ty.elem.rust_name(),
                b.ty.elem.rust_name()
            ));
        }
        let (mut av, mut bv) = (self.expr(a)?, self.expr(b)?);
        let (mut at, mut bt) = (a.ty, b.ty);
        // A scalar operand of a 4-lane operation is broadcast lane by lane; splatting it
        // first lets the whole-vector instruction apply (`x * a` with a scalar `a`).
        if out.lanes == 4 && at.lanes != bt.lanes {
            if at.lanes == 1 {
                at = Ty::vector(at.elem, 4);
                av = self.splat(av, at);
            } else {
                bt = Ty::vector(bt.elem, 4);
                bv = self.splat(bv, bt);
            }
        }
        if let Some(v) = self.native_vector_binary(op, at, av, bt, bv) {
            return Ok(v);
        }
        let elem = a.ty.elem;
        self.lanewise(out, &[(av, at), (bv, bt)], |l, x| {
            l.binary_lane(op, elem, x[0], x[1])
        })
    }

    /// Whole-vector instructions for the common arithmetic of two `f32x4` or `i32x4`.
    pub(super) fn native_vector_binary(
        &mut self,
        op: BinaryOp,
        at: Ty,
        a: Value,
        bt: Ty,
        b: Value,
    ) -> Option<Value> {
        if at.lanes != 4 || bt.lanes != 4 {
            return None;
        }
        if op.is_comparison() && at.elem != Elem::F16 && at.elem != Elem::BF16 {
            // A lane mask of all ones or zeros, narrowed to the 0/1 of bool lanes.
            let mask = self.compare(op, at.elem, a, b);
            let one = self.iconst32(1);
            let ones = self.b.ins().splat(types::I32X4, one);
            return Some(self.b.ins().band(mask, ones));
        }
        if at.elem == Elem::F32 && matches!(op, BinaryOp::Min | BinaryOp::Max) {
            return Some(self.vector_min_max(op == BinaryOp::Min, a, b));
        }
        let ins = self.b.ins();
        match (at.elem, op) {
            (Elem::F32, BinaryOp::Add) => Some(ins.fadd(a, b)),
            (Elem::F32, BinaryOp::Sub) => Some(ins.fsub(a, b)),
            (Elem::F32, BinaryOp::Mul) => Some(ins.fmul(a, b)),
            (Elem::F32, BinaryOp::Div) => Some(ins.fdiv(a, b)),
            (Elem::I32 | Elem::U32, BinaryOp::Add) => Some(ins.iadd(a, b)),
            (Elem::I32 | Elem::U32, BinaryOp::Sub) => Some(ins.isub(a, b)),
            (Elem::I32 | Elem::U32, BinaryOp::Mul) => Some(ins.imul(a, b)),
            (Elem::I32 | Elem::U32, BinaryOp::BitAnd) => Some(ins.band(a, b)),
            (Elem::I32 | Elem::U32, BinaryOp::BitOr) => Some(ins.bor(a, b)),
            (Elem::I32 | Elem::U32, BinaryOp::BitXor) => Some(ins.bxor(a, b)),
            (Elem::Bool, BinaryOp::And | BinaryOp::BitAnd | BinaryOp::Min) => Some(ins.band(a, b)),
            (Elem::Bool, BinaryOp::Or | BinaryOp::BitOr | BinaryOp::Max) => Some(ins.bor(a, b)),
            (Elem::Bool, BinaryOp::BitXor) => Some(ins.bxor(a, b)),
            _ => None,
        }
    }

    fn math(&mut self, f: MathFn, out: Ty, args: &[Expr]) -> Result<Value, String> {
        if args.len() != f.arity() {
            return Err(format!("`{}` takes {} arguments", f.name(), f.arity()));
        }
        let elem = out.elem;
        if args.iter().any(|a| a.ty.elem != elem) {
            return Err(format!(
                "`{}` arguments must all be {}",
                f.name(),
                elem.rust_name()
            ));
        }
        let vals = args
            .iter()
            .map(|a| Ok((self.expr(a)?, a.ty)))
            .collect::<Result<Vec<_>, String>>()?;
        if out.lanes == 4 && elem == Elem::F32 && vals.iter().all(|(_, t)| t.lanes == 4) {
            match f {
                MathFn::Sqrt => return Ok(self.b.ins().sqrt(vals[0].0)),
                MathFn::Abs => return Ok(self.b.ins().fabs(vals[0].0)),
                // Inline only here: one-unit and four-unit code stay bit-exact with libm.
                MathFn::Exp => return Ok(self.exp_f32(vals[0].0)),
                _ => {}
            }
        }
        self.lanewise(out, &vals, |l, x| l.math_lane(f, elem, x))
    }
}

/// `Neg` and `Not` have no effect on some element types; used to keep `ops` readable.
pub(super) fn is_identity(op: UnaryOp, elem: Elem) -> bool {
    matches!((op, elem), (UnaryOp::Neg, Elem::Bool)) || (op == UnaryOp::Not && elem.is_float())
}
