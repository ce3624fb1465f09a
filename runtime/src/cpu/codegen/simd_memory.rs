//! Loads and stores of the four-units shape. An index whose lanes are statically
//! consecutive (`gid`, `row * width + x`, …) has its first lane computed as a scalar
//! ([`Lower::lane0`]), so the common access costs a scalar address, one bounds test and
//! one vector load or store; the vector of four indices is only built on the lane-by-lane
//! path (some lane out of bounds, or a store under a partial mask).

use cranelift_codegen::entity::EntityRef;
use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{Block, InstBuilder, MemFlagsData, Value, types};
use vibee_dsl::kernel::{BinaryOp, BufRef, Builtin, Elem, Expr, ExprKind, Ty};

use super::analysis::{consecutive, uniform};
use super::memory::BufView;
use super::simd::widen;
use super::{Lower, clif_ty};

/// Vector accesses need no alignment (a unit's first element is any multiple of 4 bytes).
fn vector_flags() -> MemFlagsData {
    MemFlagsData::new().with_notrap()
}

impl Lower<'_, '_> {
    /// Lane 0 of `e` as a scalar `i32` when `e`'s lanes are statically consecutive (see
    /// [`consecutive`]); `None` otherwise. Lane `k` of `e` is then this value plus `k`.
    pub(super) fn lane0(&mut self, e: &Expr) -> Result<Option<Value>, String> {
        if !e.ty.elem.is_int() || e.ty.lanes != 1 || !consecutive(e, &self.simd.consecutive) {
            return Ok(None);
        }
        Ok(match &e.kind {
            ExprKind::Builtin(b @ (Builtin::GlobalPos(None) | Builtin::UnitPos(None))) => {
                Some(self.builtin(*b)?)
            }
            ExprKind::Local(v) => self
                .simd
                .lane0
                .iter()
                .find(|(l, _)| l == v)
                .map(|&(_, var)| self.b.use_var(var)),
            ExprKind::Binary(op @ (BinaryOp::Add | BinaryOp::Sub), a, b) => {
                // Uniform sides are computed once, as scalars: every lane holds the same.
                let (x, y) = if uniform(b) {
                    (self.lane0(a)?, Some(self.expr(b)?))
                } else {
                    (Some(self.expr(a)?), self.lane0(b)?)
                };
                match (x, y) {
                    (Some(x), Some(y)) if *op == BinaryOp::Add => Some(self.b.ins().iadd(x, y)),
                    (Some(x), Some(y)) => Some(self.b.ins().isub(x, y)),
                    _ => None,
                }
            }
            // Between i32 and u32 the bits are the same.
            ExprKind::Cast(a) => self.lane0(a)?,
            _ => None,
        })
    }

    /// `first` (a 64-bit element index, lane 0) and the three after it are inside `len`,
    /// and lane 0 is small enough that the lanes did not wrap (a negative `i32` index is
    /// huge here and fails too).
    fn four_inside(&mut self, first: Value, index_ty: Ty, len: Value) -> Value {
        // `first + 3 < min(len, limit)` as one compare of `first` itself (no add that could
        // wrap a negative index back into range) against a loop-invariant bound, which is
        // computed once: `max(min(len, limit), 3) - 3`.
        let limit = if index_ty.elem == Elem::I32 {
            i64::from(i32::MAX)
        } else {
            i64::from(u32::MAX)
        };
        let limit = self.b.ins().iconst(types::I64, limit);
        let three = self.b.ins().iconst(types::I64, 3);
        let bound = self.b.ins().umin(len, limit);
        let bound = self.b.ins().umax(bound, three);
        let bound = self.b.ins().isub(bound, three);
        self.b.ins().icmp(IntCC::UnsignedLessThan, first, bound)
    }

    /// For a 32-bit element access at `index`: whether one vector access covers the four
    /// lanes (consecutive and in bounds), lane 0 as a 64-bit index, and the vector of
    /// indices when it had to be built to decide (`None` when the index is statically
    /// consecutive: the lane-by-lane path builds it itself).
    fn whole_vector(
        &mut self,
        index: &Expr,
        view: BufView,
    ) -> Result<(Value, Value, Option<Value>), String> {
        if let Some(first) = self.lane0(index)? {
            let first = self.index64(first, index.ty)?;
            let ok = self.four_inside(first, index.ty, view.len);
            return Ok((ok, first, None));
        }
        let idx = self.simd_expr(index)?;
        let i0 = self.b.ins().extractlane(idx, 0);
        let first = self.index64(i0, index.ty)?;
        let base = self.b.ins().splat(types::I32X4, i0);
        let iota = self.lanes_u32([0, 1, 2, 3]);
        let expect = self.b.ins().iadd(base, iota);
        let same = self.b.ins().icmp(IntCC::Equal, idx, expect);
        let consecutive = self.b.ins().vall_true(same);
        let inside = self.four_inside(first, index.ty, view.len);
        Ok((self.b.ins().band(consecutive, inside), first, Some(idx)))
    }

    /// Lane 0 of an index known (statically) to be consecutive and inside the buffer.
    fn known_first(&mut self, index: &Expr) -> Result<Value, String> {
        let i0 = match self.lane0(index)? {
            Some(v) => v,
            None => {
                let idx = self.simd_expr(index)?;
                self.b.ins().extractlane(idx, 0)
            }
        };
        self.index64(i0, index.ty)
    }

