//! The reference evaluator: every op in plain f64 loops, written for clarity. It is what
//! finite-difference gradient checks differentiate and what executors are compared with.

use std::collections::HashMap;

use super::error::{GraphError, site_string};
use super::ir::{BinaryOp, DType, Graph, Node, Op, ReduceOp, UnaryOp};
use super::layout::{
    broadcast_strides, dropout_keep, gelu, gelu_grad, offset_of, rope_tables, strides,
};

/// Evaluates every node of `g` in f64, inputs taken from `feeds` by name (`U32` inputs as
/// exact integers); `step` feeds dropout masks. Returns one value per node.
pub fn evaluate(
    g: &Graph,
    feeds: &HashMap<String, Vec<f64>>,
    step: u64,
) -> Result<Vec<Vec<f64>>, GraphError> {
    let mut vals: Vec<Vec<f64>> = Vec::with_capacity(g.nodes.len());
    // Every output of each fused node, for its `FusedOutput` nodes.
    let mut fused_outputs: HashMap<usize, Vec<Vec<f64>>> = HashMap::new();
    for (id, node) in g.nodes.iter().enumerate() {
        let ins: Vec<&[f64]> = node
            .inputs
            .iter()
            .map(|i| vals[i.index()].as_slice())
            .collect();
        let mut v = match &node.op {
            Op::Fused(f) => {
                let mut outs = f.evaluate(&ins, node.numel());
                let first = std::mem::take(&mut outs[0]);
                fused_outputs.insert(id, outs);
                first
            }
            Op::Call(c) => c.evaluate(&ins),
            Op::FusedOutput { index, .. } => fused_outputs
                .get(&node.inputs[0].index())
                .and_then(|outs| outs.get(*index))
                .cloned()
                .ok_or_else(|| GraphError::Shape {
                    op: node.op.name(),
                    site: site_string(node.site.as_ref()),
                    shapes: vec![g.shape(node.inputs[0]).to_vec()],
                    reason: format!("operand is not a fused node with an output {index}"),
                })?,
            _ => eval_node(g, node, &ins, feeds, step)?,
        };
        if matches!(node.dtype, DType::BF16 | DType::F16) {
            // Reduced precision rounds every result, through f32 as the executors do.
            v.iter_mut()
                .for_each(|x| *x = f64::from(node.dtype.round(*x as f32)));
        }
        vals.push(v);
    }
    Ok(vals)
}

