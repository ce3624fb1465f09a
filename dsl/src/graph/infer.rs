//! Shape and dtype inference: one rule per op. A rule returns the output's shape and dtype
//! or the reason it rejects its operands; the builder wraps the reason into a
//! [`super::GraphError::Shape`] naming the op, the call site and the shapes.

use super::call::CallOp;
use super::fused::{FusedOp, OperandMap};
use super::ir::{BinaryOp, DType, Op};

/// An operand as inference sees it.
pub type Operand<'a> = (&'a [usize], DType);

type Inferred = Result<(Vec<usize>, DType), String>;

/// Infers the output of `op` over `inputs`; `given` is the shape the caller asked for
/// (inputs, constants, broadcasts and reshapes state their shape).
pub fn infer(op: &Op, inputs: &[Operand<'_>], given: &[usize]) -> Inferred {
    match op {
        Op::Input { .. } | Op::Constant { .. } => Err("has no inferred shape".into()),
        Op::Unary(_) | Op::Dropout { .. } => float_same(inputs, 1),
        Op::Cast { to } => {
            let (shape, _) = float_same(inputs, 1)?;
            if !to.is_float() {
                return Err(format!("casts to {to:?}; a float type is needed"));
            }
            Ok((shape, *to))
        }
        Op::Binary(b) => binary(*b, inputs),
        Op::MatMul { trans_a, trans_b } => matmul(inputs, *trans_a, *trans_b),
        Op::Reduce {
            axes, keep_dims, ..
        } => reduce(inputs, axes, *keep_dims),
        Op::Broadcast => broadcast_to(inputs, given),
        Op::Reshape => reshape(inputs, given),
        Op::Permute { perm } => permute(inputs, perm),
        Op::Slice { axis, start, end } => slice(inputs, *axis, *start, *end),
        Op::Pad {
            axis,
            before,
            after,
        } => pad(inputs, *axis, *before, *after),
        Op::Concat { axis } => concat(inputs, *axis),
        Op::Softmax | Op::LogSoftmax | Op::LayerNorm { .. } | Op::RmsNorm { .. } => rows(inputs, 1),
        Op::CausalSoftmax { .. } => causal(inputs),
        Op::SelfAttention { heads, .. } => self_attention(inputs, *heads, false),
        Op::SelfAttentionGrad { heads, .. } => self_attention(inputs, *heads, true),
        Op::SoftmaxGrad { .. }
        | Op::LogSoftmaxGrad
        | Op::LayerNormGrad { .. }
        | Op::RmsNormGrad { .. } => {
            rows(inputs, 2)?;
            float_same(inputs, 2)
        }
        Op::Rope { .. } => {
            let (shape, dtype) = float_same(inputs, 1)?;
            match shape.last() {
                Some(d) if shape.len() >= 2 && d % 2 == 0 => Ok((shape, dtype)),
                _ => Err("needs `[.., T, d]` with an even `d`".into()),
            }
        }
        Op::Gather => gather(inputs),
        Op::ScatterAdd { rows } => scatter_add(inputs, *rows),
        Op::CrossEntropy => cross_entropy(inputs, 2).map(|_| (vec![], DType::F32)),
        Op::CrossEntropyGrad => cross_entropy_grad(inputs),
        Op::Call(c) => call(c, inputs, given),
        Op::Fused(f) => fused(f, inputs, given),
        Op::FusedOutput { dtype, .. } => {
            arity(inputs, 1)?;
            Ok((inputs[0].0.to_vec(), *dtype))
        }
    }
}

/// Self-attention over `qkv: [B, T, 3·C]` gives `[B, T, C]`; its gradient, over
/// `(qkv, dy: [B, T, C])`, gives `qkv`'s shape.
fn self_attention(inputs: &[Operand<'_>], heads: usize, grad: bool) -> Inferred {
    arity(inputs, if grad { 2 } else { 1 })?;
    let dtype = float(inputs)?;
    let (qkv, _) = inputs[0];
    let [b, t, c3] = qkv[..] else {
        return Err("needs `qkv: [B, T, 3·C]`".into());
    };
    if c3 % 3 != 0 || heads == 0 || (c3 / 3) % heads != 0 {
        return Err(format!(
            "needs a last axis of 3·C with C divisible by the {heads} heads"
        ));
    }
    let y = vec![b, t, c3 / 3];
    if !grad {
        return Ok((y, dtype));
    }
    if inputs[1].0 != y.as_slice() {
        return Err(format!("needs `dy` of shape {y:?}"));
    }
    Ok((qkv.to_vec(), dtype))
}

/// A call: f32 operands, each read through its map of the given shape.
fn call(c: &CallOp, inputs: &[Operand<'_>], given: &[usize]) -> Inferred {
    arity(inputs, c.operands.len())?;
    if let Some((k, (_, d))) = inputs
        .iter()
        .enumerate()
        .find(|(_, (_, d))| *d != DType::F32)
    {
        return Err(format!(
            "operand {k} has dtype {d:?}; calls to `{}` take f32 (cast first)",
            c.function.name
        ));
    }
    if given.iter().product::<usize>() != c.numel {
        return Err(format!("computes {} elements, not {given:?}", c.numel));
    }
    for (k, ((shape, _), map)) in inputs.iter().zip(&c.operands).enumerate() {
        if OperandMap::between(shape, given).as_ref() != Some(map) {
            return Err(format!("operand {k} is not read as {map:?} in {given:?}"));
        }
    }
    Ok((given.to_vec(), DType::F32))
}

/// A fused group: every operand read through its map, the given shape its element count.
fn fused(f: &FusedOp, inputs: &[Operand<'_>], given: &[usize]) -> Inferred {
    arity(inputs, f.operands.len())?;
    // Operands may differ in dtype: casts inside the group convert between them.
    if let Some((k, (_, d))) = inputs.iter().enumerate().find(|(_, (_, d))| !d.is_float()) {
        return Err(format!(
            "operand {k} has dtype {d:?}, a float type is needed"
        ));
    }
    if given.iter().product::<usize>() != f.numel {
        return Err(format!("computes {} elements, not {given:?}", f.numel));
    }
    for (k, ((shape, _), map)) in inputs.iter().zip(&f.operands).enumerate() {
        if OperandMap::between(shape, given).as_ref() != Some(map) {
            return Err(format!("operand {k} is not read as {map:?} in {given:?}"));
        }
    }
    let dtype = f.output_dtype(0).ok_or("has no outputs")?;
    Ok((given.to_vec(), dtype))
}

fn arity(inputs: &[Operand<'_>], n: usize) -> Result<(), String> {
    if inputs.len() == n {
        Ok(())
    } else {
        Err(format!("takes {n} operand(s), got {}", inputs.len()))
    }
}

fn float(inputs: &[Operand<'_>]) -> Result<DType, String> {
    let dt = inputs[0].1;
    for (i, (_, d)) in inputs.iter().enumerate() {
        if !d.is_float() {
            return Err(format!(
                "operand {i} has dtype {d:?}, a float type is needed"
            ));
        }
        if *d != dt {
            return Err(format!("operands mix dtypes {dt:?} and {d:?}"));
        }
    }
    Ok(dt)
}

/// All operands float, of one shape and dtype.
fn float_same(inputs: &[Operand<'_>], n: usize) -> Inferred {
    arity(inputs, n)?;
    let dt = float(inputs)?;
    if inputs.iter().any(|(s, _)| *s != inputs[0].0) {
        return Err("operands must have the same shape".into());
    }
    Ok((inputs[0].0.to_vec(), dt))
}

/// Numpy broadcasting of two shapes.
pub fn broadcast_shapes(a: &[usize], b: &[usize]) -> Option<Vec<usize>> {
    let n = a.len().max(b.len());
    let mut out = vec![0; n];
    for (i, o) in out.iter_mut().enumerate() {
        let da = if i + a.len() >= n {
            a[i + a.len() - n]
        } else {
            1
        };
        let db = if i + b.len() >= n {
            b[i + b.len() - n]
        } else {
            1
        };
        *o = match (da, db) {
            (x, y) if x == y => x,
            (1, y) => y,
            (x, 1) => x,
            _ => return None,
        };
    }
    Some(out)
}

fn binary(op: BinaryOp, inputs: &[Operand<'_>]) -> Inferred {
    arity(inputs, 2)?;
    let dt = float(inputs)?;
    if matches!(op, BinaryOp::GeluGrad | BinaryOp::ReluGrad) {
        return float_same(inputs, 2);
    }
    broadcast_shapes(inputs[0].0, inputs[1].0)
        .map(|s| (s, dt))
        .ok_or_else(|| "shapes do not broadcast".to_string())
}

fn matmul(inputs: &[Operand<'_>], ta: bool, tb: bool) -> Inferred {
    arity(inputs, 2)?;
    let dt = float(inputs)?;
    let (a, b) = (inputs[0].0, inputs[1].0);
    if a.len() < 2 || b.len() < 2 {
        return Err("both operands need at least 2 axes".into());
    }
    let (ab, bb) = (&a[..a.len() - 2], &b[..b.len() - 2]);
    let batch = if ab == bb || bb.is_empty() {
        ab
    } else if ab.is_empty() {
        bb
    } else {
        return Err("batch axes must be equal, or absent from one operand".into());
    };
    let (am, ak) = last2(a, ta);
    let (bk, bn) = last2(b, tb);
    if ak != bk {
        return Err(format!("contracted lengths differ ({ak} vs {bk})"));
    }
    let mut out = batch.to_vec();
    out.extend([am, bn]);
    Ok((out, dt))
}

/// `(rows, cols)` of the last two axes, transposed when asked.
fn last2(s: &[usize], t: bool) -> (usize, usize) {
    let (r, c) = (s[s.len() - 2], s[s.len() - 1]);
    if t { (c, r) } else { (r, c) }
}

fn reduce(inputs: &[Operand<'_>], axes: &[usize], keep: bool) -> Inferred {
    arity(inputs, 1)?;
    let dt = float(inputs)?;
    let s = inputs[0].0;
    if axes.windows(2).any(|w| w[0] >= w[1]) || axes.iter().any(|&a| a >= s.len()) {
        return Err(format!(
            "axes {axes:?} must be sorted, distinct and below the rank"
        ));
    }
    let out = s
        .iter()
        .enumerate()
        .filter_map(|(i, &d)| match (axes.contains(&i), keep) {
            (false, _) => Some(d),
            (true, true) => Some(1),
            (true, false) => None,
        })
        .collect();
    Ok((out, dt))
}

fn broadcast_to(inputs: &[Operand<'_>], to: &[usize]) -> Inferred {
    arity(inputs, 1)?;
    match broadcast_shapes(inputs[0].0, to) {
        Some(s) if s == to => Ok((to.to_vec(), inputs[0].1)),
        _ => Err(format!("cannot broadcast to {to:?}")),
    }
}

fn reshape(inputs: &[Operand<'_>], to: &[usize]) -> Inferred {
    arity(inputs, 1)?;
    let n: usize = inputs[0].0.iter().product();
    if n == to.iter().product::<usize>() {
        Ok((to.to_vec(), inputs[0].1))
    } else {
        Err(format!("cannot reshape {n} elements to {to:?}"))
    }
}

fn permute(inputs: &[Operand<'_>], perm: &[usize]) -> Inferred {
    arity(inputs, 1)?;
    let s = inputs[0].0;
    let mut seen = vec![false; s.len()];
    for &p in perm {
        if p >= s.len() || std::mem::replace(&mut seen[p], true) {
            return Err(format!("{perm:?} is not a permutation of the axes"));
        }
    }
    if perm.len() != s.len() {
        return Err(format!("{perm:?} is not a permutation of the axes"));
    }
    Ok((perm.iter().map(|&p| s[p]).collect(), inputs[0].1))
}

fn slice(inputs: &[Operand<'_>], axis: usize, start: usize, end: usize) -> Inferred {
    arity(inputs, 1)?;
    let s = inputs[0].0;
    if axis >= s.len() || start > end || end > s[axis] {
        return Err(format!("cannot take {start}..{end} of axis {axis}"));
    }
    let mut out = s.to_vec();
    out[axis] = end - start;
    Ok((out, inputs[0].1))
}

fn pad(inputs: &[Operand<'_>], axis: usize, before: usize, after: usize) -> Inferred {
    arity(inputs, 1)?;
    let mut out = inputs[0].0.to_vec();
    match out.get_mut(axis) {
        Some(d) => *d += before + after,
        None => return Err(format!("axis {axis} is past the rank")),
    }
    Ok((out, float(inputs)?))
}

fn concat(inputs: &[Operand<'_>], axis: usize) -> Inferred {
    if inputs.is_empty() {
        return Err("needs at least one operand".into());
    }
    let dt = float(inputs)?;
    let first = inputs[0].0;
    if axis >= first.len() {
        return Err(format!("axis {axis} is past the rank"));
    }
    let mut out = first.to_vec();
    out[axis] = 0;
    for (s, _) in inputs {
        let same_rest =
            s.len() == first.len() && (0..s.len()).all(|i| i == axis || s[i] == first[i]);
        if !same_rest {
            return Err(format!("shapes differ outside axis {axis}"));
        }
        out[axis] += s[axis];
    }
    Ok((out, dt))
}

fn rows(inputs: &[Operand<'_>], n: usize) -> Inferred {
    arity(inputs, n)?;
    if inputs[0].0.is_empty() {
        return Err("needs at least one axis".into());
    }
    float_same(inputs, n)
}

fn causal(inputs: &[Operand<'_>]) -> Inferred {
    let out = rows(inputs, 1)?;
    let s = inputs[0].0;
    if s.len() < 2 || s[s.len() - 1] != s[s.len() - 2] {
        return Err("the last two axes must be square (queries × keys)".into());
    }
    Ok(out)
}

fn gather(inputs: &[Operand<'_>]) -> Inferred {
    arity(inputs, 2)?;
    let (table, ids) = (inputs[0], inputs[1]);
    if table.0.is_empty() || ids.1 != DType::U32 || !table.1.is_float() {
        return Err("takes a float table with at least one axis and U32 indices".into());
    }
    let mut out = ids.0.to_vec();
    out.extend_from_slice(&table.0[1..]);
    Ok((out, table.1))
}

fn scatter_add(inputs: &[Operand<'_>], rows: usize) -> Inferred {
    arity(inputs, 2)?;
    let (ids, src) = (inputs[0], inputs[1]);
    if ids.1 != DType::U32 || !src.1.is_float() || !src.0.starts_with(ids.0) {
        return Err("takes U32 indices and a float source whose shape starts with theirs".into());
    }
    let mut out = vec![rows];
    out.extend_from_slice(&src.0[ids.0.len()..]);
    Ok((out, src.1))
}

fn cross_entropy(inputs: &[Operand<'_>], n: usize) -> Result<(), String> {
    arity(inputs, n)?;
    let (logits, targets) = (inputs[0], inputs[1]);
    if logits.0.len() != 2 || targets.0 != [logits.0[0]] {
        return Err("takes logits [N, V] and targets [N]".into());
    }
    if targets.1 != DType::U32 || !logits.1.is_float() {
        return Err("takes float logits and U32 targets".into());
    }
    Ok(())
}

fn cross_entropy_grad(inputs: &[Operand<'_>]) -> Inferred {
    cross_entropy(inputs, 3)?;
    if !inputs[2].0.is_empty() {
        return Err("the loss gradient must be a scalar".into());
    }
    Ok((inputs[0].0.to_vec(), inputs[0].1))
}
