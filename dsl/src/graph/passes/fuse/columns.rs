//! What the fusion pass needs to know about reductions: which [`Op::Reduce`] nodes may end
//! a group (column reductions its kernel accumulates, see [`crate::graph::fused::reduce`]),
//! and a reordering that lets them.

use crate::graph::fused::reduce;
use crate::graph::ir::{Graph, NodeId, Op};

/// The reduced axes of node `i` when it is a reduction a fused group can accumulate: a
/// float sum, mean or maximum over leading axes `0..k` of a float operand, leaving rows of
/// whole 4-lane vectors (so a bias gradient `[B, T, C] → [1, 1, C]` with `C % 4 == 0`).
pub(super) fn column_axes(g: &Graph, i: usize) -> Option<&[usize]> {
    let node = &g.nodes[i];
    let Op::Reduce { axes, .. } = &node.op else {
        return None;
    };
    let x = g.node(*node.inputs.first()?);
    let leading = !axes.is_empty() && axes.iter().enumerate().all(|(k, &a)| k == a);
    let rows: usize = x.shape.iter().take(axes.len()).product();
    let columns = x.numel() / rows.max(1);
    let fits = u32::try_from(x.numel()).is_ok() && rows > 0;
    (leading
        && fits
        && node.dtype.is_float()
        && x.dtype.is_float()
        && axes.len() < x.shape.len()
        && reduce::lowers(columns))
    .then_some(axes.as_slice())
}

/// `g` with every [`Op::Reshape`] moved to just before its first reader (or to the end
/// when only the graph's outputs read it). A reshape computes nothing, so where it sits
/// changes no value; sunk, a reshape of a bias gradient no longer stands between the
/// gradient's reduction and the elementwise ops that could share its kernel.
pub(super) fn sink_reshapes(g: &Graph) -> Graph {
    let n = g.nodes.len();
    let mut first_reader = vec![n; n];
    for (i, node) in g.nodes.iter().enumerate().rev() {
        for j in &node.inputs {
            first_reader[j.index()] = i;
        }
    }
    let mut pending: Vec<Vec<usize>> = vec![Vec::new(); n + 1];
    for (i, node) in g.nodes.iter().enumerate() {
        if matches!(node.op, Op::Reshape) {
            pending[first_reader[i]].push(i);
        }
    }
    let mut sunk = Sunk {
        g,
        pending,
        map: vec![NodeId(0); n],
        out: Graph::new(),
    };
    for i in 0..n {
        if !matches!(g.nodes[i].op, Op::Reshape) {
            sunk.place(i);
        }
    }
    for r in std::mem::take(&mut sunk.pending[n]) {
        sunk.place(r);
    }
    let Sunk { map, mut out, .. } = sunk;
    out.outputs = g.outputs.iter().map(|o| map[o.index()]).collect();
    out
}

/// The reordered graph under construction.
struct Sunk<'g> {
    g: &'g Graph,
    /// Reshapes waiting for the node they go before.
    pending: Vec<Vec<usize>>,
    map: Vec<NodeId>,
    out: Graph,
}

impl Sunk<'_> {
    /// Appends node `i`, after the reshapes that wait for it.
    fn place(&mut self, i: usize) {
        for r in std::mem::take(&mut self.pending[i]) {
            self.place(r);
        }
        let mut node = self.g.nodes[i].clone();
        // Every operand comes earlier in the original order, and a reshape goes no later
        // than its first reader, so every operand is placed.
        node.inputs = node.inputs.iter().map(|j| self.map[j.index()]).collect();
        self.map[i] = NodeId(self.out.nodes.len() as u32);
        self.out.nodes.push(node);
    }
}
