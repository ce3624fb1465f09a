//! Four units per iteration (and the group-level bounds facts both shapes use): a barrier-free kernel without loops is compiled a second time
//! with every scalar widened to a 4-lane vector, lane `k` holding unit `u + k`. Control flow
//! becomes masks: an `if` runs its branches under the lanes whose condition holds (and skips
//! a branch no lane takes), assignments blend under the mask, a `return` clears lanes from
//! the mask, and memory accesses take one vector load or store when the four indices are
//! consecutive, in bounds and (for stores) all lanes are active, and go lane by lane,
//! bounds-checked, otherwise. The driver uses this variant when the group size is a
//! multiple of 4; every value is computed exactly as the one-unit version computes it.

use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{ConstantData, Endianness, InstBuilder, MemFlagsData, Value, types};
use cranelift_frontend::Variable;
use vibee_dsl::kernel::{
    BinaryOp, BufRef, Builtin, Elem, Expr, ExprKind, MathFn, Stmt, StmtKind, Ty, VarId,
};

use super::analysis::{
    consecutive, consecutive_locals, for_each_expr, gid_locals, has_return, is_global_pos,
};
use super::{Lower, clif_ty};

/// The masks of the statement being lowered.
#[derive(Debug, Default)]
pub(super) struct SimdState {
    /// Lanes that have not returned (i32x4 of 0/1); `None` when the kernel never returns.
    alive: Option<Variable>,
    /// The conjunction of the enclosing `if` conditions (i32x4 of 0/1), innermost last.
    conds: Vec<Value>,
    /// Locals whose four lanes always hold consecutive integers (one top-level `let` of a
    /// consecutive value), so accesses through them need no run-time consecutiveness test.
    consecutive: Vec<VarId>,
    /// Buffers known to hold every global position of the current group (see
    /// `group_inside`): accesses at the global position need no bounds check.
    in_bounds: Vec<(BufRef, u8)>,
}

/// The type of a value when four units run at once.
pub(super) fn widen(ty: Ty) -> Ty {
    Ty::vector(ty.elem, 4)
}

impl Lower<'_, '_> {
    /// Parameter buffers the body accesses at the global linear position, each with the
    /// most lanes one such access touches (4 for a vector access at vector index `gid`).
    pub(super) fn group_buffers(&self) -> Vec<(BufRef, u8)> {
        let gids = gid_locals(&self.kernel.body);
        let mut bufs: Vec<(BufRef, u8)> = Vec::new();
        let mut note = |buf: BufRef, index: &Expr, lanes: u8| {
            if !matches!(buf, BufRef::Param(_)) || !is_global_pos(index, &gids) {
                return;
            }
            match bufs.iter_mut().find(|(b, _)| *b == buf) {
                Some((_, l)) => *l = (*l).max(lanes),
                None => bufs.push((buf, lanes)),
            }
        };
        fn stores(stmts: &[Stmt], f: &mut impl FnMut(BufRef, &Expr, u8)) {
            for s in stmts {
                match &s.kind {
                    StmtKind::Store { buf, index, value } => f(*buf, index, value.ty.lanes),
                    StmtKind::If {
                        then_branch,
                        else_branch,
                        ..
                    } => {
                        stores(then_branch, f);
                        stores(else_branch, f);
                    }
                    StmtKind::For { body, .. } | StmtKind::While { body, .. } => stores(body, f),
                    _ => {}
                }
            }
        }
        stores(&self.kernel.body, &mut note);
        for_each_expr(&self.kernel.body, &mut |e| {
            if let ExprKind::Load { buf, index } = &e.kind {
                note(*buf, index, e.ty.lanes);
            }
        });
        bufs
    }

    pub(super) fn set_in_bounds(&mut self, bufs: Vec<(BufRef, u8)>) {
        self.simd.in_bounds = bufs;
    }

    /// Whether an access of `lanes` lanes to `buf` at `index` is known in bounds for every
    /// unit of this group (the group passed `group_inside`).
    pub(super) fn known_inside(&self, buf: BufRef, index: &Expr, lanes: u8) -> bool {
        self.simd
            .in_bounds
            .iter()
            .any(|&(b, l)| b == buf && l >= lanes)
            && is_global_pos(index, &gid_locals(&self.kernel.body))
    }

