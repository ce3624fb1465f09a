//! Runs of consecutive ops the executor computes in one pass over their rows: the patterns
//! of a transformer's MLP and norms that elementwise fusion leaves apart, because they hold
//! a compute-bound function (GELU) or a row op (a norm's gradient) that the fused kernels
//! do not run as fast as the executor's own 8-lane loops.
//!
//! - [`Merge::BiasGelu`]: `h = z + b` (a bias over the rows) then `gelu(h)`: one pass
//!   storing both (the gradient reads `h`), instead of a second pass reading `h` back.
//! - [`Merge::GeluGradSum`]: `dz = dy·gelu'(h)` and its column sum (the bias gradient),
//!   each block of rows summed while it is still in cache.
//! - [`Merge::NormGradAdd`]: a layer norm's input gradient plus the residual gradient `r`,
//!   and optionally its column sum; the norm's gradient alone, read only by the add, is
//!   never stored.
//!
//! Each value gets the bits of the unmerged ops: the same arithmetic per element, and
//! column sums accumulated in the executor's blocks of rows ([`partial_rows`]) and combined
//! in block order ([`super::reduce::finish_columns`]), so results still do not depend on
//! the thread count. Merging changes when a value is written (all of a run's values when
//! its first node runs): the memory plan is told ([`written_at`]), so no value of the run
//! shares a slot with anything alive then.

use rayon::prelude::*;
use vibee_dsl::graph::fused::reduce::partial_rows;
use vibee_dsl::graph::{BinaryOp, DType, Graph, Op, ReduceOp, UnaryOp};

use super::elementwise::{gelu_grad_run, gelu_run};
use super::math::wide;
use super::rows::layer_norm_grad;

/// Elements per parallel task of the runs without a column sum.
const TASK: usize = 1 << 14;

/// What a run of consecutive nodes computes; the run's first node holds it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Merge {
    /// `h = z + b` over rows of `width` (node `i`), then `gelu(h)` (node `i + 1`).
    BiasGelu { width: usize },
    /// `dz = dy·gelu'(h)` (node `i`), then its sum or mean over the leading axes (node
    /// `i + 1`, `op`) into rows of `width`.
    GeluGradSum { width: usize, op: ReduceOp },
    /// `layer_norm_grad(x, dy)` (node `i`, read only by node `i + 1`), plus `r` (node
    /// `i + 1`), then, with `sum`, node `i + 2` reducing that over the leading axes.
    NormGradAdd {
        width: usize,
        eps: f64,
        sum: Option<ReduceOp>,
    },
}

impl Merge {
    /// Nodes after the first that the run computes.
    pub(super) fn extra(self) -> usize {
        match self {
            Merge::BiasGelu { .. } | Merge::GeluGradSum { .. } => 1,
            Merge::NormGradAdd { sum, .. } => 1 + usize::from(sum.is_some()),
        }
    }

    /// The run's name in profiles.
    pub(super) fn name(self) -> &'static str {
        match self {
            Merge::BiasGelu { .. } => "merged add+gelu",
            Merge::GeluGradSum { .. } => "merged gelu_grad+sum",
            Merge::NormGradAdd { sum: None, .. } => "merged layer_norm_grad+add",
            Merge::NormGradAdd { sum: Some(_), .. } => "merged layer_norm_grad+add+sum",
        }
    }
}

/// The runs of `g` to merge, at their first nodes; runs do not overlap.
pub(super) fn find(g: &Graph) -> Vec<Option<Merge>> {
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
            .or_else(|| norm_grad_add(g, i, &readers));
        runs[i] = run;
        i += 1 + run.map_or(0, Merge::extra);
    }
    runs
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

fn bias_gelu(g: &Graph, i: usize) -> Option<Merge> {
    let node = &g.nodes[i];
    if !matches!(node.op, Op::Binary(BinaryOp::Add)) || !f32_node(g, i) || !f32_node(g, i + 1) {
        return None;
    }
    let next = &g.nodes[i + 1];
    if !matches!(next.op, Op::Unary(UnaryOp::Gelu)) || !reads_only(g, i + 1, i) {
        return None;
    }
    let width = *node.shape.last()?;
    let [a, b] = [node.inputs[0], node.inputs[1]].map(|j| g.node(j));
    let is_bias = |s: &[usize]| {
        let kept: Vec<usize> = s.iter().copied().skip_while(|&d| d == 1).collect();
        kept == [width]
    };
    let full_and_bias = (a.shape == node.shape && is_bias(&b.shape))
        || (b.shape == node.shape && is_bias(&a.shape));
    (full_and_bias && width > 0).then_some(Merge::BiasGelu { width })
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
    Some(Merge::GeluGradSum { width, op })
}

