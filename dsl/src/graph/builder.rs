//! Building graphs: one `#[track_caller]` method per op, each checking its operands at once
//! so that a mistake is reported at the user's line, never inside an executor.
//!
//! ```
//! use vibee_dsl::graph::{DType, Graph, InputRole};
//! let mut g = Graph::new();
//! let x = g.input("x", &[2, 3], DType::F32, InputRole::Data).unwrap();
//! let w = g.input("w", &[4, 3], DType::F32, InputRole::Param).unwrap();
//! let y = g.matmul(x, w, false, true).unwrap();
//! assert_eq!(g.shape(y), &[2, 4]);
//! let err = g.matmul(x, w, false, false).unwrap_err();
//! assert!(err.to_string().contains("`matmul`"));
//! ```

use std::panic::Location;

use super::call::CallOp;
use super::error::{GraphError, site_string};
use super::fused::OperandMap;
use super::infer::{broadcast_shapes, infer};
use super::ir::{BinaryOp, CallSite, DType, Graph, InputRole, Node, NodeId, Op, ReduceOp, UnaryOp};

use crate::kernel::elementwise::ElementwiseFn;

type Built = Result<NodeId, GraphError>;

impl Graph {
    /// Appends `op` over `inputs` after inferring its shape; `given` is the requested
    /// shape for ops that take one. Gradient construction calls this with the forward
    /// node's site.
    pub fn push_at(
        &mut self,
        op: Op,
        inputs: &[NodeId],
        given: &[usize],
        site: Option<CallSite>,
    ) -> Built {
        for &i in inputs {
            if i.index() >= self.nodes.len() {
                return Err(GraphError::UnknownNode {
                    op: op.name(),
                    site: site_string(site.as_ref()),
                    node: i,
                });
            }
        }
        let operands: Vec<_> = inputs
            .iter()
            .map(|&i| {
                (
                    self.nodes[i.index()].shape.as_slice(),
                    self.nodes[i.index()].dtype,
                )
            })
            .collect();
        let (shape, dtype) = infer(&op, &operands, given).map_err(|reason| GraphError::Shape {
            op: op.name(),
            site: site_string(site.as_ref()),
            shapes: operands.iter().map(|(s, _)| s.to_vec()).collect(),
            reason,
        })?;
        Ok(self.append(op, inputs.to_vec(), shape, dtype, site))
    }

    pub(crate) fn append(
        &mut self,
        op: Op,
        inputs: Vec<NodeId>,
        shape: Vec<usize>,
        dtype: DType,
        site: Option<CallSite>,
    ) -> NodeId {
        self.nodes.push(Node {
            op,
            inputs,
            shape,
            dtype,
            site,
        });
        NodeId(self.nodes.len() as u32 - 1)
    }

    #[track_caller]
    fn push(&mut self, op: Op, inputs: &[NodeId], given: &[usize]) -> Built {
        let site = CallSite::from_location(Location::caller());
        self.push_at(op, inputs, given, Some(site))
    }

    /// A named input (parameter or per-step data).
    #[track_caller]
    pub fn input(&mut self, name: &str, shape: &[usize], dtype: DType, role: InputRole) -> Built {
        let site = CallSite::from_location(Location::caller());
        if self.input_named(name).is_some() {
            return Err(GraphError::DuplicateInput {
                name: name.to_string(),
                site: site.to_string(),
            });
        }
        let op = Op::Input {
            name: name.to_string(),
            role,
        };
        Ok(self.append(op, vec![], shape.to_vec(), dtype, Some(site)))
    }

    /// A tensor of `shape` filled with `value`.
    #[track_caller]
    pub fn constant(&mut self, value: f64, shape: &[usize]) -> NodeId {
        let site = CallSite::from_location(Location::caller());
        self.constant_at(value, shape, Some(site))
    }

