//! A fused group with column reductions as one kernel-IR kernel.
//!
//! The group's elements are `rows × columns` (the reduced leading axes, then the kept
//! ones). Rows are cut into blocks of [`partial_rows`] rows, one unit per block. A unit
//! walks its rows in order and each row in 4-lane vectors, computing the steps, storing the
//! elementwise outputs and adding each reduction's value into that block's row of partial
//! results (`part{r}[block · columns + column]`, set to the reduction's initial value
//! first). The executor then combines the blocks' partials in block order.
//!
//! That is the order the executor's own column reduction sums in (each block of rows
//! accumulated row by row, then the blocks in order, with the same block size): a fused
//! reduction gives the unfused bits, on any number of threads.
//!
//! Rows are walked along memory, not down columns: a unit owning a few columns and walking
//! down the rows reads one cache line per row whose addresses, a row's length apart, fall
//! into a handful of cache sets, and ran 2–3× slower than the unfused ops on
//! `[2048, 128]`. The inner loop's accesses are affine in its column (`r · vectors + c`),
//! so the CPU backend checks their bounds once per row rather than per access.
//!
//! Vector arithmetic and the lane-by-lane fallback are in [`lanes`].

mod lanes;

pub(super) use self::lanes::params;
use self::lanes::{LANES, accumulate, builtin, construct, div, init, load, mul};
use self::lanes::{splat, step_value, stmt, store, vec4, widen};
use super::scalar::{Code, bin, f};
use super::{FusedArg, FusedReduction, FusedStep, OperandMap};
use crate::graph::ir::ReduceOp;
use crate::kernel::{Axis, BinaryOp, Builtin, Expr, ExprKind, Grid, Kernel};
use crate::kernel::{SpanId, Stmt, StmtKind, Ty, VarId};

/// Elements a block of rows holds (about): blocks of `PARTIAL_ELEMENTS / columns` rows.
pub const PARTIAL_ELEMENTS: usize = 1 << 14;

/// Rows per block when reducing rows of `columns` elements: the block size of the
/// executor's column reduction, which combines the blocks in order.
pub fn partial_rows(columns: usize) -> usize {
    (PARTIAL_ELEMENTS / columns.max(1)).max(1)
}

/// Whether a kernel of this module can reduce rows of `columns` elements (whole vectors
/// of four per unit).
pub fn lowers(columns: usize) -> bool {
    columns > 0 && columns.is_multiple_of(LANES) && u32::try_from(columns).is_ok()
}

/// The `rows × columns` layout of a group with reductions, and its blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Columns {
    /// Rows reduced.
    pub rows: usize,
    /// Elements per row: one result per column.
    pub columns: usize,
    /// Rows per block ([`partial_rows`]).
    pub block: usize,
}

impl Columns {
    /// The layout of `rows × columns` elements.
    pub fn new(rows: usize, columns: usize) -> Self {
        Self {
            rows,
            columns,
            block: partial_rows(columns),
        }
    }

    /// Blocks of rows: partial results per column and reduction.
    pub fn blocks(&self) -> usize {
        self.rows.div_ceil(self.block).max(1)
    }

    /// One single-unit group per block.
    pub fn grid(&self) -> Grid {
        Grid {
            groups: [self.blocks() as u32, 1, 1],
            group_size: [1, 1, 1],
        }
    }
}

/// The reference's value of reduction `r` of `value` (the reduced step over every
/// element), in f64, summed in element order as the reference evaluates an unfused `sum`.
pub fn evaluate(r: &FusedReduction, value: &[f64]) -> Vec<f64> {
    let rows = r.rows.max(1);
    let columns = value.len() / rows;
    let init = if r.op == ReduceOp::Max {
        f64::NEG_INFINITY
    } else {
        0.0
    };
    let mut out = vec![init; columns];
    for (i, &v) in value.iter().enumerate() {
        let o = &mut out[i % columns.max(1)];
        *o = if r.op == ReduceOp::Max {
            o.max(v)
        } else {
            *o + v
        };
    }
    if r.op == ReduceOp::Mean {
        out.iter_mut().for_each(|o| *o /= rows as f64);
    }
    out
}