fn norm_grad_add(g: &Graph, i: usize, readers: &[usize]) -> Option<Merge> {
    let node = &g.nodes[i];
    let Op::LayerNormGrad { eps } = node.op else {
        return None;
    };
    let add = g.nodes.get(i + 1)?;
    let ins: Vec<usize> = add.inputs.iter().map(|j| j.index()).collect();
    let other = match ins[..] {
        [a, b] if a == i && b != i => b,
        [a, b] if b == i && a != i => a,
        _ => return None,
    };
    let ok = matches!(add.op, Op::Binary(BinaryOp::Add))
        && readers[i] == 1
        && f32_node(g, i)
        && f32_node(g, i + 1)
        && add.shape == node.shape
        && g.nodes[other].shape == node.shape
        && g.shape(node.inputs[0]) == node.shape.as_slice()
        && g.shape(node.inputs[1]) == node.shape.as_slice();
    if !ok {
        return None;
    }
    let width = *node.shape.last()?;
    let sum = column_sum(g, i + 2, i + 1).filter(|&(_, w)| w == width);
    Some(Merge::NormGradAdd {
        width,
        eps,
        sum: sum.map(|(op, _)| op),
    })
}

/// `h = z + b`, `out = gelu(h)` over rows of `b.len()`.
pub(super) fn bias_gelu_run(z: &[f32], b: &[f32], h: &mut [f32], out: &mut [f32]) {
    let w = b.len().max(1);
    let per = (TASK / w).max(1) * w;
    h.par_chunks_mut(per)
        .zip(out.par_chunks_mut(per))
        .zip(z.par_chunks(per))
        .for_each(|((h, o), z)| {
            wide(
                #[inline(always)]
                || {
                    for ((h, o), z) in h.chunks_mut(w).zip(o.chunks_mut(w)).zip(z.chunks(w)) {
                        for ((h, &z), &b) in h.iter_mut().zip(z).zip(b) {
                            *h = z + b;
                        }
                        gelu_run(h, o);
                    }
                },
            )
        });
}

/// Rows of `width` in blocks of the executor's column reduction: `row(r, o)` writes row
/// `r` into `o`, and each block's rows are summed into its row of the returned partials.
fn rows_with_partials<F>(out: &mut [f32], width: usize, row: F) -> Vec<f32>
where
    F: Fn(usize, &mut [f32]) + Sync,
{
    let w = width.max(1);
    let group = partial_rows(w);
    let blocks = (out.len() / w).div_ceil(group);
    let mut partials = vec![0.0f32; blocks * w];
    out.par_chunks_mut(group * w)
        .zip(partials.par_chunks_mut(w))
        .enumerate()
        .for_each(|(block, (o, acc))| {
            wide(
                #[inline(always)]
                || {
                    for (k, o) in o.chunks_mut(w).enumerate() {
                        row(block * group + k, o);
                        acc.iter_mut().zip(&*o).for_each(|(a, &v)| *a += v);
                    }
                },
            )
        });
    partials
}

/// `out = dy·gelu'(h)`; returns the per-block partial column sums of `out`.
pub(super) fn gelu_grad_sum_run(h: &[f32], dy: &[f32], out: &mut [f32], width: usize) -> Vec<f32> {
    let w = width.max(1);
    rows_with_partials(
        out,
        w,
        #[inline(always)]
        |r, o| gelu_grad_run(&h[r * w..][..w], &dy[r * w..][..w], o),
    )
}

/// `out = layer_norm_grad(x, dy) + r` per row of `width`; with `sum`, returns the per-block
/// partial column sums of `out`.
pub(super) fn norm_grad_add_run(
    (x, dy, r): (&[f32], &[f32], &[f32]),
    eps: f64,
    out: &mut [f32],
    width: usize,
    sum: bool,
) -> Vec<f32> {
    let w = width.max(1);
    #[inline(always)]
    fn one(x: &[f32], dy: &[f32], r: &[f32], eps: f64, o: &mut [f32]) {
        layer_norm_grad(x, dy, eps, o);
        o.iter_mut().zip(r).for_each(|(o, &r)| *o += r);
    }
    if sum {
        return rows_with_partials(
            out,
            w,
            #[inline(always)]
            |k, o| {
                let at = k * w..(k + 1) * w;
                one(&x[at.clone()], &dy[at.clone()], &r[at], eps, o)
            },
        );
    }
    let per = (TASK / w).max(1);
    out.par_chunks_mut(per * w)
        .enumerate()
        .for_each(|(task, o)| {
            wide(
                #[inline(always)]
                || {
                    for (k, o) in o.chunks_mut(w).enumerate() {
                        let at = (task * per + k) * w..(task * per + k + 1) * w;
                        one(&x[at.clone()], &dy[at.clone()], &r[at], eps, o);
                    }
                },
            )
        });
    Vec::new()
}
