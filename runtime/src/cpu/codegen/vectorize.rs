//! The loop vectorizer: a `for` loop whose body is a map over consecutive elements of `f32`
//! buffers (`y[row * cols + j] = y[row * cols + j] * s`) runs four iterations per step in
//! `f32x4` registers, as rustc's auto-vectorized loops do, and the scalar loop finishes the
//! last (up to three) iterations.
//!
//! It applies only inside the copy of a loop whose accesses were proven in bounds for the
//! whole range ([`super::loops`]), so a step needs no check at all, and only to bodies whose
//! result cannot tell the difference: every statement a store or a `let` of `f32`; every
//! value built from `+ - * /`, `min`, `max` and negation of loads at `offset + j`, earlier
//! `let`s of the same iteration, and values invariant in the loop (each lane computes exactly
//! what the scalar code computes for its iteration); a buffer that is written is accessed at
//! one offset only, so no iteration reads or writes what another one writes; the `let`s are
//! not read after the loop; the loop variable ends with the value the scalar loop leaves.
//!
//! `exp`, `sqrt` and `abs` of such values run in vector lanes too: `sqrt` and `abs` are the
//! scalar instructions' lane-wise twins; `exp` is the inline one ([`super::fastmath`], within
//! 1 ulp of `expf`), which the loop's remaining scalar iterations then use as well, so every
//! iteration of a vectorized loop computes the same function.
//!
//! A body `acc = max(acc, value)` (or `min`) with such a `value` runs as four running
//! extremes in vector lanes, combined after the steps; the result is exact whenever it is
//! neither zero nor NaN (see [`Lower::vector_reduction`]), and otherwise the scalar loop
//! redoes the whole range.
//!
//! A map whose last statement folds a value into an `f32` local (`s = s + exp(x[j] - m)`,
//! any arithmetic operator, the local on either side) computes the value in vector lanes and
//! folds the four lanes into the local one after another, in iteration order: the sum is
//! not reassociated, so it is the scalar loop's bit for bit, and the expensive part of
//! the body still runs four iterations per instruction.

use cranelift_codegen::ir::condcodes::{FloatCC, IntCC};
use cranelift_codegen::ir::{InstBuilder, MemFlagsData, Value, types};
use cranelift_frontend::Variable;
use vibee_dsl::kernel::{
    BinaryOp, BufRef, Elem, Expr, ExprKind, MathFn, ParamKind, Stmt, StmtKind, Ty, UnaryOp, VarId,
};

use super::Lower;
use super::analysis::{LoopAccess, Scale, for_each_expr, invariant_in};

/// A value of a vectorized iteration: one scalar for all four lanes, or four lanes.
#[derive(Clone, Copy, Debug)]
enum Lanes {
    Same(Value),
    Each(Value),
}

/// The loop being vectorized: its variable, body and proven affine accesses.
struct MapLoop<'a, 'e> {
    var: VarId,
    body: &'e [Stmt],
    accesses: &'a [LoopAccess<'e>],
}

