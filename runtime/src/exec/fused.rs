//! Fused elementwise kernels ([`Op::Fused`]) on the CPU: compiled by the Cranelift backend
//! when the program is compiled, launched over the program's own slots.
//!
//! Each kernel is compiled once into a [`CompiledKernel`] the program keeps, and launched
//! over borrowed slices ([`SliceArg`]): the slots it reads and the values bound from outside
//! (parameters such as a bias) are read in place, its output slots written in place, with
//! no cache lookup and no copy. The backend spreads the grid's groups over the rayon pool
//! the program runs in.
//!
//! A group with column reductions writes each reduction's per-block partial results into
//! scratch buffers; [`run`] then combines them in block order ([`super::reduce::finish_columns`],
//! the executor's own order) into the reductions' output slots.

use vibee_dsl::graph::error::site_string;
use vibee_dsl::graph::fused::FusedOp;
use vibee_dsl::graph::{DType, Graph, GraphError, Op};
use vibee_dsl::kernel::{Grid, Kernel};

use crate::LaunchError;
use crate::cpu::{self, CompiledKernel, SliceArg};

/// Where a fused kernel's operand lives.
#[derive(Debug, Clone, Copy)]
pub(super) enum Operand<'a> {
    /// A value bound to a program input.
    Feed(&'a [f32]),
    /// A slot of the memory plan.
    Slot(usize),
}

/// The output nodes of every [`Op::Fused`] node (itself first, then its
/// [`Op::FusedOutput`] nodes by index) and of every [`Op::Call`] (itself); empty for other
/// nodes. Fails when a fused node
/// lacks a node for one of its outputs (a graph not made by the fusion pass).
pub(super) fn outputs_by_node(g: &Graph) -> Result<Vec<Vec<usize>>, GraphError> {
    let mut outs: Vec<Vec<usize>> = g
        .nodes
        .iter()
        .enumerate()
        .map(|(i, n)| match n.op {
            Op::Fused(_) | Op::Call(_) => vec![i],
            _ => Vec::new(),
        })
        .collect();
    for (i, n) in g.nodes.iter().enumerate() {
        if let (Op::FusedOutput { index, .. }, Some(f)) = (&n.op, n.inputs.first()) {
            let list = &mut outs[f.index()];
            if list.len() <= *index {
                list.resize(index + 1, usize::MAX);
            }
            list[*index] = i;
        }
    }
    for (i, n) in g.nodes.iter().enumerate() {
        if let Op::Fused(f) = &n.op
            && (outs[i].len() != f.output_count() || outs[i].contains(&usize::MAX))
        {
            return Err(GraphError::Shape {
                op: n.op.name(),
                site: site_string(n.site.as_ref()),
                shapes: vec![n.shape.clone()],
                reason: format!(
                    "needs one `fused_output` node for each of outputs 1..{}",
                    f.output_count()
                ),
            });
        }
    }
    Ok(outs)
}

/// Compiles `kernel` now, for every launch of the program to reuse.
pub(super) fn compile(kernel: &Kernel) -> Result<CompiledKernel, LaunchError> {
    cpu::compile(kernel, &[])
}

/// Runs `kernel` over `grid`, reading `operands`, writing its outputs into the slots
/// `outputs` (which no operand reads); with `group` (a fused group with reductions), the
/// last of `outputs` are its reductions', finished from the kernel's partial results.
pub(super) fn run(
    kernel: &CompiledKernel,
    grid: Grid,
    operands: &[Operand<'_>],
    outputs: &[usize],
    slots: &mut [Vec<f32>],
    group: Option<&FusedOp>,
) -> Result<(), LaunchError> {
    let Some((f, layout)) = group.and_then(|f| Some((f, f.columns()?))) else {
        return launch(kernel, grid, operands, outputs, slots, &mut []);
    };
    let (elementwise, reduced) = outputs.split_at(f.outputs.len().min(outputs.len()));
    let mut parts: Vec<Vec<f32>> = vec![vec![0.0; layout.blocks() * layout.columns]; reduced.len()];
    launch(kernel, grid, operands, elementwise, slots, &mut parts)?;
    for ((r, part), &s) in f.reductions.iter().zip(&parts).zip(reduced) {
        let out = &mut slots[s][..layout.columns];
        super::reduce::finish_columns(r.op, part, layout.rows, out);
        if matches!(r.dtype, DType::BF16 | DType::F16) {
            super::elementwise::round_to(r.dtype, out);
        }
    }
    Ok(())
}

/// Launches `kernel` with `operands`, the slots `outputs`, then `scratch` buffers.
fn launch(
    kernel: &CompiledKernel,
    grid: Grid,
    operands: &[Operand<'_>],
    outputs: &[usize],
    slots: &mut [Vec<f32>],
    scratch: &mut [Vec<f32>],
) -> Result<(), LaunchError> {
    // The outputs leave their slots for the launch, so the operands can borrow the rest.
    let mut outs: Vec<Vec<f32>> = outputs
        .iter()
        .map(|&s| std::mem::take(&mut slots[s]))
        .collect();
    let result = {
        let mut args: Vec<SliceArg<'_>> = operands
            .iter()
            .map(|op| match *op {
                Operand::Slot(s) => SliceArg::read(&slots[s][..]),
                Operand::Feed(x) => SliceArg::read(x),
            })
            .collect();
        args.extend(outs.iter_mut().map(|o| SliceArg::write(&mut o[..])));
        args.extend(scratch.iter_mut().map(|o| SliceArg::write(&mut o[..])));
        kernel.launch_slices(grid, &args)
    };
    // Hand every slot back whatever happened.
    for (&s, out) in outputs.iter().zip(outs) {
        slots[s] = out;
    }
    result
}
