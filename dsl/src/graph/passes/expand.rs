//! Rewrites [`Op::SelfAttention`] and its gradient into the primitive ops that define them
//! (head slicing, [`Op::MatMul`], [`Op::CausalSoftmax`], [`Op::SoftmaxGrad`]), for
//! executors without a fused attention: the device programs run these one kernel per op.

use crate::graph::autodiff::At;
use crate::graph::error::GraphError;
use crate::graph::ir::{Graph, NodeId, Op};

/// `g` with every self-attention node and its gradient expanded into primitive ops; the
/// same graph when it has none.
pub fn expand_attention(g: &Graph) -> Result<Graph, GraphError> {
    let fused = |op: &Op| matches!(op, Op::SelfAttention { .. } | Op::SelfAttentionGrad { .. });
    if !g.nodes.iter().any(|n| fused(&n.op)) {
        return Ok(g.clone());
    }
    let mut out = Graph::new();
    let mut map: Vec<NodeId> = Vec::with_capacity(g.nodes.len());
    for node in &g.nodes {
        let ins: Vec<NodeId> = node.inputs.iter().map(|i| map[i.index()]).collect();
        let mut at = At {
            g: &mut out,
            site: node.site.clone(),
        };
        let id = match node.op {
            Op::SelfAttention { heads, scale } => at.forward(ins[0], heads, scale)?,
            Op::SelfAttentionGrad { heads, scale } => at.backward(ins[0], ins[1], heads, scale)?,
            _ => out.append(
                node.op.clone(),
                ins,
                node.shape.clone(),
                node.dtype,
                node.site.clone(),
            ),
        };
        map.push(id);
    }
    out.outputs = g.outputs.iter().map(|o| map[o.index()]).collect();
    Ok(out)
}

// Methods of the autodiff's node builder that only the expansion needs.
impl At<'_> {
    fn matmul(&mut self, a: NodeId, b: NodeId, ta: bool, tb: bool) -> Result<NodeId, GraphError> {
        self.op(
            Op::MatMul {
                trans_a: ta,
                trans_b: tb,
            },
            &[a, b],
            &[],
        )
    }

    /// `[B, T, 3·C]` → queries, keys and values as `[B, H, T, hd]`.
    fn split(&mut self, qkv: NodeId, heads: usize) -> Result<[NodeId; 3], GraphError> {
        let [b, t, c3] = self.g.shape(qkv)[..] else {
            unreachable!("shape inference admitted only [B, T, 3·C]")
        };
        let hd = c3 / 3 / heads;
        let r = self.op(Op::Reshape, &[qkv], &[b, t, 3, heads, hd])?;
        let p = self.op(
            Op::Permute {
                perm: vec![2, 0, 3, 1, 4],
            },
            &[r],
            &[],
        )?;
        let mut part = |i: usize| -> Result<NodeId, GraphError> {
            let s = self.op(
                Op::Slice {
                    axis: 0,
                    start: i,
                    end: i + 1,
                },
                &[p],
                &[],
            )?;
            self.op(Op::Reshape, &[s], &[b, heads, t, hd])
        };
        Ok([part(0)?, part(1)?, part(2)?])
    }

    /// `[B, T, C]` ↔ `[B, H, T, hd]` (the permutation is its own inverse).
    fn heads(&mut self, x: NodeId, to_heads: bool, heads: usize) -> Result<NodeId, GraphError> {
        let shape = self.g.shape(x).to_vec();
        let perm = Op::Permute {
            perm: vec![0, 2, 1, 3],
        };
        if to_heads {
            let (b, t, c) = (shape[0], shape[1], shape[2]);
            let r = self.op(Op::Reshape, &[x], &[b, t, heads, c / heads])?;
            self.op(perm, &[r], &[])
        } else {
            let (b, t) = (shape[0], shape[2]);
            let p = self.op(perm, &[x], &[])?;
            self.op(Op::Reshape, &[p], &[b, t, shape[1] * shape[3]])
        }
    }

    fn forward(&mut self, qkv: NodeId, heads: usize, scale: f64) -> Result<NodeId, GraphError> {
        let [q, k, v] = self.split(qkv, heads)?;
        let s = self.matmul(q, k, false, true)?;
        let p = self.op(Op::CausalSoftmax { scale }, &[s], &[])?;
        let y = self.matmul(p, v, false, false)?;
        self.heads(y, false, heads)
    }

    fn backward(
        &mut self,
        qkv: NodeId,
        dy: NodeId,
        heads: usize,
        scale: f64,
    ) -> Result<NodeId, GraphError> {
        let [q, k, v] = self.split(qkv, heads)?;
        let s = self.matmul(q, k, false, true)?;
        let p = self.op(Op::CausalSoftmax { scale }, &[s], &[])?;
        let g = self.heads(dy, true, heads)?;
        let dv = self.matmul(p, g, true, false)?;
        let dp = self.matmul(g, v, false, true)?;
        let ds = self.op(Op::SoftmaxGrad { scale }, &[p, dp], &[])?;
        let dq = self.matmul(ds, k, false, false)?;
        let dk = self.matmul(ds, q, true, false)?;
        let shape = self.g.shape(q).to_vec();
        let mut one = vec![1];
        one.extend_from_slice(&shape);
        let parts = [dq, dk, dv]
            .into_iter()
            .map(|d| self.op(Op::Reshape, &[d], &one))
            .collect::<Result<Vec<_>, _>>()?;
        let cat = self.op(Op::Concat { axis: 0 }, &parts, &[])?;
        let back = self.op(
            Op::Permute {
                perm: vec![1, 3, 0, 2, 4],
            },
            &[cat],
            &[],
        )?;
        let [b, t] = [shape[0], shape[2]];
        self.op(Op::Reshape, &[back], &[b, t, 3 * shape[1] * shape[3]])
    }
}
