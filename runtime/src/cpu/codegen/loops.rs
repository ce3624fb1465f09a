//! `for` loops, versioned on their bounds: when an innermost loop's accesses are affine in
//! the loop variable (`x[row * cols + j]`), one test before the loop checks the largest index
//! each can reach, and a copy of the loop without per-access bounds checks runs when every
//! test passes. The checked copy runs otherwise, so out-of-bounds reads still yield 0 and
//! out-of-bounds writes are still dropped exactly where the interpreter says. In the unchecked
//! copy, a body that maps consecutive elements runs four iterations per step first
//! ([`super::vectorize`]), and its remaining iterations compute `exp` inline like the steps.

use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{Block, InstBuilder, Value, types};
use cranelift_frontend::Variable;
use vibee_dsl::kernel::{BinaryOp, BufRef, Expr, ExprKind, Lit, Stmt, Ty, VarId};

use super::analysis::{LoopAccess, Scale, loop_accesses};
use super::{Lower, clif_ty};
use crate::cpu::RuntimeFault;

/// An access proven in bounds for the loop being lowered: buffer, index node, lanes.
pub(super) type LoopFact = (BufRef, *const Expr, u8);

/// The variables of one `for` loop.
#[derive(Clone, Copy, Debug)]
struct LoopVars {
    var: VarId,
    ty: Ty,
    counter: Variable,
    end: Variable,
    step: Variable,
    /// A literal integer step of 1: `i < end` implies `i + 1` neither wraps nor skips `end`.
    unit_step: bool,
}

impl Lower<'_, '_> {
    /// `for var in (start..end).step_by(step)` with the interpreter's rules: the bounds and
    /// step are evaluated once, a step of zero or less is a runtime fault, and the loop
    /// stops rather than wrap past the end of the type.
    pub(super) fn for_loop(
        &mut self,
        var: VarId,
        start: &Expr,
        end: &Expr,
        step: &Expr,
        body: &[Stmt],
    ) -> Result<(), String> {
        let ty = start.ty;
        if end.ty != ty || step.ty != ty || ty.is_vector() {
            return Err("`for` bounds and step must have one scalar type".into());
        }
        let t = clif_ty(ty)?;
        let [counter, end_var, step_var] = [(); 3].map(|()| self.state_var(t));
        for (v, e) in [(counter, start), (end_var, end), (step_var, step)] {
            let val = self.expr(e)?;
            self.b.def_var(v, val);
        }
        let unit_step = ty.elem.is_int() && matches!(step.kind, ExprKind::Lit(Lit::Int(1)));
        let l = LoopVars {
            var,
            ty,
            counter,
            end: end_var,
            step: step_var,
            unit_step,
        };
        let exit = self.b.create_block();
        if !unit_step {
            self.check_step(&l, exit)?;
        }
        let accesses = if ty == Ty::U32 {
            loop_accesses(var, body)
        } else {
            Vec::new()
        };
        if accesses.is_empty() {
            self.loop_copy(&l, body, exit)?;
        } else {
            let inside = self.all_inside(&accesses, end_var)?;
            let [fast, checked] = [(); 2].map(|()| self.b.create_block());
            // On the failure, so the fast copy comes first in the machine code.
            let outside = self.b.ins().icmp_imm_u(IntCC::Equal, inside, 0);
            self.b.ins().brif(outside, checked, &[], fast, &[]);
            self.b.switch_to_block(fast);
            let outer = self.loop_facts.len();
            self.loop_facts.extend(
                accesses
                    .iter()
                    .map(|a| (a.buf, std::ptr::from_ref(a.index), a.lanes)),
            );
            let vector = if unit_step {
                self.vector_steps(var, [counter, end_var], body, &accesses)
            } else {
                Ok(false)
            };
            // The last iterations of a vectorized loop compute `exp` as its steps do.
            let r = vector.and_then(|vectorized| {
                self.inline_exp = vectorized;
                let r = self.loop_copy(&l, body, exit);
                self.inline_exp = false;
                r
            });
            self.loop_facts.truncate(outer);
            r?;
            self.b.switch_to_block(checked);
            self.loop_copy(&l, body, exit)?;
        }
        self.b.switch_to_block(exit);
        Ok(())
    }

    /// Faults (and skips the loop) unless the step is positive; continues in a new block.
    fn check_step(&mut self, l: &LoopVars, exit: Block) -> Result<(), String> {
        let stepv = self.b.use_var(l.step);
        let zero = self.zero_of(l.ty)?;
        let positive = self.binary_lane(BinaryOp::Gt, l.ty.elem, stepv, zero)?;
        let positive = self.step_is_positive(l.ty, stepv, positive)?;
        let [run, fault] = [(); 2].map(|()| self.b.create_block());
        self.b.ins().brif(positive, run, &[], fault, &[]);
        self.b.switch_to_block(fault);
        self.set_fault(RuntimeFault::NonPositiveStep)?;
        self.b.ins().jump(exit, &[]);
        self.b.switch_to_block(run);
        Ok(())
    }

