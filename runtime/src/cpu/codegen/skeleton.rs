//! The function around the kernel body: argument loads hoisted to the entry, the loops over
//! groups and units (barrier-free kernels), or the resume dispatch (kernels with barriers).

use std::mem::offset_of;

use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{Block, InstBuilder, JumpTableData, MemFlagsData, Value, types};
use vibee_dsl::kernel::{BufRef, Builtin, ExprKind, ParamKind, Stmt, StmtKind};

use super::{ArgVal, DONE, Lower, Positions, lane_ty};
use crate::cpu::{ArgSlot, LaunchCtx};

impl Lower<'_, '_> {
    /// `fn(ctx, shared, first_group, end_group)`: every unit of every group in the range.
    /// Both loops test at the bottom (a grid has at least one unit per group), so a unit
    /// costs one compare and branch besides the body.
    ///
    /// With `simd`, each iteration runs four consecutive units in the lanes of 128-bit
    /// vectors (see [`super::simd`]); the group size must then be a multiple of 4.
    pub(super) fn emit_groups(&mut self, simd: bool) -> Result<(), String> {
        let entry = self.b.create_block();
        self.b.append_block_params_for_function_params(entry);
        self.b.switch_to_block(entry);
        let p = self.b.block_params(entry).to_vec();
        self.hoist(p[0], p[1])?;
        let pos = self.positions()?;
        let g = self.b.declare_var(types::I64);
        self.b.def_var(g, p[2]);
        let [group_body, group_next, exit] = [(); 3].map(|()| self.b.create_block());
        let any = self.b.ins().icmp(IntCC::UnsignedLessThan, p[2], p[3]);
        if self.kernel.shared.is_empty() && only_global_position(&self.kernel.body) {
            let flat = self.b.create_block();
            self.b.ins().brif(any, flat, &[], exit, &[]);
            self.b.switch_to_block(flat);
            self.flat_units(&pos, simd, [p[2], p[3]], group_body, exit)?;
        } else {
            self.b.ins().brif(any, group_body, &[], exit, &[]);
        }

        self.b.switch_to_block(group_body);
        let gv = self.b.use_var(g);
        self.set_group(&pos, gv, uses_axes(&self.kernel.body, true));
        let zero = self.iconst32(0);
        for v in pos.unit.iter().chain([&pos.unit_linear]) {
            self.b.def_var(*v, zero);
        }
        let in_bounds = self.group_buffers();
        if in_bounds.is_empty() {
            let units = self.b.create_block();
            self.b.ins().jump(units, &[]);
            self.unit_loop(&pos, simd, units, group_next)?;
        } else {
            // A group whose positions all index inside every buffer accessed at the global
            // position runs a copy of the body without those bounds checks.
            let ok = self.group_inside(&pos, gv, &in_bounds);
            let [fast, checked] = [(); 2].map(|()| self.b.create_block());
            // Branching on the failure puts the fast copy first in the machine code, next to
            // the test (blocks are laid out in reverse postorder): the common path touches
            // fewer cache lines.
            let outside = self.b.ins().icmp_imm_u(IntCC::Equal, ok, 0);
            self.b.ins().brif(outside, checked, &[], fast, &[]);
            self.set_in_bounds(in_bounds);
            self.unit_loop(&pos, simd, fast, group_next)?;
            self.set_in_bounds(Vec::new());
            self.unit_loop(&pos, simd, checked, group_next)?;
        }

        self.b.switch_to_block(group_next);
        let gv = self.b.use_var(g);
        let next = self.b.ins().iadd_imm_u(gv, 1);
        self.b.def_var(g, next);
        let more = self.b.ins().icmp(IntCC::UnsignedLessThan, next, p[3]);
        self.b.ins().brif(more, group_body, &[], exit, &[]);

        self.b.switch_to_block(exit);
        self.b.ins().return_(&[]);
        Ok(())
    }