    pub(super) fn simd_load(&mut self, buf: BufRef, index: &Expr, ty: Ty) -> Result<Value, String> {
        let view = self.view(buf)?;
        if view.elem != ty.elem {
            return Err(format!(
                "a {:?} load from a buffer of {:?}",
                ty.elem, view.elem
            ));
        }
        let w = clif_ty(widen(ty))?;
        let wide = matches!(ty.elem, Elem::F32 | Elem::I32 | Elem::U32);
        if wide && self.known_inside(buf, index, 1) {
            let first = self.known_first(index)?;
            let addr = self.address(view, first);
            return Ok(self.b.ins().load(w, vector_flags(), addr, 0));
        }
        let result = self.b.declare_var(w);
        self.whole_or_lanes(
            wide.then_some((view, None)),
            |l, addr| {
                let v = l.b.ins().load(w, vector_flags(), addr, 0);
                l.b.def_var(result, v);
                Ok(())
            },
            |l, idx| {
                let mut vals = Vec::with_capacity(4);
                for k in 0..4u8 {
                    let ik = l.b.ins().extractlane(idx, k);
                    let i = l.index64(ik, index.ty)?;
                    vals.push(l.load_lane(view, i)?);
                }
                let v = l.join(ty.elem, &vals);
                l.b.def_var(result, v);
                Ok(())
            },
            index,
        )?;
        Ok(self.b.use_var(result))
    }

    pub(super) fn simd_store(
        &mut self,
        buf: BufRef,
        index: &Expr,
        value: &Expr,
    ) -> Result<(), String> {
        let view = self.writable(buf, value.ty)?;
        let v = self.simd_expr(value)?;
        let mask = self.mask();
        let wide = matches!(value.ty.elem, Elem::F32 | Elem::I32 | Elem::U32);
        if wide && mask.is_none() && self.known_inside(buf, index, 1) {
            let first = self.known_first(index)?;
            let addr = self.address(view, first);
            self.b.ins().store(vector_flags(), v, addr, 0);
            return Ok(());
        }
        self.whole_or_lanes(
            wide.then_some((view, mask)),
            |l, addr| {
                l.b.ins().store(vector_flags(), v, addr, 0);
                Ok(())
            },
            |l, idx| l.store_lanes(view, idx, index.ty, v, widen(value.ty), mask),
            index,
        )
    }

    /// The access shape loads and stores share: with `whole` set (`(view, mask)`),
    /// one vector access at lane 0's address when the four lanes are consecutive, inside the
    /// buffer and (for a masked store) all active, else `lanes` — the lane-by-lane path,
    /// laid out cold; without it, `lanes` alone.
    fn whole_or_lanes(
        &mut self,
        whole: Option<(BufView, Option<Value>)>,
        vector: impl FnOnce(&mut Self, Value) -> Result<(), String>,
        lanes: impl FnOnce(&mut Self, Value) -> Result<(), String>,
        index: &Expr,
    ) -> Result<(), String> {
        let [whole_block, lanes_block, merge] = [(); 3].map(|()| self.b.create_block());
        let mut idx = None;
        let wide = whole.is_some();
        if let Some((view, mask)) = whole {
            let (mut ok, first, built) = self.whole_vector(index, view)?;
            idx = built;
            if let Some(m) = mask {
                let all = self.b.ins().vall_true(m);
                ok = self.b.ins().band(ok, all);
            }
            self.b.ins().brif(ok, whole_block, &[], lanes_block, &[]);
            self.b.switch_to_block(whole_block);
            let addr = self.address(view, first);
            vector(self, addr)?;
            self.b.ins().jump(merge, &[]);
        } else {
            self.b.ins().jump(lanes_block, &[]);
        }
        let first_cold = self.b.func.dfg.num_blocks();
        self.b.switch_to_block(lanes_block);
        let idx = match idx {
            Some(idx) => idx,
            None => self.simd_expr(index)?,
        };
        lanes(self, idx)?;
        self.b.ins().jump(merge, &[]);
        if wide {
            self.b.set_cold_block(lanes_block);
            self.cold_since(first_cold);
        }
        self.b.switch_to_block(merge);
        Ok(())
    }

    /// Stores the lanes of `v` one by one at the lanes of `idx`, those of `mask` only.
    fn store_lanes(
        &mut self,
        view: BufView,
        idx: Value,
        index_ty: Ty,
        v: Value,
        ty: Ty,
        mask: Option<Value>,
    ) -> Result<(), String> {
        let vals = self.split(v, ty);
        for (k, lane) in vals.into_iter().enumerate() {
            let ik = self.b.ins().extractlane(idx, k as u8);
            let i = self.index64(ik, index_ty)?;
            let Some(m) = mask else {
                self.store_lane(view, i, lane, false)?;
                continue;
            };
            let [write, next] = [(); 2].map(|()| self.b.create_block());
            let on = self.b.ins().extractlane(m, k as u8);
            self.b.ins().brif(on, write, &[], next, &[]);
            self.b.switch_to_block(write);
            self.store_lane(view, i, lane, false)?;
            self.b.ins().jump(next, &[]);
            self.b.switch_to_block(next);
        }
        Ok(())
    }

    /// Marks the blocks from index `first` on as cold, so the lane-by-lane paths are laid
    /// out after the function's hot code, which then runs without taken jumps.
    pub(super) fn cold_since(&mut self, first: usize) {
        for i in first..self.b.func.dfg.num_blocks() {
            self.b.set_cold_block(Block::new(i));
        }
    }
}