impl Lower<'_, '_> {
    /// Runs `body` four iterations per step while at least four remain (`counter` to
    /// `end`), leaving `counter` at the first iteration not run; does nothing unless the body
    /// is a map the vectorizer handles. Returns whether it vectorized the loop.
    pub(super) fn vector_steps(
        &mut self,
        var: VarId,
        [counter, end]: [Variable; 2],
        body: &[Stmt],
        accesses: &[LoopAccess<'_>],
    ) -> Result<bool, String> {
        let map = MapLoop {
            var,
            body,
            accesses,
        };
        if let Some(r) = self.reduction(&map) {
            self.vector_reduction(&map, &r, [counter, end])?;
            return Ok(false);
        }
        let fold = self.ordered_fold(&map);
        let mapped = match fold {
            Some(_) => &body[..body.len() - 1],
            None => body,
        };
        if !self.is_map(&map, mapped, fold.as_ref()) {
            return Ok(false);
        }
        let [step, after] = [(); 2].map(|()| self.b.create_block());
        let stop = self.vector_stop(counter, end);
        let first = self.b.use_var(counter);
        let more = self.b.ins().icmp(IntCC::UnsignedLessThan, first, stop);
        self.b.ins().brif(more, step, &[], after, &[]);
        self.b.switch_to_block(step);
        let i = self.b.use_var(counter);
        self.set_local(var, i)?;
        let mut lets = Vec::new();
        for s in mapped {
            self.vector_stmt(&map, s, &mut lets)?;
        }
        if let Some(f) = &fold {
            self.fold_lanes(&map, f, &lets)?;
        }
        // The scalar loop leaves the variable at its last iteration's value.
        let last = self.b.ins().iadd_imm_u(i, 3);
        self.set_local(var, last)?;
        let next = self.b.ins().iadd_imm_u(i, 4);
        self.b.def_var(counter, next);
        let more = self.b.ins().icmp(IntCC::UnsignedLessThan, next, stop);
        self.b.ins().brif(more, step, &[], after, &[]);
        self.b.switch_to_block(after);
        Ok(true)
    }

    /// Folds the four lanes of the fold's value into its local, lane 0 first, with the
    /// scalar operator and the operands in the body's order.
    fn fold_lanes(
        &mut self,
        map: &MapLoop<'_, '_>,
        f: &Fold<'_>,
        lets: &[(VarId, Lanes)],
    ) -> Result<(), String> {
        let value = self.lanes(map, f.value, lets)?;
        let mut acc = self.b.use_var(self.locals[f.acc.0 as usize]);
        for k in 0..4 {
            let lane = match value {
                Lanes::Same(v) => v,
                Lanes::Each(v) => self.b.ins().extractlane(v, k),
            };
            let (a, b) = if f.acc_first {
                (acc, lane)
            } else {
                (lane, acc)
            };
            acc = self.binary_lane(f.op, Elem::F32, a, b)?;
        }
        self.set_local(f.acc, acc)
    }

    /// Where the four-iteration steps stop: `counter` plus the iterations left (none when
    /// `counter > end`) rounded down to a multiple of 4, in `u32` (it never passes `end`).
    fn vector_stop(&mut self, counter: Variable, end: Variable) -> Value {
        let (i, e) = (self.b.use_var(counter), self.b.use_var(end));
        let started = self.b.ins().icmp(IntCC::UnsignedLessThanOrEqual, i, e);
        let left = self.b.ins().isub(e, i);
        let zero = self.iconst32(0);
        let left = self.b.ins().select(started, left, zero);
        let whole = self.b.ins().band_imm_u(left, i64::from(!3u32));
        self.b.ins().iadd(i, whole)
    }

    fn vector_stmt(
        &mut self,
        map: &MapLoop<'_, '_>,
        s: &Stmt,
        lets: &mut Vec<(VarId, Lanes)>,
    ) -> Result<(), String> {
        match &s.kind {
            StmtKind::Store { buf, index, value } => {
                let v = self.lanes(map, value, lets)?;
                let v = self.each(v);
                let addr = self.first_lane_address(*buf, index)?;
                self.b
                    .ins()
                    .store(MemFlagsData::new().with_notrap(), v, addr, 0);
            }
            StmtKind::Let { var, init } => {
                let v = self.lanes(map, init, lets)?;
                lets.push((*var, v));
            }
            _ => return Err("the vectorizer met a statement it did not accept".into()),
        }
        Ok(())
    }

    /// The address of `buf[index]` for the step's first iteration (the loop variable holds
    /// it); the next three iterations' elements follow it.
    fn first_lane_address(&mut self, buf: BufRef, index: &Expr) -> Result<Value, String> {
        let view = self.view(buf)?;
        let at = self.expr(index)?;
        let at = self.index64(at, index.ty)?;
        Ok(self.address(view, at))
    }

    fn lanes(
        &mut self,
        map: &MapLoop<'_, '_>,
        e: &Expr,
        lets: &[(VarId, Lanes)],
    ) -> Result<Lanes, String> {
        if invariant_in(e, map.var, map.body) {
            return Ok(Lanes::Same(self.expr(e)?));
        }
        Ok(match &e.kind {
            ExprKind::Local(v) => lets
                .iter()
                .rev()
                .find(|(l, _)| l == v)
                .map(|&(_, lanes)| lanes)
                .ok_or("the vectorizer met a local it did not accept")?,
            ExprKind::Load { buf, index } => {
                let addr = self.first_lane_address(*buf, index)?;
                let flags = MemFlagsData::new().with_notrap();
                Lanes::Each(self.b.ins().load(types::F32X4, flags, addr, 0))
            }
            ExprKind::Unary(UnaryOp::Neg, a) => {
                let a = self.lanes(map, a, lets)?;
                let a = self.each(a);
                Lanes::Each(self.b.ins().fneg(a))
            }
            ExprKind::Math(f, args) if args.len() == 1 => {
                let a = self.lanes(map, &args[0], lets)?;
                let a = self.each(a);
                Lanes::Each(match f {
                    MathFn::Exp => self.exp_f32(a),
                    MathFn::Sqrt => self.b.ins().sqrt(a),
                    MathFn::Abs => self.b.ins().fabs(a),
                    _ => return Err("the vectorizer met a function it did not accept".into()),
                })
            }
            ExprKind::Binary(op, a, b) => {
                let a = self.lanes(map, a, lets)?;
                let b = self.lanes(map, b, lets)?;
                let (a, b) = (self.each(a), self.each(b));
                Lanes::Each(match op {
                    BinaryOp::Add => self.b.ins().fadd(a, b),
                    BinaryOp::Sub => self.b.ins().fsub(a, b),
                    BinaryOp::Mul => self.b.ins().fmul(a, b),
                    BinaryOp::Div => self.b.ins().fdiv(a, b),
                    BinaryOp::Min | BinaryOp::Max => {
                        self.vector_min_max(*op == BinaryOp::Min, a, b)
                    }
                    _ => return Err("the vectorizer met an operator it did not accept".into()),
                })
            }
            _ => return Err("the vectorizer met an expression it did not accept".into()),
        })
    }

    fn each(&mut self, v: Lanes) -> Value {
        match v {
            Lanes::Same(s) => self.b.ins().splat(types::F32X4, s),
            Lanes::Each(v) => v,
        }
    }

    /// Whether `mapped` (the loop's body, or all of it but `fold`) is a map the vectorizer
    /// handles (see the module docs), and `fold`'s value one of its values.
    fn is_map(&self, map: &MapLoop<'_, '_>, mapped: &[Stmt], fold: Option<&Fold<'_>>) -> bool {
        let mut lets: Vec<VarId> = Vec::new();
        for s in mapped {
            let ok = match &s.kind {
                StmtKind::Store { buf, index, value } => {
                    self.consecutive_f32(map, *buf, index) && self.map_value(map, value, &lets)
                }
                StmtKind::Let { var, init } => {
                    let private = *var != map.var
                        && super::analysis::definitions(map.body, *var) == 1
                        && reads(&self.kernel.body, *var) == reads(map.body, *var);
                    lets.push(*var);
                    private && self.map_value(map, init, &lets[..lets.len() - 1])
                }
                _ => false,
            };
            if !ok {
                return false;
            }
        }
        let folds =
            fold.is_none_or(|f| !lets.contains(&f.acc) && self.map_value(map, f.value, &lets));
        folds && !map.body.is_empty() && written_at_one_offset(map)
    }

    fn map_value(&self, map: &MapLoop<'_, '_>, e: &Expr, lets: &[VarId]) -> bool {
        if e.ty != Ty::F32 {
            return false;
        }
        if invariant_in(e, map.var, map.body) {
            return true;
        }
        match &e.kind {
            ExprKind::Local(v) => lets.contains(v),
            ExprKind::Load { buf, index } => self.consecutive_f32(map, *buf, index),
            ExprKind::Unary(UnaryOp::Neg, a) => self.map_value(map, a, lets),
            ExprKind::Math(MathFn::Exp | MathFn::Sqrt | MathFn::Abs, args) => {
                matches!(&args[..], [a] if self.map_value(map, a, lets))
            }
            ExprKind::Binary(
                BinaryOp::Add
                | BinaryOp::Sub
                | BinaryOp::Mul
                | BinaryOp::Div
                | BinaryOp::Min
                | BinaryOp::Max,
                a,
                b,
            ) => self.map_value(map, a, lets) && self.map_value(map, b, lets),
            _ => false,
        }
    }

    /// An access of one element of an `f32` buffer parameter at `offset + var`.
    fn consecutive_f32(&self, map: &MapLoop<'_, '_>, buf: BufRef, index: &Expr) -> bool {
        let f32_param = matches!(buf, BufRef::Param(p) if matches!(
            self.kernel.params.get(p.0 as usize).map(|p| p.kind),
            Some(ParamKind::Buffer { elem: Elem::F32, .. })
        ));
        f32_param
            && map.accesses.iter().any(|a| {
                std::ptr::eq(a.index, index) && a.lanes == 1 && matches!(a.scale, Scale::One)
            })
    }
}

/// For `acc = a op b`: whether `acc` is the first operand, and the other one (`None` unless
/// exactly one operand is `acc` itself).
fn accumulating<'e>(acc: VarId, a: &'e Expr, b: &'e Expr) -> Option<(bool, &'e Expr)> {
    let is_acc = |e: &Expr| matches!(e.kind, ExprKind::Local(v) if v == acc);
    match (is_acc(a), is_acc(b)) {
        (true, false) => Some((true, b)),
        (false, true) => Some((false, a)),
        _ => None,
    }
}

