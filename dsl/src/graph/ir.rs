//! The graph IR as plain data: nodes in topological order, each an [`Op`] over earlier
//! nodes with its inferred shape and dtype and the user's call site.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::call::CallOp;
use super::fused::FusedOp;

/// A node of a [`Graph`]; also the handle a model's `forward` passes around as its tensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct NodeId(pub u32);

impl NodeId {
    /// The node's position in [`Graph::nodes`].
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "%{}", self.0)
    }
}

/// Element types. Executors compute in `F32` and round every `BF16`/`F16` result to its
/// type (the numerics of reduced precision; values are stored in f32 slots); `U32` holds
/// token ids and class targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DType {
    /// IEEE single precision.
    F32,
    /// bfloat16.
    BF16,
    /// IEEE half precision.
    F16,
    /// Unsigned 32-bit integers (indices).
    U32,
}

impl DType {
    /// Bytes per element.
    pub fn size_bytes(self) -> usize {
        match self {
            DType::F32 | DType::U32 => 4,
            DType::BF16 | DType::F16 => 2,
        }
    }

    /// `v` rounded to this type's precision (nearest-even); unchanged for `F32` and `U32`.
    pub fn round(self, v: f32) -> f32 {
        match self {
            DType::BF16 => half::bf16::from_f32(v).to_f32(),
            DType::F16 => half::f16::from_f32(v).to_f32(),
            DType::F32 | DType::U32 => v,
        }
    }

    /// Whether values of this type carry gradients.
    pub fn is_float(self) -> bool {
        !matches!(self, DType::U32)
    }
}

/// Where in the user's source a node was created (from `#[track_caller]`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CallSite {
    /// Source file, as `std::panic::Location` spells it.
    pub file: String,
    /// 1-based line.
    pub line: u32,
    /// 1-based column.
    pub column: u32,
}

impl CallSite {
    /// The call site of a `#[track_caller]` function's caller.
    pub fn from_location(loc: &std::panic::Location<'_>) -> Self {
        Self {
            file: loc.file().to_string(),
            line: loc.line(),
            column: loc.column(),
        }
    }
}

impl fmt::Display for CallSite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

/// Whether a graph input is a trainable parameter or data bound per step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum InputRole {
    /// A parameter: persistent, differentiated.
    Param,
    /// Data fed each step (tokens, targets, masks).
    Data,
}

/// Elementwise functions of one tensor.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum UnaryOp {
    /// `-x`
    Neg,
    /// `eˣ`
    Exp,
    /// `ln x`
    Log,
    /// `√x`
    Sqrt,
    /// `tanh x`
    Tanh,
    /// `1 / (1 + e⁻ˣ)`
    Sigmoid,
    /// `max(x, 0)`
    Relu,
    /// GELU, tanh approximation (as `F.gelu(approximate="tanh")`).
    Gelu,
    /// `x²`
    Square,
    /// `1 / x`
    Recip,
    /// `c·x`
    Scale(f64),
    /// `x + c`
    AddScalar(f64),
}

/// Elementwise functions of two tensors, broadcast numpy-style.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum BinaryOp {
    /// `a + b`
    Add,
    /// `a - b`
    Sub,
    /// `a · b`
    Mul,
    /// `a / b`
    Div,
    /// `max(a, b)`
    Maximum,
    /// `1` where `a == b`, else `0` (a mask; no gradient flows through it).
    Equal,
    /// `dy · gelu'(x)` for `(x, dy)`: GELU's backward.
    GeluGrad,
    /// `dy · [x > 0]` for `(x, dy)`: ReLU's backward.
    ReluGrad,
}

/// Reductions over a set of axes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ReduceOp {
    /// Sum.
    Sum,
    /// Arithmetic mean.
    Mean,
    /// Maximum.
    Max,
}