    /// The body for four units: lanes start alive, statements run under masks.
    pub(super) fn simd_body(&mut self, body: &[Stmt]) -> Result<(), String> {
        self.simd.conds.clear();
        self.simd.alive = None;
        self.simd.consecutive = consecutive_locals(body);
        if has_return(body) {
            let alive = self.b.declare_var(types::I32X4);
            let ones = self.lanes_u32([1; 4]);
            self.b.def_var(alive, ones);
            self.simd.alive = Some(alive);
        }
        for s in body {
            self.simd_stmt(s)?;
        }
        Ok(())
    }

    /// An `i32x4` constant.
    fn lanes_u32(&mut self, lanes: [u32; 4]) -> Value {
        let bytes: Vec<u8> = lanes.iter().flat_map(|v| v.to_le_bytes()).collect();
        let c = self.b.func.dfg.constants.insert(ConstantData::from(bytes));
        self.b.ins().vconst(types::I32X4, c)
    }

    /// Lanes that execute the current statement, or `None` for all four.
    fn mask(&mut self) -> Option<Value> {
        let alive = self.simd.alive.map(|v| self.b.use_var(v));
        match (alive, self.simd.conds.last().copied()) {
            (None, c) => c,
            (a, None) => a,
            (Some(a), Some(c)) => Some(self.b.ins().band(a, c)),
        }
    }

    /// `new` in the lanes of `mask` (0/1), `old` elsewhere.
    fn blend(&mut self, mask: Value, new: Value, old: Value) -> Value {
        let full = self.b.ins().ineg(mask);
        let full = if self.ty_of(new) == types::F32X4 {
            let flags = MemFlagsData::new().with_endianness(Endianness::Little);
            self.b.ins().bitcast(types::F32X4, flags, full)
        } else {
            full
        };
        self.b.ins().bitselect(full, new, old)
    }

    fn simd_stmt(&mut self, s: &Stmt) -> Result<(), String> {
        match &s.kind {
            StmtKind::Let { var, init } | StmtKind::Assign { var, value: init } => {
                let local = self
                    .kernel
                    .locals
                    .get(var.0 as usize)
                    .ok_or_else(|| format!("local #{} does not exist", var.0))?;
                let v = self.simd_expr(init)?;
                if clif_ty(widen(local.ty))? != self.ty_of(v) {
                    return Err(format!("local `{}` assigned another type", local.name));
                }
                let target = self.locals[var.0 as usize];
                let v = match self.mask() {
                    Some(m) => {
                        let old = self.b.use_var(target);
                        self.blend(m, v, old)
                    }
                    None => v,
                };
                self.b.def_var(target, v);
                Ok(())
            }
            StmtKind::Store { buf, index, value } => self.simd_store(*buf, index, value),
            StmtKind::If {
                cond,
                then_branch,
                else_branch,
            } => self.simd_if(cond, then_branch, else_branch),
            StmtKind::Eval(e) => self.simd_expr(e).map(drop),
            StmtKind::Return => {
                let alive = self.simd.alive.ok_or("`return` without a lane mask")?;
                let a = self.b.use_var(alive);
                let left = match self.simd.conds.last().copied() {
                    Some(c) => {
                        let ones = self.lanes_u32([1; 4]);
                        let not_c = self.b.ins().bxor(c, ones);
                        self.b.ins().band(a, not_c)
                    }
                    None => self.lanes_u32([0; 4]),
                };
                self.b.def_var(alive, left);
                Ok(())
            }
            _ => Err("statement not supported four units at a time".into()),
        }
    }

    /// A condition per lane as `i32x4` of 0/1.
    fn simd_condition(&mut self, cond: &Expr) -> Result<Value, String> {
        let c = self.simd_expr(cond)?;
        if cond.ty.elem == Elem::Bool {
            return Ok(c);
        }
        let from = cond.ty.elem;
        self.lanewise(widen(Ty::BOOL), &[(c, widen(cond.ty))], |l, x| {
            l.cast_lane(x[0], from, Elem::Bool)
        })
    }

