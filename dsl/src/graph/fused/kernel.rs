//! A fused group as one kernel-IR kernel.
//!
//! The elements are laid out as `rows × width` (`width` a row length the operands'
//! maps divide, see [`row_width`]). A bias over the last axis then reads element `x` and a
//! per-row operand element `y`, with no division per element; only maps that fit neither
//! use `(i / stride) % len`. Each unit computes the steps in order (each a local, rounded
//! where its dtype is reduced) and stores the outputs at `i = y·width + x`. All buffers
//! are f32: executors hold every float dtype in f32 slots.
//!
//! Two grids: when a group size (a multiple of 4) splits `width` into a power of two of
//! groups, a one-dimensional grid whose groups tile the rows exactly, `i` the global
//! position and no guard; otherwise a two-dimensional one, `x` walking a row in groups of
//! up to [`GROUP_WIDTH`] units, the group's `y` position picking the row, and units past
//! the row's end doing nothing.

use super::scalar::{Code, bin, cast, f};
use super::{FusedArg, FusedFn, FusedStep, OperandMap};
use crate::graph::ir::DType;
use crate::kernel::{Axis, BinaryOp, BufRef, Builtin, Elem, Expr, ExprKind, Grid, Kernel};
use crate::kernel::{ParamId, SpanId, Stmt, StmtKind, Ty};

/// Units per group along a row (a multiple of 4, so the CPU backend's 4-lane variant runs).
pub const GROUP_WIDTH: usize = 256;

/// The row length of the kernel's `rows × width` layout for `shape`: the length of an
/// operand repeated along leading axes (a bias), else of a per-row operand's rows, else the
/// last axis.
pub fn row_width(operands: &[OperandMap], shape: &[usize]) -> usize {
    let numel: usize = shape.iter().product();
    let partial = |m: &&OperandMap| m.len > 1 && m.len < numel;
    let by_bias = operands
        .iter()
        .filter(partial)
        .find(|m| m.stride == 1 && numel.is_multiple_of(m.len))
        .map(|m| m.len);
    let by_rows = operands
        .iter()
        .filter(partial)
        .find(|m| m.stride > 1 && numel.is_multiple_of(m.stride))
        .map(|m| m.stride);
    by_bias
        .or(by_rows)
        .unwrap_or_else(|| shape.last().copied().unwrap_or(1))
        .max(1)
}

/// Units per group for rows of `width`: a multiple of 4, at most [`GROUP_WIDTH`].
fn units(width: usize) -> usize {
    width.div_ceil(4).clamp(1, GROUP_WIDTH / 4) * 4
}

/// Units per group of the row-aligned layout, when `width` has one: the largest multiple
/// of 4 up to [`GROUP_WIDTH`] that divides `width` into a power of two of groups.
///
/// Every group then lies inside one row and the groups tile the elements exactly: the
/// element index is the global position (so the CPU backend checks bounds once per group,
/// not per access) and no unit needs a guard.
fn aligned_units(width: usize) -> Option<usize> {
    (4..=GROUP_WIDTH.min(width))
        .rev()
        .find(|&u| u.is_multiple_of(4) && width.is_multiple_of(u) && (width / u).is_power_of_two())
}

/// The launch grid of a kernel from [`lower`] over `numel` elements in rows of `width`.
pub fn grid(numel: usize, width: usize) -> Grid {
    if let Some(units) = aligned_units(width) {
        return Grid {
            groups: [(numel / units).max(1) as u32, 1, 1],
            group_size: [units as u32, 1, 1],
        };
    }
    let units = units(width);
    let rows = numel / width.max(1);
    Grid {
        groups: [width.div_ceil(units) as u32, rows.max(1) as u32, 1],
        group_size: [units as u32, 1, 1],
    }
}

/// The kernel computing `steps` over `numel` elements in rows of `width`, storing the
/// steps in `outputs`.
pub fn lower(
    name: &str,
    operands: &[OperandMap],
    steps: &[FusedStep],
    outputs: &[usize],
    numel: usize,
    width: usize,
) -> Kernel {
    let layout = Layout {
        numel,
        width,
        rows: numel / width.max(1),
    };
    let mut code = Code::default();
    let Positions { x, y, i, guard } = positions(&mut code, width);
    let outer = std::mem::take(&mut code.stmts);
    let loads: Vec<Expr> = operands
        .iter()
        .enumerate()
        .map(|(k, m)| {
            let index = layout.index(m, &i, &x, &y);
            code.bind(format!("a{k}"), load(k, index))
        })
        .collect();
    let mut vals: Vec<Expr> = Vec::with_capacity(steps.len());
    for (s, step) in steps.iter().enumerate() {
        let v = step_value(&mut code, step, &loads, &vals);
        vals.push(code.bind(format!("s{s}"), v));
    }
    for (j, &s) in outputs.iter().enumerate() {
        code.stmts.push(stmt(StmtKind::Store {
            buf: BufRef::Param(ParamId((operands.len() + j) as u32)),
            index: i.clone(),
            value: vals[s].clone(),
        }));
    }
    let mut body = outer;
    match guard {
        Some(cond) => body.push(stmt(StmtKind::If {
            cond,
            then_branch: std::mem::take(&mut code.stmts),
            else_branch: Vec::new(),
        })),
        None => body.append(&mut code.stmts),
    }
    Kernel {
        name: name.to_string(),
        params: super::reduce::params(operands.len(), outputs.len(), 0),
        locals: code.locals,
        shared: Vec::new(),
        body,
    }
}

