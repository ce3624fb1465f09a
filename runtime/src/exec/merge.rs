//! Runs of consecutive ops the executor computes in one pass over their rows: the patterns
//! of a transformer's MLP and norms that elementwise fusion leaves apart, because they hold
//! a compute-bound function (GELU) or a row op (a norm and its gradient) that the fused
//! kernels do not run as fast as the executor's own 8-lane loops.
//!
//! - [`Merge::BiasGelu`]: `h = z + b` (a bias over the rows) then `gelu(h)`, 32 values at
//!   a time. When a [`Merge::GeluGradSum`] reads `h`, the run also keeps `gelu'(h)` (from
//!   the `tanh` it computes anyway), and stores `h` only if something else reads it: the
//!   gradient is then one product instead of a second rational `tanh` per element.
//! - [`Merge::GeluGradSum`]: `dz = dy·gelu'(h)` and its column sum (the bias gradient),
//!   each block of rows summed while it is still in cache.
//! - [`Merge::NormAffine`]: a layer norm and its fused `x̂·γ + β`, per row; `x̂` is not
//!   stored when the only other reader is the same norm's [`Merge::NormGrad`] run.
//! - [`Merge::NormGrad`]: a layer norm's input gradient, with the fused group before it
//!   that scales `dy` by `γ` and sums `Σ dy`, `Σ dy·x̂` (the β and γ gradients), the
//!   residual gradient added and that sum's column sum (the next bias gradient); values
//!   read only inside the run (`dy·γ`, the norm's gradient before the add) are never
//!   stored, and `x̂` is recomputed from the norm's input (read anyway for the row's
//!   moments: the forward's `(x − μ)·(1/σ)`, so the same bits) when its forward run left
//!   it unstored.
//! - [`Merge::CrossEntropy`]: the loss and its gradient, each row's exponentials computed
//!   once for both.
//! - [`Merge::AttentionGradSum`]: the self-attention's gradient and its column sum (the
//!   `qkv` projection's bias gradient), each task's columns summed while they are in
//!   cache. (Adding that bias inside the attention's tasks measured slower than the add
//!   on its own: each task then copies its head twice, into a scratch and into the sum.)
//!
//! Each value gets the bits of the unmerged ops: the same arithmetic per element, and
//! column sums accumulated in the executor's blocks of rows ([`partial_rows`]) and combined
//! in block order ([`super::reduce::finish_columns`]), so results still do not depend on
//! the thread count (the attention's tasks, (batch row, head) pairs, sum the blocks that
//! start in their batch row, and what of a block lies in later batch rows is added after
//! them, in order: [`super::attention::backward_sums`]). Merging changes when a value is written (all of a run's values when
//! its first node runs): the memory plan is told ([`written_at`]), so no value of the run
//! shares a slot with anything alive then. The kept `gelu'(h)` buffers are the program's
//! own, outside the plan, and only when nothing is recomputed to save memory.

mod loops;

use vibee_dsl::graph::fused::{FusedArg, FusedFn, FusedOp, FusedReduction, FusedStep};
use vibee_dsl::graph::{BinaryOp, DType, Graph, NodeId, Op, ReduceOp, UnaryOp};

pub(super) use self::loops::{
    NormGradIn, bias_gelu_run, gelu_grad_sum_run, norm_affine_run, norm_grad_run,
};

/// What a run of consecutive nodes computes; the run's first node holds it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Merge {
    /// `h = z + b` over rows of `width` (node `i`), then `gelu(h)` (node `i + 1`); with
    /// `keep_slope`, `gelu'(h)` is kept for a [`Merge::GeluGradSum`] of `h`, and with
    /// `store_h` false `h` itself is not stored (that gradient was its last reader).
    BiasGelu {
        width: usize,
        keep_slope: bool,
        store_h: bool,
    },
    /// `dz = dy·gelu'(h)` (node `i`), then its sum or mean over the leading axes (node
    /// `i + 1`, `op`) into rows of `width`; with `slope`, `h` is node `slope`, a
    /// [`Merge::BiasGelu`] run's, whose kept `gelu'(h)` it reads instead of computing.
    GeluGradSum {
        width: usize,
        op: ReduceOp,
        slope: Option<usize>,
    },
    /// `x̂ = layer_norm(x)` (node `i`), then `x̂·γ + β` (node `i + 1`, a fused group).
    NormAffine(Affine),
    /// A layer norm's input gradient: with a prologue, the fused group computing `dy·γ`
    /// and the sums `Σ dy`, `Σ dy·x̂` (node `i`, its two reductions' nodes after it);
    /// then `layer_norm_grad` (read only by the add, if there is one); with `add`, plus
    /// the residual's gradient; with `sum`, the sum of the last value over the leading axes.
    NormGrad(NormGrad),
    /// The cross-entropy of logits in rows of `width` (node `i`), the constant seeding its
    /// gradient (node `i + 1`, `dl`) and that gradient (node `i + 2`).
    CrossEntropy { width: usize, dl: f32 },
    /// The self-attention's gradient (node `i`), then its sum or mean over the batch and
    /// position axes (node `i + 1`, `op`).
    AttentionGradSum {
        heads: usize,
        scale: f32,
        op: ReduceOp,
    },
}

