//! Fused elementwise groups: what [`super::passes::fuse_elementwise`] puts in place of a
//! connected set of elementwise nodes of one shape.
//!
//! A [`FusedOp`] keeps the group twice: as [`FusedStep`]s (the member ops in graph order,
//! which the f64 reference evaluator and the pretty printer read) and as one kernel-IR
//! [`Kernel`] with one unit per element (what a backend compiles). The kernel repeats the
//! executor's f32 arithmetic operation for operation ([`kernel`]), so a backend that uses
//! the same scalar functions computes the same bits as the unfused ops.
//!
//! A group may also end in column reductions ([`FusedReduction`]: sums, means or maxima of
//! one of its values, or of an operand, over the leading axes, as a bias gradient reduces
//! over rows): its kernel then accumulates those values as it computes them ([`reduce`])
//! instead of storing them for a separate reduction to read back.
//!
//! In the graph, an [`Op::Fused`](super::Op::Fused) node is the group's first output; every
//! further output (a member read outside the group, such as a forward value the backward
//! reads, then each reduction) is an [`Op::FusedOutput`](super::Op::FusedOutput) node right
//! after it.

pub mod kernel;
pub mod reduce;
mod scalar;

pub use scalar::{GELU_CUBIC, SQRT_2_OVER_PI, TANH_CLAMP, TANH_P, TANH_Q};

use serde::{Deserialize, Serialize};

use super::ir::{BinaryOp, DType, ReduceOp, UnaryOp};
use super::reference;
use crate::kernel::{Grid, Kernel};

/// How element `i` of a fused group reads one operand: element `(i / stride) % len`.
///
/// This covers a same-shape operand (`stride` 1, `len` = the element count), one repeated
/// along leading axes (a bias `[n]` against `[m, n]`: `i % n`), one repeated along trailing
/// axes (`[m, 1]` against `[m, n]`: `(i / n) % m`) and a single element (`len` 1): any
/// operand whose non-broadcast axes are one contiguous run of the output's axes.
///
/// ```
/// use vibee_dsl::graph::fused::OperandMap;
/// let bias = OperandMap::between(&[4], &[3, 4]).unwrap();
/// assert_eq!((bias.index(6), bias.stride, bias.len), (2, 1, 4));
/// let column = OperandMap::between(&[3, 1], &[3, 4]).unwrap();
/// assert_eq!(column.index(6), 1);
/// // Broadcast along an axis between two kept ones: not one run, so not fusable.
/// assert!(OperandMap::between(&[2, 1, 4], &[2, 3, 4]).is_none());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct OperandMap {
    /// Output elements per operand element along the run (the product of the output axes
    /// after it).
    pub stride: usize,
    /// Elements of the operand.
    pub len: usize,
}

impl OperandMap {
    /// The map of an operand of shape `operand` broadcast (numpy rules) to `out`, or `None`
    /// when it does not broadcast to `out` or its kept axes are not one contiguous run.
    pub fn between(operand: &[usize], out: &[usize]) -> Option<Self> {
        if operand.len() > out.len() {
            return None;
        }
        let pad = out.len() - operand.len();
        let dim = |k: usize| if k < pad { 1 } else { operand[k - pad] };
        // The kept axes `a..b`; `broken` once a broadcast axis follows them.
        let mut run: Option<(usize, usize)> = None;
        let mut broken = false;
        for (k, &d) in out.iter().enumerate() {
            match (dim(k), d) {
                (1, 1) => {}
                (o, d) if o == d => {
                    if broken {
                        return None;
                    }
                    run = Some((run.map_or(k, |(a, _)| a), k + 1));
                }
                (1, _) => broken = run.is_some(),
                _ => return None,
            }
        }
        Some(match run {
            None => Self { stride: 1, len: 1 },
            Some((a, b)) => Self {
                stride: out[b..].iter().product(),
                len: out[a..b].iter().product(),
            },
        })
    }

    /// The operand element that output element `i` reads.
    pub fn index(&self, i: usize) -> usize {
        (i / self.stride.max(1)) % self.len.max(1)
    }
}

