//! The vector-Jacobian product of [`Op::MatMul`], with every transpose folded into the
//! product's flags (no transposed copies) and shared weights' gradients computed as one
//! flat product over all batch rows (the `Linear` case) instead of a batched product and a
//! sum.

use super::error::GraphError;
use super::ir::{Graph, Node, NodeId, Op, ReduceOp};

/// `[dA, dB]` for `C = op(A)·op(B)` given `dC`; `None` where `need` is false.
pub(super) fn matmul_vjp(
    g: &mut Graph,
    node: &Node,
    dy: NodeId,
    ta: bool,
    tb: bool,
    need: &[bool],
) -> Result<Vec<Option<NodeId>>, GraphError> {
    let (a, b) = (node.inputs[0], node.inputs[1]);
    let site = node.site.clone();
    let mm = |g: &mut Graph, x: NodeId, y: NodeId, tx: bool, ty: bool| {
        g.push_at(
            Op::MatMul {
                trans_a: tx,
                trans_b: ty,
            },
            &[x, y],
            &[],
            site.clone(),
        )
    };
    let mut out = vec![None, None];
    if need[0] {
        let full = if ta {
            mm(g, b, dy, tb, true)?
        } else {
            mm(g, dy, b, false, !tb)?
        };
        out[0] = Some(sum_batch(g, full, a, node)?);
    }
    if need[1] {
        let (ra, rb) = (g.shape(a).len(), g.shape(b).len());
        out[1] = Some(if rb == 2 && ra > 2 && !ta {
            // Shared weight: flatten the batch into rows, one product over all of them.
            let sa = g.shape(a).to_vec();
            let k = sa[sa.len() - 1];
            let rows = sa.iter().product::<usize>() / k.max(1);
            let n = *g.shape(dy).last().unwrap_or(&1);
            let a2 = g.push_at(Op::Reshape, &[a], &[rows, k], site.clone())?;
            let dy2 = g.push_at(Op::Reshape, &[dy], &[rows, n], site.clone())?;
            if tb {
                mm(g, dy2, a2, true, false)?
            } else {
                mm(g, a2, dy2, true, false)?
            }
        } else {
            let full = if tb {
                mm(g, dy, a, true, ta)?
            } else {
                mm(g, a, dy, !ta, false)?
            };
            sum_batch(g, full, b, node)?
        });
    }
    Ok(out)
}

/// Sums a batched gradient over the batch axes its operand does not have.
fn sum_batch(
    g: &mut Graph,
    full: NodeId,
    operand: NodeId,
    node: &Node,
) -> Result<NodeId, GraphError> {
    let (rf, ro) = (g.shape(full).len(), g.shape(operand).len());
    if rf == ro {
        return Ok(full);
    }
    let axes: Vec<usize> = (0..rf - ro).collect();
    let op = Op::Reduce {
        op: ReduceOp::Sum,
        axes,
        keep_dims: false,
    };
    g.push_at(op, &[full], &[], node.site.clone())
}