/// The operands of a [`Merge::NormAffine`] run's fused group.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Affine {
    pub eps: f64,
    /// Operand indices of `γ` and `β` in the fused node.
    pub gamma: usize,
    pub beta: usize,
    /// Whether `x̂` is stored: not when the only other reader is a [`Merge::NormGrad`]
    /// prologue of the same norm, which recomputes it ([`Prologue::recompute_xhat`]).
    pub store_xhat: bool,
}

/// A [`Merge::NormGrad`] run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct NormGrad {
    pub width: usize,
    pub eps: f64,
    pub prologue: Option<Prologue>,
    pub add: bool,
    pub sum: Option<ReduceOp>,
}

/// Operand indices of the fused `dy·γ` group that starts a [`Merge::NormGrad`] run, and
/// which of its reductions is `Σ dy` (the other is `Σ dy·x̂`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Prologue {
    pub dy: usize,
    pub gamma: usize,
    pub xhat: usize,
    pub dy_sum_first: bool,
    /// `x̂` computed from the norm's input (the bits of the forward run's `(x − μ)·(1/σ)`)
    /// instead of read: the [`Merge::NormAffine`] run that computes it does not store it.
    pub recompute_xhat: bool,
}

impl NormGrad {
    /// Where the norm's gradient sits in the run.
    pub(super) fn norm_at(self) -> usize {
        if self.prologue.is_some() { 3 } else { 0 }
    }
}

impl Merge {
    /// Nodes after the first that the run computes.
    pub(super) fn extra(self) -> usize {
        match self {
            Merge::BiasGelu { .. }
            | Merge::GeluGradSum { .. }
            | Merge::NormAffine(_)
            | Merge::AttentionGradSum { .. } => 1,
            Merge::CrossEntropy { .. } => 2,
            Merge::NormGrad(n) => n.norm_at() + usize::from(n.add) + usize::from(n.sum.is_some()),
        }
    }

    /// The run's name in profiles.
    pub(super) fn name(self) -> &'static str {
        match self {
            Merge::BiasGelu { .. } => "merged add+gelu",
            Merge::GeluGradSum { .. } => "merged gelu_grad+sum",
            Merge::NormAffine(_) => "merged layer_norm+affine",
            Merge::NormGrad(n) if n.prologue.is_some() => "merged layer_norm_grad (dy·γ, sums)",
            Merge::NormGrad(_) => "merged layer_norm_grad+add",
            Merge::CrossEntropy { .. } => "merged cross_entropy+grad",
            Merge::AttentionGradSum { .. } => "merged self_attention_grad+sum",
        }
    }
}

/// The runs of `g` to merge, at their first nodes; runs do not overlap. With `keep_slope`,
/// a GELU's gradient run reads the `gelu'(h)` its forward run kept.
pub(super) fn find(g: &Graph, keep_slope: bool) -> Vec<Option<Merge>> {
    let mut readers = vec![0usize; g.nodes.len()];
    for node in &g.nodes {
        for j in &node.inputs {
            readers[j.index()] += 1;
        }
    }
    for o in &g.outputs {
        readers[o.index()] += 1;
    }
    let mut runs = vec![None; g.nodes.len()];
    let mut i = 0;
    while i < g.nodes.len() {
        let run = bias_gelu(g, i)
            .or_else(|| gelu_grad_sum(g, i))
            .or_else(|| norm_affine(g, i))
            .or_else(|| norm_grad(g, i, &readers))
            .or_else(|| cross_entropy(g, i))
            .or_else(|| attention_grad_sum(g, i));
        runs[i] = run;
        i += 1 + run.map_or(0, Merge::extra);
    }
    if keep_slope {
        link_gelu_slopes(g, &mut runs, &readers);
    }
    link_norm_outputs(g, &mut runs, &readers);
    runs
}

