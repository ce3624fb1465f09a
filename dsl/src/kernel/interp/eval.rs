//! One unit's execution: statements, expressions, memory accesses.

use std::sync::Mutex;

use super::{Group, InterpError, Memory, Report};
use crate::kernel::ir::*;
use crate::kernel::ops;
use crate::kernel::value::{HostBuffer, Scalar};

/// A value: a scalar or a vector of up to four lanes.
#[derive(Clone, Copy, Debug)]
pub(super) struct Val {
    lanes: u8,
    s: [Scalar; 4],
}

impl Val {
    fn scalar(s: Scalar) -> Val {
        Val {
            lanes: 1,
            s: [s; 4],
        }
    }
    fn first(self) -> Scalar {
        self.s[0]
    }
    fn map(self, f: impl Fn(Scalar) -> Scalar) -> Val {
        let mut out = self;
        for l in 0..self.lanes as usize {
            out.s[l] = f(self.s[l]);
        }
        out
    }
    fn zip(self, other: Val, f: impl Fn(Scalar, Scalar) -> Scalar) -> Val {
        let mut out = self;
        for l in 0..self.lanes as usize {
            let b = if other.lanes == 1 {
                other.s[0]
            } else {
                other.s[l]
            };
            out.s[l] = f(self.s[l], b);
        }
        out
    }
}

/// How a statement list ended.
enum Flow {
    Normal,
    Break,
    Continue,
    Return,
}

pub(super) fn allocate_shared(
    kernel: &Kernel,
    memory: &Memory,
) -> Result<Vec<Mutex<HostBuffer>>, InterpError> {
    kernel
        .shared
        .iter()
        .map(|array| {
            let param = |p: ParamId| memory.scalars.get(p.0 as usize).copied().flatten();
            let len =
                ops::const_eval(&array.len, &param).ok_or_else(|| InterpError::Malformed {
                    kernel: kernel.name.clone(),
                    message: format!("shared array `{}` has no constant length", array.name),
                })?;
            HostBuffer::zeros(array.elem, len.to_i64().max(0) as usize)
                .map(Mutex::new)
                .ok_or_else(|| InterpError::Malformed {
                    kernel: kernel.name.clone(),
                    message: format!("shared array `{}` of bool", array.name),
                })
        })
        .collect()
}

pub(super) struct Unit<'g, 'a> {
    group: &'g Group<'a>,
    unit_pos: [u32; 3],
    locals: Vec<Option<Val>>,
    report: Report,
}

impl<'g, 'a> Unit<'g, 'a> {
    pub(super) fn new(group: &'g Group<'a>, unit_pos: [u32; 3]) -> Self {
        Unit {
            group,
            unit_pos,
            locals: vec![None; group.kernel.locals.len()],
            report: Report::default(),
        }
    }

    pub(super) fn run(mut self) -> Result<Report, InterpError> {
        self.block(&self.group.kernel.body)?;
        Ok(self.report)
    }

    fn malformed(&self, message: String) -> InterpError {
        InterpError::Malformed {
            kernel: self.group.kernel.name.clone(),
            message,
        }
    }

    fn block(&mut self, stmts: &[Stmt]) -> Result<Flow, InterpError> {
        for stmt in stmts {
            match self.stmt(stmt)? {
                Flow::Normal => {}
                other => return Ok(other),
            }
        }
        Ok(Flow::Normal)
    }

    fn stmt(&mut self, stmt: &Stmt) -> Result<Flow, InterpError> {
        match &stmt.kind {
            StmtKind::Let { var, init } | StmtKind::Assign { var, value: init } => {
                let v = self.expr(init)?;
                self.locals[var.0 as usize] = Some(v);
            }
            StmtKind::Store { buf, index, value } => {
                let i = self.expr(index)?.first();
                let v = self.expr(value)?;
                self.store(*buf, i, v);
            }
            StmtKind::If {
                cond,
                then_branch,
                else_branch,
            } => {
                let branch = if self.expr(cond)?.first().to_bool() {
                    then_branch
                } else {
                    else_branch
                };
                return self.block(branch);
            }
            StmtKind::For {
                var,
                start,
                end,
                step,
                body,
            } => return self.for_loop(*var, start, end, step, body),
            StmtKind::While { cond, body } => {
                while self.expr(cond)?.first().to_bool() {
                    match self.block(body)? {
                        Flow::Break => break,
                        Flow::Return => return Ok(Flow::Return),
                        Flow::Normal | Flow::Continue => {}
                    }
                }
            }
            StmtKind::Break => return Ok(Flow::Break),
            StmtKind::Continue => return Ok(Flow::Continue),
            StmtKind::Return => return Ok(Flow::Return),
            StmtKind::Barrier => self.group.barrier.wait(),
            StmtKind::Eval(e) => {
                self.expr(e)?;
            }
        }
        Ok(Flow::Normal)
    }

