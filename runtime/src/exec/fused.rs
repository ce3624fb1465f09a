//! Fused elementwise kernels ([`Op::Fused`]) on the CPU: compiled by the Cranelift backend
//! when the program is compiled, launched over the program's own slots.
//!
//! The backend takes owned host buffers, so a launch moves the slots it touches into
//! [`RawBuffer`]s and back (no copy); values bound from outside (parameters such as a bias)
//! are copied into a scratch buffer, which for the small operands elementwise ops read
//! costs far less than the pass over memory the fusion saves. The backend spreads the
//! grid's groups over the rayon pool the program runs in.

use vibee_dsl::graph::error::site_string;
use vibee_dsl::graph::{Graph, GraphError, Op};
use vibee_dsl::kernel::{Grid, HostBuffer, Kernel};

use crate::buffer::RawBuffer;
use crate::{ArgRef, LaunchError};

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
            && (outs[i].len() != f.outputs.len() || outs[i].contains(&usize::MAX))
        {
            return Err(GraphError::Shape {
                op: n.op.name(),
                site: site_string(n.site.as_ref()),
                shapes: vec![n.shape.clone()],
                reason: format!(
                    "needs one `fused_output` node for each of outputs 1..{}",
                    f.outputs.len()
                ),
            });
        }
    }
    Ok(outs)
}

/// Compiles `kernel` (of `inputs` read buffers, then `outputs` written ones) now (the
/// backend caches it), by a launch over empty buffers that reads zeros and drops every
/// store.
pub(super) fn compile(kernel: &Kernel, inputs: usize, outputs: usize) -> Result<(), LaunchError> {
    let ins: Vec<RawBuffer> = (0..inputs).map(|_| empty()).collect();
    let mut outs: Vec<RawBuffer> = (0..outputs).map(|_| empty()).collect();
    let mut args = arguments(&ins, &[], &mut outs);
    crate::cpu::launch(kernel, Grid::linear(1, 4), &mut args)
}

/// Runs `kernel` over `grid`, reading `operands`, writing its outputs into the slots
/// `outputs`.
pub(super) fn run(
    kernel: &Kernel,
    grid: Grid,
    operands: &[Operand<'_>],
    outputs: &[usize],
    slots: &mut [Vec<f32>],
) -> Result<(), LaunchError> {
    // Distinct input buffers (two operands may share a slot) and each operand's buffer.
    let mut in_slots: Vec<Option<usize>> = Vec::new();
    let mut in_bufs: Vec<RawBuffer> = Vec::new();
    let mut which: Vec<usize> = Vec::with_capacity(operands.len());
    for op in operands {
        let shared = match *op {
            Operand::Slot(s) => in_slots.iter().position(|&slot| slot == Some(s)),
            Operand::Feed(_) => None,
        };
        which.push(shared.unwrap_or_else(|| {
            let (slot, buf) = match *op {
                Operand::Slot(s) => (Some(s), host(std::mem::take(&mut slots[s]))),
                Operand::Feed(x) => (None, host(x.to_vec())),
            };
            in_slots.push(slot);
            in_bufs.push(buf);
            in_bufs.len() - 1
        }));
    }
    let mut outs: Vec<RawBuffer> = outputs
        .iter()
        .map(|&s| host(std::mem::take(&mut slots[s])))
        .collect();
    let result = {
        let mut args = arguments(&in_bufs, &which, &mut outs);
        crate::cpu::launch(kernel, grid, &mut args)
    };
    // Hand every slot back whatever happened.
    for (slot, buf) in in_slots.iter().zip(in_bufs) {
        if let Some(s) = *slot {
            slots[s] = into_vec(buf);
        }
    }
    for (&s, buf) in outputs.iter().zip(outs) {
        slots[s] = into_vec(buf);
    }
    result
}

/// The launch arguments: operand `k` reads `ins[which[k]]` (`ins[k]` when `which` is
/// empty), then every output.
fn arguments<'a>(
    ins: &'a [RawBuffer],
    which: &[usize],
    outs: &'a mut [RawBuffer],
) -> Vec<ArgRef<'a>> {
    let reads: Vec<ArgRef<'a>> = if which.is_empty() {
        ins.iter().map(ArgRef::Buffer).collect()
    } else {
        which.iter().map(|&w| ArgRef::Buffer(&ins[w])).collect()
    };
    reads
        .into_iter()
        .chain(outs.iter_mut().map(ArgRef::BufferMut))
        .collect()
}

fn host(v: Vec<f32>) -> RawBuffer {
    RawBuffer::Host(HostBuffer::F32(v))
}

fn empty() -> RawBuffer {
    host(Vec::new())
}

/// The f32 values of a buffer made by [`host`].
fn into_vec(buf: RawBuffer) -> Vec<f32> {
    match buf {
        RawBuffer::Host(HostBuffer::F32(v)) => v,
        _ => Vec::new(),
    }
}