    /// [`Graph::constant`] with an explicit site (used by autodiff).
    pub fn constant_at(&mut self, value: f64, shape: &[usize], site: Option<CallSite>) -> NodeId {
        self.append(
            Op::Constant { value },
            vec![],
            shape.to_vec(),
            DType::F32,
            site,
        )
    }

    /// Elementwise function of `x`.
    #[track_caller]
    pub fn unary(&mut self, op: UnaryOp, x: NodeId) -> Built {
        self.push(Op::Unary(op), &[x], &[])
    }

    /// Elementwise function of `a` and `b`, broadcast.
    #[track_caller]
    pub fn binary(&mut self, op: BinaryOp, a: NodeId, b: NodeId) -> Built {
        self.push(Op::Binary(op), &[a, b], &[])
    }

    /// `a + b`, broadcast.
    #[track_caller]
    pub fn add(&mut self, a: NodeId, b: NodeId) -> Built {
        self.push(Op::Binary(BinaryOp::Add), &[a, b], &[])
    }

    /// `a · b`, broadcast.
    #[track_caller]
    pub fn mul(&mut self, a: NodeId, b: NodeId) -> Built {
        self.push(Op::Binary(BinaryOp::Mul), &[a, b], &[])
    }

    /// GELU (tanh approximation).
    #[track_caller]
    pub fn gelu(&mut self, x: NodeId) -> Built {
        self.push(Op::Unary(UnaryOp::Gelu), &[x], &[])
    }

    /// `op(a) · op(b)`, batched over leading axes.
    #[track_caller]
    pub fn matmul(&mut self, a: NodeId, b: NodeId, trans_a: bool, trans_b: bool) -> Built {
        self.push(Op::MatMul { trans_a, trans_b }, &[a, b], &[])
    }

    /// Reduction over `axes`.
    #[track_caller]
    pub fn reduce(&mut self, op: ReduceOp, x: NodeId, axes: &[usize], keep_dims: bool) -> Built {
        let op = Op::Reduce {
            op,
            axes: axes.to_vec(),
            keep_dims,
        };
        self.push(op, &[x], &[])
    }

    /// Sum over `axes`.
    #[track_caller]
    pub fn sum(&mut self, x: NodeId, axes: &[usize], keep_dims: bool) -> Built {
        self.reduce(ReduceOp::Sum, x, axes, keep_dims)
    }

    /// Mean over `axes`.
    #[track_caller]
    pub fn mean(&mut self, x: NodeId, axes: &[usize], keep_dims: bool) -> Built {
        self.reduce(ReduceOp::Mean, x, axes, keep_dims)
    }

    /// Maximum over `axes`.
    #[track_caller]
    pub fn max(&mut self, x: NodeId, axes: &[usize], keep_dims: bool) -> Built {
        self.reduce(ReduceOp::Max, x, axes, keep_dims)
    }

    /// Broadcast to `shape`.
    #[track_caller]
    pub fn broadcast(&mut self, x: NodeId, shape: &[usize]) -> Built {
        self.push(Op::Broadcast, &[x], shape)
    }

    /// Same elements, new shape.
    #[track_caller]
    pub fn reshape(&mut self, x: NodeId, shape: &[usize]) -> Built {
        self.push(Op::Reshape, &[x], shape)
    }

    /// Axes reordered (output axis `i` is input axis `perm[i]`).
    #[track_caller]
    pub fn permute(&mut self, x: NodeId, perm: &[usize]) -> Built {
        self.push(
            Op::Permute {
                perm: perm.to_vec(),
            },
            &[x],
            &[],
        )
    }

    /// `x[.., start..end, ..]` along `axis`.
    #[track_caller]
    pub fn slice(&mut self, x: NodeId, axis: usize, start: usize, end: usize) -> Built {
        self.push(Op::Slice { axis, start, end }, &[x], &[])
    }

    /// Zero padding along `axis`.
    #[track_caller]
    pub fn pad(&mut self, x: NodeId, axis: usize, before: usize, after: usize) -> Built {
        let op = Op::Pad {
            axis,
            before,
            after,
        };
        self.push(op, &[x], &[])
    }