    /// The units of groups `first..end` as one loop, for a kernel that tells groups apart
    /// only by the global position: when every position of the range indexes inside every
    /// buffer accessed there (one test, of the last group), the range runs like one large
    /// group without bounds checks at the global position, so a launch pays one loop's
    /// setup and exit rather than one per group. Otherwise it goes on at `per_group`.
    fn flat_units(
        &mut self,
        pos: &Positions,
        simd: bool,
        [first, end]: [Value; 2],
        per_group: Block,
        exit: Block,
    ) -> Result<(), String> {
        let bufs = self.group_buffers();
        let last = self.b.ins().iadd_imm_u(end, -1);
        let inside = self.group_inside(pos, last, &bufs);
        let units = self.b.ins().uextend(types::I64, pos.units_per_group);
        let groups = self.b.ins().isub(end, first);
        let total = self.b.ins().imul(groups, units);
        // The unit counter is 32 bits: the range must count fewer than 2^32 units.
        let fits = self
            .b
            .ins()
            .icmp_imm_u(IntCC::UnsignedLessThan, total, 1i64 << 32);
        let ok = self.b.ins().band(inside, fits);
        let flat = self.b.create_block();
        self.b.ins().brif(ok, flat, &[], per_group, &[]);

        self.b.switch_to_block(flat);
        let first32 = self.b.ins().ireduce(types::I32, first);
        let base = self.b.ins().imul(first32, pos.units_per_group);
        self.b.def_var(pos.global_base, base);
        let zero = self.iconst32(0);
        for v in pos.unit.iter().chain([&pos.unit_linear]) {
            self.b.def_var(*v, zero);
        }
        let total = self.b.ins().ireduce(types::I32, total);
        let range = Positions {
            units_per_group: total,
            ..*pos
        };
        let body = self.b.create_block();
        self.b.ins().jump(body, &[]);
        self.set_in_bounds(bufs);
        self.unit_loop(&range, simd, body, exit)?;
        self.set_in_bounds(Vec::new());
        Ok(())
    }

    /// One loop over the units of a group (one or four per iteration), starting at the
    /// empty block `unit_body` and ending at `after`.
    fn unit_loop(
        &mut self,
        pos: &Positions,
        simd: bool,
        unit_body: Block,
        after: Block,
    ) -> Result<(), String> {
        // Unrolled: the four-units body, and a loop-free one-unit body that reads no
        // per-axis unit position (whose next unit is one add).
        let axes = uses_axes(&self.kernel.body, false);
        if simd || (!axes && !super::has_loops(&self.kernel.body)) {
            return self.unrolled_unit_loops(pos, simd, unit_body, after);
        }
        let unit_next = self.b.create_block();
        self.b.switch_to_block(unit_body);
        self.unit_exit = Some(unit_next);
        let kernel = self.kernel;
        self.block(&kernel.body)?;
        self.b.ins().jump(unit_next, &[]);

        self.b.switch_to_block(unit_next);
        let ul = self.next_unit(pos, axes);
        let more = self
            .b
            .ins()
            .icmp(IntCC::UnsignedLessThan, ul, pos.units_per_group);
        self.b.ins().brif(more, unit_body, &[], after, &[]);
        Ok(())
    }

    /// The loops over a group's units, from the empty block `entry` to `after`, with the
    /// body copied four times per iteration (of the one-unit or the four-units body) when
    /// the group size is a multiple of the units they cover: less counting and branching
    /// per unit, and the copies' independent work can overlap. A group of another size
    /// runs one copy per iteration.
    fn unrolled_unit_loops(
        &mut self,
        pos: &Positions,
        simd: bool,
        entry: Block,
        after: Block,
    ) -> Result<(), String> {
        let (lanes, copies) = if simd { (4, 4) } else { (1, 4) };
        let [unrolled, single] = [(); 2].map(|()| self.b.create_block());
        self.b.switch_to_block(entry);
        let rest = self
            .b
            .ins()
            .band_imm_u(pos.units_per_group, i64::from(lanes * copies - 1));
        self.b.ins().brif(rest, single, &[], unrolled, &[]);
        self.copied_unit_loop(pos, simd, copies, unrolled, after)?;
        self.copied_unit_loop(pos, simd, 1, single, after)
    }

