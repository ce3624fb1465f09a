//! `Tensor`: the value a model's `forward` computes with, in plain Rust — methods and
//! operators instead of a graph and node ids. Every operation appends a node to the
//! [`Tracer`]'s graph, checked at the user's line (`#[track_caller]` all the way down).
//!
//! Operations never fail where they are written: the first error is kept by the tracer,
//! later operations become no-ops, and [`Tracer::finish`] returns that first error (with
//! its op, call site and shapes). So `forward` reads like the maths, `?`-free.
//!
//! ```
//! use vibee_dsl::graph::{DType, InputRole, Tracer};
//! let tr = Tracer::new();
//! let x = tr.input("x", &[2, 3], DType::F32, InputRole::Data);
//! let w = tr.input("w", &[4, 3], DType::F32, InputRole::Param);
//! let y = (x.matmul_t(&w)).gelu() * 2.0;
//! let g = tr.finish(&[&y]).unwrap();
//! assert_eq!(g.shape(g.outputs[0]), &[2, 4]);
//!
//! let tr = Tracer::new();
//! let x = tr.input("x", &[2, 3], DType::F32, InputRole::Data);
//! let bad = x.matmul(&x) + &x; // [2, 3]·[2, 3]: the error is kept, `+` is skipped
//! let err = tr.finish(&[&bad]).unwrap_err();
//! assert!(err.to_string().contains("`matmul`"));
//! ```

use std::cell::RefCell;
use std::panic::Location;
use std::rc::Rc;

use super::error::GraphError;
use super::ir::{BinaryOp, CallSite, DType, Graph, InputRole, NodeId, ReduceOp, UnaryOp};
use super::symbolic::{Bindings, Dim, shape_string};
use crate::kernel::elementwise::ElementwiseFn;

/// The graph being traced, shared by every [`Tensor`] made from it.
#[derive(Debug, Clone, Default)]
pub struct Tracer(Rc<RefCell<Trace>>);

#[derive(Debug, Default)]
struct Trace {
    graph: Graph,
    error: Option<GraphError>,
    /// Matrix products run in this type (autocast), their results cast back to f32.
    autocast: Option<DType>,
    /// Sizes of the symbolic dimensions inputs may declare.
    bindings: Bindings,
}

/// A traced value: a node of its tracer's graph.
#[derive(Debug, Clone)]
pub struct Tensor {
    tracer: Tracer,
    id: NodeId,
}

impl Tracer {
    /// An empty trace.
    pub fn new() -> Self {
        Self::default()
    }

    /// The input `name` (created at first use; later calls return the same node, so a
    /// parameter read by several layers is one input).
    #[track_caller]
    pub fn input(&self, name: &str, shape: &[usize], dtype: DType, role: InputRole) -> Tensor {
        let mut t = self.0.borrow_mut();
        let built = match t.graph.input_named(name) {
            Some(id) => Ok(id),
            None => t.graph.input(name, shape, dtype, role),
        };
        self.settle(&mut t, built, NodeId(0))
    }

    /// An empty trace whose inputs may declare the symbolic dimensions `bindings` sizes
    /// (see [`Tracer::input_dims`]).
    pub fn with_bindings(bindings: Bindings) -> Self {
        let tracer = Self::default();
        tracer.0.borrow_mut().bindings = bindings;
        tracer
    }

    /// The sizes this trace binds symbolic dimensions to.
    pub fn bindings(&self) -> Bindings {
        self.0.borrow().bindings.clone()
    }

    /// The input `name` of a declared shape: fixed sizes and symbols (`batch`, `seq`)
    /// resolved through this trace's bindings; an unbound symbol is the trace's error.
    #[track_caller]
    pub fn input_dims(&self, name: &str, dims: &[Dim], dtype: DType, role: InputRole) -> Tensor {
        let mut t = self.0.borrow_mut();
        let built = match (t.graph.input_named(name), t.bindings.resolve(dims)) {
            (Some(id), _) => Ok(id),
            (None, Ok(shape)) => t.graph.input(name, &shape, dtype, role),
            (None, Err(reason)) => Err(GraphError::Shape {
                op: "input",
                site: CallSite::from_location(Location::caller()).to_string(),
                shapes: Vec::new(),
                reason: format!("`{name}` declared as {}: {reason}", shape_string(dims)),
            }),
        };
        self.settle(&mut t, built, NodeId(0))
    }

