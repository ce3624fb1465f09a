//! Activation recomputation: the backward reads fewer stored forward values and recomputes
//! the others just before it needs them, trading compute for memory.
//!
//! The forward is everything the loss (`outputs[0]`) depends on; every other node is the
//! backward. A forward value the policy does not keep is, where the backward reads it,
//! replaced by a copy of its computation placed right before its first backward reader
//! (recursively, down to kept values). The original is then free after its last forward
//! use, and the copy lives only across the backward's stretch that reads it; the memory
//! plan ([`super::plan_memory`]) sees both. Copies compute the same operations on the same
//! operands, so gradients are bit-identical (dropout masks are counter-based and replay).
//!
//! Run it after common-subexpression elimination, which would merge the copies back.

use serde::{Deserialize, Serialize};

use crate::graph::ir::{Graph, NodeId, Op};

/// Which forward values the backward recomputes instead of storing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Recompute {
    /// Store every value the backward reads.
    #[default]
    None,
    /// Megatron's selective recomputation: recompute what is cheap per byte — elementwise
    /// ops, data movement, softmaxes and norms — and the attention core (products of two
    /// activations: scores and their weighted sum); store products with parameters.
    Selective,
    /// Store only what normalisation layers read (in a pre-norm transformer, each block's
    /// input and its mid-block residual) and recompute everything else from those.
    Full,
}

/// `g` with the backward's reads of unkept forward values replaced by recomputed copies.
pub fn recompute(g: &Graph, policy: Recompute) -> Graph {
    let Some(&loss) = g.outputs.first() else {
        return g.clone();
    };
    if policy == Recompute::None {
        return g.clone();
    }
    let forward = ancestors(g, loss);
    let keep = kept(g, &forward, policy);
    let mut r = Rewriter {
        g,
        forward: &forward,
        keep: &keep,
        out: Graph::new(),
        map: vec![NodeId(0); g.nodes.len()],
        copy: vec![None; g.nodes.len()],
    };
    for (i, &is_forward) in forward.iter().enumerate() {
        let mut node = g.nodes[i].clone();
        node.inputs = if is_forward {
            node.inputs.iter().map(|j| r.map[j.index()]).collect()
        } else {
            node.inputs.iter().map(|&j| r.backward_read(j)).collect()
        };
        r.map[i] = r.push(node);
    }
    let mut out = r.out;
    out.outputs = g.outputs.iter().map(|o| r.map[o.index()]).collect();
    out
}

/// Nodes `root` depends on, itself included.
fn ancestors(g: &Graph, root: NodeId) -> Vec<bool> {
    let mut seen = vec![false; g.nodes.len()];
    seen[root.index()] = true;
    for i in (0..=root.index()).rev() {
        if seen[i] {
            for j in &g.nodes[i].inputs {
                seen[j.index()] = true;
            }
        }
    }
    seen
}

/// Which forward nodes stay stored under `policy` (inputs and constants always do).
fn kept(g: &Graph, forward: &[bool], policy: Recompute) -> Vec<bool> {
    let param_like = |id: &NodeId| matches!(g.node(*id).op, Op::Input { .. });
    let mut keep: Vec<bool> = g
        .nodes
        .iter()
        .map(|n| match (&n.op, policy) {
            (Op::Input { .. } | Op::Constant { .. }, _) | (_, Recompute::None) => true,
            (Op::MatMul { .. }, Recompute::Selective) => n.inputs.iter().any(param_like),
            (Op::Reduce { .. } | Op::CrossEntropy, Recompute::Selective) => true,
            (_, Recompute::Selective) => false,
            (_, Recompute::Full) => false,
        })
        .collect();
    if policy == Recompute::Full {
        for n in &g.nodes {
            if matches!(n.op, Op::LayerNorm { .. } | Op::RmsNorm { .. }) {
                keep[n.inputs[0].index()] = true;
            }
        }
    }
    for (k, f) in keep.iter_mut().zip(forward) {
        *k |= !f;
    }
    keep
}

struct Rewriter<'a> {
    g: &'a Graph,
    forward: &'a [bool],
    keep: &'a [bool],
    out: Graph,
    /// Where each old node went in `out`.
    map: Vec<NodeId>,
    /// The recomputed copy of each unkept forward node, once made.
    copy: Vec<Option<NodeId>>,
}

impl Rewriter<'_> {
    fn push(&mut self, node: crate::graph::ir::Node) -> NodeId {
        self.out.nodes.push(node);
        NodeId(self.out.nodes.len() as u32 - 1)
    }

    /// What a backward node reads for old node `j`: the stored value, or its copy.
    fn backward_read(&mut self, j: NodeId) -> NodeId {
        let i = j.index();
        if !self.forward[i] || self.keep[i] {
            return self.map[i];
        }
        if let Some(c) = self.copy[i] {
            return c;
        }
        let mut node = self.g.nodes[i].clone();
        node.inputs = node.inputs.iter().map(|&k| self.backward_read(k)).collect();
        let c = self.push(node);
        self.copy[i] = Some(c);
        c
    }
}