    /// A loop running `copies` copies of the body per iteration, from the empty block
    /// `head` to `after`; each copy covers one unit, or four with `simd`.
    fn copied_unit_loop(
        &mut self,
        pos: &Positions,
        simd: bool,
        copies: u32,
        head: Block,
        after: Block,
    ) -> Result<(), String> {
        self.b.switch_to_block(head);
        let kernel = self.kernel;
        let step = if simd { 4 } else { 1 };
        let mut ul = self.b.use_var(pos.unit_linear);
        for _ in 0..copies {
            let next = self.b.create_block();
            self.unit_exit = Some(next);
            if simd {
                self.simd_body(&kernel.body)?;
            } else {
                self.block(&kernel.body)?;
            }
            self.b.ins().jump(next, &[]);
            self.b.switch_to_block(next);
            let at = self.b.use_var(pos.unit_linear);
            ul = self.b.ins().iadd_imm_u(at, step);
            self.b.def_var(pos.unit_linear, ul);
        }
        let more = self
            .b
            .ins()
            .icmp(IntCC::UnsignedLessThan, ul, pos.units_per_group);
        self.b.ins().brif(more, head, &[], after, &[]);
        Ok(())
    }

    /// Whether group `g`'s global positions `g*U .. (g+1)*U` stay below 2^32 and below the
    /// length of every buffer in `bufs` (times the lanes of its widest access).
    fn group_inside(&mut self, pos: &Positions, g: Value, bufs: &[(BufRef, u8)]) -> Value {
        let units = self.b.ins().uextend(types::I64, pos.units_per_group);
        let next = self.b.ins().iadd_imm_u(g, 1);
        let end = self.b.ins().imul(next, units);
        let mut ok = self
            .b
            .ins()
            .icmp_imm_u(IntCC::UnsignedLessThanOrEqual, end, 1i64 << 32);
        for &(buf, lanes) in bufs {
            if let BufRef::Param(p) = buf
                && let Some(Some(ArgVal::Buffer { len, .. })) = self.args.get(p.0 as usize)
            {
                let len = *len;
                let elems = self.b.ins().imul_imm_u(end, i64::from(lanes));
                let inside = self
                    .b
                    .ins()
                    .icmp(IntCC::UnsignedLessThanOrEqual, elems, len);
                ok = self.b.ins().band(ok, inside);
            }
        }
        ok
    }

    /// `fn(ctx, shared, group, unit, state, resume) -> next`: runs one unit from resume
    /// point `resume` (0 = the start) to its next barrier (returning that barrier's resume
    /// point) or to its end (returning `DONE`).
    pub(super) fn emit_phased(&mut self) -> Result<(), String> {
        let entry = self.b.create_block();
        self.b.append_block_params_for_function_params(entry);
        self.b.switch_to_block(entry);
        let p = self.b.block_params(entry).to_vec();
        self.hoist(p[0], p[1])?;
        self.state_ptr = Some(p[4]);
        let pos = self.positions()?;
        self.set_group(&pos, p[2], true);
        self.set_unit(&pos, p[3]);
        let [dispatch, start, done] = [(); 3].map(|()| self.b.create_block());
        self.b.ins().jump(dispatch, &[]);

        self.b.switch_to_block(start);
        self.unit_exit = None;
        let kernel = self.kernel;
        let body = &kernel.body;
        self.block(body)?;
        let d = self.iconst32(DONE);
        self.b.ins().return_(&[d]);

        self.b.switch_to_block(done);
        let d = self.iconst32(DONE);
        self.b.ins().return_(&[d]);

        self.b.switch_to_block(dispatch);
        let targets: Vec<Block> = std::iter::once(start)
            .chain(self.resume_blocks.iter().copied())
            .collect();
        let calls: Vec<_> = targets
            .iter()
            .map(|&blk| self.b.func.dfg.block_call(blk, &[]))
            .collect();
        let default = self.b.func.dfg.block_call(done, &[]);
        let table = self
            .b
            .create_jump_table(JumpTableData::new(default, &calls));
        self.b.ins().br_table(p[5], table);
        Ok(())
    }

