//! The graph IR on any vibee device: [`DeviceProgram`] runs the same optimised graph as the
//! CPU executor ([`Program`](vibee_runtime::exec::Program)) — same passes, same memory plan
//! — but every node is a kernel written in vibee's kernel DSL, launched on a
//! [`Device`]: the Cranelift-compiled CPU backend or CubeCL (wgpu, CUDA).
//!
//! The kernels are the simple, deterministic ones: one unit per output element for
//! elementwise ops and products, one unit per row for the row ops (softmax, norms,
//! cross-entropy), each summing in the CPU executor's order. Index patterns that depend on
//! shapes (broadcasts, permutations, slices, reductions) are `u32` offset tables built at
//! compile time. Results match the CPU executor within `f32` rounding of the transcendental
//! functions (the CPU executor's fast `exp`/`tanh` against the device's own), measured in
//! `tests/device_program.rs`. Not yet here: tiled products and fused kernels (speed), and
//! dropout with `p > 0` (its counter-based hash needs 64-bit integers, which the kernel
//! language lacks) — a graph with it is refused at compile time.
//!
//! ```
//! use vibee::dsl::graph::{Graph, DType, InputRole, UnaryOp};
//! use vibee::program::DeviceProgram;
//! use vibee::runtime::exec::Feed;
//! use vibee::prelude::*;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let mut g = Graph::new();
//! let x = g.input("x", &[2, 3], DType::F32, InputRole::Data)?;
//! let y = g.unary(UnaryOp::Exp, x)?;
//! g.outputs.push(y);
//! let mut p = DeviceProgram::compile(&Device::Cpu, &g)?;
//! p.run(&[Feed::F32(&[0.0, 1.0, 2.0, 0.0, -1.0, 0.5])], 0)?;
//! assert!((p.output(0)?[1] - 1f32.exp()).abs() < 1e-6);
//! # Ok(())
//! # }
//! ```

mod dispatch;
pub mod elementwise;
pub mod rows;
mod tables;

use vibee_dsl::graph::passes::{MemoryPlan, Recompute, expand_attention, plan_memory};
use vibee_dsl::graph::{Graph, NodeId, Op};
use vibee_runtime::exec::{
    CompileOptions, ExecError, Feed, InputSpec, Prepared, check_feeds, prepare,
};
use vibee_runtime::{Buffer, Device, KernelSource, LaunchError};

use self::dispatch::Aux;

