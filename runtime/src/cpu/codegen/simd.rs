//! Four units per iteration (and the group-level bounds facts both shapes use): a
//! barrier-free kernel without loops is compiled a second time with every scalar widened to
//! a 4-lane vector, lane `k` holding unit `u + k`. Control flow becomes masks: an `if` runs
//! its branches under the lanes whose condition holds (and skips a branch no lane takes),
//! assignments blend under the mask, a `return` clears lanes from the mask. An `if` reached
//! with every lane active also gets an unmasked copy of its then-branch, taken when the
//! condition holds in all four lanes (a bounds guard almost always does), so the common
//! case has no blends. Memory accesses ([`super::simd_memory`]) take one vector load or
//! store when the four indices are consecutive, in bounds and (for stores) all lanes are
//! active, and go lane by lane, bounds-checked, otherwise. The driver uses this variant
//! when the group size is a multiple of 4; every value is computed exactly as the one-unit
//! version computes it.

use cranelift_codegen::ir::{ConstantData, Endianness, InstBuilder, MemFlagsData, Value, types};
use cranelift_frontend::Variable;
use vibee_dsl::kernel::{
    BinaryOp, BufRef, Builtin, Elem, Expr, ExprKind, MathFn, Stmt, StmtKind, Ty, UnaryOp, VarId,
};

use super::analysis::{consecutive_locals, for_each_expr, gid_locals, has_return, is_global_pos};
use super::{Lower, clif_ty};

/// The masks of the statement being lowered.
#[derive(Debug, Default)]
pub(super) struct SimdState {
    /// Lanes that have not returned (i32x4 of 0/1); `None` when the kernel never returns.
    pub(super) alive: Option<Variable>,
    /// The conjunction of the enclosing `if` conditions (i32x4 of 0/1), innermost last.
    pub(super) conds: Vec<Value>,
    /// Locals whose four lanes always hold consecutive integers (one top-level `let` of a
    /// consecutive value), so accesses through them need no run-time consecutiveness test.
    pub(super) consecutive: Vec<VarId>,
    /// Buffers known to hold every global position of the current group (see
    /// `group_inside`): accesses at the global position need no bounds check.
    pub(super) in_bounds: Vec<(BufRef, u8)>,
    /// Lane 0 of each consecutive local as a scalar, so an address costs no vector work.
    pub(super) lane0: Vec<(VarId, Variable)>,
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
        self.simd.lane0.clear();
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
    pub(super) fn lanes_u32(&mut self, lanes: [u32; 4]) -> Value {
        let bytes: Vec<u8> = lanes.iter().flat_map(|v| v.to_le_bytes()).collect();
        let c = self.b.func.dfg.constants.insert(ConstantData::from(bytes));
        self.b.ins().vconst(types::I32X4, c)
    }

    /// Lanes that execute the current statement, or `None` for all four.
    pub(super) fn mask(&mut self) -> Option<Value> {
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
        self.blend_full(full, new, old)
    }

    /// `new` in the lanes where `full` is all ones, `old` where it is all zeros.
    fn blend_full(&mut self, full: Value, new: Value, old: Value) -> Value {
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
                if self.simd.consecutive.contains(var)
                    && let Some(first) = self.lane0(init)?
                {
                    let shadow = self.b.declare_var(types::I32);
                    self.b.def_var(shadow, first);
                    self.simd.lane0.push((*var, shadow));
                }
                let target = self.locals[var.0 as usize];
                // A `let` is scoped to the branch it is in, so lanes outside the mask never
                // read it: blending it with the previous value would only make the local
                // live across iterations of the unit loop (a phi per local, and the value
                // computed again on the edge that feeds it).
                let blend = matches!(s.kind, StmtKind::Assign { .. });
                let v = match self.mask().filter(|_| blend) {
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
    /// A condition per lane as an `i32x4` of all-ones or zeros, for `bitselect`: the
    /// comparison's own mask when the condition is one of `f32` or 32-bit integers.
    fn simd_full_mask(&mut self, cond: &Expr) -> Result<Value, String> {
        if let ExprKind::Binary(op, a, b) = &cond.kind
            && op.is_comparison()
            && matches!(a.ty.elem, Elem::F32 | Elem::I32 | Elem::U32)
            && a.ty.elem == b.ty.elem
        {
            let (av, bv) = (self.simd_expr(a)?, self.simd_expr(b)?);
            return Ok(self.compare(*op, a.ty.elem, av, bv));
        }
        let c = self.simd_condition(cond)?;
        Ok(self.b.ins().ineg(c))
    }

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
        // The comparison's whole-lane mask decides "all lanes" directly; the masks of the
        // masked path hold 0/1 lanes.
        let full = self.simd_full_mask(cond)?;
        let ones = self.lanes_u32([1; 4]);
        let c = self.b.ins().band(full, ones);
        if !then.is_empty() && self.mask().is_none() {
            // Unmasked so far: when the condition holds in all four lanes (the usual case of
            // a bounds guard) the then-branch runs as plain vector code, with no blends and
            // whole-vector stores; the masked version below only runs for mixed lanes.
            let [uniform, mixed, done] = [(); 3].map(|()| self.b.create_block());
            let all = self.b.ins().vall_true(full);
            self.b.ins().brif(all, uniform, &[], mixed, &[]);
            self.b.switch_to_block(uniform);
            then.iter().try_for_each(|s| self.simd_stmt(s))?;
            self.b.ins().jump(done, &[]);
            let first_cold = self.b.func.dfg.num_blocks();
            self.b.switch_to_block(mixed);
            self.masked_if(c, then, other)?;
            self.b.ins().jump(done, &[]);
            self.b.set_cold_block(mixed);
            self.cold_since(first_cold);
            self.b.switch_to_block(done);
            return Ok(());
        }
        self.masked_if(c, then, other)
    }

    /// Both branches of an `if` on lane condition `c`, each under its mask (and skipped when
    /// no lane takes it).
    fn masked_if(&mut self, c: Value, then: &[Stmt], other: &[Stmt]) -> Result<(), String> {
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
    pub(super) fn simd_expr(&mut self, e: &Expr) -> Result<Value, String> {
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
                match (op, elem) {
                    (UnaryOp::Neg, Elem::F32) => return Ok(self.b.ins().fneg(v)),
                    (UnaryOp::Neg, Elem::I32 | Elem::U32) => return Ok(self.b.ins().ineg(v)),
                    _ => {}
                }
                self.lanewise(w, &[(v, widen(a.ty))], |l, x| l.unary_lane(*op, elem, x[0]))
            }
            ExprKind::Binary(op, a, b) => self.simd_binary(*op, w, a, b),
            ExprKind::Cast(a) => {
                let v = self.simd_expr(a)?;
                let (from, to) = (a.ty.elem, e.ty.elem);
                // Same register bits: a no-op cast, or between `i32` and `u32`.
                if from == to || (from.is_int() && to.is_int()) {
                    return Ok(v);
                }
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
                // One `bitselect` under the condition's whole-lane mask.
                let c = self.simd_full_mask(cond)?;
                let t = self.simd_expr(then_value)?;
                let f = self.simd_expr(else_value)?;
                Ok(self.blend_full(c, t, f))
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
}