/// Points each norm gradient run whose prologue reads the `x̂` of a norm + affine run
/// of the same input and `ε` at that run, which then does not store `x̂` when the two
/// runs are its only readers: the gradient recomputes it from the input it reads anyway
/// (the same moments, so the same bits), one read and one write of `x̂` fewer per norm.
fn link_norm_outputs(g: &Graph, runs: &mut [Option<Merge>], readers: &[usize]) {
    for j in 0..runs.len() {
        let Some(Merge::NormGrad(mut n)) = runs[j] else {
            continue;
        };
        let Some(mut p) = n.prologue else {
            continue;
        };
        let xhat = g.nodes[j].inputs[p.xhat].index();
        let Some(Merge::NormAffine(mut a)) = runs[xhat] else {
            continue;
        };
        let same_input = g.nodes[j + n.norm_at()].inputs[0] == g.nodes[xhat].inputs[0];
        if same_input && a.eps == n.eps && readers[xhat] == 2 {
            a.store_xhat = false;
            p.recompute_xhat = true;
            n.prologue = Some(p);
            runs[xhat] = Some(Merge::NormAffine(a));
            runs[j] = Some(Merge::NormGrad(n));
        }
    }
}

/// Points each GELU gradient run whose `h` a bias + GELU run computes at that run, which
/// then keeps `gelu'(h)`, and stores `h` only if something else reads it.
fn link_gelu_slopes(g: &Graph, runs: &mut [Option<Merge>], readers: &[usize]) {
    for j in 0..runs.len() {
        let Some(Merge::GeluGradSum { width, op, .. }) = runs[j] else {
            continue;
        };
        let h = g.nodes[j].inputs[0].index();
        if let Some(Merge::BiasGelu { width: w, .. }) = runs[h] {
            runs[h] = Some(Merge::BiasGelu {
                width: w,
                keep_slope: true,
                store_h: readers[h] > 2,
            });
            runs[j] = Some(Merge::GeluGradSum {
                width,
                op,
                slope: Some(h),
            });
        }
    }
}

/// `(node, position)`: each later node of a run is written when its first node runs.
pub(super) fn written_at(runs: &[Option<Merge>]) -> Vec<(usize, usize)> {
    runs.iter()
        .enumerate()
        .filter_map(|(i, r)| r.map(|r| (i, r.extra())))
        .flat_map(|(i, extra)| (1..=extra).map(move |k| (i + k, i)))
        .collect()
}

/// Whether node `i` exists, computes an f32 value and reads only f32 values.
fn f32_node(g: &Graph, i: usize) -> bool {
    g.nodes.get(i).is_some_and(|n| {
        n.dtype == DType::F32 && n.inputs.iter().all(|j| g.node(*j).dtype == DType::F32)
    })
}

/// Whether node `j` reads exactly node `i`'s value and nothing else.
fn reads_only(g: &Graph, j: usize, i: usize) -> bool {
    g.nodes[j].inputs.len() == 1 && g.nodes[j].inputs[0].index() == i
}

/// Whether node `i` adds a bias over its rows (of its last axis) to a value of its own
/// shape: a [`Merge::BiasGelu`] run's first node.
fn adds_bias(g: &Graph, i: usize) -> bool {
    let node = &g.nodes[i];
    let Some(&width) = node.shape.last() else {
        return false;
    };
    if !matches!(node.op, Op::Binary(BinaryOp::Add)) || !f32_node(g, i) || width == 0 {
        return false;
    }
    let [a, b] = [node.inputs[0], node.inputs[1]].map(|j| g.node(j));
    let is_bias = |s: &[usize]| {
        let kept: Vec<usize> = s.iter().copied().skip_while(|&d| d == 1).collect();
        kept == [width]
    };
    (a.shape == node.shape && is_bias(&b.shape)) || (b.shape == node.shape && is_bias(&a.shape))
}

fn bias_gelu(g: &Graph, i: usize) -> Option<Merge> {
    let next = g.nodes.get(i + 1)?;
    let ok = matches!(next.op, Op::Unary(UnaryOp::Gelu))
        && f32_node(g, i + 1)
        && reads_only(g, i + 1, i)
        && adds_bias(g, i);
    ok.then_some(Merge::BiasGelu {
        width: *g.nodes[i].shape.last()?,
        keep_slope: false,
        store_h: true,
    })
}