    fn simd_if(&mut self, cond: &Expr, then: &[Stmt], other: &[Stmt]) -> Result<(), String> {
        // `if gid < len(buf)` holds in every lane of a group known to be inside `buf`.
        if let ExprKind::Binary(BinaryOp::Lt, a, b) = &cond.kind
            && let ExprKind::Len(buf) = b.kind
            && self.known_inside(buf, a, 1)
        {
            return then.iter().try_for_each(|s| self.simd_stmt(s));
        }
        let c = self.simd_condition(cond)?;
        let outer = self.simd.conds.last().copied();
        let then_c = match outer {
            Some(o) => self.b.ins().band(o, c),
            None => c,
        };
        let ones = self.lanes_u32([1; 4]);
        let not_c = self.b.ins().bxor(c, ones);
        let else_c = match outer {
            Some(o) => self.b.ins().band(o, not_c),
            None => not_c,
        };
        for (mask, branch) in [(then_c, then), (else_c, other)] {
            if branch.is_empty() {
                continue;
            }
            let [run, next] = [(); 2].map(|()| self.b.create_block());
            let any = self.b.ins().vany_true(mask);
            self.b.ins().brif(any, run, &[], next, &[]);
            self.b.switch_to_block(run);
            self.simd.conds.push(mask);
            let r = branch.iter().try_for_each(|s| self.simd_stmt(s));
            self.simd.conds.pop();
            r?;
            self.b.ins().jump(next, &[]);
            self.b.switch_to_block(next);
        }
        Ok(())
    }

    /// Lowers `e` for four units; the result has the register type of `widen(e.ty)`.
    fn simd_expr(&mut self, e: &Expr) -> Result<Value, String> {
        let w = widen(e.ty);
        let v = self.simd_expr_kind(e, w)?;
        if self.ty_of(v) != clif_ty(w)? {
            return Err(format!(
                "an expression declared {:?} computes another type",
                e.ty
            ));
        }
        Ok(v)
    }

    fn simd_expr_kind(&mut self, e: &Expr, w: Ty) -> Result<Value, String> {
        match &e.kind {
            ExprKind::Lit(l) => {
                let s = self.lit_lane(*l, e.ty.elem);
                Ok(self.splat(s, w))
            }
            ExprKind::Local(v) => {
                let var = *self
                    .locals
                    .get(v.0 as usize)
                    .ok_or_else(|| format!("local #{} does not exist", v.0))?;
                Ok(self.b.use_var(var))
            }
            ExprKind::Param(p) => {
                let s = self.param_value(p.0 as usize)?;
                Ok(self.splat(s, w))
            }
            ExprKind::Builtin(b) => self.simd_builtin(*b),
            ExprKind::Unary(op, a) => {
                let v = self.simd_expr(a)?;
                let elem = a.ty.elem;
                self.lanewise(w, &[(v, widen(a.ty))], |l, x| l.unary_lane(*op, elem, x[0]))
            }
            ExprKind::Binary(op, a, b) => self.simd_binary(*op, w, a, b),
            ExprKind::Cast(a) => {
                let v = self.simd_expr(a)?;
                let (from, to) = (a.ty.elem, e.ty.elem);
                self.lanewise(w, &[(v, widen(a.ty))], |l, x| l.cast_lane(x[0], from, to))
            }
            ExprKind::Math(f, args) => self.simd_math(*f, w, args),
            ExprKind::Load { buf, index } => self.simd_load(*buf, index, e.ty),
            ExprKind::Len(buf) => {
                let n = self.buf_len(*buf)?;
                Ok(self.splat(n, w))
            }
            ExprKind::Plane(_, a) => self.simd_expr(a),
            ExprKind::Select {
                cond,
                then_value,
                else_value,
            } => {
                let c = self.simd_condition(cond)?;
                let t = self.simd_expr(then_value)?;
                let f = self.simd_expr(else_value)?;
                let args = [(c, widen(Ty::BOOL)), (t, w), (f, w)];
                self.lanewise(w, &args, |l, x| Ok(l.b.ins().select(x[0], x[1], x[2])))
            }
            _ => Err("expression not supported four units at a time".into()),
        }
    }