/// Rows one pass of the inner loop covers: each partial vector is loaded once, has the
/// rows' values added in row order (the same additions as one row at a time), and is
/// stored once. Up to 4, as long as the rows span at most 2 KiB: further apart, a pass's
/// loads from one buffer and stores into another (both page-aligned) hit addresses 4 KiB
/// apart, which the CPU takes for dependent.
fn rows_at_once(columns: usize) -> usize {
    [4, 2, 1]
        .into_iter()
        .find(|u| u * columns * 4 <= 2048)
        .unwrap_or(1)
}

/// What every row pass reads and computes.
struct Group<'a> {
    operands: &'a [OperandMap],
    steps: &'a [FusedStep],
    outputs: &'a [usize],
    reductions: &'a [FusedReduction],
    layout: Columns,
    /// The block (the group's position).
    block: Expr,
}

impl Group<'_> {
    fn vectors(&self) -> usize {
        self.layout.columns / LANES
    }

    fn first_part(&self) -> usize {
        self.operands.len() + self.outputs.len()
    }

    /// `part{k}[block · vectors + c]`.
    fn part_at(&self, c: &Expr) -> Expr {
        bin(
            BinaryOp::Add,
            mul(self.block.clone(), self.vectors()),
            c.clone(),
        )
    }

    /// The loop setting every partial to its reduction's initial value.
    fn init_parts(&self, code: &mut Code) -> Stmt {
        let column = code.local("c".into(), Ty::U32);
        let c = Expr::new(ExprKind::Local(column), Ty::U32, SpanId::NONE);
        let inits = self
            .reductions
            .iter()
            .enumerate()
            .map(|(k, r)| {
                store(
                    self.first_part() + k,
                    self.part_at(&c),
                    splat(f(init(r.op))),
                )
            })
            .collect();
        for_loop(column, self.vectors(), inits)
    }

    /// The statements for the rows `rows` (bound locals, in order): their per-row operands,
    /// then the loop over the row's vectors computing and storing every row's steps and
    /// adding their values to the partials in row order.
    fn rows(&self, code: &mut Code, rows: &[Expr]) -> Vec<Stmt> {
        let column = code.local("c".into(), Ty::U32);
        let c = Expr::new(ExprKind::Local(column), Ty::U32, SpanId::NONE);
        let places: Vec<Place> = rows
            .iter()
            .map(|row| Place {
                row: row.clone(),
                column: c.clone(),
                // Written out at every access, not bound to a local: the CPU backend
                // proves an access `r · vectors + c` in bounds once per loop only in that
                // form.
                at: bin(BinaryOp::Add, mul(row.clone(), self.vectors()), c.clone()),
                layout: self.layout,
            })
            .collect();
        // Operands constant along a row are read once per row, the others per vector.
        let mut loads: Vec<Vec<Expr>> = vec![vec![f(0.0); self.operands.len()]; rows.len()];
        for (place, loads) in places.iter().zip(&mut loads) {
            for (k, m) in self
                .operands
                .iter()
                .enumerate()
                .filter(|(_, m)| place.per_row(m))
            {
                let v = place.load(code, k, m);
                loads[k] = code.bind(format!("a{k}"), v);
            }
        }
        let mut outer = std::mem::take(&mut code.stmts);
        let values: Vec<Vec<Expr>> = places
            .iter()
            .zip(&mut loads)
            .map(|(place, loads)| self.row_values(code, place, loads))
            .collect();
        for (k, r) in self.reductions.iter().enumerate() {
            let at = self.part_at(&c);
            let mut acc = code.bind(
                format!("p{k}"),
                load(self.first_part() + k, at.clone(), vec4()),
            );
            for row in &values {
                let next = accumulate(code, r.op, acc, row[k].clone());
                acc = code.bind(format!("p{k}"), next);
            }
            code.stmts.push(store(self.first_part() + k, at, acc));
        }
        outer.push(for_loop(
            column,
            self.vectors(),
            std::mem::take(&mut code.stmts),
        ));
        outer
    }

    /// One row's vector: its operands read, its steps computed, its outputs stored; the
    /// value each reduction adds.
    fn row_values(&self, code: &mut Code, place: &Place, loads: &mut [Expr]) -> Vec<Expr> {
        for (k, m) in self
            .operands
            .iter()
            .enumerate()
            .filter(|(_, m)| !place.per_row(m))
        {
            let v = place.load(code, k, m);
            loads[k] = code.bind(format!("a{k}"), v);
        }
        let mut vals: Vec<Expr> = Vec::with_capacity(self.steps.len());
        for (s, step) in self.steps.iter().enumerate() {
            let v = step_value(code, step, loads, &vals);
            vals.push(code.bind(format!("s{s}"), widen(v)));
        }
        for (j, &s) in self.outputs.iter().enumerate() {
            let out = store(self.operands.len() + j, place.at.clone(), vals[s].clone());
            code.stmts.push(out);
        }
        self.reductions
            .iter()
            .map(|r| match r.arg {
                FusedArg::Step(s) => vals[s].clone(),
                FusedArg::Operand(o) => widen(loads[o].clone()),
                FusedArg::Constant { value, dtype } => splat(f(dtype.round(value as f32))),
            })
            .collect()
    }
}