/// An operation. Row operations (softmax, norms, cross-entropy) work on the last axis.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Op {
    /// A graph input; its shape and dtype are the node's.
    Input {
        /// Stable name (`blocks.0.attn.qkv.weight`, `tokens`).
        name: String,
        /// Parameter or data.
        role: InputRole,
    },
    /// A tensor filled with one value; its shape is the node's.
    Constant {
        /// The value of every element.
        value: f64,
    },
    /// Elementwise, one input.
    Unary(UnaryOp),
    /// Elementwise, two inputs, broadcast.
    Binary(BinaryOp),
    /// `op(a) · op(b)` over the last two axes; leading axes are batch axes, equal in both
    /// inputs or absent from one of them (shared across the batch).
    MatMul {
        /// Use `aᵀ` (the last two axes of `a` swapped).
        trans_a: bool,
        /// Use `bᵀ`.
        trans_b: bool,
    },
    /// Reduce over `axes` (sorted, distinct).
    Reduce {
        /// Which reduction.
        op: ReduceOp,
        /// Axes reduced.
        axes: Vec<usize>,
        /// Keep reduced axes with length 1.
        keep_dims: bool,
    },
    /// Broadcast to the node's shape (numpy rules).
    Broadcast,
    /// Same elements, the node's shape.
    Reshape,
    /// Axes reordered: output axis `i` is input axis `perm[i]`.
    Permute {
        /// The permutation.
        perm: Vec<usize>,
    },
    /// `x[.., start..end, ..]` along `axis`.
    Slice {
        /// Axis sliced.
        axis: usize,
        /// First index kept.
        start: usize,
        /// One past the last index kept.
        end: usize,
    },
    /// Zero padding along `axis` (the gradient of [`Op::Slice`]).
    Pad {
        /// Axis padded.
        axis: usize,
        /// Zeros before.
        before: usize,
        /// Zeros after.
        after: usize,
    },
    /// Inputs joined along `axis`.
    Concat {
        /// Axis joined.
        axis: usize,
    },
    /// Softmax over the last axis.
    Softmax,
    /// Log-softmax over the last axis.
    LogSoftmax,
    /// `softmax(scale·x)` over the last axis with future positions masked: for the trailing
    /// `[.., T, T]` block, column `j > i` gets probability 0 (attention scores).
    CausalSoftmax {
        /// Multiplies the scores before the softmax (`1/√head_dim`).
        scale: f64,
    },
    /// Multi-head causal self-attention over a fused projection `qkv: [B, T, 3·C]` (queries,
    /// keys and values side by side, each `heads` heads of `C / heads` columns):
    /// `y[b, t, h·d..] = Σ_{s ≤ t} softmax_s(scale · q_t·k_s) v_s`, shape `[B, T, C]`. The
    /// same values as slicing the heads out, [`Op::MatMul`], [`Op::CausalSoftmax`] and
    /// [`Op::MatMul`] again ([`super::passes::expand_attention`] rewrites it so), without
    /// moving the heads or keeping the probabilities: the gradient recomputes them.
    SelfAttention {
        /// Heads (`C % heads == 0`).
        heads: usize,
        /// Multiplies the scores before the softmax (`1/√head_dim`).
        scale: f64,
    },
    /// Backward of [`Op::SelfAttention`] for `(qkv, dy)`: the gradient of `qkv`, `[B, T, 3·C]`.
    SelfAttentionGrad {
        /// The forward's heads.
        heads: usize,
        /// The forward's scale.
        scale: f64,
    },
    /// Backward of softmax for `(y, dy)`: `y·(dy − Σ dy·y)`, times `scale`.
    SoftmaxGrad {
        /// 1 for [`Op::Softmax`], the forward's scale for [`Op::CausalSoftmax`].
        scale: f64,
    },
    /// Backward of log-softmax for `(y, dy)`: `dy − eʸ·Σ dy`.
    LogSoftmaxGrad,
    /// `(x − mean) / √(var + eps)` over the last axis (no affine; multiply and add after).
    LayerNorm {
        /// Added to the variance.
        eps: f64,
    },
    /// Backward of [`Op::LayerNorm`] for `(x, dy)`.
    LayerNormGrad {
        /// The forward's epsilon.
        eps: f64,
    },
    /// `x / √(mean(x²) + eps)` over the last axis.
    RmsNorm {
        /// Added to the mean square.
        eps: f64,
    },
    /// Backward of [`Op::RmsNorm`] for `(x, dy)`.
    RmsNormGrad {
        /// The forward's epsilon.
        eps: f64,
    },
    /// Rows of `table` (`[rows, ..]`) picked by `ids` (U32): shape `ids.shape ++ row`.
    Gather,
    /// For `(ids, src)`: a `[rows, ..]` tensor of zeros with `src`'s rows added at `ids`
    /// (the gradient of [`Op::Gather`]).
    ScatterAdd {
        /// Rows of the result.
        rows: usize,
    },
    /// Mean cross-entropy of `(logits [N, V], targets U32 [N])`: a scalar.
    CrossEntropy,
    /// For `(logits, targets, dloss)`: `(softmax(logits) − onehot) · dloss / N`.
    CrossEntropyGrad,
    /// The same values in another float type, rounded to nearest-even (`BF16`, `F16`);
    /// how a graph enters and leaves reduced precision (mixed precision: f32 master
    /// parameters cast to bf16 for the products, the loss cast back).
    Cast {
        /// The result's dtype.
        to: DType,
    },
    /// Rotary position embedding (Su et al. 2021, in the `rotate_half` layout of GPT-NeoX and
    /// Llama) over `[.., T, d]`: at position `t` (the second-to-last axis), each pair
    /// `(x[i], x[i + d/2])` is rotated by the angle `t·θ^(−2i/d)`; `inverse` rotates back
    /// (the gradient).
    Rope {
        /// The base `θ` (10 000 in most models).
        theta: f64,
        /// Rotate by the negated angle.
        inverse: bool,
    },
    /// Zeroes each element with probability `p` (scaling the rest by `1/(1−p)`); the mask
    /// comes from a counter-based hash of `(seed, step, index)`, so backward replays it.
    Dropout {
        /// Drop probability, in `[0, 1)`.
        p: f64,
        /// Seed of the mask.
        seed: u64,
    },
    /// One output of a user's elementwise kernel function (`#[vibee::kernel(differentiable)]`)
    /// over its operands, broadcast to the node's shape; differentiated through the
    /// function's derived vector-Jacobian product (see [`CallOp`]).
    Call(Box<CallOp>),
    /// Elementwise ops of one shape fused into one kernel by
    /// [`fuse_elementwise`](super::passes::fuse_elementwise); the node's value is the
    /// group's output 0, and [`Op::FusedOutput`] nodes right after it hold the others.
    Fused(Box<FusedOp>),
    /// Output `index` (≥ 1) of the [`Op::Fused`] node that is its only operand, written
    /// when that node runs.
    FusedOutput {
        /// Which output of the group.
        index: usize,
        /// Its dtype.
        dtype: DType,
    },
}

