//! One node of a [`DeviceProgram`](super::DeviceProgram): what it needs prepared at compile
//! time (offset tables, scratch), and the kernel launches that compute it.

// Generated launchers take one argument per kernel parameter, plus the device and grid.
#![allow(clippy::too_many_arguments)]

use vibee_dsl::graph::error::site_string;
use vibee_dsl::graph::layout::{dropout_key, dropout_threshold, rope_tables};
use vibee_dsl::graph::{BinaryOp, DType, Graph, Node, Op, ReduceOp, UnaryOp};
use vibee_runtime::exec::{ExecError, Feed};
use vibee_runtime::{ArgRef, Buffer, Device, Grid, KernelSource, LaunchError};

use crate::kernel_templates::{buffer, buffer_mut};

use super::elementwise::{
    binary, dropout, embed, fill, gather_at, matmul, place, reduce, round_bf16, round_f16,
    scatter_add, unary,
};
use super::rows::{
    cross_entropy_grad_rows, cross_entropy_rows, log_softmax_rows, mean_into, norm_grad_rows,
    norm_rows, rope_rows, softmax_grad_rows, softmax_rows,
};
use super::{DVal, DeviceProgramError, tables};

/// Units per group.
const GROUP: u32 = 256;

/// What a node keeps from compile time.
#[derive(Debug, Default)]
pub(super) struct Aux {
    /// Offset tables: one for movements, one per broadcast operand of a binary op (`x`,
    /// `y`), or the bases and offsets of a reduction.
    tables: Vec<Option<Buffer<u32>>>,
    /// Per-row losses of a cross-entropy.
    pub(super) scratch: Option<Buffer<f32>>,
    /// Float tables: a rotary embedding's cosines and sines.
    floats: Vec<Buffer<f32>>,
    /// The registered kernel whose IR is a call's kernel (GPU devices launch its CubeCL
    /// form; the CPU backend compiles the call's own IR).
    source: Option<&'static KernelSource>,
}

/// A grid of groups covering `n` units (the kernels stride over the rest).
fn cover(device: &Device, n: usize) -> Grid {
    let groups = n
        .div_ceil(GROUP as usize)
        .clamp(1, device.max_groups_per_axis() as usize);
    Grid::linear(groups as u32, GROUP)
}

fn upload(device: &Device, table: Vec<u32>) -> Result<Option<Buffer<u32>>, LaunchError> {
    Buffer::from_slice(device, &table).map(Some)
}