    /// `xs` joined along `axis`.
    #[track_caller]
    pub fn concat(&mut self, xs: &[NodeId], axis: usize) -> Built {
        self.push(Op::Concat { axis }, xs, &[])
    }

    /// Softmax over the last axis.
    #[track_caller]
    pub fn softmax(&mut self, x: NodeId) -> Built {
        self.push(Op::Softmax, &[x], &[])
    }

    /// Log-softmax over the last axis.
    #[track_caller]
    pub fn log_softmax(&mut self, x: NodeId) -> Built {
        self.push(Op::LogSoftmax, &[x], &[])
    }

    /// Causally masked `softmax(scale·scores)` over `[.., T, T]` attention scores.
    #[track_caller]
    pub fn causal_softmax(&mut self, scores: NodeId, scale: f64) -> Built {
        self.push(Op::CausalSoftmax { scale }, &[scores], &[])
    }

    /// Layer normalisation over the last axis with optional affine `weight`/`bias` (`[D]`).
    #[track_caller]
    pub fn layer_norm(
        &mut self,
        x: NodeId,
        weight: Option<NodeId>,
        bias: Option<NodeId>,
        eps: f64,
    ) -> Built {
        let n = self.push(Op::LayerNorm { eps }, &[x], &[])?;
        self.affine(n, weight, bias)
    }

    /// RMS normalisation over the last axis with optional `weight` (`[D]`).
    #[track_caller]
    pub fn rms_norm(&mut self, x: NodeId, weight: Option<NodeId>, eps: f64) -> Built {
        let n = self.push(Op::RmsNorm { eps }, &[x], &[])?;
        self.affine(n, weight, None)
    }

    #[track_caller]
    fn affine(&mut self, x: NodeId, weight: Option<NodeId>, bias: Option<NodeId>) -> Built {
        let x = match weight {
            Some(w) => self.mul(x, w)?,
            None => x,
        };
        match bias {
            Some(b) => self.add(x, b),
            None => Ok(x),
        }
    }

    /// `x`'s values as `to` (a float type), rounded to nearest-even.
    #[track_caller]
    pub fn cast(&mut self, x: NodeId, to: DType) -> Built {
        self.push(Op::Cast { to }, &[x], &[])
    }

    /// Rows of `table` at `ids` (embedding lookup).
    #[track_caller]
    pub fn gather(&mut self, table: NodeId, ids: NodeId) -> Built {
        self.push(Op::Gather, &[table, ids], &[])
    }

    /// `rows` rows of zeros with `src`'s rows added at `ids`.
    #[track_caller]
    pub fn scatter_add(&mut self, ids: NodeId, src: NodeId, rows: usize) -> Built {
        self.push(Op::ScatterAdd { rows }, &[ids, src], &[])
    }

    /// Mean cross-entropy of `logits [N, V]` against `targets [N]`.
    #[track_caller]
    pub fn cross_entropy(&mut self, logits: NodeId, targets: NodeId) -> Built {
        self.push(Op::CrossEntropy, &[logits, targets], &[])
    }

    /// Rotary position embedding with base `theta` over `[.., T, d]` (see [`Op::Rope`]).
    #[track_caller]
    pub fn rope(&mut self, x: NodeId, theta: f64) -> Built {
        let inverse = false;
        self.push(Op::Rope { theta, inverse }, &[x], &[])
    }

    /// Output `output` of the elementwise function `f` (a `#[vibee::kernel(differentiable)]`
    /// kernel's `elementwise()`) over `args`, broadcast together (numpy rules); an operand
    /// broadcast along axes that are not one run is expanded first.
    #[track_caller]
    pub fn call(&mut self, f: &ElementwiseFn, output: usize, args: &[NodeId]) -> Built {
        self.call_with(f, output, None, args)
    }