impl Op {
    /// Whether running a graph computes this node itself: not an input (fed), a reshape
    /// (its operand's buffer) or a fused node's extra output (written by that node).
    pub fn computes(&self) -> bool {
        !matches!(
            self,
            Op::Input { .. } | Op::Reshape | Op::FusedOutput { .. }
        )
    }

    /// Short name used in errors and the pretty printer.
    pub fn name(&self) -> &'static str {
        match self {
            Op::Input { .. } => "input",
            Op::Constant { .. } => "constant",
            Op::Unary(_) => "unary",
            Op::Binary(_) => "binary",
            Op::MatMul { .. } => "matmul",
            Op::Reduce { .. } => "reduce",
            Op::Broadcast => "broadcast",
            Op::Reshape => "reshape",
            Op::Permute { .. } => "permute",
            Op::Slice { .. } => "slice",
            Op::Pad { .. } => "pad",
            Op::Concat { .. } => "concat",
            Op::Softmax => "softmax",
            Op::LogSoftmax => "log_softmax",
            Op::CausalSoftmax { .. } => "causal_softmax",
            Op::SoftmaxGrad { .. } => "softmax_grad",
            Op::SelfAttention { .. } => "self_attention",
            Op::SelfAttentionGrad { .. } => "self_attention_grad",
            Op::LogSoftmaxGrad => "log_softmax_grad",
            Op::LayerNorm { .. } => "layer_norm",
            Op::LayerNormGrad { .. } => "layer_norm_grad",
            Op::RmsNorm { .. } => "rms_norm",
            Op::RmsNormGrad { .. } => "rms_norm_grad",
            Op::Gather => "gather",
            Op::ScatterAdd { .. } => "scatter_add",
            Op::CrossEntropy => "cross_entropy",
            Op::CrossEntropyGrad => "cross_entropy_grad",
            Op::Rope { .. } => "rope",
            Op::Dropout { .. } => "dropout",
            Op::Cast { .. } => "cast",
            Op::Call(_) => "call",
            Op::Fused(_) => "fused",
            Op::FusedOutput { .. } => "fused_output",
        }
    }
}

/// One node: an op over earlier nodes, with what shape inference found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Node {
    /// The operation.
    pub op: Op,
    /// Operands, all earlier in the graph.
    pub inputs: Vec<NodeId>,
    /// Inferred shape (row-major).
    pub shape: Vec<usize>,
    /// Inferred dtype.
    pub dtype: DType,
    /// Where the user created it (gradient nodes carry their forward node's site).
    pub site: Option<CallSite>,
}

impl Node {
    /// Number of elements.
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }
}

/// A graph: nodes in topological order (every input precedes its user) and the outputs a
/// program computes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Graph {
    /// All nodes, topologically ordered.
    pub nodes: Vec<Node>,
    /// What the graph computes.
    pub outputs: Vec<NodeId>,
}

impl Graph {
    /// An empty graph.
    pub fn new() -> Self {
        Self::default()
    }

    /// The node behind `id`.
    pub fn node(&self, id: NodeId) -> &Node {
        &self.nodes[id.index()]
    }

    /// The shape of `id`.
    pub fn shape(&self, id: NodeId) -> &[usize] {
        &self.nodes[id.index()].shape
    }

    /// Input nodes in order, with their names.
    pub fn inputs(&self) -> impl Iterator<Item = (NodeId, &str, InputRole)> + '_ {
        self.nodes
            .iter()
            .enumerate()
            .filter_map(|(i, n)| match &n.op {
                Op::Input { name, role } => Some((NodeId(i as u32), name.as_str(), *role)),
                _ => None,
            })
    }

    /// The input called `name`.
    pub fn input_named(&self, name: &str) -> Option<NodeId> {
        self.inputs()
            .find(|(_, n, _)| *n == name)
            .map(|(id, _, _)| id)
    }
}