/// The kernel: for its block's rows, the steps on each row's vectors, the elementwise
/// `outputs` stored, the `reductions` added into their partials. Rows go
/// [`rows_at_once`] at a time, then the rest one by one.
pub fn lower(
    name: &str,
    operands: &[OperandMap],
    steps: &[FusedStep],
    outputs: &[usize],
    reductions: &[FusedReduction],
    layout: Columns,
) -> Kernel {
    let mut code = Code::default();
    let at_once = rows_at_once(layout.columns);
    let block = code.bind("b".into(), builtin(Builtin::GroupPos(Some(Axis::X))));
    let first = code.bind("r0".into(), mul(block.clone(), layout.block));
    let end = row_end(&mut code, &first, layout);
    let count = bin(BinaryOp::Sub, end.clone(), first.clone());
    let passes = code.bind("n".into(), div(count, at_once));
    let rest = code.bind(
        "r1".into(),
        bin(BinaryOp::Add, first.clone(), mul(passes.clone(), at_once)),
    );
    let group = Group {
        operands,
        steps,
        outputs,
        reductions,
        layout,
        block,
    };
    let mut body = std::mem::take(&mut code.stmts);
    body.push(group.init_parts(&mut code));
    // Passes of several rows: row `r0 + q·at_once + u`.
    let pass = code.local("q".into(), Ty::U32);
    let q = Expr::new(ExprKind::Local(pass), Ty::U32, SpanId::NONE);
    let base = code.bind("rq".into(), bin(BinaryOp::Add, first, mul(q, at_once)));
    let rows: Vec<Expr> = (0..at_once)
        .map(|u| match u {
            0 => base.clone(),
            u => {
                let row = bin(BinaryOp::Add, base.clone(), Expr::lit_u32(u as u32));
                code.bind(format!("rq{u}"), row)
            }
        })
        .collect();
    let mut pass_body = std::mem::take(&mut code.stmts);
    pass_body.extend(group.rows(&mut code, &rows));
    body.push(stmt(StmtKind::For {
        var: pass,
        start: Expr::lit_u32(0),
        end: passes,
        step: Expr::lit_u32(1),
        body: pass_body,
    }));
    // The rest, one row at a time.
    let row = code.local("r".into(), Ty::U32);
    let r = Expr::new(ExprKind::Local(row), Ty::U32, SpanId::NONE);
    let row_body = group.rows(&mut code, &[r]);
    body.push(stmt(StmtKind::For {
        var: row,
        start: rest,
        end,
        step: Expr::lit_u32(1),
        body: row_body,
    }));
    Kernel {
        name: name.to_string(),
        params: params(operands.len(), outputs.len(), reductions.len()),
        locals: code.locals,
        shared: Vec::new(),
        body,
    }
}

