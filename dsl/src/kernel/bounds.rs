//! Static bounds analysis: which buffer indices a grid is certain to touch.
//!
//! Before a launch, the runtime asks which elements the grid *will* access: accesses that
//! every unit executes unconditionally (not under an `if` or `while`, not after an `if` that
//! may `return`), whose index is an interval-computable function of positions, sizes,
//! scalar arguments, buffer lengths and loop variables of uniform `for` loops. If such an
//! access reaches past a buffer's end the launch is refused with a typed error, because on
//! a device that access would silently read zeros or drop writes. Guarded accesses
//! (`if i < y.len() { … }`) are the kernel's business and never refused.
//!
//! [`prove`] returns a [`BoundsProof`]: the requirements plus the buffer lengths and scalar
//! values the analysis actually read. A launch path can keep the proof per (kernel, grid)
//! and reuse it while [`BoundsProof::applies_to`] holds, so the analysis (which allocates)
//! runs once, not per launch.

use super::ir::*;
use super::validate::each_stmt;
use super::value::Scalar;

/// `param` is certain to be accessed at `max_index` by some unit of the grid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Requirement {
    pub param: ParamId,
    pub max_index: u64,
}

/// Inclusive range of values an expression takes over the grid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Range {
    lo: i64,
    hi: i64,
}

impl Range {
    fn exact(v: i64) -> Range {
        Range { lo: v, hi: v }
    }
}

/// What a launch tells the analysis about its arguments, by parameter: buffer lengths and
/// scalar (or comptime) values. `None` where the argument is not of that kind.
pub trait LaunchFacts {
    fn len(&self, param: ParamId) -> Option<usize>;
    fn value(&self, param: ParamId) -> Option<Scalar>;
}

/// Facts given as two slices indexed by parameter.
impl LaunchFacts for (&[Option<usize>], &[Option<Scalar>]) {
    fn len(&self, param: ParamId) -> Option<usize> {
        self.0.get(param.0 as usize).copied().flatten()
    }
    fn value(&self, param: ParamId) -> Option<Scalar> {
        self.1.get(param.0 as usize).copied().flatten()
    }
}

/// One fact a proof read, with what it was.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Fact {
    Len(ParamId, Option<usize>),
    Value(ParamId, Option<Scalar>),
}

impl Fact {
    fn holds(&self, facts: &impl LaunchFacts) -> bool {
        match *self {
            Fact::Len(p, len) => facts.len(p) == len,
            Fact::Value(p, v) => facts.value(p) == v,
        }
    }
}

/// The requirements of one kernel over one grid, and the launch facts they were derived
/// from: most kernels index by positions alone and read none, so a proof made once for a
/// (kernel, grid) pair holds for every later launch of that pair, whatever its buffers.
#[derive(Clone, Debug, PartialEq)]
pub struct BoundsProof {
    requirements: Vec<Requirement>,
    used: Vec<Fact>,
}

impl BoundsProof {
    /// The largest index of every buffer parameter the grid is certain to access.
    pub fn requirements(&self) -> &[Requirement] {
        &self.requirements
    }

    /// Whether this proof holds for a launch (of the same kernel and grid) with `facts`:
    /// every length and value it read is the same. Allocates nothing.
    pub fn applies_to(&self, facts: &impl LaunchFacts) -> bool {
        self.used.iter().all(|f| f.holds(facts))
    }
}

/// Proves which buffer indices `grid` is certain to touch, given the launch's `facts`.
pub fn prove(kernel: &Kernel, grid: Grid, facts: &impl LaunchFacts) -> BoundsProof {
    let mut a = Analysis {
        kernel,
        grid,
        facts,
        used: Vec::new(),
        locals: vec![None; kernel.locals.len()],
        found: Vec::new(),
    };
    a.stmts(&kernel.body);
    let mut best: Vec<Requirement> = Vec::new();
    for r in a.found {
        match best.iter_mut().find(|b| b.param == r.param) {
            Some(b) => b.max_index = b.max_index.max(r.max_index),
            None => best.push(r),
        }
    }
    BoundsProof {
        requirements: best,
        used: a.used,
    }
}