/// The last statement of a map, `acc = acc op value` (or `value op acc`) over `f32`, whose
/// local only that statement reads and writes in the body.
struct Fold<'e> {
    acc: VarId,
    op: BinaryOp,
    /// `acc` is the first operand.
    acc_first: bool,
    value: &'e Expr,
}

impl Lower<'_, '_> {
    /// The body's last statement as a [`Fold`], if it is one.
    fn ordered_fold<'e>(&self, map: &MapLoop<'_, 'e>) -> Option<Fold<'e>> {
        let StmtKind::Assign { var: acc, value } = &map.body.last()?.kind else {
            return None;
        };
        let ExprKind::Binary(
            op @ (BinaryOp::Add
            | BinaryOp::Sub
            | BinaryOp::Mul
            | BinaryOp::Div
            | BinaryOp::Min
            | BinaryOp::Max),
            a,
            b,
        ) = &value.kind
        else {
            return None;
        };
        let (acc_first, other) = accumulating(*acc, a, b)?;
        let acc_ty = self.kernel.locals.get(acc.0 as usize).map(|l| l.ty);
        let private =
            super::analysis::definitions(map.body, *acc) == 1 && reads(map.body, *acc) == 1;
        (acc_ty == Some(Ty::F32) && *acc != map.var && private).then_some(Fold {
            acc: *acc,
            op: *op,
            acc_first,
            value: other,
        })
    }
}

