//! Buffer and shared-memory accesses, every one bounds-checked: reads out of bounds yield 0,
//! writes out of bounds are skipped, and a 4-lane access that is not wholly inside falls back to lane-by-lane.

use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{AtomicRmwOp, BlockArg, InstBuilder, MemFlagsData, Value, types};
use vibee_dsl::kernel::{BinaryOp, BufRef, Elem, Expr, ExprKind, Stmt, StmtKind, Ty, VarId};

use super::{ArgVal, Lower, clif_ty, lane_ty};

/// Where a buffer lives and what it holds, as values of the function.
#[derive(Clone, Copy, Debug)]
pub(super) struct BufView {
    pub base: Value,
    pub len: Value,
    pub elem: Elem,
    pub mutable: bool,
}

/// Scalar element accesses are aligned (buffers are `Vec<T>`); vectors need not be.
fn lane_flags() -> MemFlagsData {
    MemFlagsData::trusted()
}
fn vector_flags() -> MemFlagsData {
    MemFlagsData::new().with_notrap()
}

impl Lower<'_, '_> {
    pub(super) fn view(&mut self, buf: BufRef) -> Result<BufView, String> {
        match buf {
            BufRef::Param(p) => match self.args.get(p.0 as usize) {
                Some(Some(ArgVal::Buffer {
                    base,
                    len,
                    elem,
                    mutable,
                })) => Ok(BufView {
                    base: *base,
                    len: *len,
                    elem: *elem,
                    mutable: *mutable,
                }),
                _ => Err(format!("parameter #{} is not a buffer", p.0)),
            },
            BufRef::Shared(s) => {
                let slot = *self
                    .shared_slots
                    .get(s.0 as usize)
                    .ok_or_else(|| format!("shared array #{} does not exist", s.0))?;
                let shared = self.shared_base.ok_or("no shared memory")?;
                let base = self.b.ins().iadd_imm_u(shared, slot.offset as i64);
                let len = self.b.ins().iconst(types::I64, slot.len as i64);
                Ok(BufView {
                    base,
                    len,
                    elem: slot.elem,
                    mutable: true,
                })
            }
        }
    }

    /// An index of any type as a 64-bit element index (negative → huge → out of bounds).
    pub(super) fn index64(&mut self, index: Value, ty: Ty) -> Result<Value, String> {
        if ty.lanes != 1 {
            return Err("an index must be a scalar".into());
        }
        Ok(match ty.elem {
            Elem::I32 => self.b.ins().sextend(types::I64, index),
            Elem::U32 | Elem::Bool => self.b.ins().uextend(types::I64, index),
            _ => self.b.ins().fcvt_to_sint_sat(types::I64, index),
        })
    }

    pub(super) fn address(&mut self, view: BufView, i: Value) -> Value {
        let size = view.elem.size_bytes() as i64;
        let off = self.b.ins().imul_imm_u(i, size);
        self.b.ins().iadd(view.base, off)
    }

    /// `buf[index]`, or the vector at vector index `index` when `ty` has 4 lanes.
    pub(super) fn load(&mut self, buf: BufRef, index: &Expr, ty: Ty) -> Result<Value, String> {
        let known =
            self.known_inside(buf, index, ty.lanes) || self.loop_proven(buf, index, ty.lanes);
        let proven = self.is_proven(buf, index) || known;
        let (index, index_ty) = (self.expr(index)?, index.ty);
        let view = self.view(buf)?;
        if view.elem != ty.elem {
            return Err(format!(
                "a {:?} load from a buffer of {:?}",
                ty.elem, view.elem
            ));
        }
        let i = self.index64(index, index_ty)?;
        if ty.lanes == 1 && proven {
            let addr = self.address(view, i);
            return self.load_elem(view.elem, addr);
        }
        if ty.lanes == 1 {
            return self.load_lane(view, i);
        }
        let first = self.b.ins().imul_imm_u(i, i64::from(ty.lanes));
        if known && matches!(ty.elem, Elem::F32 | Elem::I32 | Elem::U32) {
            let addr = self.address(view, first);
            return Ok(self.b.ins().load(clif_ty(ty)?, vector_flags(), addr, 0));
        }
        let lanes_at = |l: &mut Self, first: Value| -> Result<Vec<Value>, String> {
            (0..ty.lanes)
                .map(|k| {
                    let at = l.b.ins().iadd_imm_u(first, i64::from(k));
                    l.load_lane(view, at)
                })
                .collect()
        };
        if !matches!(ty.elem, Elem::F32 | Elem::I32 | Elem::U32) {
            let lanes = lanes_at(self, first)?;
            return Ok(self.join(ty.elem, &lanes));
        }
        let result = self.b.declare_var(clif_ty(ty)?);
        let [whole, partial, merge] = [(); 3].map(|()| self.b.create_block());
        let inside = self.vector_inside(view, i, ty.lanes);
        self.b.ins().brif(inside, whole, &[], partial, &[]);
        self.b.switch_to_block(whole);
        let addr = self.address(view, first);
        let v = self.b.ins().load(clif_ty(ty)?, vector_flags(), addr, 0);
        self.b.def_var(result, v);
        self.b.ins().jump(merge, &[]);
        self.b.switch_to_block(partial);
        self.b.set_cold_block(partial);
        let lanes = lanes_at(self, first)?;
        let v = self.join(ty.elem, &lanes);
        self.b.def_var(result, v);
        self.b.ins().jump(merge, &[]);
        self.b.switch_to_block(merge);
        Ok(self.b.use_var(result))
    }