    /// [`Graph::call`] of a one-output function whose gradient is the declared `backward`
    /// (inputs `x…, dy`; one gradient per input) instead of the derived one.
    #[track_caller]
    pub fn call_with_backward(
        &mut self,
        f: &ElementwiseFn,
        backward: &ElementwiseFn,
        args: &[NodeId],
    ) -> Built {
        self.call_with(f, 0, Some(backward), args)
    }

    /// [`Graph::call`], with a declared backward when `backward` is given.
    #[track_caller]
    pub(crate) fn call_with(
        &mut self,
        f: &ElementwiseFn,
        output: usize,
        backward: Option<&ElementwiseFn>,
        args: &[NodeId],
    ) -> Built {
        let site = CallSite::from_location(Location::caller());
        let refuse = |g: &Graph, reason: String| GraphError::Shape {
            op: "call",
            site: site.to_string(),
            shapes: args.iter().map(|&a| g.shape(a).to_vec()).collect(),
            reason,
        };
        if let Some(&bad) = args.iter().find(|a| a.index() >= self.nodes.len()) {
            return Err(GraphError::UnknownNode {
                op: "call",
                site: site.to_string(),
                node: bad,
            });
        }
        let mut out: Vec<usize> = Vec::new();
        for &a in args {
            out = broadcast_shapes(&out, self.shape(a))
                .ok_or_else(|| refuse(self, "operand shapes do not broadcast".into()))?;
        }
        let mut operands = Vec::with_capacity(args.len());
        for &a in args {
            let runs = OperandMap::between(self.shape(a), &out).is_some();
            operands.push(match runs {
                true => a,
                false => self.push_at(Op::Broadcast, &[a], &out, Some(site.clone()))?,
            });
        }
        let shapes: Vec<&[usize]> = operands.iter().map(|&a| self.shape(a)).collect();
        let call = CallOp::new(f, output, &shapes, &out)
            .and_then(|c| match backward {
                Some(b) if f.outputs.len() == 1 => c.with_backward(b),
                Some(_) => Err(format!(
                    "`{}` has several outputs; a declared backward needs one",
                    f.name
                )),
                None => Ok(c),
            })
            .map_err(|r| refuse(self, r))?;
        self.push_at(Op::Call(Box::new(call)), &operands, &out, Some(site))
    }

    /// Dropout with probability `p` and mask seed `seed`.
    #[track_caller]
    pub fn dropout(&mut self, x: NodeId, p: f64, seed: u64) -> Built {
        if !(0.0..1.0).contains(&p) {
            let site = CallSite::from_location(Location::caller());
            return Err(GraphError::Shape {
                op: "dropout",
                site: site.to_string(),
                shapes: vec![self.shape(x).to_vec()],
                reason: format!("p = {p} is outside [0, 1)"),
            });
        }
        self.push(Op::Dropout { p, seed }, &[x], &[])
    }

    /// Naive causal self-attention over `q, k, v` shaped `[.., T, head_dim]`: scores
    /// `q·kᵀ/√head_dim`, causal softmax, times `v`.
    #[track_caller]
    pub fn causal_attention(&mut self, q: NodeId, k: NodeId, v: NodeId) -> Built {
        let hd = *self.shape(q).last().unwrap_or(&1);
        let scores = self.matmul(q, k, false, true)?;
        let p = self.causal_softmax(scores, 1.0 / (hd as f64).sqrt())?;
        self.matmul(p, v, false, false)
    }

    /// Multi-head causal self-attention straight from a fused projection `qkv: [B, T, 3·C]`
    /// (queries, keys, values; `heads` heads each): `[B, T, C]`, the heads side by side as
    /// the output projection reads them. Scores are scaled by `1/√(C/heads)`.
    #[track_caller]
    pub fn self_attention(&mut self, qkv: NodeId, heads: usize) -> Built {
        let c = self.shape(qkv).last().copied().unwrap_or(0) / 3;
        let hd = c / heads.max(1);
        let scale = 1.0 / (hd.max(1) as f64).sqrt();
        self.push(Op::SelfAttention { heads, scale }, &[qkv], &[])
    }
}