    /// The interpreter faults when `step.to_i64() <= 0`; for floats that truncates first.
    fn step_is_positive(&mut self, ty: Ty, step: Value, positive: Value) -> Result<Value, String> {
        if !ty.elem.is_float() {
            return Ok(positive);
        }
        let whole = self.b.ins().fcvt_to_sint_sat(types::I64, step);
        Ok(self.b.ins().icmp_imm_u(IntCC::SignedGreaterThan, whole, 0))
    }

    /// One copy of the loop, from the current block to `exit`. The test sits at the bottom
    /// (after one at the entry), so an iteration costs one compare and branch.
    fn loop_copy(&mut self, l: &LoopVars, body: &[Stmt], exit: Block) -> Result<(), String> {
        let [body_blk, latch] = [(); 2].map(|()| self.b.create_block());
        let i = self.b.use_var(l.counter);
        let endv = self.b.use_var(l.end);
        let more = self.binary_lane(BinaryOp::Lt, l.ty.elem, i, endv)?;
        self.b.ins().brif(more, body_blk, &[], exit, &[]);

        self.b.switch_to_block(body_blk);
        let i = self.b.use_var(l.counter);
        self.set_local(l.var, i)?;
        self.in_loop(latch, exit, body)?;
        self.b.ins().jump(latch, &[]);

        self.b.switch_to_block(latch);
        let i = self.b.use_var(l.counter);
        let stepv = self.b.use_var(l.step);
        let next = self.binary_lane(BinaryOp::Add, l.ty.elem, i, stepv)?;
        self.b.def_var(l.counter, next);
        let endv = self.b.use_var(l.end);
        let mut more = self.binary_lane(BinaryOp::Lt, l.ty.elem, next, endv)?;
        if !l.unit_step {
            // Stop rather than wrap past the end of the type, as the interpreter does.
            let wrapped = self.binary_lane(BinaryOp::Lt, l.ty.elem, next, i)?;
            let kept = self.b.ins().bxor_imm_u(wrapped, 1);
            more = self.b.ins().band(more, kept);
        }
        self.b.ins().brif(more, body_blk, &[], exit, &[]);
        Ok(())
    }

    /// Whether every access in `accesses` stays inside its buffer for every value the loop
    /// variable can take (`var < end`): the largest index, computed exactly in 64 bits, must
    /// not wrap in `u32` and must lie below the buffer's length (in vectors for 4 lanes).
    fn all_inside(&mut self, accesses: &[LoopAccess<'_>], end: Variable) -> Result<Value, String> {
        let endv = self.b.use_var(end);
        let one = self.iconst32(1);
        let end1 = self.b.ins().umax(endv, one);
        let last = self.b.ins().isub(end1, one);
        let last = self.b.ins().uextend(types::I64, last);
        let mut ok = self.b.ins().iconst(types::I8, 1);
        let mut seen: Vec<&LoopAccess<'_>> = Vec::new();
        for a in accesses {
            // Clones of one index (`x[at]` read twice) need one test.
            if seen
                .iter()
                .any(|s| s.buf == a.buf && s.lanes >= a.lanes && s.index == a.index)
            {
                continue;
            }
            seen.push(a);
            let inside = self.access_inside(a, last)?;
            ok = self.b.ins().band(ok, inside);
        }
        Ok(ok)
    }

    fn access_inside(&mut self, a: &LoopAccess<'_>, last: Value) -> Result<Value, String> {
        let mut offset = self.iconst32(0);
        for term in &a.offset {
            let v = self.expr(term)?;
            offset = self.b.ins().iadd(offset, v);
        }
        let offset = self.b.ins().uextend(types::I64, offset);
        let top = match a.scale {
            Scale::Zero => offset,
            Scale::One => self.b.ins().iadd(offset, last),
            Scale::By(s) => {
                let s = self.expr(s)?;
                let s = self.b.ins().uextend(types::I64, s);
                // Both factors are below 2^32 and the offset too: no 64-bit overflow.
                let step = self.b.ins().imul(last, s);
                self.b.ins().iadd(offset, step)
            }
        };
        let no_wrap = self
            .b
            .ins()
            .icmp_imm_u(IntCC::UnsignedLessThan, top, 1i64 << 32);
        let len = self.view(a.buf)?.len;
        let count = self.b.ins().iadd_imm_u(top, 1);
        let elems = self.b.ins().imul_imm_u(count, i64::from(a.lanes));
        let fits = self
            .b
            .ins()
            .icmp(IntCC::UnsignedLessThanOrEqual, elems, len);
        Ok(self.b.ins().band(no_wrap, fits))
    }

    /// Whether the access of `lanes` lanes to `buf` at the index node `index` was proven in
    /// bounds for the enclosing loop.
    pub(super) fn loop_proven(&self, buf: BufRef, index: &Expr, lanes: u8) -> bool {
        self.loop_facts
            .iter()
            .any(|&(b, e, l)| b == buf && l >= lanes && std::ptr::eq(e, index))
    }
}