/// Why a device program could not compile or run.
#[derive(Debug, thiserror::Error)]
pub enum DeviceProgramError {
    /// The graph or what is bound to it (as the CPU executor reports it).
    #[error(transparent)]
    Exec(#[from] ExecError),
    /// The device could not allocate, copy or launch.
    #[error(transparent)]
    Launch(#[from] LaunchError),
    /// A node the device executor has no kernel for.
    #[error("node {node} (`{op}`) cannot run on a device yet: {reason}")]
    Unsupported {
        /// The node.
        node: usize,
        /// Its op.
        op: &'static str,
        /// Why, and what would be accepted.
        reason: &'static str,
    },
}

/// A value bound to an input, on the device.
#[derive(Debug)]
enum Bound {
    F(Buffer<f32>),
    U(Buffer<u32>),
}

/// An operand as a kernel sees it.
#[derive(Debug, Clone, Copy)]
enum DVal<'a> {
    F(&'a Buffer<f32>),
    U(&'a Buffer<u32>),
}

/// A graph compiled for a [`Device`]: one kernel launch per node, intermediates in device
/// buffers assigned by the same liveness plan as the CPU executor's.
#[derive(Debug)]
pub struct DeviceProgram {
    device: Device,
    graph: Graph,
    plan: MemoryPlan,
    slots: Vec<Option<Buffer<f32>>>,
    inputs: Vec<InputSpec>,
    input_of_node: Vec<Option<usize>>,
    bound: Vec<Bound>,
    /// Offset tables and scratch, per node.
    aux: Vec<Aux>,
    /// An empty-table stand-in for kernels whose table argument is unused.
    no_table: Buffer<u32>,
}

impl DeviceProgram {
    /// Compiles `graph` for `device` (its `outputs` are what [`Self::output`] returns).
    pub fn compile(device: &Device, graph: &Graph) -> Result<Self, DeviceProgramError> {
        Self::compile_with(device, graph, Recompute::None)
    }

    /// As [`Self::compile`], with activation recomputation as `policy` says.
    pub fn compile_with(
        device: &Device,
        graph: &Graph,
        policy: Recompute,
    ) -> Result<Self, DeviceProgramError> {
        Self::compile_inner(device, graph, policy, &[])
    }

    /// As [`Self::compile`], for graphs that call `#[vibee::kernel(differentiable)]`
    /// functions ([`Op::Call`](vibee_dsl::graph::Op::Call)): `kernels` are the kernel
    /// modules' `SOURCE` (forward) and `vjp::SOURCE` (backward). GPU devices launch the
    /// registered kernel whose IR is the call's; the CPU backend needs none.
    pub fn compile_with_kernels(
        device: &Device,
        graph: &Graph,
        kernels: &[&'static KernelSource],
    ) -> Result<Self, DeviceProgramError> {
        Self::compile_inner(device, graph, Recompute::None, kernels)
    }

    fn compile_inner(
        device: &Device,
        graph: &Graph,
        policy: Recompute,
        kernels: &[&'static KernelSource],
    ) -> Result<Self, DeviceProgramError> {
        // Devices run attention as the primitive ops that define it (one kernel each).
        let expanded = expand_attention(graph).map_err(ExecError::from)?;
        let Prepared {
            graph,
            inputs,
            input_of_node,
        } = prepare(
            &expanded,
            CompileOptions {
                recompute: policy,
                // No fused kernels on devices yet: every node keeps its own kernel.
                fuse: false,
            },
        )?;
        let plan = plan_memory(&graph);
        let slots = plan
            .slot_len
            .iter()
            .map(|&n| Buffer::zeros(device, n.max(1)).map(Some))
            .collect::<Result<_, _>>()?;
        let aux = (0..graph.nodes.len())
            .map(|i| dispatch::prepare_node(device, &graph, i, kernels))
            .collect::<Result<_, _>>()?;
        Ok(Self {
            device: device.clone(),
            no_table: Buffer::zeros(device, 1)?,
            graph,
            plan,
            slots,
            inputs,
            input_of_node,
            bound: Vec::new(),
            aux,
        })
    }

    /// The inputs, in the order [`Self::run`] binds them.
    pub fn inputs(&self) -> &[InputSpec] {
        &self.inputs
    }

    /// The optimised graph this program runs.
    pub fn graph(&self) -> &Graph {
        &self.graph
    }

    /// Bytes of intermediate storage the plan allocates on the device.
    pub fn planned_peak_bytes(&self) -> usize {
        self.plan.peak_bytes
    }

    /// Uploads `feeds` (in [`Self::inputs`] order) and runs every node; `step` seeds
    /// dropout masks (the CPU executor's masks for the same step).
    pub fn run(&mut self, feeds: &[Feed<'_>], step: u64) -> Result<(), DeviceProgramError> {
        check_feeds(&self.inputs, feeds)?;
        dispatch::check_indices(&self.graph, &self.input_of_node, feeds)?;
        self.bound = feeds
            .iter()
            .map(|f| match f {
                Feed::F32(x) => Buffer::from_slice(&self.device, x).map(Bound::F),
                Feed::U32(x) => Buffer::from_slice(&self.device, x).map(Bound::U),
            })
            .collect::<Result<_, _>>()?;
        for i in 0..self.graph.nodes.len() {
            if matches!(self.graph.nodes[i].op, Op::Input { .. } | Op::Reshape) {
                continue;
            }
            let s = self.plan.slot[i].expect("the memory plan gives every computed node a slot");
            let mut out = self.slots[s]
                .take()
                .expect("a node's inputs never share its slot");
            let mut scratch = self.aux[i].scratch.take();
            let result = self.run_node(i, &mut out, scratch.as_mut(), step);
            self.slots[s] = Some(out);
            self.aux[i].scratch = scratch;
            result?;
        }
        Ok(())
    }

    fn run_node(
        &self,
        i: usize,
        out: &mut Buffer<f32>,
        scratch: Option<&mut Buffer<f32>>,
        step: u64,
    ) -> Result<(), DeviceProgramError> {
        let node = &self.graph.nodes[i];
        let ins: Vec<DVal<'_>> = node.inputs.iter().map(|&j| self.value(j)).collect();
        let ctx = dispatch::Ctx {
            device: &self.device,
            graph: &self.graph,
            node,
            aux: &self.aux[i],
            no_table: &self.no_table,
            step,
        };
        ctx.launch(&ins, out, scratch)?;
        Ok(())
    }

    /// The value of output `k` after [`Self::run`], read back to the host.
    pub fn output(&self, k: usize) -> Result<Vec<f32>, DeviceProgramError> {
        let id = self.graph.outputs[k];
        let n = self.graph.node(id).numel();
        match self.value(id) {
            DVal::F(b) => {
                let mut v = b.to_vec()?;
                v.truncate(n);
                Ok(v)
            }
            DVal::U(b) => Ok(b.to_vec()?.into_iter().map(|u| u as f32).collect()),
        }
    }

    /// Shape of output `k`.
    pub fn output_shape(&self, k: usize) -> &[usize] {
        self.graph.shape(self.graph.outputs[k])
    }

    fn value(&self, id: NodeId) -> DVal<'_> {
        let root = self.plan.root[id.index()];
        if let Some(k) = self.input_of_node[root] {
            return match &self.bound[k] {
                Bound::F(b) => DVal::F(b),
                Bound::U(b) => DVal::U(b),
            };
        }
        let s = self.plan.slot[root].expect("every computed value has a slot");
        DVal::F(
            self.slots[s]
                .as_ref()
                .expect("a value is read only while its slot is in place"),
        )
    }
}