    /// Loads every buffer's base and length and every scalar once, at the entry.
    fn hoist(&mut self, ctx: Value, shared: Value) -> Result<(), String> {
        // The context and argument slots never change during a call: the loads may move,
        // merge, and vanish where unused (a kernel rarely reads every size of the grid).
        let flags = MemFlagsData::trusted().with_readonly().with_can_move();
        self.ctx_ptr = Some(ctx);
        self.shared_base = Some(shared);
        let args = self
            .b
            .ins()
            .load(types::I64, flags, ctx, offset_of!(LaunchCtx, args) as i32);
        let slot = size_of::<ArgSlot>() as i32;
        let (ptr_at, len_at) = (
            offset_of!(ArgSlot, ptr) as i32,
            offset_of!(ArgSlot, len) as i32,
        );
        for i in 0..self.kernel.params.len() {
            let at = i as i32 * slot;
            let val = match self.param_kind(i)? {
                ParamKind::Buffer { elem, mutable } => Some(ArgVal::Buffer {
                    base: self.b.ins().load(types::I64, flags, args, at + ptr_at),
                    len: self.b.ins().load(types::I64, flags, args, at + len_at),
                    elem,
                    mutable,
                }),
                ParamKind::Scalar(elem) => Some(ArgVal::Scalar(self.b.ins().load(
                    lane_ty(elem),
                    flags,
                    args,
                    at + len_at,
                ))),
                ParamKind::Comptime { .. } => None,
            };
            self.args.push(val);
        }
        Ok(())
    }

    /// Declares the position variables and loads the grid's sizes.
    fn positions(&mut self) -> Result<Positions, String> {
        let ctx = self.ctx_ptr.ok_or("no context")?;
        let flags = MemFlagsData::trusted().with_readonly().with_can_move();
        let load = |b: &mut Self, base: usize, axis: usize| {
            b.b.ins()
                .load(types::I32, flags, ctx, (base + 4 * axis) as i32)
        };
        let groups = [0, 1, 2].map(|a| load(self, offset_of!(LaunchCtx, groups), a));
        let group_size = [0, 1, 2].map(|a| load(self, offset_of!(LaunchCtx, group_size), a));
        let xy = self.b.ins().imul(group_size[0], group_size[1]);
        let units_per_group = self.b.ins().imul(xy, group_size[2]);
        let mut var = || self.b.declare_var(types::I32);
        let pos = Positions {
            unit: [var(), var(), var()],
            unit_linear: var(),
            group: [var(), var(), var()],
            group_linear: var(),
            global_base: var(),
            group_size,
            groups,
            units_per_group,
        };
        self.pos = Some(pos);
        Ok(pos)
    }

    /// Defines the group position variables from the linear group index `g` (i64).
    fn set_group(&mut self, pos: &Positions, g: Value, axes: bool) {
        let gl = self.b.ins().ireduce(types::I32, g);
        self.b.def_var(pos.group_linear, gl);
        // The global linear position of unit 0, so a unit's is one add.
        let base = self.b.ins().imul(gl, pos.units_per_group);
        self.b.def_var(pos.global_base, base);
        if !axes {
            return;
        }
        let gx = self.b.ins().uextend(types::I64, pos.groups[0]);
        let gy = self.b.ins().uextend(types::I64, pos.groups[1]);
        let x = self.b.ins().urem(g, gx);
        let t = self.b.ins().udiv(g, gx);
        let y = self.b.ins().urem(t, gy);
        let z = self.b.ins().udiv(t, gy);
        for (v, val) in pos.group.iter().zip([x, y, z]) {
            let r = self.b.ins().ireduce(types::I32, val);
            self.b.def_var(*v, r);
        }
    }

    /// Defines the unit position variables from the linear unit index `u` (i32).
    fn set_unit(&mut self, pos: &Positions, u: Value) {
        self.b.def_var(pos.unit_linear, u);
        let x = self.b.ins().urem(u, pos.group_size[0]);
        let t = self.b.ins().udiv(u, pos.group_size[0]);
        let y = self.b.ins().urem(t, pos.group_size[1]);
        let z = self.b.ins().udiv(t, pos.group_size[1]);
        for (v, val) in pos.unit.iter().zip([x, y, z]) {
            self.b.def_var(*v, val);
        }
    }

    /// Steps to the next unit: the linear index, and the axes (x fastest) when used.
    fn next_unit(&mut self, pos: &Positions, axes: bool) -> Value {
        let ul = self.b.use_var(pos.unit_linear);
        let next = self.b.ins().iadd_imm_u(ul, 1);
        self.b.def_var(pos.unit_linear, next);
        if !axes {
            return next;
        }
        let mut carry = self.iconst32(1);
        let zero = self.iconst32(0);
        for axis in 0..3 {
            let v = self.b.use_var(pos.unit[axis]);
            let n = self.b.ins().iadd(v, carry);
            let wrap = self.b.ins().icmp(IntCC::Equal, n, pos.group_size[axis]);
            let n = self.b.ins().select(wrap, zero, n);
            self.b.def_var(pos.unit[axis], n);
            carry = self.b.ins().uextend(types::I32, wrap);
        }
        next
    }

