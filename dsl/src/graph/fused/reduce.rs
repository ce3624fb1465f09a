//! A fused group with column reductions as one kernel-IR kernel.
//!
//! The group's elements are `rows × columns` (the reduced leading axes, then the kept
//! ones). Rows are cut into blocks of [`partial_rows`] rows; one unit owns four adjacent
//! columns of one block and walks its rows in order, computing the steps on 4-lane vectors,
//! storing the elementwise outputs and accumulating each reduction into a 4-lane
//! accumulator, which it stores as that block's partial result (`part{r}[block · columns +
//! column]`). The executor then combines the blocks' partials in block order.
//!
//! That is the order the executor's own column reduction sums in (each block of rows
//! accumulated row by row, then the blocks in order, with the same block size): a fused
//! reduction gives the unfused bits, on any number of threads.
//!
//! Only plain arithmetic runs on whole vectors (`+ − × ÷`, `√`, negation, scaling, casts
//! to f32), whose lanes round exactly as scalars do; functions built on comparisons, `exp`
//! or `max` (whose vector forms differ from the scalar ones in the last bit or in NaN and
//! signed-zero handling) and reduced-precision steps run lane by lane.

use super::scalar::{Code, bin, cast, f};
use super::{FusedArg, FusedFn, FusedReduction, FusedStep, OperandMap};
use crate::graph::ir::{BinaryOp as GBin, DType, ReduceOp, UnaryOp as GUn};
use crate::kernel::{Axis, BinaryOp, BufRef, Builtin, Elem, Expr, ExprKind, Grid, Kernel, Local};
use crate::kernel::{Param, ParamId, ParamKind, SpanId, Stmt, StmtKind, Ty, VarId};

/// Elements a block of rows holds (about): blocks of `PARTIAL_ELEMENTS / columns` rows.
pub const PARTIAL_ELEMENTS: usize = 1 << 14;

/// Lanes a unit computes at once.
const LANES: usize = 4;