    /// Positions of the four units: consecutive linear positions, uniform everything else.
    fn simd_builtin(&mut self, b: Builtin) -> Result<Value, String> {
        let first = match b {
            Builtin::GlobalPos(None) | Builtin::UnitPos(None) => self.builtin(b)?,
            other => {
                let v = self.builtin(other)?;
                return Ok(self.splat(v, widen(Ty::U32)));
            }
        };
        let base = self.b.ins().splat(types::I32X4, first);
        let iota = self.lanes_u32([0, 1, 2, 3]);
        Ok(self.b.ins().iadd(base, iota))
    }

    fn simd_binary(&mut self, op: BinaryOp, w: Ty, a: &Expr, b: &Expr) -> Result<Value, String> {
        if a.ty.elem != b.ty.elem {
            return Err(format!("`{}` between different types", op.symbol()));
        }
        // Both sides are free of side effects here (no atomics), so `&&`/`||` may evaluate
        // both: per lane that is the same value.
        let op = match op {
            BinaryOp::And => BinaryOp::BitAnd,
            BinaryOp::Or => BinaryOp::BitOr,
            other => other,
        };
        let (av, bv) = (self.simd_expr(a)?, self.simd_expr(b)?);
        let (at, bt) = (widen(a.ty), widen(b.ty));
        if let Some(v) = self.native_vector_binary(op, at, av, bt, bv) {
            return Ok(v);
        }
        let elem = a.ty.elem;
        self.lanewise(w, &[(av, at), (bv, bt)], |l, x| {
            l.binary_lane(op, elem, x[0], x[1])
        })
    }

    fn simd_math(&mut self, f: MathFn, w: Ty, args: &[Expr]) -> Result<Value, String> {
        if args.len() != f.arity() || args.iter().any(|a| a.ty.elem != w.elem) {
            return Err(format!("bad arguments to `{}`", f.name()));
        }
        let vals = args
            .iter()
            .map(|a| Ok((self.simd_expr(a)?, widen(a.ty))))
            .collect::<Result<Vec<_>, String>>()?;
        match (f, w.elem) {
            (MathFn::Sqrt, Elem::F32) => return Ok(self.b.ins().sqrt(vals[0].0)),
            (MathFn::Abs, Elem::F32) => return Ok(self.b.ins().fabs(vals[0].0)),
            _ => {}
        }
        let elem = w.elem;
        self.lanewise(w, &vals, |l, x| l.math_lane(f, elem, x))
    }

    /// Whether the four indices are `i0, i0+1, i0+2, i0+3` and all inside `len`; returns
    /// that test and `i0` as a 64-bit element index.
    fn consecutive_inside(
        &mut self,
        index: &Expr,
        idx: Value,
        len: Value,
    ) -> Result<(Value, Value), String> {
        let index_ty = index.ty;
        let i0 = self.b.ins().extractlane(idx, 0);
        let first = self.index64(i0, index_ty)?;
        let consecutive = if consecutive(index, &self.simd.consecutive) {
            self.b.ins().iconst(types::I8, 1)
        } else {
            let base = self.b.ins().splat(types::I32X4, i0);
            let iota = self.lanes_u32([0, 1, 2, 3]);
            let expect = self.b.ins().iadd(base, iota);
            let same = self.b.ins().icmp(IntCC::Equal, idx, expect);
            self.b.ins().vall_true(same)
        };
        // `first + 3 < len`, with `first` small enough that the lanes did not wrap (a
        // negative i32 index is huge here and fails too).
        let limit = if index_ty.elem == Elem::I32 {
            i64::from(i32::MAX) - 3
        } else {
            i64::from(u32::MAX) - 3
        };
        let no_wrap = self
            .b
            .ins()
            .icmp_imm_u(IntCC::UnsignedLessThan, first, limit);
        let last = self.b.ins().iadd_imm_u(first, 3);
        let inside = self.b.ins().icmp(IntCC::UnsignedLessThan, last, len);
        let ok = self.b.ins().band(consecutive, no_wrap);
        Ok((self.b.ins().band(ok, inside), first))
    }