/// A body `acc = max(acc, value)` (or `min`, either operand order) over `f32`.
struct Reduction<'e> {
    acc: VarId,
    min: bool,
    /// `acc` is the first operand (which wins ties).
    acc_first: bool,
    value: &'e Expr,
}

impl Lower<'_, '_> {
    /// The body as a min/max reduction whose other operand maps consecutive elements.
    fn reduction<'e>(&self, map: &MapLoop<'_, 'e>) -> Option<Reduction<'e>> {
        let [stmt] = map.body else {
            return None;
        };
        let StmtKind::Assign { var: acc, value } = &stmt.kind else {
            return None;
        };
        let ExprKind::Binary(op @ (BinaryOp::Min | BinaryOp::Max), a, b) = &value.kind else {
            return None;
        };
        let (acc_first, other) = accumulating(*acc, a, b)?;
        let acc_ty = self.kernel.locals.get(acc.0 as usize).map(|l| l.ty);
        (acc_ty == Some(Ty::F32) && *acc != map.var && self.map_value(map, other, &[])).then_some(
            Reduction {
                acc: *acc,
                min: *op == BinaryOp::Min,
                acc_first,
                value: other,
            },
        )
    }

    /// Four running minima (maxima) in the lanes of a vector, one per iteration modulo 4,
    /// then combined. The order of a fold of `min`/`max` only shows in which of several
    /// equal operands wins, and equal floats have equal bits except `0.0` and `-0.0`; NaN
    /// operands never win once the accumulator holds a number. So the combined value is the
    /// scalar loop's exactly unless it is a zero or NaN: then the steps are discarded and
    /// the scalar loop runs every iteration from the start.
    fn vector_reduction(
        &mut self,
        map: &MapLoop<'_, '_>,
        r: &Reduction<'_>,
        [counter, end]: [Variable; 2],
    ) -> Result<(), String> {
        let [step, done, after] = [(); 3].map(|()| self.b.create_block());
        let acc_var = self.locals[r.acc.0 as usize];
        let (first, start_acc) = (self.b.use_var(counter), self.b.use_var(acc_var));
        let lanes = self.b.declare_var(types::F32X4);
        let splat = self.b.ins().splat(types::F32X4, start_acc);
        self.b.def_var(lanes, splat);
        let stop = self.vector_stop(counter, end);
        let more = self.b.ins().icmp(IntCC::UnsignedLessThan, first, stop);
        self.b.ins().brif(more, step, &[], after, &[]);

        self.b.switch_to_block(step);
        let i = self.b.use_var(counter);
        self.set_local(map.var, i)?;
        let v = self.lanes(map, r.value, &[])?;
        let (v, acc) = (self.each(v), self.b.use_var(lanes));
        let (a, b) = if r.acc_first { (acc, v) } else { (v, acc) };
        let folded = self.vector_min_max(r.min, a, b);
        self.b.def_var(lanes, folded);
        let next = self.b.ins().iadd_imm_u(i, 4);
        self.b.def_var(counter, next);
        let more = self.b.ins().icmp(IntCC::UnsignedLessThan, next, stop);
        self.b.ins().brif(more, step, &[], done, &[]);

        self.b.switch_to_block(done);
        let acc = self.b.use_var(lanes);
        let mut result = self.b.ins().extractlane(acc, 0);
        for k in 1..4 {
            let lane = self.b.ins().extractlane(acc, k);
            result = self.float_min_max(r.min, result, lane);
        }
        // Ordered and not equal to zero: neither a NaN nor a zero of either sign.
        let zero = self.b.ins().f32const(0.0);
        let exact = self.b.ins().fcmp(FloatCC::OrderedNotEqual, result, zero);
        let acc = self.b.ins().select(exact, result, start_acc);
        self.set_local(r.acc, acc)?;
        let resume = self.b.ins().select(exact, stop, first);
        self.b.def_var(counter, resume);
        // The scalar loop's value when it runs no iteration after the steps.
        let last = self.b.ins().iadd_imm_u(stop, -1);
        self.set_local(map.var, last)?;
        self.b.ins().jump(after, &[]);
        self.b.switch_to_block(after);
        Ok(())
    }
}