    fn for_loop(
        &mut self,
        var: VarId,
        start: &Expr,
        end: &Expr,
        step: &Expr,
        body: &[Stmt],
    ) -> Result<Flow, InterpError> {
        let mut i = self.expr(start)?.first();
        let end = self.expr(end)?.first();
        let step = self.expr(step)?.first();
        if step.to_i64() <= 0 {
            return Err(self.malformed("`step_by` of zero or less".into()));
        }
        while ops::binary(BinaryOp::Lt, i, end).to_bool() {
            self.locals[var.0 as usize] = Some(Val::scalar(i));
            match self.block(body)? {
                Flow::Break => break,
                Flow::Return => return Ok(Flow::Return),
                Flow::Normal | Flow::Continue => {}
            }
            let next = ops::binary(BinaryOp::Add, i, step);
            // Stop instead of wrapping around past the end of the type.
            if ops::binary(BinaryOp::Lt, next, i).to_bool() {
                break;
            }
            i = next;
        }
        Ok(Flow::Normal)
    }

    fn buffer(&self, buf: BufRef) -> Option<&Mutex<HostBuffer>> {
        match buf {
            BufRef::Param(p) => self.group.memory.buffers.get(p.0 as usize)?.as_ref(),
            BufRef::Shared(s) => self.group.shared.get(s.0 as usize),
        }
    }

    fn load(&mut self, buf: BufRef, index: Scalar, ty: Ty) -> Val {
        let mut out = Val::scalar(Scalar::zero(ty.elem));
        out.lanes = ty.lanes;
        let Some(m) = self.buffer(buf) else {
            return out;
        };
        let b = m.lock().unwrap_or_else(|p| p.into_inner());
        let base = index.to_i64() as u64 * ty.lanes as u64;
        let mut oob = 0;
        for l in 0..ty.lanes as usize {
            match b.get((base + l as u64) as usize) {
                Some(v) => out.s[l] = v,
                None => oob += 1,
            }
        }
        drop(b);
        self.report.oob_reads += oob;
        out
    }

    fn store(&mut self, buf: BufRef, index: Scalar, value: Val) {
        let Some(m) = self.buffer(buf) else {
            return;
        };
        let mut b = m.lock().unwrap_or_else(|p| p.into_inner());
        let base = index.to_i64() as u64 * value.lanes as u64;
        let mut oob = 0;
        for l in 0..value.lanes as usize {
            if !b.set((base + l as u64) as usize, value.s[l]) {
                oob += 1;
            }
        }
        drop(b);
        self.report.oob_writes += oob;
    }

    fn atomic_add(&mut self, buf: BufRef, index: Scalar, value: Scalar) -> Scalar {
        let Some(m) = self.buffer(buf) else {
            return value;
        };
        let mut b = m.lock().unwrap_or_else(|p| p.into_inner());
        let i = index.to_i64() as usize;
        match b.get(i) {
            Some(old) => {
                b.set(i, ops::binary(BinaryOp::Add, old, value));
                old
            }
            None => {
                drop(b);
                self.report.oob_writes += 1;
                Scalar::zero(value.elem())
            }
        }
    }

    fn builtin(&self, b: Builtin) -> Scalar {
        let grid = self.group.grid;
        let linear = |v: [u32; 3], dims: [u32; 3]| v[0] + v[1] * dims[0] + v[2] * dims[0] * dims[1];
        let pick = |v: [u32; 3], axis: Option<Axis>, dims: [u32; 3]| match axis {
            Some(a) => v[a.index()],
            None => linear(v, dims),
        };
        let total = |v: [u32; 3]| v[0] * v[1] * v[2];
        let g = self.group.group_pos;
        Scalar::U32(match b {
            Builtin::UnitPos(a) => pick(self.unit_pos, a, grid.group_size),
            Builtin::GroupPos(a) => pick(g, a, grid.groups),
            Builtin::GroupSize(Some(a)) => grid.group_size[a.index()],
            Builtin::GroupSize(None) => total(grid.group_size),
            Builtin::NumGroups(Some(a)) => grid.groups[a.index()],
            Builtin::NumGroups(None) => total(grid.groups),
            Builtin::GlobalPos(Some(a)) => {
                g[a.index()] * grid.group_size[a.index()] + self.unit_pos[a.index()]
            }
            Builtin::GlobalPos(None) => {
                linear(g, grid.groups) * total(grid.group_size)
                    + linear(self.unit_pos, grid.group_size)
            }
            Builtin::PlaneSize => 1,
            Builtin::PlaneUnit => 0,
        })
    }