/// The function one step applies.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum FusedFn {
    /// An [`Op::Unary`](super::Op::Unary).
    Unary(UnaryOp),
    /// An [`Op::Binary`](super::Op::Binary).
    Binary(BinaryOp),
    /// An [`Op::Cast`](super::Op::Cast) to the step's dtype.
    Cast,
}

/// What a step reads.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum FusedArg {
    /// Operand `k` of the fused node, through its [`OperandMap`].
    Operand(usize),
    /// The value of an earlier step.
    Step(usize),
    /// A [`Op::Constant`](super::Op::Constant) node's value, inlined, with its dtype.
    Constant {
        /// The value.
        value: f64,
        /// The constant node's dtype (reduced precision rounds it).
        dtype: DType,
    },
}

/// One member op of the group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FusedStep {
    /// What it computes.
    pub op: FusedFn,
    /// Its arguments, in the op's order.
    pub args: Vec<FusedArg>,
    /// Its dtype (results of `BF16`/`F16` steps are rounded).
    pub dtype: DType,
}

/// A reduction the group's kernel accumulates: `op` of the value `arg` over the leading
/// `rows` of the group's `rows × columns` elements, one result per column.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FusedReduction {
    /// What it reduces (a step, or a full-size operand).
    pub arg: FusedArg,
    /// Sum, mean or maximum.
    pub op: ReduceOp,
    /// The rows reduced (the product of the reduced leading axes).
    pub rows: usize,
    /// Its dtype (a reduced-precision result is rounded once, at the end).
    pub dtype: DType,
}

/// A fused elementwise group: its operands, its steps, its outputs and its kernel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FusedOp {
    /// How each operand of the node is read.
    pub operands: Vec<OperandMap>,
    /// Member ops in graph order; each reads operands and earlier steps only.
    pub steps: Vec<FusedStep>,
    /// The step behind each elementwise output; output 0 is the fused node's own value.
    pub outputs: Vec<usize>,
    /// Column reductions, outputs `outputs.len()..` in order; all over the same rows.
    #[serde(default)]
    pub reductions: Vec<FusedReduction>,
    /// Elements computed.
    pub numel: usize,
    /// Row length of the kernel's `rows × width` layout ([`kernel::row_width`]).
    pub width: usize,
    /// One unit per element: reads the operands (`in0`, …), writes the outputs (`out0`,
    /// `out1`, …); launched over [`FusedOp::grid`]. With reductions, one unit per four
    /// columns and block of rows instead, also writing each reduction's partial results
    /// (`part0`, …; see [`reduce`]).
    pub kernel: Kernel,
}

impl FusedOp {
    /// A group over `operands` computing `steps` on a tensor of `shape`, with its kernel
    /// (called `name`) generated from the steps.
    pub fn new(
        name: &str,
        operands: Vec<OperandMap>,
        steps: Vec<FusedStep>,
        outputs: Vec<usize>,
        shape: &[usize],
    ) -> Self {
        Self::with_reductions(name, operands, steps, outputs, Vec::new(), shape)
    }

    /// [`FusedOp::new`] whose kernel also accumulates `reductions` (all over the same
    /// leading rows of `shape`, whose remaining elements per row [`reduce::lowers`] must
    /// accept).
    pub fn with_reductions(
        name: &str,
        operands: Vec<OperandMap>,
        steps: Vec<FusedStep>,
        outputs: Vec<usize>,
        reductions: Vec<FusedReduction>,
        shape: &[usize],
    ) -> Self {
        let numel = shape.iter().product();
        let width = kernel::row_width(&operands, shape);
        let kernel = match reductions.first() {
            None => kernel::lower(name, &operands, &steps, &outputs, numel, width),
            Some(r) => {
                let layout = reduce::Columns::new(r.rows, numel / r.rows.max(1));
                reduce::lower(name, &operands, &steps, &outputs, &reductions, layout)
            }
        };
        Self {
            operands,
            steps,
            outputs,
            reductions,
            numel,
            width,
            kernel,
        }
    }

    /// The grid that runs [`FusedOp::kernel`] over every element.
    pub fn grid(&self) -> Grid {
        match self.columns() {
            Some(layout) => layout.grid(),
            None => kernel::grid(self.numel, self.width),
        }
    }