fn eval_node(
    g: &Graph,
    node: &Node,
    ins: &[&[f64]],
    feeds: &HashMap<String, Vec<f64>>,
    step: u64,
) -> Result<Vec<f64>, GraphError> {
    let shape_of = |k: usize| g.shape(node.inputs[k]);
    let out = &node.shape;
    let n = node.numel();
    Ok(match &node.op {
        Op::Input { name, .. } => {
            let v = feeds
                .get(name)
                .ok_or_else(|| GraphError::MissingFeed(name.clone()))?;
            if v.len() != n {
                return Err(GraphError::FeedSize {
                    name: name.clone(),
                    shape: out.clone(),
                    want: n,
                    got: v.len(),
                });
            }
            v.clone()
        }
        Op::Constant { value } => vec![*value; n],
        Op::Unary(u) => ins[0].iter().map(|&x| unary(*u, x)).collect(),
        Op::Binary(b) => {
            let sa = broadcast_strides(shape_of(0), out);
            let sb = broadcast_strides(shape_of(1), out);
            (0..n)
                .map(|i| {
                    binary(
                        *b,
                        ins[0][offset_of(i, out, &sa)],
                        ins[1][offset_of(i, out, &sb)],
                    )
                })
                .collect()
        }
        Op::MatMul { trans_a, trans_b } => {
            matmul(ins, shape_of(0), shape_of(1), out, *trans_a, *trans_b)
        }
        Op::Reduce { op, axes, .. } => reduce(ins[0], shape_of(0), *op, axes),
        Op::Broadcast => {
            let s = broadcast_strides(shape_of(0), out);
            (0..n).map(|i| ins[0][offset_of(i, out, &s)]).collect()
        }
        Op::Reshape => ins[0].to_vec(),
        Op::Permute { perm } => {
            let st = strides(shape_of(0));
            let ps: Vec<usize> = perm.iter().map(|&p| st[p]).collect();
            (0..n).map(|i| ins[0][offset_of(i, out, &ps)]).collect()
        }
        Op::Slice { axis, start, .. } => {
            let st = strides(shape_of(0));
            (0..n)
                .map(|i| ins[0][offset_of(i, out, &st) + start * st[*axis]])
                .collect()
        }
        Op::Pad { axis, before, .. } => {
            let so = strides(out);
            let mut v = vec![0.0; n];
            for (i, &x) in ins[0].iter().enumerate() {
                v[offset_of(i, shape_of(0), &so) + before * so[*axis]] = x;
            }
            v
        }
        Op::Concat { axis } => {
            let so = strides(out);
            let mut v = vec![0.0; n];
            let mut at = 0;
            for (k, x) in ins.iter().enumerate() {
                for (i, &e) in x.iter().enumerate() {
                    v[offset_of(i, shape_of(k), &so) + at * so[*axis]] = e;
                }
                at += shape_of(k)[*axis];
            }
            v
        }
        Op::Gather => gather(g, node, ins)?,
        Op::SelfAttention { heads, scale } => {
            super::attention_ref::forward(ins[0], shape_of(0), *heads, *scale)
        }
        Op::SelfAttentionGrad { heads, scale } => {
            super::attention_ref::backward(ins[0], ins[1], shape_of(0), *heads, *scale)
        }
        Op::Rope { theta, inverse } => {
            let (t, d) = (out[out.len() - 2], out[out.len() - 1]);
            let (cos, sin) = rope_tables(t, d, *theta, *inverse);
            let half = d / 2;
            let mut v = vec![0.0; n];
            for (r, (x, y)) in ins[0].chunks(d).zip(v.chunks_mut(d)).enumerate() {
                let at = (r % t) * half;
                for i in 0..half {
                    let (c, s) = (cos[at + i], sin[at + i]);
                    y[i] = x[i] * c - x[i + half] * s;
                    y[i + half] = x[i + half] * c + x[i] * s;
                }
            }
            v
        }
        Op::Cast { .. } => ins[0].to_vec(),
        Op::ScatterAdd { rows } => scatter_add(g, node, ins, *rows)?,
        Op::Dropout { p, seed } => ins[0]
            .iter()
            .enumerate()
            .map(|(i, &x)| {
                if dropout_keep(*seed, step, i as u64, *p) {
                    x / (1.0 - p)
                } else {
                    0.0
                }
            })
            .collect(),
        _ => row_op(g, node, ins)?,
    })
}

/// `op(x)` in f64.
pub(super) fn unary(op: UnaryOp, x: f64) -> f64 {
    match op {
        UnaryOp::Neg => -x,
        UnaryOp::Exp => x.exp(),
        UnaryOp::Log => x.ln(),
        UnaryOp::Sqrt => x.sqrt(),
        UnaryOp::Tanh => x.tanh(),
        UnaryOp::Sigmoid => 1.0 / (1.0 + (-x).exp()),
        UnaryOp::Relu => x.max(0.0),
        UnaryOp::Gelu => gelu(x),
        UnaryOp::Square => x * x,
        UnaryOp::Recip => 1.0 / x,
        UnaryOp::Scale(c) => c * x,
        UnaryOp::AddScalar(c) => x + c,
    }
}

/// `op(a, b)` in f64.
pub(super) fn binary(op: BinaryOp, a: f64, b: f64) -> f64 {
    match op {
        BinaryOp::Add => a + b,
        BinaryOp::Sub => a - b,
        BinaryOp::Mul => a * b,
        BinaryOp::Div => a / b,
        BinaryOp::Maximum => a.max(b),
        BinaryOp::Equal => f64::from(u8::from(a == b)),
        BinaryOp::GeluGrad => b * gelu_grad(a),
        BinaryOp::ReluGrad => {
            if a > 0.0 {
                b
            } else {
                0.0
            }
        }
    }
}

