//! Reverse-mode autodiff: appends to a graph the nodes computing the gradient of a scalar
//! loss with respect to chosen nodes. Each op's vector-Jacobian product is written with
//! other graph ops (backward-only ops such as [`Op::LayerNormGrad`] recompute what they
//! need from the forward's inputs rather than keeping statistics alive).

use super::call::CallOp;
use super::error::{GraphError, site_string};
use super::ir::{BinaryOp, CallSite, Graph, Node, NodeId, Op, ReduceOp, UnaryOp};

type Grads = Result<Vec<Option<NodeId>>, GraphError>;

/// Appends the gradient of `loss` (a float scalar) with respect to each of `wrt`; returns
/// the gradient nodes in order (a zero constant where `loss` does not depend on one).
///
/// ```
/// use vibee_dsl::graph::{autodiff::gradients, DType, Graph, InputRole};
/// let mut g = Graph::new();
/// let x = g.input("x", &[3], DType::F32, InputRole::Param).unwrap();
/// let y = g.mul(x, x).unwrap();
/// let loss = g.sum(y, &[0], false).unwrap();
/// let dx = gradients(&mut g, loss, &[x]).unwrap();
/// assert_eq!(g.shape(dx[0]), &[3]);
/// ```
pub fn gradients(g: &mut Graph, loss: NodeId, wrt: &[NodeId]) -> Result<Vec<NodeId>, GraphError> {
    let ln = g.node(loss);
    if !ln.shape.is_empty() || !ln.dtype.is_float() {
        return Err(GraphError::NonScalarLoss {
            node: loss,
            shape: ln.shape.clone(),
        });
    }
    let needed = needed_nodes(g, loss, wrt);
    // Every contribution to a node's gradient, summed (or joined) when the node is reached.
    let mut adj: Vec<Vec<NodeId>> = vec![Vec::new(); loss.index() + 1];
    adj[loss.index()].push(g.constant_at(1.0, &[], ln.site.clone()));
    for i in (0..=loss.index()).rev() {
        if adj[i].is_empty() || !needed[i] {
            continue;
        }
        let node = g.nodes[i].clone();
        let need: Vec<bool> = node.inputs.iter().map(|j| needed[j.index()]).collect();
        if !need.iter().any(|&b| b) {
            continue;
        }
        let dy = combine(g, &adj[i], node.site.clone())?;
        let grads = vjp(g, NodeId(i as u32), &node, dy, &need)?;
        for (k, gk) in grads.into_iter().enumerate() {
            if let (Some(gk), true) = (gk, need[k]) {
                adj[node.inputs[k].index()].push(gk);
            }
        }
    }
    let mut out = Vec::with_capacity(wrt.len());
    for w in wrt {
        let parts = adj.get(w.index()).map(Vec::as_slice).unwrap_or(&[]);
        out.push(if parts.is_empty() {
            let shape = g.shape(*w).to_vec();
            g.constant_at(0.0, &shape, None)
        } else {
            combine(g, parts, None)?
        });
    }
    Ok(out)
}

/// The sum of gradient contributions. Zero-padded pieces that tile an axis (the gradients
/// of slices, e.g. attention's q, k and v cut from one projection) are joined with one
/// concat instead of padded and added.
fn combine(g: &mut Graph, parts: &[NodeId], site: Option<CallSite>) -> Result<NodeId, GraphError> {
    if parts.len() == 1 {
        return Ok(parts[0]);
    }
    if let Some((axis, pieces)) = tiling_pads(g, parts) {
        return g.push_at(Op::Concat { axis }, &pieces, &[], site);
    }
    let mut acc = parts[0];
    for &p in &parts[1..] {
        acc = g.push_at(Op::Binary(BinaryOp::Add), &[acc, p], &[], site.clone())?;
    }
    Ok(acc)
}

/// If every part is a [`Op::Pad`] along one axis and together they cover it exactly once,
/// the axis and the unpadded pieces in order.
fn tiling_pads(g: &Graph, parts: &[NodeId]) -> Option<(usize, Vec<NodeId>)> {
    let mut pads = Vec::new();
    for &p in parts {
        match g.node(p).op {
            Op::Pad { axis, before, .. } => pads.push((axis, before, g.node(p).inputs[0])),
            _ => return None,
        }
    }
    pads.sort_by_key(|&(_, before, _)| before);
    let axis = pads[0].0;
    let total = g.shape(parts[0])[axis];
    let mut at = 0;
    for &(a, before, x) in &pads {
        if a != axis || before != at {
            return None;
        }
        at += g.shape(x)[axis];
    }
    (at == total).then(|| (axis, pads.iter().map(|p| p.2).collect()))
}