    /// The value of a position or size builtin (u32).
    pub(super) fn builtin(&mut self, builtin: Builtin) -> Result<Value, String> {
        let pos = self.pos.ok_or("positions used before they are set")?;
        Ok(match builtin {
            Builtin::UnitPos(Some(a)) => self.b.use_var(pos.unit[a.index()]),
            Builtin::UnitPos(None) => self.b.use_var(pos.unit_linear),
            Builtin::GroupPos(Some(a)) => self.b.use_var(pos.group[a.index()]),
            Builtin::GroupPos(None) => self.b.use_var(pos.group_linear),
            Builtin::GroupSize(Some(a)) => pos.group_size[a.index()],
            Builtin::GroupSize(None) => pos.units_per_group,
            Builtin::NumGroups(Some(a)) => pos.groups[a.index()],
            Builtin::NumGroups(None) => {
                let xy = self.b.ins().imul(pos.groups[0], pos.groups[1]);
                self.b.ins().imul(xy, pos.groups[2])
            }
            Builtin::GlobalPos(Some(a)) => {
                let g = self.b.use_var(pos.group[a.index()]);
                let u = self.b.use_var(pos.unit[a.index()]);
                let gs = self.b.ins().imul(g, pos.group_size[a.index()]);
                self.b.ins().iadd(gs, u)
            }
            Builtin::GlobalPos(None) => {
                let base = self.b.use_var(pos.global_base);
                let u = self.b.use_var(pos.unit_linear);
                self.b.ins().iadd(base, u)
            }
            Builtin::PlaneSize => self.iconst32(1),
            Builtin::PlaneUnit => self.iconst32(0),
        })
    }
}

/// Whether the only position the body reads is the global linear one (sizes aside), so
/// the units of consecutive groups are consecutive positions and nothing else.
fn only_global_position(body: &[Stmt]) -> bool {
    let mut only = true;
    for_each_expr(body, &mut |e| {
        if let ExprKind::Builtin(b) = e.kind {
            only &= matches!(
                b,
                Builtin::GlobalPos(None)
                    | Builtin::GroupSize(_)
                    | Builtin::NumGroups(_)
                    | Builtin::PlaneSize
                    | Builtin::PlaneUnit
            );
        }
    });
    only
}

/// Whether the body reads per-axis positions of groups (`group`) or units (`!group`), so
/// the loops only maintain what is used.
fn uses_axes(body: &[Stmt], group: bool) -> bool {
    let mut found = false;
    let mut check = |e: &vibee_dsl::kernel::Expr| {
        if let ExprKind::Builtin(b) = e.kind {
            found |= match b {
                Builtin::GlobalPos(Some(_)) => true,
                Builtin::UnitPos(Some(_)) => !group,
                Builtin::GroupPos(Some(_)) => group,
                _ => false,
            };
        }
    };
    for_each_expr(body, &mut check);
    found
}

/// Calls `f` on every expression of `stmts`, recursively.
pub(super) fn for_each_expr(stmts: &[Stmt], f: &mut impl FnMut(&vibee_dsl::kernel::Expr)) {
    for s in stmts {
        match &s.kind {
            StmtKind::Let { init: e, .. } | StmtKind::Assign { value: e, .. } => e.walk(f),
            StmtKind::Eval(e) => e.walk(f),
            StmtKind::Store { index, value, .. } => {
                index.walk(f);
                value.walk(f);
            }
            StmtKind::If {
                cond,
                then_branch,
                else_branch,
            } => {
                cond.walk(f);
                for_each_expr(then_branch, f);
                for_each_expr(else_branch, f);
            }
            StmtKind::For {
                start,
                end,
                step,
                body,
                ..
            } => {
                start.walk(f);
                end.walk(f);
                step.walk(f);
                for_each_expr(body, f);
            }
            StmtKind::While { cond, body } => {
                cond.walk(f);
                for_each_expr(body, f);
            }
            StmtKind::Break | StmtKind::Continue | StmtKind::Return | StmtKind::Barrier => {}
        }
    }
}