/// Whether every buffer the body stores to is accessed (loaded or stored) at one offset
/// only, so each iteration touches its own element and no other iteration's.
fn written_at_one_offset(map: &MapLoop<'_, '_>) -> bool {
    let written: Vec<BufRef> = map
        .body
        .iter()
        .filter_map(|s| match &s.kind {
            StmtKind::Store { buf, .. } => Some(*buf),
            _ => None,
        })
        .collect();
    let mut on_written = map.accesses.iter().filter(|a| written.contains(&a.buf));
    on_written.all(|a| {
        map.accesses
            .iter()
            .filter(|b| b.buf == a.buf)
            .all(|b| same_terms(&a.offset, &b.offset))
    })
}

/// Whether two sums of terms are the same terms (in any order).
fn same_terms(a: &[&Expr], b: &[&Expr]) -> bool {
    a.len() == b.len()
        && a.iter().all(|x| b.iter().any(|y| same_value(x, y)))
        && b.iter().all(|y| a.iter().any(|x| same_value(x, y)))
}

/// Structural equality of two loop-invariant expressions, ignoring source spans.
fn same_value(a: &Expr, b: &Expr) -> bool {
    if a.ty != b.ty {
        return false;
    }
    match (&a.kind, &b.kind) {
        (ExprKind::Lit(x), ExprKind::Lit(y)) => x == y,
        (ExprKind::Local(x), ExprKind::Local(y)) => x == y,
        (ExprKind::Param(x), ExprKind::Param(y)) => x == y,
        (ExprKind::Builtin(x), ExprKind::Builtin(y)) => x == y,
        (ExprKind::Len(x), ExprKind::Len(y)) => x == y,
        (ExprKind::Cast(x), ExprKind::Cast(y)) => same_value(x, y),
        (ExprKind::Unary(o, x), ExprKind::Unary(p, y)) => o == p && same_value(x, y),
        (ExprKind::Binary(o, x1, x2), ExprKind::Binary(p, y1, y2)) => {
            o == p && same_value(x1, y1) && same_value(x2, y2)
        }
        _ => false,
    }
}

/// How many times `stmts` read local `v` (at any depth).
fn reads(stmts: &[Stmt], v: VarId) -> usize {
    let mut n = 0;
    for_each_expr(stmts, &mut |e| {
        n += usize::from(matches!(e.kind, ExprKind::Local(l) if l == v));
    });
    n
}