/// A unit's element: its column `x` and row `y` in the `rows × width` layout, its index
/// `i = y·width + x`, and the condition for it to exist (`None`: every unit's does).
struct Positions {
    x: Expr,
    y: Expr,
    i: Expr,
    guard: Option<Expr>,
}

/// Binds `i` and `x` as top-level lets of consecutive values, with the row uniform over a
/// group's units (a group's position, not a local): the CPU backend's four-lane variant
/// then loads and stores whole vectors.
fn positions(code: &mut Code, width: usize) -> Positions {
    if let Some(units) = aligned_units(width) {
        // The row-aligned layout: `i` is the global position, the row a shift of the
        // group's position.
        let global = Expr::new(
            ExprKind::Builtin(Builtin::GlobalPos(None)),
            Ty::U32,
            SpanId::NONE,
        );
        let i = code.bind("i".into(), global);
        let group = Expr::new(
            ExprKind::Builtin(Builtin::GroupPos(None)),
            Ty::U32,
            SpanId::NONE,
        );
        let shift = (width / units).trailing_zeros();
        let y = match shift {
            0 => group,
            s => bin(BinaryOp::Shr, group, Expr::lit_u32(s)),
        };
        let x = code.bind(
            "x".into(),
            bin(BinaryOp::Sub, i.clone(), mul_u32(&y, width)),
        );
        return Positions {
            x,
            y,
            i,
            guard: None,
        };
    }
    let unit = Expr::new(
        ExprKind::Builtin(Builtin::UnitPos(None)),
        Ty::U32,
        SpanId::NONE,
    );
    let first = mul_u32(&group_pos(Axis::X), units(width));
    let x = code.bind("x".into(), bin(BinaryOp::Add, first, unit));
    let y = group_pos(Axis::Y);
    let i = code.bind(
        "i".into(),
        bin(BinaryOp::Add, mul_u32(&y, width), x.clone()),
    );
    let guard = bin(BinaryOp::Lt, x.clone(), Expr::lit_u32(width as u32));
    Positions {
        x,
        y,
        i,
        guard: Some(guard),
    }
}

/// The element grid, for index expressions.
struct Layout {
    numel: usize,
    width: usize,
    rows: usize,
}

impl Layout {
    /// The index operand `m` reads at element `i = y·width + x`.
    fn index(&self, m: &OperandMap, i: &Expr, x: &Expr, y: &Expr) -> Expr {
        let (stride, len) = (m.stride.max(1), m.len.max(1));
        if len == 1 {
            return Expr::lit_u32(0);
        }
        if stride == 1 && len == self.numel {
            return i.clone();
        }
        if stride == 1 && self.width.is_multiple_of(len) {
            return rem_u32(x.clone(), len, self.width);
        }
        if stride == 1 && len.is_multiple_of(self.width) {
            // Whole rows repeated (a `[T, C]` operand against `[B, T, C]`): a row picked
            // per group plus `x`, so the four lanes stay consecutive.
            let row = rem_u32(y.clone(), len / self.width, self.rows);
            return bin(BinaryOp::Add, mul_u32(&row, self.width), x.clone());
        }
        if stride.is_multiple_of(self.width) {
            let row = div_u32(y.clone(), stride / self.width);
            return rem_u32(row, len, self.rows.div_ceil(stride / self.width));
        }
        rem_u32(div_u32(i.clone(), stride), len, self.numel.div_ceil(stride))
    }
}

/// The value of one step: its function of its arguments, rounded to its dtype.
fn step_value(code: &mut Code, step: &FusedStep, loads: &[Expr], vals: &[Expr]) -> Expr {
    let arg = |a: &FusedArg| match *a {
        FusedArg::Operand(k) => loads[k].clone(),
        FusedArg::Step(s) => vals[s].clone(),
        FusedArg::Constant { value, dtype } => f(dtype.round(value as f32)),
    };
    let v = match step.op {
        FusedFn::Unary(u) => code.unary(u, arg(&step.args[0])),
        FusedFn::Binary(b) => code.binary(b, arg(&step.args[0]), arg(&step.args[1])),
        FusedFn::Cast => arg(&step.args[0]),
    };
    match step.dtype {
        DType::BF16 => cast(cast(v, Elem::BF16), Elem::F32),
        DType::F16 => cast(cast(v, Elem::F16), Elem::F32),
        DType::F32 | DType::U32 => v,
    }
}

fn group_pos(axis: Axis) -> Expr {
    Expr::new(
        ExprKind::Builtin(Builtin::GroupPos(Some(axis))),
        Ty::U32,
        SpanId::NONE,
    )
}

fn load(k: usize, index: Expr) -> Expr {
    Expr::new(
        ExprKind::Load {
            buf: BufRef::Param(ParamId(k as u32)),
            index: Box::new(index),
        },
        Ty::F32,
        SpanId::NONE,
    )
}

fn mul_u32(a: &Expr, c: usize) -> Expr {
    bin(BinaryOp::Mul, a.clone(), Expr::lit_u32(c as u32))
}

fn div_u32(a: Expr, c: usize) -> Expr {
    if c == 1 {
        a
    } else {
        bin(BinaryOp::Div, a, Expr::lit_u32(c as u32))
    }
}

/// `a % c`, left out when `a` (below `bound`) is already below `c`.
fn rem_u32(a: Expr, c: usize, bound: usize) -> Expr {
    if bound <= c {
        a
    } else {
        bin(BinaryOp::Rem, a, Expr::lit_u32(c as u32))
    }
}

fn stmt(kind: StmtKind) -> Stmt {
    Stmt {
        kind,
        span: SpanId::NONE,
    }
}
