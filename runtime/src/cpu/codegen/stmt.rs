//! Statements and control flow: blocks, `if`, loops, `break`/`continue`/`return`, and
//! barriers as yield points of a resumable function.

use std::mem::offset_of;

use cranelift_codegen::ir::{InstBuilder, MemFlagsData, Value};
use cranelift_frontend::Variable;
use vibee_dsl::kernel::{Elem, Expr, Stmt, StmtKind, VarId};

use super::{DONE, LoopTargets, Lower, clif_ty};
use crate::cpu::{LaunchCtx, RuntimeFault};

impl Lower<'_, '_> {
    /// Lowers statements in order; code after a jump lands in a fresh (dead) block.
    pub(super) fn block(&mut self, stmts: &[Stmt]) -> Result<(), String> {
        for s in stmts {
            self.stmt(s)?;
        }
        Ok(())
    }

    fn stmt(&mut self, s: &Stmt) -> Result<(), String> {
        match &s.kind {
            StmtKind::Let { var, init } | StmtKind::Assign { var, value: init } => {
                let v = self.expr(init)?;
                self.set_local(*var, v)
            }
            StmtKind::Store { buf, index, value } => self.store(*buf, index, value),
            StmtKind::If {
                cond,
                then_branch,
                else_branch,
            } => self.if_else(cond, then_branch, else_branch),
            StmtKind::For {
                var,
                start,
                end,
                step,
                body,
            } => self.for_loop(*var, start, end, step, body),
            StmtKind::While { cond, body } => self.while_loop(cond, body),
            StmtKind::Break | StmtKind::Continue => {
                let targets = self
                    .loops
                    .last()
                    .ok_or("`break` or `continue` outside a loop")?;
                let to = if matches!(s.kind, StmtKind::Break) {
                    targets.break_to
                } else {
                    targets.continue_to
                };
                self.b.ins().jump(to, &[]);
                self.dead_block();
                Ok(())
            }
            StmtKind::Return => {
                self.unit_return();
                self.dead_block();
                Ok(())
            }
            StmtKind::Barrier => self.barrier(),
            StmtKind::Eval(e) => self.expr(e).map(drop),
        }
    }

    pub(super) fn set_local(&mut self, var: VarId, v: Value) -> Result<(), String> {
        let local = self
            .kernel
            .locals
            .get(var.0 as usize)
            .ok_or_else(|| format!("local #{} does not exist", var.0))?;
        if clif_ty(local.ty)? != self.ty_of(v) {
            return Err(format!(
                "local `{}` of type {:?} assigned a value of another type",
                local.name, local.ty
            ));
        }
        self.b.def_var(self.locals[var.0 as usize], v);
        Ok(())
    }

    /// Continues emitting in an unreachable block after a jump or return.
    fn dead_block(&mut self) {
        let dead = self.b.create_block();
        self.b.switch_to_block(dead);
    }

    /// Ends this unit: on to the next unit, or `DONE` from a resumable function.
    fn unit_return(&mut self) {
        match self.unit_exit {
            Some(next) => {
                self.b.ins().jump(next, &[]);
            }
            None => {
                let d = self.iconst32(DONE);
                self.b.ins().return_(&[d]);
            }
        }
    }

    /// A condition as an `i8` 0/1 (the first lane of a vector, as the interpreter does).
    fn condition(&mut self, cond: &Expr) -> Result<Value, String> {
        let c = self.expr(cond)?;
        let c = self.split(c, cond.ty)[0];
        self.cast_lane(c, cond.ty.elem, Elem::Bool)
    }

    fn if_else(&mut self, cond: &Expr, then: &[Stmt], other: &[Stmt]) -> Result<(), String> {
        let c = self.condition(cond)?;
        let [then_blk, else_blk, merge] = [(); 3].map(|()| self.b.create_block());
        self.b.ins().brif(c, then_blk, &[], else_blk, &[]);
        self.b.switch_to_block(then_blk);
        let fact = Self::guard(cond, then);
        self.proven.extend(fact);
        let r = self.block(then);
        if fact.is_some() {
            self.proven.pop();
        }
        r?;
        self.b.ins().jump(merge, &[]);
        self.b.switch_to_block(else_blk);
        self.block(other)?;
        self.b.ins().jump(merge, &[]);
        self.b.switch_to_block(merge);
        Ok(())
    }

    fn while_loop(&mut self, cond: &Expr, body: &[Stmt]) -> Result<(), String> {
        let [head, body_blk, exit] = [(); 3].map(|()| self.b.create_block());
        self.b.ins().jump(head, &[]);
        self.b.switch_to_block(head);
        let c = self.condition(cond)?;
        self.b.ins().brif(c, body_blk, &[], exit, &[]);
        self.b.switch_to_block(body_blk);
        self.in_loop(head, exit, body)?;
        self.b.ins().jump(head, &[]);
        self.b.switch_to_block(exit);
        Ok(())
    }

    pub(super) fn in_loop(
        &mut self,
        continue_to: cranelift_codegen::ir::Block,
        break_to: cranelift_codegen::ir::Block,
        body: &[Stmt],
    ) -> Result<(), String> {
        self.loops.push(LoopTargets {
            continue_to,
            break_to,
        });
        let r = self.block(body);
        self.loops.pop();
        r
    }

    pub(super) fn set_fault(&mut self, fault: RuntimeFault) -> Result<(), String> {
        let ctx = self.ctx_ptr.ok_or("no context")?;
        let code = self.iconst32(fault as u32);
        let at = self
            .b
            .ins()
            .iadd_imm_u(ctx, offset_of!(LaunchCtx, error) as i64);
        self.b.ins().atomic_store(MemFlagsData::trusted(), code, at);
        Ok(())
    }

    /// A barrier: save every variable to the unit's state and return the resume point;
    /// lowering continues in the block the driver resumes at, which reloads the state.
    fn barrier(&mut self) -> Result<(), String> {
        let Some(state) = self.state_ptr else {
            // Only resumable functions have barriers; a groups function never sees one.
            return Err("barrier in a kernel compiled without barriers".into());
        };
        let slots: Vec<(Variable, cranelift_codegen::ir::Type)> = self.state_slots.clone();
        let flags = MemFlagsData::trusted();
        for (i, (var, _)) in slots.iter().enumerate() {
            let v = self.b.use_var(*var);
            self.b.ins().store(flags, v, state, (i * 16) as i32);
        }
        self.resume_blocks.push(self.b.create_block());
        let resume_point = self.resume_blocks.len() as u32;
        let rp = self.iconst32(resume_point);
        self.b.ins().return_(&[rp]);
        let resume = self.resume_blocks[resume_point as usize - 1];
        self.b.switch_to_block(resume);
        for (i, (var, t)) in slots.iter().enumerate() {
            let v = self.b.ins().load(*t, flags, state, (i * 16) as i32);
            self.b.def_var(*var, v);
        }
        Ok(())
    }
}
