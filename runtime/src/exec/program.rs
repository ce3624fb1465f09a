//! A compiled graph: optimised, storage planned, run step after step without allocating
//! its buffers again.

use vibee_dsl::graph::error::site_string;
use vibee_dsl::graph::passes::fuse::FuseOptions;
use vibee_dsl::graph::passes::{MemoryPlan, Recompute, plan_memory_with};
use vibee_dsl::graph::{DType, Graph, InputRole, Node, NodeId, Op, ReduceOp, UnaryOp};

use super::fused::{self, Operand};
use super::matmul::{Causal, causal_plan};
use super::merge::{self, Merge};
use super::{ExecError, Feed};
use crate::cpu;

/// How [`Program::compile_with_options`] transforms the graph before planning it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompileOptions {
    /// Which forward values the backward recomputes instead of storing.
    pub recompute: Recompute,
    /// Fuse chains of memory-bound elementwise ops into kernels the Cranelift backend
    /// compiles (the ops [`super::CPU_FUSION`] allows, see
    /// [`vibee_dsl::graph::passes::fuse::fuse_elementwise_with`]), and run the patterns
    /// that fusion leaves apart (bias + GELU, GELU's gradient + its bias gradient, a
    /// norm's gradient + the residual's, the attention's gradient + its `qkv` bias
    /// gradient) as one pass each, and (with no recomputation) let a self-attention keep
    /// its softmax numerators for its gradient; off, every op runs on its own.
    /// The results are the same bits either way.
    pub fuse: bool,
}

impl Default for CompileOptions {
    /// No recomputation; fusion on: the fused kernels give the unfused bits, and a chain
    /// of memory-bound ops runs faster as one pass (measured in `benches/gpt_train.rs`,
    /// which also times the step without fusion).
    fn default() -> Self {
        Self {
            recompute: Recompute::None,
            fuse: true,
        }
    }
}

/// One input of a [`Program`], in binding order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputSpec {
    /// Its name in the graph.
    pub name: String,
    /// Its shape.
    pub shape: Vec<usize>,
    /// `F32` or `U32`.
    pub dtype: DType,
    /// Parameter or data.
    pub role: InputRole,
}

/// An operand as a kernel sees it.
#[derive(Debug, Clone, Copy)]
pub(super) enum Val<'a> {
    F(&'a [f32]),
    U(&'a [u32]),
}

impl<'a> Val<'a> {
    pub(super) fn f(self) -> &'a [f32] {
        match self {
            Val::F(x) => x,
            Val::U(_) => &[],
        }
    }
    pub(super) fn u(self) -> &'a [u32] {
        match self {
            Val::U(x) => x,
            Val::F(_) => &[],
        }
    }
}

/// A graph compiled for the CPU.
#[derive(Debug)]
pub struct Program {
    graph: Graph,
    plan: MemoryPlan,
    slots: Vec<Vec<f32>>,
    inputs: Vec<InputSpec>,
    input_of_node: Vec<Option<usize>>,
    pool: std::sync::Arc<rayon::ThreadPool>,
    threads: usize,
    /// For each fused node, the nodes holding its outputs (itself first).
    fused_outputs: Vec<Vec<usize>>,
    /// For each fused node and kernel call, its compiled kernel.
    kernels: Vec<Option<cpu::CompiledKernel>>,
    /// Per node, the part of its product that is needed or nonzero (causal attention).
    causal: Vec<Causal>,
    /// Per node, the run of nodes it computes in one pass, if it starts one.
    merged: Vec<Option<Merge>>,
    /// Per bias + GELU run that keeps it, `gelu'(h)` for its gradient (empty elsewhere).
    slopes: Vec<Vec<f32>>,
    /// Per self-attention that keeps them, its softmax numerators for its gradient
    /// (empty elsewhere).
    kept: Vec<Vec<f32>>,
    /// Per self-attention gradient, the self-attention whose kept numerators it reads.
    kept_by: Vec<Option<usize>>,
    /// Seconds spent in each node over the runs since profiling was turned on.
    profile: Option<Vec<f64>>,
}

impl Program {
    /// Compiles `graph` (its `outputs` are what [`Program::output`] returns) to run on
    /// `threads` worker threads, with the [`CompileOptions::default`] passes.
    pub fn compile(graph: &Graph, threads: usize) -> Result<Self, ExecError> {
        Self::compile_with_options(graph, threads, CompileOptions::default())
    }