/// `for var in 0..count { body }`.
fn for_loop(var: VarId, count: usize, body: Vec<Stmt>) -> Stmt {
    stmt(StmtKind::For {
        var,
        start: Expr::lit_u32(0),
        end: Expr::lit_u32(count as u32),
        step: Expr::lit_u32(1),
        body,
    })
}

/// `min(r0 + block, rows)`: `rows` for a single block, `r0 + block` when the blocks tile
/// the rows.
fn row_end(code: &mut Code, first: &Expr, layout: Columns) -> Expr {
    if layout.rows <= layout.block {
        return Expr::lit_u32(layout.rows as u32);
    }
    let next = bin(
        BinaryOp::Add,
        first.clone(),
        Expr::lit_u32(layout.block as u32),
    );
    if layout.rows.is_multiple_of(layout.block) {
        return code.bind("r1".into(), next);
    }
    let rows = Expr::lit_u32(layout.rows as u32);
    let next = code.bind("r1".into(), next);
    let fits = bin(BinaryOp::Lt, next.clone(), rows.clone());
    code.bind("r2".into(), Expr::select(fits, next, rows))
}

/// Where a unit is: its row, its vector column, and its vector index in a full-size
/// buffer.
struct Place {
    row: Expr,
    column: Expr,
    at: Expr,
    layout: Columns,
}

impl Place {
    /// Whether operand map `m` gives one value per row (a scalar, or a per-row operand).
    fn per_row(&self, m: &OperandMap) -> bool {
        m.len <= 1 || m.stride.max(1).is_multiple_of(self.layout.columns)
    }

    /// Operand `k`'s value here: a vector load where its map keeps four consecutive
    /// columns consecutive, one scalar where it is constant along a row, else four scalar
    /// loads.
    fn load(&self, code: &mut Code, k: usize, m: &OperandMap) -> Expr {
        let Columns { rows, columns, .. } = self.layout;
        let (stride, len) = (m.stride.max(1), m.len.max(1));
        let numel = rows * columns;
        if len == 1 {
            return load(k, Expr::lit_u32(0), Ty::F32);
        }
        if stride == 1 && len == numel {
            return load(k, self.at.clone(), vec4());
        }
        if stride == 1 && len == columns {
            return load(k, self.column.clone(), vec4());
        }
        if stride == 1 && len.is_multiple_of(columns) {
            let row = bin(
                BinaryOp::Rem,
                self.row.clone(),
                Expr::lit_u32((len / columns) as u32),
            );
            let at = bin(
                BinaryOp::Add,
                mul(row, columns / LANES),
                self.column.clone(),
            );
            return load(k, at, vec4());
        }
        if stride.is_multiple_of(columns) {
            let row = div(self.row.clone(), stride / columns);
            let at = bin(BinaryOp::Rem, row, Expr::lit_u32(len as u32));
            return load(k, at, Ty::F32);
        }
        // Anything else, element by element: `(i / stride) % len`.
        let base = bin(
            BinaryOp::Add,
            mul(self.row.clone(), columns),
            mul(self.column.clone(), LANES),
        );
        let base = code.bind(format!("e{k}"), base);
        let lanes = (0..LANES)
            .map(|l| {
                let i = bin(BinaryOp::Add, base.clone(), Expr::lit_u32(l as u32));
                let at = bin(BinaryOp::Rem, div(i, stride), Expr::lit_u32(len as u32));
                load(k, at, Ty::F32)
            })
            .collect();
        construct(lanes)
    }
}