    fn expr(&mut self, e: &Expr) -> Result<Val, InterpError> {
        Ok(match &e.kind {
            ExprKind::Lit(l) => Val::scalar(ops::literal(*l, e.ty.elem)).with_lanes(e.ty.lanes),
            ExprKind::Local(v) => self
                .locals
                .get(v.0 as usize)
                .copied()
                .flatten()
                .ok_or_else(|| self.malformed(format!("local {} read before set", v.0)))?,
            ExprKind::Param(p) => Val::scalar(
                self.group
                    .memory
                    .scalars
                    .get(p.0 as usize)
                    .copied()
                    .flatten()
                    .ok_or_else(|| self.malformed(format!("parameter {} is not a value", p.0)))?,
            ),
            ExprKind::Builtin(b) => Val::scalar(self.builtin(*b)),
            ExprKind::Unary(op, a) => self.expr(a)?.map(|s| ops::unary(*op, s)),
            ExprKind::Binary(BinaryOp::And, a, b) => {
                let a = self.expr(a)?.first().to_bool();
                Val::scalar(Scalar::Bool(a && self.expr(b)?.first().to_bool()))
            }
            ExprKind::Binary(BinaryOp::Or, a, b) => {
                let a = self.expr(a)?.first().to_bool();
                Val::scalar(Scalar::Bool(a || self.expr(b)?.first().to_bool()))
            }
            ExprKind::Binary(op, a, b) => {
                let (a, b) = (self.expr(a)?, self.expr(b)?);
                a.zip(b, |x, y| ops::binary(*op, x, y))
            }
            ExprKind::Cast(a) => self.expr(a)?.map(|s| s.cast(e.ty.elem)),
            ExprKind::Math(f, args) => self.math(*f, args)?,
            ExprKind::Load { buf, index } => {
                let i = self.expr(index)?.first();
                self.load(*buf, i, e.ty)
            }
            ExprKind::Len(buf) => {
                let len = self
                    .buffer(*buf)
                    .map_or(0, |m| m.lock().unwrap_or_else(|p| p.into_inner()).len());
                Val::scalar(Scalar::U32(len as u32))
            }
            ExprKind::Extract { vector, lane } => {
                Val::scalar(self.expr(vector)?.s[(*lane as usize).min(3)])
            }
            ExprKind::Construct(parts) => {
                let mut out = Val::scalar(Scalar::zero(e.ty.elem));
                out.lanes = parts.len().clamp(1, 4) as u8;
                for (l, p) in parts.iter().take(4).enumerate() {
                    out.s[l] = self.expr(p)?.first();
                }
                out
            }
            ExprKind::AtomicAdd { buf, index, value } => {
                let i = self.expr(index)?.first();
                let v = self.expr(value)?.first();
                Val::scalar(self.atomic_add(*buf, i, v))
            }
            ExprKind::Plane(_, a) => self.expr(a)?,
            ExprKind::Select {
                cond,
                then_value,
                else_value,
            } => {
                let c = self.expr(cond)?.first().to_bool();
                let (t, f) = (self.expr(then_value)?, self.expr(else_value)?);
                if c { t } else { f }
            }
        })
    }

    fn math(&mut self, f: MathFn, args: &[Expr]) -> Result<Val, InterpError> {
        let vals: Vec<Val> = args
            .iter()
            .map(|a| self.expr(a))
            .collect::<Result<_, _>>()?;
        let Some(first) = vals.first().copied() else {
            return Err(self.malformed(format!("`{}` without arguments", f.name())));
        };
        let mut out = first;
        for l in 0..first.lanes as usize {
            let lane: Vec<Scalar> = vals
                .iter()
                .map(|v| if v.lanes == 1 { v.s[0] } else { v.s[l] })
                .collect();
            out.s[l] = ops::math(f, &lane);
        }
        Ok(out)
    }
}

impl Val {
    fn with_lanes(mut self, lanes: u8) -> Val {
        self.lanes = lanes.clamp(1, 4);
        self
    }
}