fn matmul(
    ins: &[&[f64]],
    sa: &[usize],
    sb: &[usize],
    out: &[usize],
    ta: bool,
    tb: bool,
) -> Vec<f64> {
    let (m, nn) = (out[out.len() - 2], out[out.len() - 1]);
    let k = if ta {
        sa[sa.len() - 2]
    } else {
        sa[sa.len() - 1]
    };
    let batch: usize = out[..out.len() - 2].iter().product();
    let a_batched = sa.len() > 2;
    let b_batched = sb.len() > 2;
    let mut v = vec![0.0; batch * m * nn];
    for bi in 0..batch {
        let a = &ins[0][if a_batched { bi * m * k } else { 0 }..];
        let b = &ins[1][if b_batched { bi * k * nn } else { 0 }..];
        for i in 0..m {
            for j in 0..nn {
                let mut s = 0.0;
                for p in 0..k {
                    let x = if ta { a[p * m + i] } else { a[i * k + p] };
                    let y = if tb { b[j * k + p] } else { b[p * nn + j] };
                    s += x * y;
                }
                v[bi * m * nn + i * nn + j] = s;
            }
        }
    }
    v
}

fn reduce(x: &[f64], shape: &[usize], op: ReduceOp, axes: &[usize]) -> Vec<f64> {
    let kept: Vec<usize> = shape
        .iter()
        .enumerate()
        .map(|(i, &d)| if axes.contains(&i) { 1 } else { d })
        .collect();
    let ks = strides(&kept);
    let rs: Vec<usize> = (0..shape.len())
        .map(|i| if axes.contains(&i) { 0 } else { ks[i] })
        .collect();
    let n_out: usize = kept.iter().product();
    let init = if op == ReduceOp::Max {
        f64::NEG_INFINITY
    } else {
        0.0
    };
    let mut v = vec![init; n_out];
    for (i, &e) in x.iter().enumerate() {
        let o = offset_of(i, shape, &rs);
        v[o] = if op == ReduceOp::Max {
            v[o].max(e)
        } else {
            v[o] + e
        };
    }
    if op == ReduceOp::Mean {
        let count = (x.len() / n_out.max(1)) as f64;
        v.iter_mut().for_each(|e| *e /= count);
    }
    v
}

fn index(g: &Graph, node: &Node, raw: f64, rows: usize) -> Result<usize, GraphError> {
    let i = raw as usize;
    if raw < 0.0 || i >= rows {
        return Err(GraphError::IndexOutOfRange {
            op: node.op.name(),
            site: site_string(node.site.as_ref()),
            index: raw as u64,
            rows,
        });
    }
    let _ = g;
    Ok(i)
}

fn gather(g: &Graph, node: &Node, ins: &[&[f64]]) -> Result<Vec<f64>, GraphError> {
    let rows = g.shape(node.inputs[0])[0];
    let width = ins[0].len() / rows.max(1);
    let mut v = Vec::with_capacity(node.numel());
    for &id in ins[1] {
        let r = index(g, node, id, rows)?;
        v.extend_from_slice(&ins[0][r * width..(r + 1) * width]);
    }
    Ok(v)
}

fn scatter_add(
    g: &Graph,
    node: &Node,
    ins: &[&[f64]],
    rows: usize,
) -> Result<Vec<f64>, GraphError> {
    let width = node.numel() / rows.max(1);
    let mut v = vec![0.0; node.numel()];
    for (k, &id) in ins[0].iter().enumerate() {
        let r = index(g, node, id, rows)?;
        for c in 0..width {
            v[r * width + c] += ins[1][k * width + c];
        }
    }
    Ok(v)
}