/// The largest index of every buffer parameter the grid is certain to access.
/// `lens` and `values` are indexed by parameter (buffer lengths; scalar/comptime values).
pub fn required_lengths(
    kernel: &Kernel,
    grid: Grid,
    lens: &[Option<usize>],
    values: &[Option<Scalar>],
) -> Vec<Requirement> {
    prove(kernel, grid, &(lens, values)).requirements
}

struct Analysis<'a, F> {
    kernel: &'a Kernel,
    grid: Grid,
    facts: &'a F,
    /// Every fact read so far, once each.
    used: Vec<Fact>,
    locals: Vec<Option<Range>>,
    found: Vec<Requirement>,
}

impl<F: LaunchFacts> Analysis<'_, F> {
    /// Reads a fact and records it, so the proof knows what it depends on.
    fn note(&mut self, fact: Fact) -> Fact {
        if !self.used.contains(&fact) {
            self.used.push(fact);
        }
        fact
    }

    fn len_of(&mut self, p: ParamId) -> Option<usize> {
        match self.note(Fact::Len(p, self.facts.len(p))) {
            Fact::Len(_, len) => len,
            Fact::Value(..) => None,
        }
    }

    fn value_of(&mut self, p: ParamId) -> Option<Scalar> {
        match self.note(Fact::Value(p, self.facts.value(p))) {
            Fact::Value(_, v) => v,
            Fact::Len(..) => None,
        }
    }
    /// Returns false once a unit may have left early: later accesses are not certain.
    fn stmts(&mut self, stmts: &[Stmt]) -> bool {
        for s in stmts {
            if !self.stmt(s) {
                return false;
            }
        }
        true
    }

    fn stmt(&mut self, s: &Stmt) -> bool {
        match &s.kind {
            StmtKind::Let { var, init } => {
                self.accesses(init);
                let immutable = !self.kernel.local(*var).mutable;
                self.locals[var.0 as usize] = if immutable { self.range(init) } else { None };
            }
            StmtKind::Assign { value, .. } | StmtKind::Eval(value) => self.accesses(value),
            StmtKind::Store { buf, index, value } => {
                self.accesses(index);
                self.accesses(value);
                self.access(*buf, index, value.ty.lanes);
            }
            StmtKind::If { cond, .. } | StmtKind::While { cond, .. } => {
                self.accesses(cond);
                let mut exits = false;
                each_stmt(std::slice::from_ref(s), &mut |inner| {
                    exits |= matches!(inner.kind, StmtKind::Return | StmtKind::Break)
                });
                return !exits;
            }
            StmtKind::For {
                var,
                start,
                end,
                step,
                body,
            } => return self.for_loop(*var, start, end, step, body),
            StmtKind::Return | StmtKind::Break | StmtKind::Continue => return false,
            StmtKind::Barrier => {}
        }
        true
    }

    fn for_loop(
        &mut self,
        var: VarId,
        start: &Expr,
        end: &Expr,
        step: &Expr,
        body: &[Stmt],
    ) -> bool {
        let (Some(s), Some(e), Some(st)) = (self.range(start), self.range(end), self.range(step))
        else {
            return false;
        };
        // Only loops that certainly run, with the same bounds in every unit.
        if s.lo != s.hi || e.lo != e.hi || st.lo != st.hi || st.lo <= 0 || e.lo <= s.lo {
            return false;
        }
        let last = s.lo + (e.lo - 1 - s.lo) / st.lo * st.lo;
        self.locals[var.0 as usize] = Some(Range { lo: s.lo, hi: last });
        let completed = self.stmts(body);
        self.locals[var.0 as usize] = None;
        completed
    }

    /// Records the accesses inside an expression that are always evaluated.
    fn accesses(&mut self, e: &Expr) {
        match &e.kind {
            ExprKind::Load { buf, index } => {
                self.accesses(index);
                self.access(*buf, index, e.ty.lanes);
            }
            ExprKind::AtomicAdd { buf, index, value } => {
                self.accesses(index);
                self.accesses(value);
                self.access(*buf, index, 1);
            }
            // The right side of `&&`, `||` and both sides of a select may be skipped.
            ExprKind::Binary(BinaryOp::And | BinaryOp::Or, a, _) => self.accesses(a),
            ExprKind::Select { cond, .. } => self.accesses(cond),
            ExprKind::Unary(_, a) | ExprKind::Cast(a) | ExprKind::Plane(_, a) => self.accesses(a),
            ExprKind::Extract { vector, .. } => self.accesses(vector),
            ExprKind::Binary(_, a, b) => {
                self.accesses(a);
                self.accesses(b);
            }
            ExprKind::Math(_, args) | ExprKind::Construct(args) => {
                args.iter().for_each(|a| self.accesses(a))
            }
            _ => {}
        }
    }

    fn access(&mut self, buf: BufRef, index: &Expr, lanes: u8) {
        let BufRef::Param(param) = buf else { return };
        if let Some(r) = self.range(index)
            && r.hi >= 0
        {
            let lanes = lanes.max(1) as u64;
            self.found.push(Requirement {
                param,
                max_index: r.hi as u64 * lanes + lanes - 1,
            });
        }
    }

    fn builtin(&self, b: Builtin) -> Range {
        let g = self.grid;
        let prod = |v: [u32; 3]| v.iter().map(|&d| d as i64).product::<i64>();
        let upto = |n: i64| Range { lo: 0, hi: n - 1 };
        match b {
            Builtin::UnitPos(Some(a)) => upto(g.group_size[a.index()] as i64),
            Builtin::UnitPos(None) => upto(prod(g.group_size)),
            Builtin::GroupPos(Some(a)) => upto(g.groups[a.index()] as i64),
            Builtin::GroupPos(None) => upto(prod(g.groups)),
            Builtin::GroupSize(Some(a)) => Range::exact(g.group_size[a.index()] as i64),
            Builtin::GroupSize(None) => Range::exact(prod(g.group_size)),
            Builtin::NumGroups(Some(a)) => Range::exact(g.groups[a.index()] as i64),
            Builtin::NumGroups(None) => Range::exact(prod(g.groups)),
            Builtin::GlobalPos(Some(a)) => {
                upto(g.groups[a.index()] as i64 * g.group_size[a.index()] as i64)
            }
            Builtin::GlobalPos(None) => upto(prod(g.groups) * prod(g.group_size)),
            Builtin::PlaneSize => Range { lo: 1, hi: 1 },
            Builtin::PlaneUnit => Range::exact(0),
        }
    }

    /// The range of an integer expression, when it can be bounded.
    fn range(&mut self, e: &Expr) -> Option<Range> {
        if !e.ty.elem.is_int() || e.ty.is_vector() {
            return None;
        }
        let r = match &e.kind {
            ExprKind::Lit(Lit::Int(v)) => Range::exact(*v),
            ExprKind::Param(p) => Range::exact(self.value_of(*p)?.to_i64()),
            ExprKind::Builtin(b) => self.builtin(*b),
            ExprKind::Len(BufRef::Param(p)) => Range::exact(self.len_of(*p)? as i64),
            ExprKind::Local(v) => self.locals.get(v.0 as usize).copied()??,
            ExprKind::Cast(a) if a.ty.elem.is_int() => self.range(a)?,
            ExprKind::Binary(op, a, b) => binary(*op, self.range(a)?, self.range(b)?)?,
            _ => return None,
        };
        // A negative value would wrap around in u32 arithmetic: give up.
        (r.lo >= 0 && r.hi <= u32::MAX as i64).then_some(r)
    }
}