/// The self-attention's gradient (node `i`), then its sum or mean over its batch and
/// position axes.
fn attention_grad_sum(g: &Graph, i: usize) -> Option<Merge> {
    let Op::SelfAttentionGrad { heads, scale } = g.nodes[i].op else {
        return None;
    };
    let shape = &g.nodes[i].shape;
    let (op, width) = column_sum(g, i + 1, i)?;
    let ok = f32_node(g, i) && shape.len() == 3 && width == shape[2];
    ok.then_some(Merge::AttentionGradSum {
        heads,
        scale: scale as f32,
        op,
    })
}

/// The op and the row width of node `j`, a sum or mean of node `i` over its leading axes.
fn column_sum(g: &Graph, j: usize, i: usize) -> Option<(ReduceOp, usize)> {
    let node = g.nodes.get(j)?;
    let Op::Reduce { op, ref axes, .. } = node.op else {
        return None;
    };
    let x = &g.nodes[i].shape;
    let leading = !axes.is_empty() && axes.iter().enumerate().all(|(k, &a)| k == a);
    let rows: usize = x.iter().take(axes.len()).product();
    let ok = matches!(op, ReduceOp::Sum | ReduceOp::Mean)
        && leading
        && axes.len() < x.len()
        && rows > 0
        && reads_only(g, j, i)
        && f32_node(g, j);
    ok.then(|| (op, g.nodes[i].numel() / rows))
}

fn gelu_grad_sum(g: &Graph, i: usize) -> Option<Merge> {
    let node = &g.nodes[i];
    let full = node.inputs.iter().all(|j| g.node(*j).shape == node.shape);
    if !matches!(node.op, Op::Binary(BinaryOp::GeluGrad)) || !f32_node(g, i) || !full {
        return None;
    }
    let (op, width) = column_sum(g, i + 1, i)?;
    Some(Merge::GeluGradSum {
        width,
        op,
        slope: None,
    })
}

/// Operand `k` of fused group `f` when it is read whole (`full`) or as a row of `width`.
fn operand(f: &FusedOp, arg: &FusedArg, full: bool, width: usize) -> Option<usize> {
    let FusedArg::Operand(k) = *arg else {
        return None;
    };
    let m = f.operands.get(k)?;
    let ok = if full {
        m.len == f.numel
    } else {
        m.stride == 1 && m.len == width
    };
    ok.then_some(k)
}

/// `[a, b]` of a binary step `op`, as `(full, row)` operands in either order.
fn full_and_row(f: &FusedOp, s: &FusedStep, op: BinaryOp, width: usize) -> Option<(usize, usize)> {
    let ([a, b], FusedFn::Binary(o)) = (&s.args[..], s.op) else {
        return None;
    };
    let pair = |x, y| Some((operand(f, x, true, width)?, operand(f, y, false, width)?));
    (o == op && s.dtype == DType::F32)
        .then(|| pair(a, b).or_else(|| pair(b, a)))
        .flatten()
}

fn fused_op(g: &Graph, i: usize) -> Option<&FusedOp> {
    match &g.nodes.get(i)?.op {
        Op::Fused(f) if g.nodes[i].dtype == DType::F32 => Some(f),
        _ => None,
    }
}

fn norm_affine(g: &Graph, i: usize) -> Option<Merge> {
    let Op::LayerNorm { eps } = g.nodes[i].op else {
        return None;
    };
    let f = fused_op(g, i + 1)?;
    let width = *g.nodes[i].shape.last()?;
    let [mul, add] = &f.steps[..] else {
        return None;
    };
    let (x, gamma) = full_and_row(f, mul, BinaryOp::Mul, width)?;
    let beta = match (&add.args[..], add.op) {
        ([FusedArg::Step(0), b] | [b, FusedArg::Step(0)], FusedFn::Binary(BinaryOp::Add)) => {
            operand(f, b, false, width)?
        }
        _ => return None,
    };
    let ok = f32_node(g, i)
        && g.nodes[i + 1].inputs.get(x).map(|j| j.index()) == Some(i)
        && add.dtype == DType::F32
        && f.outputs == [1]
        && f.reductions.is_empty()
        && f.numel == g.nodes[i].numel()
        && g.shape(g.nodes[i].inputs[0]) == g.nodes[i].shape.as_slice();
    ok.then_some(Merge::NormAffine(Affine {
        eps,
        gamma,
        beta,
        store_xhat: true,
    }))
}

