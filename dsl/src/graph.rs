//! The graph IR: tensors and ops a model's `forward` traces into.
//!
//! The pipeline: a model builds a [`Graph`] through its `#[track_caller]` methods
//! ([`builder`]), each checked by shape and dtype inference ([`infer`]) so mistakes are
//! reported at the user's line with both shapes; [`autodiff::gradients`] appends the
//! backward graph; [`passes`] merge common subexpressions, drop dead nodes and plan memory
//! by liveness; [`reference::evaluate`] runs any graph in f64 — the oracle for finite
//! differences and for executors (`vibee_runtime::exec`).

mod attention_ref;
pub mod autodiff;
mod autodiff_matmul;
pub mod builder;
pub mod call;
pub mod error;
pub mod fused;
pub mod infer;
pub mod ir;
pub mod layout;
pub mod passes;
pub mod pretty;
pub mod reference;
pub mod symbolic;
pub mod tensor;

pub use error::GraphError;
pub use ir::{BinaryOp, CallSite, DType, Graph, InputRole, Node, NodeId, Op, ReduceOp, UnaryOp};
pub use tensor::{Tensor, Tracer};