fn binary(op: BinaryOp, a: Range, b: Range) -> Option<Range> {
    Some(match op {
        BinaryOp::Add => Range {
            lo: a.lo + b.lo,
            hi: a.hi + b.hi,
        },
        BinaryOp::Sub => Range {
            lo: a.lo - b.hi,
            hi: a.hi - b.lo,
        },
        BinaryOp::Mul => Range {
            lo: a.lo * b.lo,
            hi: a.hi.checked_mul(b.hi)?,
        },
        BinaryOp::Div if b.lo > 0 => Range {
            lo: a.lo / b.hi,
            hi: a.hi / b.lo,
        },
        BinaryOp::Rem if b.lo > 0 => Range {
            lo: 0,
            hi: a.hi.min(b.hi - 1),
        },
        BinaryOp::Min => Range {
            lo: a.lo.min(b.lo),
            hi: a.hi.min(b.hi),
        },
        BinaryOp::Max => Range {
            lo: a.lo.max(b.lo),
            hi: a.hi.max(b.hi),
        },
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(kind: ExprKind, ty: Ty) -> Expr {
        Expr::new(kind, ty, SpanId::NONE)
    }

    /// `y[index] = 0.0`, unconditionally, with parameters `n: u32` and `y: &mut [f32]`.
    fn store_at(index: Expr) -> Kernel {
        let param = |name: &str, kind| Param {
            name: name.into(),
            kind,
            span: SpanId::NONE,
        };
        let y = ParamKind::Buffer {
            elem: Elem::F32,
            mutable: true,
        };
        let store = StmtKind::Store {
            buf: BufRef::Param(ParamId(1)),
            index,
            value: Expr::lit_f(0.0, Elem::F32),
        };
        Kernel {
            name: "store_at".into(),
            params: vec![param("n", ParamKind::Scalar(Elem::U32)), param("y", y)],
            locals: vec![],
            shared: vec![],
            body: vec![Stmt {
                kind: store,
                span: SpanId::NONE,
            }],
        }
    }

    fn global() -> Expr {
        e(ExprKind::Builtin(Builtin::GlobalPos(None)), Ty::U32)
    }

    fn n_plus_global() -> Expr {
        let n = e(ExprKind::Param(ParamId(0)), Ty::U32);
        e(
            ExprKind::Binary(BinaryOp::Add, Box::new(n), Box::new(global())),
            Ty::U32,
        )
    }

    fn facts(n: u32, len: usize) -> (Vec<Option<usize>>, Vec<Option<Scalar>>) {
        (vec![None, Some(len)], vec![Some(Scalar::U32(n)), None])
    }

    #[test]
    fn a_proof_by_positions_alone_holds_for_any_arguments() {
        let k = store_at(global());
        let (lens, values) = facts(3, 10);
        let proof = prove(&k, Grid::cover(8, 4), &(&lens[..], &values[..]));
        assert_eq!(
            proof.requirements(),
            [Requirement {
                param: ParamId(1),
                max_index: 7
            }]
        );
        let (lens, values) = facts(99, 1);
        assert!(proof.applies_to(&(&lens[..], &values[..])));
    }

    #[test]
    fn a_proof_that_read_a_scalar_holds_only_for_that_value() {
        let k = store_at(n_plus_global());
        let (lens, values) = facts(3, 10);
        let proof = prove(&k, Grid::cover(8, 4), &(&lens[..], &values[..]));
        assert_eq!(proof.requirements()[0].max_index, 10);
        let (lens, values) = facts(3, 1000);
        assert!(proof.applies_to(&(&lens[..], &values[..])));
        let (lens, values) = facts(4, 10);
        assert!(!proof.applies_to(&(&lens[..], &values[..])));
    }

    #[test]
    fn a_proof_that_read_a_length_holds_only_for_that_length() {
        let len = e(ExprKind::Len(BufRef::Param(ParamId(1))), Ty::U32);
        let one = Expr::lit_u32(1);
        let last = e(
            ExprKind::Binary(BinaryOp::Sub, Box::new(len), Box::new(one)),
            Ty::U32,
        );
        let k = store_at(last);
        let (lens, values) = facts(0, 10);
        let proof = prove(&k, Grid::cover(1, 1), &(&lens[..], &values[..]));
        assert_eq!(proof.requirements()[0].max_index, 9);
        let (lens, values) = facts(0, 11);
        assert!(!proof.applies_to(&(&lens[..], &values[..])));
    }
}