/// Ops over rows of the last axis.
fn row_op(g: &Graph, node: &Node, ins: &[&[f64]]) -> Result<Vec<f64>, GraphError> {
    let d = *g.shape(node.inputs[0]).last().unwrap_or(&1);
    let rows = ins[0].len() / d.max(1);
    let mut v = vec![0.0; node.numel()];
    if let Op::CrossEntropy = node.op {
        let mut total = 0.0;
        for r in 0..rows {
            let x = &ins[0][r * d..(r + 1) * d];
            let t = index(g, node, ins[1][r], d)?;
            total += logsumexp(x) - x[t];
        }
        return Ok(vec![total / rows as f64]);
    }
    for r in 0..rows {
        let x = &ins[0][r * d..(r + 1) * d];
        let y = &mut v[r * d..(r + 1) * d];
        let dy = ins
            .get(1)
            .filter(|s| s.len() == ins[0].len())
            .map(|s| &s[r * d..(r + 1) * d]);
        row(node, x, dy, y, r, ins, g)?;
    }
    Ok(v)
}

fn logsumexp(x: &[f64]) -> f64 {
    let m = x.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    m + x.iter().map(|e| (e - m).exp()).sum::<f64>().ln()
}

fn softmax_into(x: &[f64], y: &mut [f64]) {
    let l = logsumexp(x);
    for (o, e) in y.iter_mut().zip(x) {
        *o = (e - l).exp();
    }
}

fn row(
    node: &Node,
    x: &[f64],
    dy: Option<&[f64]>,
    y: &mut [f64],
    r: usize,
    ins: &[&[f64]],
    g: &Graph,
) -> Result<(), GraphError> {
    let d = x.len() as f64;
    let dy = || dy.unwrap_or(&[]);
    match node.op {
        Op::Softmax => softmax_into(x, y),
        Op::LogSoftmax => {
            let l = logsumexp(x);
            y.iter_mut().zip(x).for_each(|(o, e)| *o = e - l);
        }
        Op::CausalSoftmax { scale } => {
            let q = r % x.len();
            let s: Vec<f64> = x[..=q].iter().map(|e| e * scale).collect();
            softmax_into(&s, &mut y[..=q]);
        }
        Op::SoftmaxGrad { scale } => {
            let dot: f64 = x.iter().zip(dy()).map(|(a, b)| a * b).sum();
            for (i, o) in y.iter_mut().enumerate() {
                *o = scale * x[i] * (dy()[i] - dot);
            }
        }
        Op::LogSoftmaxGrad => {
            let s: f64 = dy().iter().sum();
            for (i, o) in y.iter_mut().enumerate() {
                *o = dy()[i] - x[i].exp() * s;
            }
        }
        Op::LayerNorm { eps } | Op::LayerNormGrad { eps } => {
            let mu = x.iter().sum::<f64>() / d;
            let var = x.iter().map(|e| (e - mu) * (e - mu)).sum::<f64>() / d;
            let rstd = 1.0 / (var + eps).sqrt();
            let xh: Vec<f64> = x.iter().map(|e| (e - mu) * rstd).collect();
            if matches!(node.op, Op::LayerNorm { .. }) {
                y.copy_from_slice(&xh);
            } else {
                let mdy = dy().iter().sum::<f64>() / d;
                let mdyx = dy().iter().zip(&xh).map(|(a, b)| a * b).sum::<f64>() / d;
                for (i, o) in y.iter_mut().enumerate() {
                    *o = rstd * (dy()[i] - mdy - xh[i] * mdyx);
                }
            }
        }
        Op::RmsNorm { eps } | Op::RmsNormGrad { eps } => {
            let rms = 1.0 / (x.iter().map(|e| e * e).sum::<f64>() / d + eps).sqrt();
            if matches!(node.op, Op::RmsNorm { .. }) {
                y.iter_mut().zip(x).for_each(|(o, e)| *o = e * rms);
            } else {
                let mdyx = dy().iter().zip(x).map(|(a, b)| a * b).sum::<f64>() / d;
                for (i, o) in y.iter_mut().enumerate() {
                    *o = rms * dy()[i] - x[i] * rms * rms * rms * mdyx;
                }
            }
        }
        Op::CrossEntropyGrad => {
            let rows = ins[1].len() as f64;
            let t = index(g, node, ins[1][r], x.len())?;
            softmax_into(x, y);
            y[t] -= 1.0;
            y.iter_mut().for_each(|e| *e *= ins[2][0] / rows);
        }
        _ => unreachable!("row_op is only called for row ops"),
    }
    Ok(())
}