/// Nodes that lie on a path from some `wrt` node to `loss` (and carry floats).
fn needed_nodes(g: &Graph, loss: NodeId, wrt: &[NodeId]) -> Vec<bool> {
    let n = loss.index() + 1;
    let mut from = vec![false; n];
    for w in wrt {
        if w.index() < n {
            from[w.index()] = true;
        }
    }
    for i in 0..n {
        if g.nodes[i].inputs.iter().any(|j| from[j.index()]) {
            from[i] = true;
        }
    }
    let mut to = vec![false; n];
    to[loss.index()] = true;
    for i in (0..n).rev() {
        if to[i] {
            for j in &g.nodes[i].inputs {
                to[j.index()] = true;
            }
        }
    }
    (0..n)
        .map(|i| from[i] && to[i] && g.nodes[i].dtype.is_float())
        .collect()
}

/// Builds nodes at one call site: gradient nodes at their forward node's (and
/// [`super::passes::expand_attention`]'s primitive ops at the expanded node's).
pub(crate) struct At<'g> {
    pub(crate) g: &'g mut Graph,
    pub(crate) site: Option<CallSite>,
}

impl At<'_> {
    pub(crate) fn op(
        &mut self,
        op: Op,
        inputs: &[NodeId],
        given: &[usize],
    ) -> Result<NodeId, GraphError> {
        self.g.push_at(op, inputs, given, self.site.clone())
    }
    fn un(&mut self, u: UnaryOp, x: NodeId) -> Result<NodeId, GraphError> {
        self.op(Op::Unary(u), &[x], &[])
    }
    fn bin(&mut self, b: BinaryOp, x: NodeId, y: NodeId) -> Result<NodeId, GraphError> {
        self.op(Op::Binary(b), &[x, y], &[])
    }
    fn shape(&self, x: NodeId) -> Vec<usize> {
        self.g.shape(x).to_vec()
    }

    /// Sums `t` down to `shape` (undoing numpy broadcasting).
    fn reduce_to(&mut self, t: NodeId, shape: &[usize]) -> Result<NodeId, GraphError> {
        let ts = self.shape(t);
        if ts == shape {
            return Ok(t);
        }
        let off = ts.len() - shape.len();
        let axes: Vec<usize> = (0..ts.len())
            .filter(|&i| i < off || (shape[i - off] == 1 && ts[i] != 1))
            .collect();
        let r = self.op(
            Op::Reduce {
                op: ReduceOp::Sum,
                axes,
                keep_dims: true,
            },
            &[t],
            &[],
        )?;
        self.op(Op::Reshape, &[r], shape)
    }
}