/// The fused `dy·γ` group with the sums `Σ dy` and `Σ dy·x̂` at node `i`, followed by
/// its two reductions' nodes and read by nothing else than them and node `i + 3`.
fn prologue(g: &Graph, i: usize, width: usize, readers: &[usize]) -> Option<Prologue> {
    let f = fused_op(g, i)?;
    let [scaled, weighted] = &f.steps[..] else {
        return None;
    };
    let [r0, r1] = &f.reductions[..] else {
        return None;
    };
    let (dy, gamma) = full_and_row(f, scaled, BinaryOp::Mul, width)?;
    let ([a, b], FusedFn::Binary(BinaryOp::Mul)) = (&weighted.args[..], weighted.op) else {
        return None;
    };
    let xhat = match (operand(f, a, true, width), operand(f, b, true, width)) {
        (Some(p), Some(q)) if p == dy => q,
        (Some(p), Some(q)) if q == dy => p,
        _ => return None,
    };
    let sums = |r: &FusedReduction, arg: FusedArg| {
        r.op == ReduceOp::Sum && r.arg == arg && r.dtype == DType::F32
    };
    let dy_sum_first = match () {
        () if sums(r0, FusedArg::Operand(dy)) && sums(r1, FusedArg::Step(1)) => true,
        () if sums(r1, FusedArg::Operand(dy)) && sums(r0, FusedArg::Step(1)) => false,
        () => return None,
    };
    let is_output = |k: usize, index: usize| matches!(g.nodes.get(k).map(|n| &n.op), Some(Op::FusedOutput { index: x, dtype: DType::F32 }) if *x == index);
    let ok = weighted.dtype == DType::F32
        && f.outputs == [0]
        && f.columns().is_some_and(|c| c.columns == width)
        && is_output(i + 1, 1)
        && is_output(i + 2, 2)
        && readers[i] == 3;
    ok.then_some(Prologue {
        dy,
        gamma,
        xhat,
        dy_sum_first,
        recompute_xhat: false,
    })
}

fn norm_grad(g: &Graph, i: usize, readers: &[usize]) -> Option<Merge> {
    let width = *g.nodes[i].shape.last()?;
    let prologue = prologue(g, i, width, readers);
    let at = i + if prologue.is_some() { 3 } else { 0 };
    let node = g.nodes.get(at)?;
    let Op::LayerNormGrad { eps } = node.op else {
        return None;
    };
    let full = |j: &NodeId| g.shape(*j) == node.shape.as_slice();
    let reads_prologue = node.inputs.get(1).map(|j| j.index()) == Some(i);
    if !f32_node(g, at) || !node.inputs.iter().all(full) || (prologue.is_some() && !reads_prologue)
    {
        return None;
    }
    let add = g.nodes.get(at + 1).filter(|add| {
        let ins: Vec<usize> = add.inputs.iter().map(|j| j.index()).collect();
        let other = match ins[..] {
            [a, b] if a == at && b != at => b,
            [a, b] if b == at && a != at => a,
            _ => return false,
        };
        matches!(add.op, Op::Binary(BinaryOp::Add))
            && readers[at] == 1
            && f32_node(g, at + 1)
            && add.shape == node.shape
            && g.nodes[other].shape == node.shape
    });
    let last = at + usize::from(add.is_some());
    let sum = column_sum(g, last + 1, last).filter(|&(_, w)| w == width);
    if prologue.is_none() && add.is_none() {
        return None;
    }
    Some(Merge::NormGrad(NormGrad {
        width,
        eps,
        prologue,
        add: add.is_some(),
        sum: sum.map(|(op, _)| op),
    }))
}

/// A cross-entropy at node `i`, then a scalar constant, then the gradient of the
/// cross-entropy of the same logits and targets seeded by that constant.
fn cross_entropy(g: &Graph, i: usize) -> Option<Merge> {
    let (ce, dl, grad) = (&g.nodes[i], g.nodes.get(i + 1)?, g.nodes.get(i + 2)?);
    let Op::Constant { value } = dl.op else {
        return None;
    };
    let same_operands = grad.inputs.len() == 3
        && grad.inputs[..2] == ce.inputs[..]
        && grad.inputs[2].index() == i + 1;
    let logits = g.node(*ce.inputs.first()?);
    let ok = matches!(ce.op, Op::CrossEntropy)
        && matches!(grad.op, Op::CrossEntropyGrad)
        && same_operands
        && dl.numel() == 1
        && [ce, dl, grad, logits].iter().all(|n| n.dtype == DType::F32)
        && logits.shape.len() == 2
        && grad.shape == logits.shape;
    let width = *logits.shape.last()?;
    ok.then_some(Merge::CrossEntropy {
        width,
        dl: value as f32,
    })
}