    /// Whether all `lanes` elements of vector `i` are in bounds: `i < len / lanes`, which
    /// cannot overflow the way `i * lanes + lanes <= len` can.
    fn vector_inside(&mut self, view: BufView, i: Value, lanes: u8) -> Value {
        let whole = self.b.ins().udiv_imm_u(view.len, i64::from(lanes));
        self.b.ins().icmp(IntCC::UnsignedLessThan, i, whole)
    }

    /// One element, 0 when out of bounds: a compare and a (predictable) branch around the
    /// read, which costs fewer instructions than clamping the index and masking the value.
    pub(super) fn load_lane(&mut self, view: BufView, i: Value) -> Result<Value, String> {
        let zero = match view.elem {
            Elem::Bool => self.b.ins().iconst(types::I8, 0),
            e if e.is_float() => self.b.ins().f32const(0.0),
            _ => self.iconst32(0),
        };
        let inside = self.b.ins().icmp(IntCC::UnsignedLessThan, i, view.len);
        let [read, merge] = [(); 2].map(|()| self.b.create_block());
        let result = self.b.append_block_param(merge, lane_ty(view.elem));
        self.b
            .ins()
            .brif(inside, read, &[], merge, &[BlockArg::Value(zero)]);
        self.b.switch_to_block(read);
        let addr = self.address(view, i);
        let v = self.load_elem(view.elem, addr)?;
        self.b.ins().jump(merge, &[BlockArg::Value(v)]);
        self.b.switch_to_block(merge);
        Ok(result)
    }

    /// Reads one element at `addr` into its register type.
    pub(super) fn load_elem(&mut self, elem: Elem, addr: Value) -> Result<Value, String> {
        let f = lane_flags();
        Ok(match elem {
            Elem::F32 => self.b.ins().load(types::F32, f, addr, 0),
            Elem::I32 | Elem::U32 => self.b.ins().load(types::I32, f, addr, 0),
            Elem::Bool => {
                let w = self.b.ins().load(types::I32, f, addr, 0);
                self.b.ins().icmp_imm_u(IntCC::NotEqual, w, 0)
            }
            Elem::F16 | Elem::BF16 => {
                let h = self.b.ins().uload16(types::I32, f, addr, 0);
                self.half_value(elem, h)?
            }
        })
    }

    /// `buf[index] = value`; a 4-lane value stores elements `4*index .. 4*index+4`.
    pub(super) fn store(&mut self, buf: BufRef, index: &Expr, value: &Expr) -> Result<(), String> {
        let lanes = value.ty.lanes;
        let known = self.known_inside(buf, index, lanes) || self.loop_proven(buf, index, lanes);
        let proven = self.is_proven(buf, index) || known;
        let (index, index_ty) = (self.expr(index)?, index.ty);
        let (value, ty) = (self.expr(value)?, value.ty);
        let view = self.writable(buf, ty)?;
        let i = self.index64(index, index_ty)?;
        if ty.lanes == 1 {
            return self.store_lane(view, i, value, proven);
        }
        let first = self.b.ins().imul_imm_u(i, i64::from(ty.lanes));
        if known && matches!(ty.elem, Elem::F32 | Elem::I32 | Elem::U32) {
            let addr = self.address(view, first);
            self.b.ins().store(vector_flags(), value, addr, 0);
            return Ok(());
        }
        let [whole, partial, merge] = [(); 3].map(|()| self.b.create_block());
        let inside = if matches!(ty.elem, Elem::F32 | Elem::I32 | Elem::U32) {
            self.vector_inside(view, i, ty.lanes)
        } else {
            self.b.ins().iconst(types::I8, 0)
        };
        self.b.ins().brif(inside, whole, &[], partial, &[]);
        self.b.switch_to_block(whole);
        let addr = self.address(view, first);
        self.b.ins().store(vector_flags(), value, addr, 0);
        self.b.ins().jump(merge, &[]);
        self.b.switch_to_block(partial);
        let lanes = self.split(value, ty);
        for (k, lane) in lanes.into_iter().enumerate() {
            let at = self.b.ins().iadd_imm_u(first, k as i64);
            self.store_lane(view, at, lane, false)?;
        }
        self.b.ins().jump(merge, &[]);
        self.b.switch_to_block(merge);
        Ok(())
    }