fn vjp(g: &mut Graph, id: NodeId, node: &Node, dy: NodeId, need: &[bool]) -> Grads {
    let mut at = At {
        g,
        site: node.site.clone(),
    };
    let x = node.inputs.first().copied().unwrap_or(id);
    let in_shape = |at: &At<'_>, k: usize| at.shape(node.inputs[k]);
    let one = |r: Result<NodeId, GraphError>| r.map(|n| vec![Some(n)]);
    match &node.op {
        Op::Input { .. } | Op::Constant { .. } => Ok(vec![]),
        Op::Unary(u) => one(unary_vjp(&mut at, *u, x, id, dy)),
        Op::Binary(b) => binary_vjp(&mut at, *b, node, id, dy),
        Op::MatMul { trans_a, trans_b } => {
            super::autodiff_matmul::matmul_vjp(at.g, node, dy, *trans_a, *trans_b, need)
        }
        Op::Reduce { op, axes, .. } => one(reduce_vjp(&mut at, *op, axes, x, id, dy)),
        Op::Broadcast => {
            let s = in_shape(&at, 0);
            one(at.reduce_to(dy, &s))
        }
        Op::Reshape => {
            let s = in_shape(&at, 0);
            one(at.op(Op::Reshape, &[dy], &s))
        }
        Op::Permute { perm } => {
            let mut inv = vec![0; perm.len()];
            for (i, &p) in perm.iter().enumerate() {
                inv[p] = i;
            }
            one(at.op(Op::Permute { perm: inv }, &[dy], &[]))
        }
        Op::Slice { axis, start, end } => {
            let len = in_shape(&at, 0)[*axis];
            one(at.op(
                Op::Pad {
                    axis: *axis,
                    before: *start,
                    after: len - end,
                },
                &[dy],
                &[],
            ))
        }
        Op::Pad { axis, before, .. } => {
            let len = in_shape(&at, 0)[*axis];
            one(at.op(
                Op::Slice {
                    axis: *axis,
                    start: *before,
                    end: before + len,
                },
                &[dy],
                &[],
            ))
        }
        Op::Concat { axis } => {
            let mut start = 0;
            let mut out = Vec::new();
            for k in 0..node.inputs.len() {
                let len = in_shape(&at, k)[*axis];
                out.push(Some(at.op(
                    Op::Slice {
                        axis: *axis,
                        start,
                        end: start + len,
                    },
                    &[dy],
                    &[],
                )?));
                start += len;
            }
            Ok(out)
        }
        Op::Softmax => one(at.op(Op::SoftmaxGrad { scale: 1.0 }, &[id, dy], &[])),
        Op::CausalSoftmax { scale } => {
            one(at.op(Op::SoftmaxGrad { scale: *scale }, &[id, dy], &[]))
        }
        Op::LogSoftmax => one(at.op(Op::LogSoftmaxGrad, &[id, dy], &[])),
        Op::SelfAttention { heads, scale } => one(at.op(
            Op::SelfAttentionGrad {
                heads: *heads,
                scale: *scale,
            },
            &[x, dy],
            &[],
        )),
        Op::LayerNorm { eps } => one(at.op(Op::LayerNormGrad { eps: *eps }, &[x, dy], &[])),
        Op::RmsNorm { eps } => one(at.op(Op::RmsNormGrad { eps: *eps }, &[x, dy], &[])),
        Op::Cast { .. } => {
            let to = at.g.node(x).dtype;
            one(at.op(Op::Cast { to }, &[dy], &[]))
        }
        Op::Gather => {
            let rows = in_shape(&at, 0)[0];
            Ok(vec![
                Some(at.op(Op::ScatterAdd { rows }, &[node.inputs[1], dy], &[])?),
                None,
            ])
        }
        Op::ScatterAdd { .. } => Ok(vec![
            None,
            Some(at.op(Op::Gather, &[dy, node.inputs[0]], &[])?),
        ]),
        Op::CrossEntropy => {
            let d = at.op(Op::CrossEntropyGrad, &[x, node.inputs[1], dy], &[])?;
            Ok(vec![Some(d), None])
        }
        Op::Dropout { p, seed } => one(at.op(Op::Dropout { p: *p, seed: *seed }, &[dy], &[])),
        // A rotation's transpose is the rotation back.
        Op::Rope { theta, inverse } => one(at.op(
            Op::Rope {
                theta: *theta,
                inverse: !inverse,
            },
            &[dy],
            &[],
        )),
        Op::Call(c) => call_vjp(&mut at, c, node, dy, need),
        Op::SoftmaxGrad { .. }
        | Op::SelfAttentionGrad { .. }
        | Op::LogSoftmaxGrad
        | Op::LayerNormGrad { .. }
        | Op::RmsNormGrad { .. }
        | Op::CrossEntropyGrad
        | Op::Fused(_)
        | Op::FusedOutput { .. } => Err(GraphError::NotDifferentiable {
            op: node.op.name(),
            site: site_string(node.site.as_ref()),
        }),
    }
}

/// The gradient of a call with respect to operand `k`: output `k` of the function's
/// vector-Jacobian product over the operands and `dy`, summed to the operand's shape.
fn call_vjp(at: &mut At<'_>, c: &CallOp, node: &Node, dy: NodeId, need: &[bool]) -> Grads {
    let back = match &c.backward {
        Some(declared) => (**declared).clone(),
        None => crate::kernel::autodiff::vjp(&c.function).map_err(|e| GraphError::Shape {
            op: "call",
            site: site_string(node.site.as_ref()),
            shapes: vec![node.shape.clone()],
            reason: format!(
                "cannot derive the backward of `{}`: {}",
                c.function.name, e.message
            ),
        })?,
    };
    let mut operands = node.inputs.clone();
    operands.push(dy);
    let shapes: Vec<Vec<usize>> = operands.iter().map(|&o| at.shape(o)).collect();
    let shapes: Vec<&[usize]> = shapes.iter().map(Vec::as_slice).collect();
    let mut grads = Vec::with_capacity(node.inputs.len());
    for (k, &wanted) in need.iter().enumerate() {
        if !wanted {
            grads.push(None);
            continue;
        }
        let grad =
            CallOp::new(&back, k, &shapes, &node.shape).map_err(|reason| GraphError::Shape {
                op: "call",
                site: site_string(node.site.as_ref()),
                shapes: shapes.iter().map(|s| s.to_vec()).collect(),
                reason,
            })?;
        let d = at.op(Op::Call(Box::new(grad)), &operands, &node.shape)?;
        grads.push(Some(at.reduce_to(d, shapes[k])?));
    }
    Ok(grads)
}