    fn simd_load(&mut self, buf: BufRef, index: &Expr, ty: Ty) -> Result<Value, String> {
        let view = self.view(buf)?;
        if view.elem != ty.elem {
            return Err(format!(
                "a {:?} load from a buffer of {:?}",
                ty.elem, view.elem
            ));
        }
        let idx = self.simd_expr(index)?;
        let w = widen(ty);
        if matches!(ty.elem, Elem::F32 | Elem::I32 | Elem::U32) && self.known_inside(buf, index, 1)
        {
            let i0 = self.b.ins().extractlane(idx, 0);
            let first = self.index64(i0, index.ty)?;
            let addr = self.address(view, first);
            let flags = MemFlagsData::new().with_notrap();
            return Ok(self.b.ins().load(clif_ty(w)?, flags, addr, 0));
        }
        let result = self.b.declare_var(clif_ty(w)?);
        let [whole, lanes, merge] = [(); 3].map(|()| self.b.create_block());
        if matches!(ty.elem, Elem::F32 | Elem::I32 | Elem::U32) {
            let (ok, first) = self.consecutive_inside(index, idx, view.len)?;
            self.b.ins().brif(ok, whole, &[], lanes, &[]);
            self.b.switch_to_block(whole);
            let addr = self.address(view, first);
            let flags = MemFlagsData::new().with_notrap();
            let v = self.b.ins().load(clif_ty(w)?, flags, addr, 0);
            self.b.def_var(result, v);
            self.b.ins().jump(merge, &[]);
        } else {
            self.b.ins().jump(lanes, &[]);
        }
        self.b.switch_to_block(lanes);
        let mut vals = Vec::with_capacity(4);
        for k in 0..4u8 {
            let ik = self.b.ins().extractlane(idx, k);
            let i = self.index64(ik, index.ty)?;
            vals.push(self.load_lane(view, i)?);
        }
        let v = self.join(ty.elem, &vals);
        self.b.def_var(result, v);
        self.b.ins().jump(merge, &[]);
        self.b.switch_to_block(merge);
        Ok(self.b.use_var(result))
    }

    fn simd_store(&mut self, buf: BufRef, index: &Expr, value: &Expr) -> Result<(), String> {
        let view = self.writable(buf, value.ty)?;
        let idx = self.simd_expr(index)?;
        let v = self.simd_expr(value)?;
        let mask = self.mask();
        let [whole, lanes, merge] = [(); 3].map(|()| self.b.create_block());
        let wide = matches!(value.ty.elem, Elem::F32 | Elem::I32 | Elem::U32);
        if wide && mask.is_none() && self.known_inside(buf, index, 1) {
            let i0 = self.b.ins().extractlane(idx, 0);
            let first = self.index64(i0, index.ty)?;
            let addr = self.address(view, first);
            self.b
                .ins()
                .store(MemFlagsData::new().with_notrap(), v, addr, 0);
            return Ok(());
        }
        if wide {
            let (mut ok, first) = self.consecutive_inside(index, idx, view.len)?;
            if let Some(m) = mask {
                let all = self.b.ins().vall_true(m);
                ok = self.b.ins().band(ok, all);
            }
            self.b.ins().brif(ok, whole, &[], lanes, &[]);
            self.b.switch_to_block(whole);
            let addr = self.address(view, first);
            self.b
                .ins()
                .store(MemFlagsData::new().with_notrap(), v, addr, 0);
            self.b.ins().jump(merge, &[]);
        } else {
            self.b.ins().jump(lanes, &[]);
        }
        self.b.switch_to_block(lanes);
        let vals = self.split(v, widen(value.ty));
        for (k, lane) in vals.into_iter().enumerate() {
            let ik = self.b.ins().extractlane(idx, k as u8);
            let i = self.index64(ik, index.ty)?;
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
        self.b.ins().jump(merge, &[]);
        self.b.switch_to_block(merge);
        Ok(())
    }
}