    pub(super) fn writable(&mut self, buf: BufRef, ty: Ty) -> Result<BufView, String> {
        let view = self.view(buf)?;
        if !view.mutable {
            return Err(format!(
                "writes to `{}`, which is not a `&mut` buffer",
                self.kernel.buf_name(buf)
            ));
        }
        if view.elem != ty.elem {
            return Err(format!(
                "a {:?} store to a buffer of {:?}",
                ty.elem, view.elem
            ));
        }
        Ok(view)
    }

    /// Writes one element if `i` is in bounds (known to be when `proven`).
    pub(super) fn store_lane(
        &mut self,
        view: BufView,
        i: Value,
        v: Value,
        proven: bool,
    ) -> Result<(), String> {
        let [write, merge] = [(); 2].map(|()| self.b.create_block());
        if proven {
            self.b.ins().jump(write, &[]);
        } else {
            let inside = self.b.ins().icmp(IntCC::UnsignedLessThan, i, view.len);
            self.b.ins().brif(inside, write, &[], merge, &[]);
        }
        self.b.switch_to_block(write);
        let addr = self.address(view, i);
        let f = lane_flags();
        match view.elem {
            Elem::F32 | Elem::I32 | Elem::U32 => {
                self.b.ins().store(f, v, addr, 0);
            }
            Elem::Bool => {
                let w = self.b.ins().uextend(types::I32, v);
                self.b.ins().store(f, w, addr, 0);
            }
            Elem::F16 | Elem::BF16 => {
                let bits = self.half_bits(view.elem, v)?;
                self.b.ins().istore16(f, bits, addr, 0);
            }
        }
        self.b.ins().jump(merge, &[]);
        self.b.switch_to_block(merge);
        Ok(())
    }

    /// The 16-bit pattern of an `f16`/`bf16` value held (exactly) in an `f32` register.
    fn half_bits(&mut self, elem: Elem, v: Value) -> Result<Value, String> {
        if elem == Elem::F16 {
            return self.call_helper("vibee_f16_bits", &[v]);
        }
        let w = self.b.ins().bitcast(types::I32, MemFlagsData::new(), v);
        Ok(self.b.ins().ushr_imm_u(w, 16))
    }

    /// The value of a 16-bit pattern as an `f32` register.
    fn half_value(&mut self, elem: Elem, bits: Value) -> Result<Value, String> {
        if elem == Elem::F16 {
            return self.call_helper("vibee_f16_value", &[bits]);
        }
        let w = self.b.ins().ishl_imm_u(bits, 16);
        Ok(self.b.ins().bitcast(types::F32, MemFlagsData::new(), w))
    }

    /// Number of elements (u32, truncated like the interpreter's `len as u32`).
    pub(super) fn buf_len(&mut self, buf: BufRef) -> Result<Value, String> {
        let view = self.view(buf)?;
        Ok(self.b.ins().ireduce(types::I32, view.len))
    }