    /// The `rows × columns` layout of the reductions (`None` without reductions).
    pub fn columns(&self) -> Option<reduce::Columns> {
        let r = self.reductions.first()?;
        Some(reduce::Columns::new(r.rows, self.numel / r.rows.max(1)))
    }

    /// Outputs: the elementwise ones, then one per reduction.
    pub fn output_count(&self) -> usize {
        self.outputs.len() + self.reductions.len()
    }

    /// Elements of output `k`: the group's for an elementwise output, a reduction's columns.
    pub fn output_len(&self, k: usize) -> Option<usize> {
        if k < self.outputs.len() {
            return Some(self.numel);
        }
        self.reductions.get(k - self.outputs.len())?;
        Some(self.columns()?.columns)
    }

    /// The dtype of output `k`.
    pub fn output_dtype(&self, k: usize) -> Option<DType> {
        match self.outputs.get(k) {
            Some(&s) => Some(self.steps.get(s)?.dtype),
            None => Some(self.reductions.get(k - self.outputs.len())?.dtype),
        }
    }

    /// Every output over `numel` elements in f64, as the reference evaluator computes the
    /// unfused ops (reduced-precision steps rounded through f32).
    pub fn evaluate(&self, operands: &[&[f64]], numel: usize) -> Vec<Vec<f64>> {
        let mut vals: Vec<Vec<f64>> = Vec::with_capacity(self.steps.len());
        for step in &self.steps {
            let arg = |a: &FusedArg, i: usize| match *a {
                FusedArg::Operand(k) => operands[k][self.operands[k].index(i)],
                FusedArg::Step(s) => vals[s][i],
                FusedArg::Constant { value, dtype } => round(dtype, value),
            };
            let v: Vec<f64> = (0..numel)
                .map(|i| {
                    let x = match step.op {
                        FusedFn::Unary(u) => reference::unary(u, arg(&step.args[0], i)),
                        FusedFn::Binary(b) => {
                            reference::binary(b, arg(&step.args[0], i), arg(&step.args[1], i))
                        }
                        FusedFn::Cast => arg(&step.args[0], i),
                    };
                    round(step.dtype, x)
                })
                .collect();
            vals.push(v);
        }
        let mut outs: Vec<Vec<f64>> = self.outputs.iter().map(|&s| vals[s].clone()).collect();
        for r in &self.reductions {
            let value: Vec<f64> = match r.arg {
                FusedArg::Step(s) => vals[s].clone(),
                FusedArg::Operand(k) => (0..numel)
                    .map(|i| operands[k][self.operands[k].index(i)])
                    .collect(),
                FusedArg::Constant { value, dtype } => vec![round(dtype, value); numel],
            };
            outs.push(reduce::evaluate(r, &value));
        }
        outs
    }

    /// One line per step (`$1 = gelu($0)`; `#k` is operand `k`) and the outputs.
    pub fn describe(&self) -> String {
        let arg = |a: &FusedArg| match *a {
            FusedArg::Operand(k) => format!("#{k}"),
            FusedArg::Step(s) => format!("${s}"),
            FusedArg::Constant { value, .. } => format!("{value}"),
        };
        let mut parts: Vec<String> = self
            .steps
            .iter()
            .enumerate()
            .map(|(s, step)| {
                let name = match step.op {
                    FusedFn::Unary(u) => format!("{u:?}"),
                    FusedFn::Binary(b) => format!("{b:?}"),
                    FusedFn::Cast => format!("Cast {:?}", step.dtype),
                };
                let args: Vec<String> = step.args.iter().map(arg).collect();
                format!("${s} = {name}({})", args.join(", "))
            })
            .collect();
        let mut outs: Vec<String> = self.outputs.iter().map(|s| format!("${s}")).collect();
        outs.extend(
            self.reductions
                .iter()
                .map(|r| format!("{:?}({}) over {} rows", r.op, arg(&r.arg), r.rows)),
        );
        parts.push(format!("-> {}", outs.join(", ")));
        parts.join("; ")
    }
}

/// The reference's rounding of a value of `dtype` (f32 values keep f64 precision).
pub(crate) fn round(dtype: DType, v: f64) -> f64 {
    match dtype {
        DType::BF16 | DType::F16 => f64::from(dtype.round(v as f32)),
        DType::F32 | DType::U32 => v,
    }
}