    /// As [`Program::compile`], with the backward recomputing forward values as `policy`
    /// says (the loss is `outputs[0]`); [`Program::planned_peak_bytes`] shows the saving.
    pub fn compile_with(
        graph: &Graph,
        threads: usize,
        policy: Recompute,
    ) -> Result<Self, ExecError> {
        let options = CompileOptions {
            recompute: policy,
            ..CompileOptions::default()
        };
        Self::compile_with_options(graph, threads, options)
    }

    /// As [`Program::compile`], with the passes `options` chooses. Fused kernels are
    /// compiled here, once.
    ///
    /// ```
    /// use vibee_dsl::graph::{DType, Graph, InputRole, UnaryOp};
    /// use vibee_runtime::exec::{CompileOptions, Feed, Program};
    /// let mut g = Graph::new();
    /// let x = g.input("x", &[4], DType::F32, InputRole::Data).unwrap();
    /// let y = g.unary(UnaryOp::Square, x).unwrap();
    /// let y = g.unary(UnaryOp::AddScalar(1.0), y).unwrap();
    /// g.outputs.push(y);
    /// let unfused = CompileOptions { fuse: false, ..CompileOptions::default() };
    /// let mut a = Program::compile_with_options(&g, 1, unfused).unwrap();
    /// let mut b = Program::compile(&g, 1).unwrap();
    /// assert_eq!((a.graph().nodes.len(), b.graph().nodes.len()), (3, 2));
    /// let x = [0.0, 1.0, -2.0, 0.5];
    /// a.run(&[Feed::F32(&x)], 0).unwrap();
    /// b.run(&[Feed::F32(&x)], 0).unwrap();
    /// assert_eq!(a.output(0), b.output(0));
    /// ```
    pub fn compile_with_options(
        graph: &Graph,
        threads: usize,
        options: CompileOptions,
    ) -> Result<Self, ExecError> {
        let merge = options.fuse.then_some(options.recompute == Recompute::None);
        Self::from_prepared(super::prepare(graph, options)?, threads, merge)
    }

    /// As [`Program::compile_with`], fusing the elementwise ops `fusion` allows (also the
    /// compute-bound ones [`super::CPU_FUSION`] leaves out, for testing those kernels).
    pub fn compile_with_fusion(
        graph: &Graph,
        threads: usize,
        policy: Recompute,
        fusion: FuseOptions,
    ) -> Result<Self, ExecError> {
        let prepared = super::prepare_with(graph, policy, Some(fusion))?;
        Self::from_prepared(prepared, threads, Some(policy == Recompute::None))
    }

    /// The program of `prepared`; with `merge`, runs of ops become one pass each
    /// ([`merge`]), and with `Some(true)` GELU's derivative is kept for its gradient
    /// instead of its input (left out when the graph recomputes to save memory).
    fn from_prepared(
        prepared: super::Prepared,
        threads: usize,
        merge: Option<bool>,
    ) -> Result<Self, ExecError> {
        let super::Prepared {
            graph,
            inputs,
            input_of_node,
        } = prepared;
        let merged = match merge {
            Some(keep_slope) => merge::find(&graph, keep_slope),
            None => vec![None; graph.nodes.len()],
        };
        let slopes = slope_buffers(&graph, &merged);
        let kept_by = attention_links(&graph, merge == Some(true));
        let kept = kept_buffers(&graph, &kept_by);
        let plan = plan_memory_with(&graph, &merge::written_at(&merged));
        let slots = plan.slot_len.iter().map(|&n| vec![0.0; n]).collect();
        let threads = threads.max(1);
        let pool = worker_pool(threads)?;
        let fused_outputs = fused::outputs_by_node(&graph)?;
        let causal = causal_plan(&graph);
        let kernels = graph
            .nodes
            .iter()
            .enumerate()
            .map(|(i, node)| {
                let kernel = match &node.op {
                    Op::Fused(f) => &f.kernel,
                    Op::Call(c) => &c.kernel,
                    _ => return Ok(None),
                };
                fused::compile(kernel)
                    .map(Some)
                    .map_err(|source| ExecError::Kernel { node: i, source })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            graph,
            plan,
            slots,
            inputs,
            input_of_node,
            pool,
            threads,
            fused_outputs,
            kernels,
            causal,
            merged,
            slopes,
            kept,
            kept_by,
            profile: None,
        })
    }