    /// Autocast, as PyTorch's: from now on every matrix product of f32 operands casts them
    /// to `dtype` (`BF16`, `F16`), multiplies there and casts the result back to f32; the
    /// other ops stay in f32. `None` turns it off.
    pub fn set_autocast(&self, dtype: Option<DType>) {
        self.0.borrow_mut().autocast = dtype.filter(|d| *d != DType::F32);
    }

    /// A tensor of `shape` filled with `value`.
    #[track_caller]
    pub fn constant(&self, value: f64, shape: &[usize]) -> Tensor {
        let id = self.0.borrow_mut().graph.constant(value, shape);
        self.tensor(id)
    }

    /// The graph with `outputs`, or the first error any operation met.
    pub fn finish(self, outputs: &[&Tensor]) -> Result<Graph, GraphError> {
        let mut t = self.0.borrow_mut();
        if let Some(e) = t.error.take() {
            return Err(e);
        }
        let mut graph = std::mem::take(&mut t.graph);
        graph.outputs = outputs.iter().map(|o| o.id).collect();
        Ok(graph)
    }

    fn tensor(&self, id: NodeId) -> Tensor {
        Tensor {
            tracer: self.clone(),
            id,
        }
    }

    /// Keeps the first error; a failed op stands in as `fallback` so tracing continues.
    fn settle(&self, t: &mut Trace, built: Result<NodeId, GraphError>, fallback: NodeId) -> Tensor {
        let id = built.unwrap_or_else(|e| {
            t.error.get_or_insert(e);
            fallback
        });
        self.tensor(id)
    }
}