/// The tables and scratch node `i` needs; refuses the ops with no device kernel. Calls
/// find their kernel among `kernels` (any kernel on the CPU backend).
pub(super) fn prepare_node(
    device: &Device,
    g: &Graph,
    i: usize,
    kernels: &[&'static KernelSource],
) -> Result<Aux, DeviceProgramError> {
    let node = &g.nodes[i];
    let shape_of = |k: usize| g.shape(node.inputs[k]);
    let mut aux = Aux::default();
    match &node.op {
        Op::Binary(_) => {
            for k in 0..2 {
                let full = shape_of(k).iter().product::<usize>() == node.numel();
                let table = (!full).then(|| tables::broadcast(shape_of(k), &node.shape));
                aux.tables
                    .push(table.map(|t| upload(device, t)).transpose()?.flatten());
            }
        }
        Op::Broadcast => {
            aux.tables
                .push(upload(device, tables::broadcast(shape_of(0), &node.shape))?);
        }
        Op::Permute { perm } => {
            let t = tables::permute(shape_of(0), perm, &node.shape);
            aux.tables.push(upload(device, t)?);
        }
        Op::Slice { axis, start, .. } => {
            let t = tables::slice(shape_of(0), *axis, *start, &node.shape);
            aux.tables.push(upload(device, t)?);
        }
        Op::Reduce { axes, .. } => {
            let (base, offs) = tables::reduce(shape_of(0), axes);
            aux.tables.push(upload(device, base)?);
            aux.tables.push(upload(device, offs)?);
        }
        Op::CrossEntropy => {
            let rows = shape_of(0).iter().rev().skip(1).product::<usize>();
            aux.scratch = Some(Buffer::zeros(device, rows.max(1))?);
        }
        Op::Rope { theta, inverse } => {
            let s = shape_of(0);
            let (cos, sin) = rope_tables(s[s.len() - 2], s[s.len() - 1], *theta, *inverse);
            for table in [cos, sin] {
                let table: Vec<f32> = table.into_iter().map(|v| v as f32).collect();
                aux.floats.push(Buffer::from_slice(device, &table)?);
            }
        }
        Op::Fused(_) | Op::FusedOutput { .. } => {
            return Err(DeviceProgramError::Unsupported {
                node: i,
                op: node.op.name(),
                reason: "fused kernels run on the CPU executor; compile the graph unfused",
            });
        }
        Op::Call(c) => {
            aux.source = kernels.iter().copied().find(|s| (s.ir)() == &c.kernel);
            if aux.source.is_none() && !matches!(device, Device::Cpu) {
                return Err(DeviceProgramError::Unsupported {
                    node: i,
                    op: node.op.name(),
                    reason: "no registered kernel computes this call: pass the kernel module's `SOURCE` (and `vjp::SOURCE` for gradients) to `DeviceProgram::compile_with_kernels`; GPU devices run calls of one-input functions on operands of the output's shape (other calls need kernels the macro does not emit)",
                });
            }
        }
        _ => {}
    }
    Ok(aux)
}

/// Checks every bound index (embedding ids, cross-entropy targets) against the rows it
/// selects from, as the CPU executor does; the device would read zeros instead.
pub(super) fn check_indices(
    g: &Graph,
    input_of_node: &[Option<usize>],
    feeds: &[Feed<'_>],
) -> Result<(), ExecError> {
    for node in &g.nodes {
        let (ids_at, rows) = match node.op {
            Op::Gather => (1, g.shape(node.inputs[0])[0]),
            Op::ScatterAdd { rows } => (0, rows),
            Op::CrossEntropy | Op::CrossEntropyGrad => {
                (1, *g.shape(node.inputs[0]).last().unwrap_or(&1))
            }
            _ => continue,
        };
        let mut id = node.inputs[ids_at];
        while matches!(g.node(id).op, Op::Reshape) {
            id = g.node(id).inputs[0];
        }
        let Some(Feed::U32(ids)) = input_of_node[id.index()].map(|k| feeds[k]) else {
            continue;
        };
        if let Some(&index) = ids.iter().find(|&&v| v as usize >= rows) {
            return Err(ExecError::IndexOutOfRange {
                op: node.op.name(),
                site: site_string(node.site.as_ref()),
                index,
                rows,
            });
        }
    }
    Ok(())
}

/// Everything a launch reads besides its operands.
pub(super) struct Ctx<'a> {
    pub(super) device: &'a Device,
    pub(super) graph: &'a Graph,
    pub(super) node: &'a Node,
    pub(super) aux: &'a Aux,
    pub(super) no_table: &'a Buffer<u32>,
    /// The step number (it seeds dropout masks).
    pub(super) step: u64,
}

/// A float operand.
fn f<'a>(v: DVal<'a>) -> &'a Buffer<f32> {
    match v {
        DVal::F(b) => b,
        DVal::U(_) => unreachable!("the graph's dtype inference gives this operand f32"),
    }
}

/// An index operand.
fn u<'a>(v: DVal<'a>) -> &'a Buffer<u32> {
    match v {
        DVal::U(b) => b,
        DVal::F(_) => unreachable!("the graph's dtype inference gives this operand u32"),
    }
}