fn unary_vjp(
    at: &mut At<'_>,
    u: UnaryOp,
    x: NodeId,
    y: NodeId,
    dy: NodeId,
) -> Result<NodeId, GraphError> {
    use BinaryOp::{Div, GeluGrad, Mul, ReluGrad, Sub};
    match u {
        UnaryOp::Neg => at.un(UnaryOp::Neg, dy),
        UnaryOp::Exp => at.bin(Mul, dy, y),
        UnaryOp::Log => at.bin(Div, dy, x),
        UnaryOp::Sqrt => {
            let h = at.bin(Div, dy, y)?;
            at.un(UnaryOp::Scale(0.5), h)
        }
        UnaryOp::Tanh => {
            let y2 = at.un(UnaryOp::Square, y)?;
            let one_minus = at.un(UnaryOp::Scale(-1.0), y2)?;
            let d = at.un(UnaryOp::AddScalar(1.0), one_minus)?;
            at.bin(Mul, dy, d)
        }
        UnaryOp::Sigmoid => {
            let y2 = at.un(UnaryOp::Square, y)?;
            let d = at.bin(Sub, y, y2)?;
            at.bin(Mul, dy, d)
        }
        UnaryOp::Relu => at.bin(ReluGrad, x, dy),
        UnaryOp::Gelu => at.bin(GeluGrad, x, dy),
        UnaryOp::Square => {
            let t = at.bin(Mul, dy, x)?;
            at.un(UnaryOp::Scale(2.0), t)
        }
        UnaryOp::Recip => {
            let y2 = at.un(UnaryOp::Square, y)?;
            let t = at.bin(Mul, dy, y2)?;
            at.un(UnaryOp::Neg, t)
        }
        UnaryOp::Scale(c) => at.un(UnaryOp::Scale(c), dy),
        UnaryOp::AddScalar(_) => Ok(dy),
    }
}

fn binary_vjp(at: &mut At<'_>, b: BinaryOp, node: &Node, y: NodeId, dy: NodeId) -> Grads {
    use BinaryOp::{Div, Equal, Mul, Sub};
    let (a, c) = (node.inputs[0], node.inputs[1]);
    let (sa, sc) = (at.shape(a), at.shape(c));
    let (da, dc) = match b {
        BinaryOp::Add => (dy, dy),
        BinaryOp::Sub => (dy, at.un(UnaryOp::Neg, dy)?),
        BinaryOp::Mul => (at.bin(Mul, dy, c)?, at.bin(Mul, dy, a)?),
        BinaryOp::Div => {
            let da = at.bin(Div, dy, c)?;
            let t = at.bin(Mul, da, y)?;
            (da, at.un(UnaryOp::Neg, t)?)
        }
        BinaryOp::Maximum => {
            let mask = at.bin(Equal, y, a)?;
            let da = at.bin(Mul, dy, mask)?;
            (da, at.bin(Sub, dy, da)?)
        }
        BinaryOp::Equal => return Ok(vec![None, None]),
        BinaryOp::GeluGrad | BinaryOp::ReluGrad => {
            return Err(GraphError::NotDifferentiable {
                op: node.op.name(),
                site: site_string(node.site.as_ref()),
            });
        }
    };
    Ok(vec![
        Some(at.reduce_to(da, &sa)?),
        Some(at.reduce_to(dc, &sc)?),
    ])
}

fn reduce_vjp(
    at: &mut At<'_>,
    op: ReduceOp,
    axes: &[usize],
    x: NodeId,
    y: NodeId,
    dy: NodeId,
) -> Result<NodeId, GraphError> {
    let xs = at.shape(x);
    let kept: Vec<usize> = xs
        .iter()
        .enumerate()
        .map(|(i, &d)| if axes.contains(&i) { 1 } else { d })
        .collect();
    let dyk = at.op(Op::Reshape, &[dy], &kept)?;
    let dyb = at.op(Op::Broadcast, &[dyk], &xs)?;
    match op {
        ReduceOp::Sum => Ok(dyb),
        ReduceOp::Mean => {
            let count: usize = axes.iter().map(|&a| xs[a]).product();
            at.un(UnaryOp::Scale(1.0 / count.max(1) as f64), dyb)
        }
        ReduceOp::Max => {
            let yk = at.op(Op::Reshape, &[y], &kept)?;
            let yb = at.op(Op::Broadcast, &[yk], &xs)?;
            let mask = at.bin(BinaryOp::Equal, x, yb)?;
            at.bin(BinaryOp::Mul, dyb, mask)
        }
    }
}