/// One traced operation: skipped after an error, else `$body` over the graph `$g`, called
/// directly from the `#[track_caller]` method so the node records the user's line.
macro_rules! traced {
    ($(#[$m:meta])* fn $name:ident(&$self:ident $(, $arg:ident: $ty:ty)*) |$g:ident| $body:expr) => {
        $(#[$m])*
        #[track_caller]
        pub fn $name(&$self $(, $arg: $ty)*) -> Tensor {
            let mut t = $self.tracer.0.borrow_mut();
            let built = if t.error.is_some() {
                Ok($self.id)
            } else {
                let $g = &mut t.graph;
                $body
            };
            $self.tracer.settle(&mut t, built, $self.id)
        }
    };
}

impl Tensor {
    /// The node in the tracer's graph.
    pub fn id(&self) -> NodeId {
        self.id
    }

    /// The shape (as inferred when the operation was traced).
    pub fn shape(&self) -> Vec<usize> {
        self.tracer.0.borrow().graph.shape(self.id).to_vec()
    }

    /// The tracer this tensor belongs to.
    pub fn tracer(&self) -> &Tracer {
        &self.tracer
    }

    /// `other`'s node, if it belongs to this trace; an operand from another trace is the
    /// error (its id would name an unrelated node here).
    #[track_caller]
    fn id_in(&self, other: &Tensor) -> Result<NodeId, GraphError> {
        if Rc::ptr_eq(&self.tracer.0, &other.tracer.0) {
            return Ok(other.id);
        }
        Err(GraphError::UnknownNode {
            op: "tensor operation (operand from another trace)",
            site: CallSite::from_location(Location::caller()).to_string(),
            node: other.id,
        })
    }

    /// `self · other` over the last two axes (batched); under autocast in reduced precision.
    #[track_caller]
    pub fn matmul(&self, other: &Tensor) -> Tensor {
        self.product(other, false)
    }

    /// `self · otherᵀ`: a linear layer's product with a `[out, in]` weight.
    #[track_caller]
    pub fn matmul_t(&self, other: &Tensor) -> Tensor {
        self.product(other, true)
    }

    #[track_caller]
    fn product(&self, other: &Tensor, trans_b: bool) -> Tensor {
        let mut t = self.tracer.0.borrow_mut();
        let built = if t.error.is_some() {
            Ok(self.id)
        } else {
            let cast = t.autocast;
            match self.id_in(other) {
                Ok(o) => autocast_matmul(&mut t.graph, self.id, o, trans_b, cast),
                Err(e) => Err(e),
            }
        };
        self.tracer.settle(&mut t, built, self.id)
    }
    traced!(
        /// Elementwise `op`.
        fn unary(&self, op: UnaryOp) |g| g.unary(op, self.id)
    );
    traced!(
        /// Elementwise `op` with `other`, broadcast.
        fn binary(&self, op: BinaryOp, other: &Tensor) |g| match self.id_in(other) {
            Ok(o) => g.binary(op, self.id, o),
            Err(e) => Err(e),
        }
    );
    traced!(
        /// GELU (tanh approximation, as GPT-2).
        fn gelu(&self) |g| g.gelu(self.id)
    );
    traced!(
        /// Same elements, new shape.
        fn reshape(&self, shape: &[usize]) |g| g.reshape(self.id, shape)
    );
    traced!(
        /// Axes reordered: output axis `i` is input axis `perm[i]`.
        fn permute(&self, perm: &[usize]) |g| g.permute(self.id, perm)
    );
    traced!(
        /// `self[.., start..end, ..]` along `axis`.
        fn slice(&self, axis: usize, start: usize, end: usize) |g| g.slice(self.id, axis, start, end)
    );
    traced!(
        /// Broadcast to `shape` (numpy rules).
        fn broadcast(&self, shape: &[usize]) |g| g.broadcast(self.id, shape)
    );
    traced!(
        /// A reduction over `axes`.
        fn reduce(&self, op: ReduceOp, axes: &[usize], keep_dims: bool) |g| g.reduce(op, self.id, axes, keep_dims)
    );
    traced!(
        /// Softmax over the last axis.
        fn softmax(&self) |g| g.softmax(self.id)
    );
    traced!(
        /// Log-softmax over the last axis.
        fn log_softmax(&self) |g| g.log_softmax(self.id)
    );
    traced!(
        /// Layer norm over the last axis with optional affine `[D]` weight and bias.
        fn layer_norm(&self, weight: Option<&Tensor>, bias: Option<&Tensor>, eps: f64)
            |g| match (weight.map(|w| self.id_in(w)).transpose(), bias.map(|b| self.id_in(b)).transpose()) {
                (Ok(w), Ok(b)) => g.layer_norm(self.id, w, b, eps),
                (Err(e), _) | (_, Err(e)) => Err(e),
            }
    );
    traced!(
        /// RMS norm over the last axis with an optional `[D]` weight.
        fn rms_norm(&self, weight: Option<&Tensor>, eps: f64) |g| match weight.map(|w| self.id_in(w)).transpose() {
            Ok(w) => g.rms_norm(self.id, w, eps),
            Err(e) => Err(e),
        }
    );
    traced!(
        /// Rows of this `[rows, ..]` table at `ids` (U32): an embedding lookup.
        fn gather(&self, ids: &Tensor) |g| match self.id_in(ids) {
            Ok(i) => g.gather(self.id, i),
            Err(e) => Err(e),
        }
    );
    traced!(
        /// Mean cross-entropy of these `[N, V]` logits against U32 `targets [N]`.
        fn cross_entropy(&self, targets: &Tensor) |g| match self.id_in(targets) {
            Ok(t) => g.cross_entropy(self.id, t),
            Err(e) => Err(e),
        }
    );
    traced!(
        /// The values as `to` (`DType::BF16`, `DType::F16`, `DType::F32`), rounded.
        fn cast(&self, to: DType) |g| g.cast(self.id, to)
    );
    traced!(
        /// Rotary position embedding with base `theta` over `[.., T, d]`.
        fn rope(&self, theta: f64) |g| g.rope(self.id, theta)
    );
    traced!(
        /// Dropout with probability `p`; the mask is a counter-based hash of `seed`.
        fn dropout(&self, p: f64, seed: u64) |g| g.dropout(self.id, p, seed)
    );

    /// The elementwise kernel function `f` (a `#[vibee::kernel(differentiable)]` kernel's
    /// `elementwise()`) applied to `self` and `rest`, broadcast together; its gradient is the
    /// function's derived backward. For a function with several outputs, see
    /// [`Tensor::call_output`].
    ///
    /// ```ignore
    /// #[vibee::kernel(differentiable)]
    /// fn swish(x: f32) -> f32 {
    ///     x / (1.0 + exp(-x))
    /// }
    /// let y = x.call(swish::elementwise(), &[]); // tests/graph_call.rs runs this
    /// ```
    #[track_caller]
    pub fn call(&self, f: &ElementwiseFn, rest: &[&Tensor]) -> Tensor {
        self.call_output(f, 0, rest)
    }

    /// Output `output` of the elementwise function `f` over `self` and `rest`.
    #[track_caller]
    pub fn call_output(&self, f: &ElementwiseFn, output: usize, rest: &[&Tensor]) -> Tensor {
        self.call_with(f, output, None, rest)
    }

    /// [`Tensor::call`] of a one-output function with a declared `backward` (inputs
    /// `x…, dy`, one gradient per input) instead of the derived one.
    #[track_caller]
    pub fn call_with_backward(
        &self,
        f: &ElementwiseFn,
        backward: &ElementwiseFn,
        rest: &[&Tensor],
    ) -> Tensor {
        self.call_with(f, 0, Some(backward), rest)
    }

    #[track_caller]
    fn call_with(
        &self,
        f: &ElementwiseFn,
        output: usize,
        backward: Option<&ElementwiseFn>,
        rest: &[&Tensor],
    ) -> Tensor {
        let mut t = self.tracer.0.borrow_mut();
        // The graph call is written here, not in a closure, so it records the user's line.
        let built = match self.call_args(&t, rest) {
            None => Ok(self.id),
            Some(Ok(args)) => t.graph.call_with(f, output, backward, &args),
            Some(Err(e)) => Err(e),
        };
        self.tracer.settle(&mut t, built, self.id)
    }

    /// `self` and `rest` as nodes of this trace; `None` once the trace has failed.
    #[track_caller]
    fn call_args(&self, t: &Trace, rest: &[&Tensor]) -> Option<Result<Vec<NodeId>, GraphError>> {
        if t.error.is_some() {
            return None;
        }
        let mut args = vec![self.id];
        for r in rest {
            match self.id_in(r) {
                Ok(id) => args.push(id),
                Err(e) => return Some(Err(e)),
            }
        }
        Some(Ok(args))
    }

    traced!(
        /// Causally masked `softmax(scale·scores)` over `[.., T, T]` attention scores.
        fn causal_softmax(&self, scale: f64) |g| g.causal_softmax(self.id, scale)
    );

    /// Causal attention with these queries over `keys` and `values` (`[.., T, hd]`): the
    /// scores' and the mixing's products autocast like every product, the softmax in f32.
    #[track_caller]
    pub fn causal_attention(&self, keys: &Tensor, values: &Tensor) -> Tensor {
        let hd = self.shape().last().copied().unwrap_or(1);
        let p = self.matmul_t(keys).causal_softmax(1.0 / (hd as f64).sqrt());
        p.matmul(values)
    }

    /// Multi-head causal self-attention from this fused projection `qkv: [B, T, 3·C]`:
    /// `[B, T, C]` (see [`Op::SelfAttention`](super::Op::SelfAttention)). Under autocast
    /// the projection is cast to the reduced type, attended in it (f32 arithmetic, the
    /// result rounded) and cast back.
    #[track_caller]
    pub fn self_attention(&self, heads: usize) -> Tensor {
        let mut t = self.tracer.0.borrow_mut();
        let built = if t.error.is_some() {
            Ok(self.id)
        } else {
            let cast = t.autocast;
            autocast_attention(&mut t.graph, self.id, heads, cast)
        };
        self.tracer.settle(&mut t, built, self.id)
    }

    /// Sum over `axes`.
    #[track_caller]
    pub fn sum(&self, axes: &[usize], keep_dims: bool) -> Tensor {
        self.reduce(ReduceOp::Sum, axes, keep_dims)
    }

    /// Mean over `axes`.
    #[track_caller]
    pub fn mean(&self, axes: &[usize], keep_dims: bool) -> Tensor {
        self.reduce(ReduceOp::Mean, axes, keep_dims)
    }

    /// `e^x`, elementwise.
    #[track_caller]
    pub fn exp(&self) -> Tensor {
        self.unary(UnaryOp::Exp)
    }

    /// `max(x, 0)`, elementwise.
    #[track_caller]
    pub fn relu(&self) -> Tensor {
        self.unary(UnaryOp::Relu)
    }
}

/// `a·b` (or `a·bᵀ`); with `cast`, f32 operands go to that type and the product back.
#[track_caller]
fn autocast_matmul(
    g: &mut Graph,
    a: NodeId,
    b: NodeId,
    trans_b: bool,
    cast: Option<DType>,
) -> Result<NodeId, GraphError> {
    let f32_operands = g.node(a).dtype == DType::F32 && g.node(b).dtype == DType::F32;
    let Some(dt) = cast.filter(|_| f32_operands) else {
        return g.matmul(a, b, false, trans_b);
    };
    let (a, b) = (g.cast(a, dt)?, g.cast(b, dt)?);
    let y = g.matmul(a, b, false, trans_b)?;
    g.cast(y, DType::F32)
}

/// Self-attention over `qkv`; with `cast`, an f32 `qkv` goes to that type and the
/// result back.
#[track_caller]
fn autocast_attention(
    g: &mut Graph,
    qkv: NodeId,
    heads: usize,
    cast: Option<DType>,
) -> Result<NodeId, GraphError> {
    let Some(dt) = cast.filter(|_| g.node(qkv).dtype == DType::F32) else {
        return g.self_attention(qkv, heads);
    };
    let x = g.cast(qkv, dt)?;
    let y = g.self_attention(x, heads)?;
    g.cast(y, DType::F32)
}

/// `a + b`, `a - b`, `a * b`, `a / b` between tensors (broadcast), and with an `f64`.
macro_rules! operator {
    ($trait:ident, $method:ident, $op:ident, $scalar:expr) => {
        impl std::ops::$trait<&Tensor> for &Tensor {
            type Output = Tensor;
            #[track_caller]
            fn $method(self, other: &Tensor) -> Tensor {
                self.binary(BinaryOp::$op, other)
            }
        }
        impl std::ops::$trait<Tensor> for Tensor {
            type Output = Tensor;
            #[track_caller]
            fn $method(self, other: Tensor) -> Tensor {
                self.binary(BinaryOp::$op, &other)
            }
        }
        impl std::ops::$trait<&Tensor> for Tensor {
            type Output = Tensor;
            #[track_caller]
            fn $method(self, other: &Tensor) -> Tensor {
                self.binary(BinaryOp::$op, other)
            }
        }
        impl std::ops::$trait<f64> for Tensor {
            type Output = Tensor;
            #[track_caller]
            fn $method(self, c: f64) -> Tensor {
                let scalar: fn(f64) -> UnaryOp = $scalar;
                self.unary(scalar(c))
            }
        }
    };
}

operator!(Add, add, Add, UnaryOp::AddScalar);
operator!(Sub, sub, Sub, |c| UnaryOp::AddScalar(-c));
operator!(Mul, mul, Mul, UnaryOp::Scale);
operator!(Div, div, Div, |c| UnaryOp::Scale(1.0 / c));