/// Units per group at most (a group covers up to `4 · MAX_UNITS` columns of one block).
const MAX_UNITS: usize = 64;

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

    /// Units per group: the most, up to 64, that split a row's vectors evenly.
    fn units(&self) -> usize {
        let vectors = self.columns / LANES;
        (1..=MAX_UNITS.min(vectors))
            .rev()
            .find(|u| vectors.is_multiple_of(*u))
            .unwrap_or(1)
    }

    /// Groups along x cover a row's vectors; along y, the blocks.
    pub fn grid(&self) -> Grid {
        let units = self.units();
        Grid {
            groups: [
                (self.columns / LANES / units).max(1) as u32,
                self.blocks() as u32,
                1,
            ],
            group_size: [units as u32, 1, 1],
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

/// The kernel: for its block's rows, the steps on four columns, the elementwise `outputs`
/// stored, the `reductions` accumulated and their partials stored.
pub fn lower(
    name: &str,
    operands: &[OperandMap],
    steps: &[FusedStep],
    outputs: &[usize],
    reductions: &[FusedReduction],
    layout: Columns,
) -> Kernel {
    let mut code = Code::default();
    let units = layout.units();
    let vectors = layout.columns / LANES;
    let column = code.bind(
        "c".into(),
        bin(
            BinaryOp::Add,
            mul(builtin(Builtin::GroupPos(Some(Axis::X))), units),
            builtin(Builtin::UnitPos(Some(Axis::X))),
        ),
    );
    let block = code.bind("b".into(), builtin(Builtin::GroupPos(Some(Axis::Y))));
    let first = code.bind("r0".into(), mul(block.clone(), layout.block));
    let end = row_end(&mut code, &first, layout);
    let accs: Vec<VarId> = reductions
        .iter()
        .enumerate()
        .map(|(k, r)| code.mutable(format!("acc{k}"), splat(f(init(r.op)))))
        .collect();
    let mut outer = std::mem::take(&mut code.stmts);
    let row = code.local(format!("r{}", code.locals.len()), Ty::U32);
    let row_expr = Expr::new(ExprKind::Local(row), Ty::U32, SpanId::NONE);
    let at = code.bind(
        "v".into(),
        bin(
            BinaryOp::Add,
            mul(row_expr.clone(), vectors),
            column.clone(),
        ),
    );
    let place = Place {
        row: row_expr,
        column: column.clone(),
        at: at.clone(),
        layout,
    };
    let loads: Vec<Expr> = operands
        .iter()
        .enumerate()
        .map(|(k, m)| {
            let v = place.load(&mut code, k, m);
            code.bind(format!("a{k}"), v)
        })
        .collect();
    let mut vals: Vec<Expr> = Vec::with_capacity(steps.len());
    for (s, step) in steps.iter().enumerate() {
        let v = step_value(&mut code, step, &loads, &vals);
        vals.push(code.bind(format!("s{s}"), widen(v)));
    }
    for (j, &s) in outputs.iter().enumerate() {
        code.stmts
            .push(store(operands.len() + j, at.clone(), vals[s].clone()));
    }
    for (k, r) in reductions.iter().enumerate() {
        let value = match r.arg {
            FusedArg::Step(s) => vals[s].clone(),
            FusedArg::Operand(o) => widen(loads[o].clone()),
            FusedArg::Constant { value, dtype } => splat(f(dtype.round(value as f32))),
        };
        let acc = Expr::new(ExprKind::Local(accs[k]), vec4(), SpanId::NONE);
        let next = accumulate(&mut code, r.op, acc, value);
        code.stmts.push(stmt(StmtKind::Assign {
            var: accs[k],
            value: next,
        }));
    }
    outer.push(stmt(StmtKind::For {
        var: row,
        start: first,
        end,
        step: Expr::lit_u32(1),
        body: std::mem::take(&mut code.stmts),
    }));
    let part_at = bin(BinaryOp::Add, mul(block, vectors), column);
    let first_part = operands.len() + outputs.len();
    for (k, &acc) in accs.iter().enumerate() {
        let acc = Expr::new(ExprKind::Local(acc), vec4(), SpanId::NONE);
        outer.push(store(first_part + k, part_at.clone(), acc));
    }
    Kernel {
        name: name.to_string(),
        params: params(operands.len(), outputs.len(), reductions.len()),
        locals: code.locals,
        shared: Vec::new(),
        body: outer,
    }
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
    code.bind("r2".into(), select(fits, next, rows))
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

/// The value of one step on four lanes: whole vectors for plain arithmetic, else lane by
/// lane (see the module docs).
fn step_value(code: &mut Code, step: &FusedStep, loads: &[Expr], vals: &[Expr]) -> Expr {
    let arg = |a: &FusedArg| match *a {
        FusedArg::Operand(k) => loads[k].clone(),
        FusedArg::Step(s) => vals[s].clone(),
        FusedArg::Constant { value, dtype } => f(dtype.round(value as f32)),
    };
    let args: Vec<Expr> = step.args.iter().map(arg).collect();
    if exact_on_vectors(step) {
        return apply(code, step, args);
    }
    let lanes = (0..LANES)
        .map(|l| {
            let lane: Vec<Expr> = args.iter().map(|a| extract(a, l)).collect();
            let v = apply(code, step, lane);
            code.bind(format!("t{}", code.locals.len()), v)
        })
        .collect();
    construct(lanes)
}

/// The step's function of `args`, rounded to its dtype.
fn apply(code: &mut Code, step: &FusedStep, args: Vec<Expr>) -> Expr {
    let mut args = args.into_iter();
    let mut next = || args.next().unwrap_or_else(|| f(0.0));
    let v = match step.op {
        FusedFn::Unary(u) => code.unary(u, next()),
        FusedFn::Binary(b) => {
            let x = next();
            code.binary(b, x, next())
        }
        FusedFn::Cast => next(),
    };
    match step.dtype {
        DType::BF16 => cast(cast(v, Elem::BF16), Elem::F32),
        DType::F16 => cast(cast(v, Elem::F16), Elem::F32),
        DType::F32 | DType::U32 => v,
    }
}

/// Whether `step` computes the same bits on 4-lane vectors as on scalars.
fn exact_on_vectors(step: &FusedStep) -> bool {
    let plain = match step.op {
        FusedFn::Unary(u) => matches!(
            u,
            GUn::Neg | GUn::Sqrt | GUn::Square | GUn::Recip | GUn::Scale(_) | GUn::AddScalar(_)
        ),
        FusedFn::Binary(b) => matches!(b, GBin::Add | GBin::Sub | GBin::Mul | GBin::Div),
        FusedFn::Cast => true,
    };
    plain && matches!(step.dtype, DType::F32)
}

/// `acc ⊕ value` for reduction `op`; a maximum lane by lane, as the executor's `f32::max`.
fn accumulate(code: &mut Code, op: ReduceOp, acc: Expr, value: Expr) -> Expr {
    if op != ReduceOp::Max {
        return bin(BinaryOp::Add, acc, value);
    }
    let lanes = (0..LANES)
        .map(|l| {
            let m = bin(BinaryOp::Max, extract(&acc, l), extract(&value, l));
            code.bind(format!("t{}", code.locals.len()), m)
        })
        .collect();
    construct(lanes)
}

fn init(op: ReduceOp) -> f32 {
    if op == ReduceOp::Max {
        f32::NEG_INFINITY
    } else {
        0.0
    }
}

/// A scalar repeated over four lanes; a vector as it is.
fn widen(v: Expr) -> Expr {
    if v.ty.is_vector() { v } else { splat(v) }
}

fn splat(v: Expr) -> Expr {
    construct(vec![v; LANES])
}

fn construct(lanes: Vec<Expr>) -> Expr {
    Expr::new(ExprKind::Construct(lanes), vec4(), SpanId::NONE)
}

/// Lane `l` of a vector; a scalar as it is.
fn extract(v: &Expr, l: usize) -> Expr {
    if !v.ty.is_vector() {
        return v.clone();
    }
    Expr::new(
        ExprKind::Extract {
            vector: Box::new(v.clone()),
            lane: l as u8,
        },
        Ty::F32,
        SpanId::NONE,
    )
}

fn vec4() -> Ty {
    Ty::vector(Elem::F32, LANES as u8)
}

fn select(cond: Expr, a: Expr, b: Expr) -> Expr {
    let ty = a.ty;
    Expr::new(
        ExprKind::Select {
            cond: Box::new(cond),
            then_value: Box::new(a),
            else_value: Box::new(b),
        },
        ty,
        SpanId::NONE,
    )
}

fn builtin(b: Builtin) -> Expr {
    Expr::new(ExprKind::Builtin(b), Ty::U32, SpanId::NONE)
}

fn mul(a: Expr, c: usize) -> Expr {
    if c == 1 {
        a
    } else {
        bin(BinaryOp::Mul, a, Expr::lit_u32(c as u32))
    }
}

fn div(a: Expr, c: usize) -> Expr {
    if c == 1 {
        a
    } else {
        bin(BinaryOp::Div, a, Expr::lit_u32(c as u32))
    }
}

/// `buf[index]` of type `ty` (a vector load at vector index `index` for four lanes).
fn load(k: usize, index: Expr, ty: Ty) -> Expr {
    Expr::new(
        ExprKind::Load {
            buf: BufRef::Param(ParamId(k as u32)),
            index: Box::new(index),
        },
        ty,
        SpanId::NONE,
    )
}

fn store(param: usize, index: Expr, value: Expr) -> Stmt {
    stmt(StmtKind::Store {
        buf: BufRef::Param(ParamId(param as u32)),
        index,
        value,
    })
}

/// `in{k}` (read only), `out{j}`, then `part{r}` buffers, all f32.
fn params(n_in: usize, n_out: usize, n_red: usize) -> Vec<Param> {
    let buffer = |name: String, mutable: bool| Param {
        name,
        kind: ParamKind::Buffer {
            elem: Elem::F32,
            mutable,
        },
        span: SpanId::NONE,
    };
    let ins = (0..n_in).map(|k| buffer(format!("in{k}"), false));
    let outs = (0..n_out).map(|j| buffer(format!("out{j}"), true));
    let parts = (0..n_red).map(|r| buffer(format!("part{r}"), true));
    ins.chain(outs).chain(parts).collect()
}

fn stmt(kind: StmtKind) -> Stmt {
    Stmt {
        kind,
        span: SpanId::NONE,
    }
}

impl Code {
    /// `let mut <name> = e;`, returning the variable.
    fn mutable(&mut self, name: String, e: Expr) -> VarId {
        let var = self.local(name, e.ty);
        if let Some(l) = self.locals.last_mut() {
            l.mutable = true;
        }
        self.stmts.push(stmt(StmtKind::Let { var, init: e }));
        var
    }

    /// A declared local (a loop variable), not bound by a statement.
    fn local(&mut self, name: String, ty: Ty) -> VarId {
        let var = VarId(self.locals.len() as u32);
        self.locals.push(Local {
            name,
            ty,
            mutable: false,
            span: SpanId::NONE,
        });
        var
    }
}