    /// An independent copy that can run at the same time as this one: the same optimised
    /// graph, plan and compiled kernels, its own buffers and its own worker threads.
    pub fn replica(&self) -> Result<Self, ExecError> {
        let threads = self.threads;
        Ok(Self {
            graph: self.graph.clone(),
            plan: self.plan.clone(),
            slots: self.plan.slot_len.iter().map(|&n| vec![0.0; n]).collect(),
            inputs: self.inputs.clone(),
            input_of_node: self.input_of_node.clone(),
            pool: worker_pool(threads)?,
            threads,
            fused_outputs: self.fused_outputs.clone(),
            kernels: self.kernels.clone(),
            causal: self.causal.clone(),
            merged: self.merged.clone(),
            slopes: slope_buffers(&self.graph, &self.merged),
            kept: kept_buffers(&self.graph, &self.kept_by),
            kept_by: self.kept_by.clone(),
            profile: None,
        })
    }

    /// Turns per-node timing on (cleared) or off. Timing adds a clock read per node.
    pub fn set_profiling(&mut self, on: bool) {
        self.profile = on.then(|| vec![0.0; self.graph.nodes.len()]);
    }

    /// Time per op kind since profiling was turned on, largest first: `(op, seconds,
    /// nodes)`; products are told apart by their transposes (`matmul`, `matmul_nt`, …).
    pub fn profile(&self) -> Vec<(String, f64, usize)> {
        let Some(times) = &self.profile else {
            return Vec::new();
        };
        let mut by: std::collections::BTreeMap<String, (f64, usize)> = Default::default();
        // A run's later nodes are computed (and timed) at its first: walk runs as `execute` does.
        let mut next = 0;
        for (i, (node, &t)) in self.graph.nodes.iter().zip(times).enumerate() {
            if i < next || matches!(node.op, Op::Input { .. } | Op::Reshape) {
                continue;
            }
            next = i + self.run_len(i);
            let name = match node.op {
                _ if self.merged[i].is_some() => self.merged[i].map_or("", Merge::name).into(),
                Op::MatMul { trans_a, trans_b } => {
                    let suffix = match (trans_a, trans_b) {
                        (false, false) => "",
                        (false, true) => "_nt",
                        (true, false) => "_tn",
                        (true, true) => "_tt",
                    };
                    format!("matmul{suffix}")
                }
                Op::Unary(u) => format!("unary {u:?}"),
                Op::Fused(ref f) => f.kernel.name.clone(),
                Op::Call(ref c) => format!("call {}", c.function.name),
                Op::Binary(b) => format!("binary {b:?}"),
                ref op => op.name().to_string(),
            };
            let e = by.entry(name).or_default();
            e.0 += t;
            e.1 += 1;
        }
        let mut out: Vec<(String, f64, usize)> =
            by.into_iter().map(|(k, (t, n))| (k, t, n)).collect();
        out.sort_by(|a, b| b.1.total_cmp(&a.1));
        out
    }

    /// Seconds per node of [`Program::graph`] since profiling was turned on (`None` when off).
    /// A run of nodes computed in one pass counts at its first node ([`Program::merged`]).
    pub fn node_times(&self) -> Option<&[f64]> {
        self.profile.as_deref()
    }