impl Ctx<'_> {
    fn shape_of(&self, k: usize) -> &[usize] {
        self.graph.shape(self.node.inputs[k])
    }

    fn table(&self, k: usize) -> &Buffer<u32> {
        self.aux.tables[k].as_ref().unwrap_or(self.no_table)
    }

    /// The kernels computing the node into `out` (with its `scratch`, if it has one), then
    /// rounding for bf16/f16 results.
    pub(super) fn launch(
        &self,
        ins: &[DVal<'_>],
        out: &mut Buffer<f32>,
        scratch: Option<&mut Buffer<f32>>,
    ) -> Result<(), LaunchError> {
        let (dev, n) = (self.device, self.node.numel());
        let grid = cover(dev, n);
        let nu = n as u32;
        match &self.node.op {
            Op::Input { .. } | Op::Reshape => {}
            Op::Constant { value } => fill::launch(dev, grid, out, *value as f32, nu)?,
            Op::Unary(op) => {
                let (code, c) = unary_code(*op);
                unary::launch(dev, grid, f(ins[0]), out, code, c, nu)?;
            }
            Op::Binary(op) => {
                let (x, y) = (f(ins[0]), f(ins[1]));
                let (xt, yt) = (self.table(0), self.table(1));
                let flags = (
                    u32::from(self.aux.tables[0].is_some()),
                    u32::from(self.aux.tables[1].is_some()),
                );
                let code = binary_code(*op);
                binary::launch(dev, grid, x, y, xt, yt, out, code, flags.0, flags.1, nu)?;
            }
            Op::Broadcast | Op::Permute { .. } | Op::Slice { .. } => {
                gather_at::launch(dev, grid, f(ins[0]), self.table(0), out, nu)?;
            }
            Op::Cast { .. } => self.copy(f(ins[0]), out, n)?,
            Op::Call(c) => {
                let mut args: Vec<ArgRef<'_>> = ins.iter().map(|&v| buffer(f(v))).collect();
                args.push(buffer_mut(out));
                match self.aux.source {
                    Some(source) => vibee_runtime::launch(dev, source, c.grid(), &mut args)?,
                    None => vibee_runtime::cpu::launch(&c.kernel, c.grid(), &mut args)?,
                }
            }
            Op::Dropout { p, seed } => {
                let key = dropout_key(*seed, self.step);
                let t = dropout_threshold(*p);
                let halves = ((key >> 32) as u32, key as u32, (t >> 21) as u32);
                let t_lo = (t & ((1 << 21) - 1)) as u32;
                let scale = (1.0 / (1.0 - p)) as f32;
                let x = f(ins[0]);
                dropout::launch(
                    dev, grid, x, out, halves.0, halves.1, halves.2, t_lo, scale, nu,
                )?;
            }
            Op::Pad { axis, before, .. } => {
                fill::launch(dev, grid, out, 0.0, nu)?;
                self.place(f(ins[0]), self.shape_of(0), *axis, *before, out)?;
            }
            Op::Concat { axis } => {
                let mut at = 0;
                for (k, v) in ins.iter().enumerate() {
                    let shape = self.shape_of(k);
                    self.place(f(*v), shape, *axis, at, out)?;
                    at += shape[*axis];
                }
            }
            Op::MatMul { trans_a, trans_b } => self.matmul(ins, out, *trans_a, *trans_b)?,
            Op::Reduce { op, .. } => {
                let code = match op {
                    ReduceOp::Sum => 0,
                    ReduceOp::Mean => 1,
                    ReduceOp::Max => 2,
                };
                let (base, offs) = (self.table(0), self.table(1));
                reduce::launch(dev, grid, f(ins[0]), base, offs, out, code, nu)?;
            }
            Op::Gather => {
                let d = self.shape_of(0)[1] as u32;
                embed::launch(dev, grid, f(ins[0]), u(ins[1]), out, d, nu)?;
            }
            Op::ScatterAdd { .. } => {
                let d = *self.node.shape.last().unwrap_or(&1) as u32;
                scatter_add::launch(dev, grid, u(ins[0]), f(ins[1]), out, d, nu)?;
            }
            _ => self.rows(ins, out, scratch)?,
        }
        if matches!(self.node.dtype, DType::BF16 | DType::F16) {
            self.round(out)?;
        }
        Ok(())
    }

    /// Rounds a bf16/f16 result to its type on the device; a device without the type's
    /// arithmetic (lavapipe has no bf16) rounds through the host.
    fn round(&self, out: &mut Buffer<f32>) -> Result<(), LaunchError> {
        let (dev, n) = (self.device, self.node.numel());
        let (grid, nu) = (cover(dev, n), n as u32);
        let dtype = self.node.dtype;
        let on_device = match dtype {
            DType::BF16 => round_bf16::launch(dev, grid, out, nu),
            _ => round_f16::launch(dev, grid, out, nu),
        };
        match on_device {
            Err(LaunchError::Unsupported { .. }) => {
                let mut host = out.to_vec()?;
                host.iter_mut().for_each(|v| *v = dtype.round(*v));
                *out = Buffer::from_slice(self.device, &host)?;
                Ok(())
            }
            other => other,
        }
    }

    fn copy(&self, x: &Buffer<f32>, out: &mut Buffer<f32>, n: usize) -> Result<(), LaunchError> {
        let (dev, nu) = (self.device, n as u32);
        place::launch(dev, cover(dev, n), x, out, nu, nu, 1, 0, nu)
    }

    /// `x` of `shape` written into the output at `offset` along `axis`.
    fn place(
        &self,
        x: &Buffer<f32>,
        shape: &[usize],
        axis: usize,
        offset: usize,
        out: &mut Buffer<f32>,
    ) -> Result<(), LaunchError> {
        let inner: usize = shape[axis + 1..].iter().product();
        let n: usize = shape.iter().product();
        let (len, out_len) = (shape[axis] as u32, self.node.shape[axis] as u32);
        let dev = self.device;
        let grid = cover(dev, n);
        place::launch(
            dev,
            grid,
            x,
            out,
            len,
            out_len,
            inner as u32,
            offset as u32,
            n as u32,
        )
    }

    fn matmul(
        &self,
        ins: &[DVal<'_>],
        out: &mut Buffer<f32>,
        trans_a: bool,
        trans_b: bool,
    ) -> Result<(), LaunchError> {
        let (sa, sb, so) = (self.shape_of(0), self.shape_of(1), &self.node.shape);
        let r = so.len();
        let (m, n) = (so[r - 2], so[r - 1]);
        // `k` is `a`'s last axis, or its second-to-last when `a` is transposed.
        let k = sa[sa.len() - 1 - usize::from(trans_a)];
        let batched = |s: &[usize]| s.len() > 2;
        let a_batch = if batched(sa) { m * k } else { 0 };
        let b_batch = if batched(sb) { k * n } else { 0 };
        let count = self.node.numel();
        let dev = self.device;
        matmul::launch(
            dev,
            cover(dev, count),
            f(ins[0]),
            f(ins[1]),
            out,
            m as u32,
            n as u32,
            k as u32,
            a_batch as u32,
            b_batch as u32,
            u32::from(trans_a),
            u32::from(trans_b),
            count as u32,
        )
    }

    /// The row ops: one unit per row of the last axis.
    fn rows(
        &self,
        ins: &[DVal<'_>],
        out: &mut Buffer<f32>,
        scratch: Option<&mut Buffer<f32>>,
    ) -> Result<(), LaunchError> {
        let dev = self.device;
        let x = f(ins[0]);
        let d = *self.shape_of(0).last().unwrap_or(&1);
        let rows = self.shape_of(0).iter().product::<usize>() / d.max(1);
        let (grid, du, ru) = (cover(dev, rows), d as u32, rows as u32);
        match &self.node.op {
            Op::Softmax => softmax_rows::launch(dev, grid, x, out, du, 1.0, 0, ru),
            Op::CausalSoftmax { scale } => {
                softmax_rows::launch(dev, grid, x, out, du, *scale as f32, 1, ru)
            }
            Op::LogSoftmax => log_softmax_rows::launch(dev, grid, x, out, du, ru),
            Op::SoftmaxGrad { scale } => {
                softmax_grad_rows::launch(dev, grid, x, f(ins[1]), out, du, *scale as f32, 0, ru)
            }
            Op::LogSoftmaxGrad => {
                softmax_grad_rows::launch(dev, grid, x, f(ins[1]), out, du, 1.0, 1, ru)
            }
            Op::LayerNorm { eps } => norm_rows::launch(dev, grid, x, out, du, *eps as f32, 0, ru),
            Op::RmsNorm { eps } => norm_rows::launch(dev, grid, x, out, du, *eps as f32, 1, ru),
            Op::LayerNormGrad { eps } => {
                norm_grad_rows::launch(dev, grid, x, f(ins[1]), out, du, *eps as f32, 0, ru)
            }
            Op::RmsNormGrad { eps } => {
                norm_grad_rows::launch(dev, grid, x, f(ins[1]), out, du, *eps as f32, 1, ru)
            }
            Op::CrossEntropy => {
                let losses = scratch.expect("prepare_node gives a cross-entropy its scratch");
                cross_entropy_rows::launch(dev, grid, x, u(ins[1]), losses, du)?;
                mean_into::launch(dev, Grid::linear(1, 1), losses, out)
            }
            Op::Rope { .. } => {
                let t = self.shape_of(0)[self.shape_of(0).len() - 2] as u32;
                let (cos, sin) = (&self.aux.floats[0], &self.aux.floats[1]);
                rope_rows::launch(dev, grid, x, cos, sin, out, t, du, ru)
            }
            Op::CrossEntropyGrad => {
                let (t, dl) = (u(ins[1]), f(ins[2]));
                cross_entropy_grad_rows::launch(dev, grid, x, t, dl, out, du, ru)
            }
            _ => unreachable!("every other op is dispatched above"),
        }
    }
}

/// The `op` code and constant of [`unary`].
fn unary_code(op: UnaryOp) -> (u32, f32) {
    match op {
        UnaryOp::Neg => (0, 0.0),
        UnaryOp::Exp => (1, 0.0),
        UnaryOp::Log => (2, 0.0),
        UnaryOp::Sqrt => (3, 0.0),
        UnaryOp::Tanh => (4, 0.0),
        UnaryOp::Sigmoid => (5, 0.0),
        UnaryOp::Relu => (6, 0.0),
        UnaryOp::Gelu => (7, 0.0),
        UnaryOp::Square => (8, 0.0),
        UnaryOp::Recip => (9, 0.0),
        UnaryOp::Scale(c) => (10, c as f32),
        UnaryOp::AddScalar(c) => (11, c as f32),
    }
}

/// The `op` code of [`binary`].
fn binary_code(op: BinaryOp) -> u32 {
    match op {
        BinaryOp::Add => 0,
        BinaryOp::Sub => 1,
        BinaryOp::Mul => 2,
        BinaryOp::Div => 3,
        BinaryOp::Maximum => 4,
        BinaryOp::Equal => 5,
        BinaryOp::GeluGrad => 6,
        BinaryOp::ReluGrad => 7,
    }
}