    /// Atomically adds `value` to `buf[index]`, yielding the old value (0 out of bounds,
    /// where nothing is written). Integers use `atomic_rmw add`; floats a compare-and-swap
    /// loop, so the sum is rounded exactly as a plain add would be.
    pub(super) fn atomic_add(
        &mut self,
        buf: BufRef,
        index: Value,
        index_ty: Ty,
        value: Value,
        ty: Ty,
    ) -> Result<Value, String> {
        if ty.lanes != 1 || ty.elem == Elem::Bool {
            return Err("atomic add takes a scalar number".into());
        }
        let view = self.writable(buf, ty)?;
        let i = self.index64(index, index_ty)?;
        let result = self.b.declare_var(lane_ty(ty.elem));
        let zero = self.zero_of(ty)?;
        self.b.def_var(result, zero);
        let inside = self.b.ins().icmp(IntCC::UnsignedLessThan, i, view.len);
        let [update, merge] = [(); 2].map(|()| self.b.create_block());
        self.b.ins().brif(inside, update, &[], merge, &[]);
        self.b.switch_to_block(update);
        let addr = self.address(view, i);
        let old = if ty.elem.is_int() {
            self.b
                .ins()
                .atomic_rmw(types::I32, lane_flags(), AtomicRmwOp::Add, addr, value)
        } else {
            self.float_cas_add(view.elem, addr, value)?
        };
        self.b.def_var(result, old);
        self.b.ins().jump(merge, &[]);
        self.b.switch_to_block(merge);
        Ok(self.b.use_var(result))
    }

    /// `loop { old = *addr; if cas(addr, old, round(old + v)) == old { break old } }`.
    fn float_cas_add(&mut self, elem: Elem, addr: Value, v: Value) -> Result<Value, String> {
        let (bits_ty, f) = if elem == Elem::F32 {
            (types::I32, lane_flags())
        } else {
            (types::I16, lane_flags())
        };
        let expected = self.b.declare_var(bits_ty);
        let first = self.b.ins().load(bits_ty, f, addr, 0);
        self.b.def_var(expected, first);
        let [retry, done] = [(); 2].map(|()| self.b.create_block());
        self.b.ins().jump(retry, &[]);
        self.b.switch_to_block(retry);
        let seen = self.b.use_var(expected);
        let old = self.bits_to_value(elem, seen)?;
        let sum = self.binary_lane(vibee_dsl::kernel::BinaryOp::Add, elem, old, v)?;
        let new = self.value_to_bits(elem, sum)?;
        let got = self.b.ins().atomic_cas(f, addr, seen, new);
        self.b.def_var(expected, got);
        let ok = self.b.ins().icmp(IntCC::Equal, got, seen);
        self.b.ins().brif(ok, done, &[], retry, &[]);
        self.b.switch_to_block(done);
        Ok(old)
    }

    fn bits_to_value(&mut self, elem: Elem, bits: Value) -> Result<Value, String> {
        if elem == Elem::F32 {
            return Ok(self.b.ins().bitcast(types::F32, MemFlagsData::new(), bits));
        }
        let w = self.b.ins().uextend(types::I32, bits);
        self.half_value(elem, w)
    }

    fn value_to_bits(&mut self, elem: Elem, v: Value) -> Result<Value, String> {
        if elem == Elem::F32 {
            return Ok(self.b.ins().bitcast(types::I32, MemFlagsData::new(), v));
        }
        let w = self.half_bits(elem, v)?;
        Ok(self.b.ins().ireduce(types::I16, w))
    }
}

impl Lower<'_, '_> {
    /// Whether `index` is a local known to be below `len(buf)` here (see [`Self::guard`]).
    fn is_proven(&self, buf: BufRef, index: &Expr) -> bool {
        matches!(index.kind, ExprKind::Local(v) if self.proven.contains(&(v, buf)))
    }

    /// The bounds fact an `if` establishes for its then-branch: `if v < len(buf) { … }` where
    /// `v` is a `u32` local the branch never assigns, so `buf[v]` needs no check inside.
    pub(super) fn guard(cond: &Expr, then: &[Stmt]) -> Option<(VarId, BufRef)> {
        let ExprKind::Binary(BinaryOp::Lt, a, b) = &cond.kind else {
            return None;
        };
        match (&a.kind, &b.kind) {
            (ExprKind::Local(v), ExprKind::Len(buf)) if a.ty == Ty::U32 && !assigns(then, *v) => {
                Some((*v, *buf))
            }
            _ => None,
        }
    }
}

/// Whether any statement in `stmts` (recursively) sets local `v`.
fn assigns(stmts: &[Stmt], v: VarId) -> bool {
    stmts.iter().any(|s| match &s.kind {
        StmtKind::Let { var, .. } | StmtKind::Assign { var, .. } => *var == v,
        StmtKind::For { var, body, .. } => *var == v || assigns(body, v),
        StmtKind::If {
            then_branch,
            else_branch,
            ..
        } => assigns(then_branch, v) || assigns(else_branch, v),
        StmtKind::While { body, .. } => assigns(body, v),
        _ => false,
    })
}