    /// The name of the run of nodes that node `i` starts, when it computes several nodes
    /// in one pass (`"merged add+gelu"`, …); the run's other nodes then take no time of
    /// their own.
    pub fn merged(&self, i: usize) -> Option<&'static str> {
        self.merged.get(i).copied().flatten().map(Merge::name)
    }

    /// Whether node `i`'s value is written when the program runs: not an `h = z + b` or a
    /// norm's `x̂` that a merged run computes but leaves unstored, because the run that
    /// reads it later recomputes what it needs (`gelu'(h)` kept, `x̂` from the norm's input).
    pub fn stored(&self, i: usize) -> bool {
        !matches!(
            self.merged.get(i).copied().flatten(),
            Some(Merge::BiasGelu { store_h: false, .. })
                | Some(Merge::NormAffine(merge::Affine {
                    store_xhat: false,
                    ..
                }))
        )
    }

    /// Floats the program keeps outside its memory plan for self-attention gradients: each
    /// self-attention's softmax numerators and normalising factors, when its gradient
    /// reads them instead of recomputing them (fusion on, nothing recomputed to save
    /// memory, the tiled kernels, and at most twice the floats of `qkv`).
    pub fn kept_attention_floats(&self) -> usize {
        self.kept.iter().map(Vec::len).sum()
    }

    /// How many nodes node `i` computes when it runs: the length of the run it starts
    /// ([`Program::merged`]), else 1. The run's later nodes are not run (nor timed) alone.
    pub fn run_len(&self, i: usize) -> usize {
        1 + self
            .merged
            .get(i)
            .copied()
            .flatten()
            .map_or(0, Merge::extra)
    }

    /// The inputs, in the order [`Program::run`] binds them.
    pub fn inputs(&self) -> &[InputSpec] {
        &self.inputs
    }

    /// The optimised graph this program runs.
    pub fn graph(&self) -> &Graph {
        &self.graph
    }

    /// Bytes the program keeps for its gradients outside its memory plan: the GELU slopes
    /// of bias + GELU runs and the self-attentions' kept numerators
    /// ([`Program::kept_attention_floats`]); live for the whole run, so they add to
    /// [`Program::planned_peak_bytes`].
    pub fn kept_bytes(&self) -> usize {
        let floats: usize = self.slopes.iter().chain(&self.kept).map(Vec::len).sum();
        floats * std::mem::size_of::<f32>()
    }

    /// Bytes of intermediate storage the plan allocates (the planned peak).
    pub fn planned_peak_bytes(&self) -> usize {
        self.plan.peak_bytes
    }

    /// Bytes the intermediates would take without reuse.
    pub fn unplanned_bytes(&self) -> usize {
        self.plan.unplanned_bytes
    }

    /// Worker threads.
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Runs every node; `feeds` follow [`Program::inputs`]; `step` seeds dropout masks.
    pub fn run(&mut self, feeds: &[Feed<'_>], step: u64) -> Result<(), ExecError> {
        self.check_feeds(feeds)?;
        // The pool is shared so that `install` does not borrow `self`.
        let pool = std::sync::Arc::clone(&self.pool);
        pool.install(|| self.execute(feeds, step))
    }

    /// The value of output `k` after [`Program::run`].
    pub fn output(&self, k: usize) -> &[f32] {
        let id = self.graph.outputs[k];
        self.float_value(id)
    }

    /// Shape of output `k`.
    pub fn output_shape(&self, k: usize) -> &[usize] {
        self.graph.shape(self.graph.outputs[k])
    }

    fn float_value(&self, id: NodeId) -> &[f32] {
        let root = self.plan.root[id.index()];
        let n = self.graph.node(id).numel();
        match self.plan.slot[root] {
            Some(s) => &self.slots[s][..n],
            None => &[],
        }
    }

    fn check_feeds(&self, feeds: &[Feed<'_>]) -> Result<(), ExecError> {
        super::check_feeds(&self.inputs, feeds)
    }

    fn execute(&mut self, feeds: &[Feed<'_>], step: u64) -> Result<(), ExecError> {
        let mut i = 0;
        while i < self.graph.nodes.len() {
            match self.merged[i] {
                Some(run) => {
                    self.run_merged(i, run, feeds)?;
                    i += run.extra();
                }
                None => self.run_one(i, feeds, step)?,
            }
            i += 1;
        }
        Ok(())
    }

    /// Runs node `i` on its own.
    fn run_one(&mut self, i: usize, feeds: &[Feed<'_>], step: u64) -> Result<(), ExecError> {
        let node = &self.graph.nodes[i];
        if !node.op.computes() {
            return Ok(());
        }
        if matches!(node.op, Op::Fused(_) | Op::Call(_)) {
            return self.run_kernel(i, feeds);
        }
        let s = self.plan.slot[i].expect("the memory plan gives every computed node a slot");
        let started = self.profile.is_some().then(std::time::Instant::now);
        let mut out = std::mem::take(&mut self.slots[s]);
        let mut keep = std::mem::take(&mut self.kept[i]);
        let ins: Vec<Val<'_>> = node.inputs.iter().map(|&j| self.value(j, feeds)).collect();
        let result = match (&node.op, self.kept_by[i]) {
            // The self-attention that keeps its numerators for its gradient, and that
            // gradient.
            (&Op::SelfAttention { heads, scale }, _) if !keep.is_empty() => {
                let d = super::attention::Dims::new(self.graph.shape(node.inputs[0]), heads);
                let y = &mut out[..node.numel()];
                super::attention::forward(ins[0].f(), y, d, scale as f32, Some(&mut keep));
                Ok(())
            }
            (&Op::SelfAttentionGrad { heads, scale }, Some(f)) => {
                let d = super::attention::Dims::new(self.graph.shape(node.inputs[0]), heads);
                let ins = (ins[0].f(), ins[1].f(), Some(&self.kept[f][..]));
                super::attention::backward(ins, &mut out[..node.numel()], d, scale as f32);
                Ok(())
            }
            _ => run_node(
                &self.graph,
                node,
                &ins,
                &mut out[..node.numel()],
                step,
                (self.threads, self.causal[i]),
            ),
        };
        self.kept[i] = keep;
        if matches!(node.dtype, DType::BF16 | DType::F16) {
            super::elementwise::round_to(node.dtype, &mut out[..node.numel()]);
        }
        self.slots[s] = out;
        if let (Some(t0), Some(times)) = (started, self.profile.as_mut()) {
            times[i] += t0.elapsed().as_secs_f64();
        }
        result
    }

    /// Computes the run `run` of nodes starting at node `i` (see [`merge`]).
    fn run_merged(&mut self, i: usize, run: Merge, feeds: &[Feed<'_>]) -> Result<(), ExecError> {
        let started = self.profile.is_some().then(std::time::Instant::now);
        let numel = self.graph.nodes[i].numel();
        let ins: Vec<NodeId> = self.graph.nodes[i].inputs.clone();
        match run {
            Merge::BiasGelu { store_h, .. } => {
                let [mut h, mut g] = self.take_slots([i, i + 1]);
                let mut slope = std::mem::take(&mut self.slopes[i]);
                let [a, b] = [ins[0], ins[1]].map(|j| self.value(j, feeds).f());
                let (z, bias) = if a.len() == numel { (a, b) } else { (b, a) };
                let h_out = if store_h { &mut h[..numel] } else { &mut [] };
                merge::bias_gelu_run(z, bias, (h_out, &mut g[..numel]), &mut slope);
                self.slopes[i] = slope;
                self.put_slots([i, i + 1], [h, g]);
            }
            Merge::GeluGradSum { width, op, slope } => {
                let [mut out] = self.take_slots([i]);
                let [x, dy] = [ins[0], ins[1]].map(|j| self.value(j, feeds).f());
                let s = slope.map_or(&[][..], |h| &self.slopes[h][..]);
                let partials = merge::gelu_grad_sum_run((x, dy, s), &mut out[..numel], width);
                self.put_slots([i], [out]);
                self.finish_sum(i + 1, op, &partials, numel / width.max(1));
            }
            Merge::NormAffine(a) => {
                let [mut xhat, mut y] = self.take_slots([i, i + 1]);
                let x = self.value(ins[0], feeds).f();
                let affine = &self.graph.nodes[i + 1].inputs;
                let [gamma, beta] = [a.gamma, a.beta].map(|k| self.value(affine[k], feeds).f());
                let outs = match a.store_xhat {
                    true => (&mut xhat[..numel], &mut y[..numel]),
                    false => (&mut [][..], &mut y[..numel]),
                };
                merge::norm_affine_run(x, (gamma, beta), a.eps, outs);
                self.put_slots([i, i + 1], [xhat, y]);
            }
            Merge::NormGrad(n) => self.run_norm_grad(i, n, feeds),
            Merge::AttentionGradSum { heads, scale, op } => {
                let [mut out] = self.take_slots([i]);
                let [qkv, dy] = [ins[0], ins[1]].map(|j| self.value(j, feeds).f());
                let d = super::attention::Dims::new(self.graph.shape(ins[0]), heads);
                let kept = self.kept_by[i].map(|f| &self.kept[f][..]);
                let ins = (qkv, dy, kept);
                let sums = super::attention::backward_sums(ins, &mut out[..numel], d, scale);
                self.put_slots([i], [out]);
                self.finish_sum(i + 1, op, &sums, d.b * d.t);
            }
            Merge::CrossEntropy { width, dl } => {
                let [mut loss, mut seed, mut grad] = self.take_slots([i, i + 1, i + 2]);
                let (x, t) = (self.value(ins[0], feeds).f(), self.value(ins[1], feeds).u());
                let checked = check_ids(&self.graph.nodes[i], t, width);
                if checked.is_ok() {
                    let n = x.len();
                    let outs = (&mut loss[..1], &mut grad[..n]);
                    super::rows::cross_entropy_and_grad((x, t), width, dl, outs);
                    seed[..1].fill(dl);
                }
                self.put_slots([i, i + 1, i + 2], [loss, seed, grad]);
                checked?;
            }
        }
        if let (Some(t0), Some(times)) = (started, self.profile.as_mut()) {
            times[i] += t0.elapsed().as_secs_f64();
        }
        Ok(())
    }

    /// A [`Merge::NormGrad`] run starting at node `i`.
    fn run_norm_grad(&mut self, i: usize, n: merge::NormGrad, feeds: &[Feed<'_>]) {
        let norm = i + n.norm_at();
        let last = norm + usize::from(n.add);
        let numel = self.graph.nodes[norm].numel();
        let [mut out] = self.take_slots([last]);
        let value = |j: NodeId| self.value(j, feeds).f();
        let x = value(self.graph.nodes[norm].inputs[0]);
        let (dy, affine) = match n.prologue {
            Some(p) => {
                let f = &self.graph.nodes[i].inputs;
                let xhat = if p.recompute_xhat {
                    &[][..]
                } else {
                    value(f[p.xhat])
                };
                (value(f[p.dy]), Some((value(f[p.gamma]), xhat)))
            }
            None => (value(self.graph.nodes[norm].inputs[1]), None),
        };
        let residual = match n.add {
            true => self.graph.nodes[last]
                .inputs
                .iter()
                .find(|j| j.index() != norm)
                .map_or(&[][..], |&j| value(j)),
            false => &[],
        };
        let ins = merge::NormGradIn {
            x,
            dy,
            affine,
            residual,
        };
        let sum = n.sum.is_some();
        let sums = merge::norm_grad_run(&ins, n.eps, &mut out[..numel], n.width, sum);
        self.put_slots([last], [out]);
        let rows = numel / n.width.max(1);
        if let Some(p) = n.prologue {
            let (first, second) = match p.dy_sum_first {
                true => (&sums.dy, &sums.dy_xhat),
                false => (&sums.dy_xhat, &sums.dy),
            };
            self.finish_sum(i + 1, ReduceOp::Sum, first, rows);
            self.finish_sum(i + 2, ReduceOp::Sum, second, rows);
        }
        if let Some(op) = n.sum {
            self.finish_sum(last + 1, op, &sums.out, rows);
        }
    }

    /// The slots of nodes `nodes`, taken out of the program (distinct slots: the plan
    /// gives values written together slots of their own).
    fn take_slots<const N: usize>(&mut self, nodes: [usize; N]) -> [Vec<f32>; N] {
        nodes.map(|k| {
            let s = self.plan.slot[k].expect("the memory plan gives every computed node a slot");
            std::mem::take(&mut self.slots[s])
        })
    }

    /// Puts back what [`Program::take_slots`] took.
    fn put_slots<const N: usize>(&mut self, nodes: [usize; N], values: [Vec<f32>; N]) {
        for (k, v) in nodes.into_iter().zip(values) {
            if let Some(s) = self.plan.slot[k] {
                self.slots[s] = v;
            }
        }
    }

    /// Node `k`'s column reduction from the partial sums of its blocks of rows.
    fn finish_sum(
        &mut self,
        k: usize,
        op: vibee_dsl::graph::ReduceOp,
        partials: &[f32],
        rows: usize,
    ) {
        let n = self.graph.nodes[k].numel();
        if let Some(s) = self.plan.slot[k] {
            super::reduce::finish_columns(op, partials, rows, &mut self.slots[s][..n]);
        }
    }

    /// Runs node `i`, a fused group or a call, through its kernel (which rounds
    /// reduced-precision steps itself).
    fn run_kernel(&mut self, i: usize, feeds: &[Feed<'_>]) -> Result<(), ExecError> {
        let started = self.profile.is_some().then(std::time::Instant::now);
        let node = &self.graph.nodes[i];
        let (kernel, grid, group) = match (&node.op, &self.kernels[i]) {
            (Op::Fused(f), Some(kernel)) => (kernel, f.grid(), Some(f.as_ref())),
            (Op::Call(c), Some(kernel)) => (kernel, c.grid(), None),
            _ => return Ok(()),
        };
        let operands: Vec<Operand<'_>> = node
            .inputs
            .iter()
            .map(|j| {
                let root = self.plan.root[j.index()];
                match (self.input_of_node[root], self.plan.slot[root]) {
                    (Some(k), _) => Operand::Feed(match feeds[k] {
                        Feed::F32(x) => x,
                        Feed::U32(_) => &[],
                    }),
                    (None, Some(s)) => Operand::Slot(s),
                    (None, None) => Operand::Feed(&[]),
                }
            })
            .collect();
        // Every output node is computed, so the plan gave each a slot.
        let outputs: Vec<usize> = self.fused_outputs[i]
            .iter()
            .filter_map(|&o| self.plan.slot[o])
            .collect();
        fused::run(kernel, grid, &operands, &outputs, &mut self.slots, group)
            .map_err(|source| ExecError::Kernel { node: i, source })?;
        if let (Some(t0), Some(times)) = (started, self.profile.as_mut()) {
            times[i] += t0.elapsed().as_secs_f64();
        }
        Ok(())
    }

    fn value<'a>(&'a self, id: NodeId, feeds: &[Feed<'a>]) -> Val<'a> {
        let root = self.plan.root[id.index()];
        match self.input_of_node[root] {
            Some(k) => match feeds[k] {
                Feed::F32(x) => Val::F(x),
                Feed::U32(x) => Val::U(x),
            },
            None => Val::F(self.float_value(id)),
        }
    }
}

/// `gelu'(h)` of each bias + GELU run that keeps it: a buffer the size of its GELU,
/// indexed by the run's first node (empty for every other node).
fn slope_buffers(g: &Graph, runs: &[Option<Merge>]) -> Vec<Vec<f32>> {
    runs.iter()
        .enumerate()
        .map(|(i, r)| match r {
            Some(Merge::BiasGelu {
                keep_slope: true, ..
            }) => vec![0.0; g.nodes[i].numel()],
            _ => Vec::new(),
        })
        .collect()
}

/// Per self-attention gradient, the self-attention before it of the same `qkv`, heads and
/// scale, when `keep` and that attention can keep its softmax numerators
/// ([`super::attention::kept_len`]) in at most twice the floats of `qkv` (at `T` up to
/// about six head widths): the gradient then reads them instead of recomputing them.
fn attention_links(g: &Graph, keep: bool) -> Vec<Option<usize>> {
    let mut links = vec![None; g.nodes.len()];
    if !keep {
        return links;
    }
    let mut forward_of: std::collections::HashMap<(usize, usize, u64), usize> = Default::default();
    for (i, node) in g.nodes.iter().enumerate() {
        let (forward, heads, scale) = match node.op {
            Op::SelfAttention { heads, scale } => (true, heads, scale),
            Op::SelfAttentionGrad { heads, scale } => (false, heads, scale),
            _ => continue,
        };
        let Some(&qkv) = node.inputs.first() else {
            continue;
        };
        let key = (qkv.index(), heads, scale.to_bits());
        if forward {
            let shape = g.shape(qkv);
            if shape.len() != 3 || node.dtype != DType::F32 {
                continue;
            }
            let d = super::attention::Dims::new(shape, heads);
            let numel: usize = shape.iter().product();
            if super::attention::kept_len(d).is_some_and(|n| n > 0 && n <= 2 * numel) {
                forward_of.insert(key, i);
            }
        } else if node.dtype == DType::F32 {
            links[i] = forward_of.get(&key).copied();
        }
    }
    links
}

/// The numerators' buffers of the self-attentions that `links` points at.
fn kept_buffers(g: &Graph, links: &[Option<usize>]) -> Vec<Vec<f32>> {
    let mut kept = vec![Vec::new(); g.nodes.len()];
    for &f in links.iter().flatten() {
        let node = &g.nodes[f];
        if let (Op::SelfAttention { heads, .. }, true) = (&node.op, kept[f].is_empty()) {
            let d = super::attention::Dims::new(g.shape(node.inputs[0]), *heads);
            kept[f] = vec![0.0; super::attention::kept_len(d).unwrap_or(0)];
        }
    }
    kept
}

/// A program's own pool of `threads` workers.
fn worker_pool(threads: usize) -> Result<std::sync::Arc<rayon::ThreadPool>, ExecError> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map(std::sync::Arc::new)
        .map_err(|e| ExecError::Threads {
            threads,
            reason: e.to_string(),
        })
}

/// Outputs that alias an input (directly or through reshapes) get a copy node, so every
/// output lives in the program's own storage.
pub(super) fn copy_aliased_outputs(g: &mut Graph) -> Result<(), ExecError> {
    for k in 0..g.outputs.len() {
        let mut r = g.outputs[k];
        while matches!(g.node(r).op, Op::Reshape) {
            r = g.node(r).inputs[0];
        }
        if matches!(g.node(r).op, Op::Input { .. }) {
            let o = g.outputs[k];
            let site = g.node(o).site.clone();
            g.outputs[k] = g.push_at(Op::Unary(UnaryOp::Scale(1.0)), &[o], &[], site)?;
        }
    }
    Ok(())
}

pub(super) fn check_dtypes(g: &Graph) -> Result<(), ExecError> {
    for (i, n) in g.nodes.iter().enumerate() {
        // Reduced precision enters by `Cast`: inputs are bound as f32 or u32.
        let ok = match n.dtype {
            DType::F32 => true,
            DType::BF16 | DType::F16 => !matches!(n.op, Op::Input { .. }),
            DType::U32 => matches!(n.op, Op::Input { .. } | Op::Reshape),
        };
        if !ok {
            return Err(ExecError::Unsupported {
                node: i,
                op: n.op.name(),
                dtype: n.dtype,
            });
        }
    }
    Ok(())
}

fn run_node(
    g: &Graph,
    node: &Node,
    ins: &[Val<'_>],
    out: &mut [f32],
    step: u64,
    (threads, causal): (usize, Causal),
) -> Result<(), ExecError> {
    let shape_of = |k: usize| g.shape(node.inputs[k]);
    match &node.op {
        Op::Input { .. } | Op::Reshape => {}
        Op::Constant { value } => out.fill(*value as f32),
        Op::Unary(u) => super::elementwise::unary(*u, ins[0].f(), out),
        Op::Binary(b) => super::elementwise::binary(
            *b,
            ins[0].f(),
            shape_of(0),
            ins[1].f(),
            shape_of(1),
            out,
            &node.shape,
        ),
        Op::Dropout { p, seed } => super::elementwise::dropout(ins[0].f(), out, *p, *seed, step),
        Op::MatMul { trans_a, trans_b } => super::matmul::matmul(
            ins[0].f(),
            shape_of(0),
            ins[1].f(),
            shape_of(1),
            out,
            (*trans_a, *trans_b),
            threads,
            causal,
        ),
        Op::Reduce { op, axes, .. } => {
            super::reduce::reduce(*op, ins[0].f(), shape_of(0), axes, out)
        }
        Op::Broadcast => super::movement::broadcast(ins[0].f(), shape_of(0), out, &node.shape),
        Op::Permute { perm } => {
            super::movement::permute(ins[0].f(), shape_of(0), perm, out, &node.shape)
        }
        Op::Slice { axis, start, end } => {
            super::movement::slice(ins[0].f(), shape_of(0), *axis, *start, *end, out)
        }
        Op::Pad {
            axis,
            before,
            after,
        } => super::movement::pad(ins[0].f(), shape_of(0), *axis, *before, *after, out),
        Op::Concat { axis } => {
            let parts: Vec<(&[f32], &[usize])> =
                (0..ins.len()).map(|k| (ins[k].f(), shape_of(k))).collect();
            super::movement::concat(&parts, *axis, out, &node.shape)
        }
        Op::Cast { .. } => out.copy_from_slice(ins[0].f()),
        Op::SelfAttention { heads, scale } => {
            let d = super::attention::Dims::new(shape_of(0), *heads);
            super::attention::forward(ins[0].f(), out, d, *scale as f32, None)
        }
        Op::SelfAttentionGrad { heads, scale } => {
            let d = super::attention::Dims::new(shape_of(0), *heads);
            super::attention::backward((ins[0].f(), ins[1].f(), None), out, d, *scale as f32)
        }
        Op::Rope { theta, inverse } => {
            super::rope::rope(ins[0].f(), shape_of(0), *theta, *inverse, out)
        }
        Op::Gather => {
            let rows = shape_of(0)[0];
            check_ids(node, ins[1].u(), rows)?;
            super::movement::gather(ins[0].f(), rows, ins[1].u(), out)
        }
        Op::ScatterAdd { rows } => {
            check_ids(node, ins[0].u(), *rows)?;
            super::movement::scatter_add(ins[0].u(), ins[1].f(), *rows, out)
        }
        Op::CrossEntropy | Op::CrossEntropyGrad => {
            let v = *shape_of(0).last().unwrap_or(&1);
            check_ids(node, ins[1].u(), v)?;
            super::rows::row_op(node, ins, out, v, false)
        }
        _ => {
            let d = *node.shape.last().unwrap_or(&1);
            // A softmax gradient of a causal softmax is zero where its `y` is masked.
            let masked = matches!(node.op, Op::SoftmaxGrad { .. })
                && matches!(g.node(node.inputs[0]).op, Op::CausalSoftmax { .. });
            super::rows::row_op(node, ins, out, d, masked)
        }
    }
    Ok(())
}

fn check_ids(node: &Node, ids: &[u32], rows: usize) -> Result<(), ExecError> {
    match ids.iter().find(|&&i| i as usize >= rows) {
        Some(&index) => Err(ExecError::IndexOutOfRange {
            op: node.op.name(),
            site: site_string(node.site.as_ref()),
            index,
            rows,
        }),
        None => Ok(()),
    }
}
