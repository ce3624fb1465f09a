//! Neural-network layers and models over the graph IR.
//!
//! Layers are plain structs of [`Param`]s and sub-layers; [`Module`] walks their
//! parameters in a fixed order with stable dotted names (`blocks.0.attn.qkv.weight`), and
//! each layer's `forward` traces ops into a [`vibee_dsl::graph::Graph`] (parameters become
//! graph inputs named after them). [`Gpt`] is the GPT of `torch_gpt.py`; [`CpuGpt`]
//! compiles its training graph (forward, autodiff backward) once per batch shape and
//! implements the trainer's [`crate::train::model::Trainable`].

mod block;
mod cpu_gpt;
mod gpt;
mod layers;
mod param;

pub use block::{Block, CausalSelfAttention};
pub use cpu_gpt::CpuGpt;
pub use gpt::{Gpt, GptConfig};
pub use layers::{Embedding, LayerNorm, Linear, Mlp, RmsNorm};
pub use param::{Init, InitRng, Module, Param};

/// Errors of building or running a model.
#[derive(Debug, thiserror::Error)]
pub enum NnError {
    /// A config field is out of range.
    #[error("model config: `{field}` {reason}")]
    Config {
        /// The field.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// Tracing the model failed (a shape error names the op and call site).
    #[error(transparent)]
    Graph(#[from] vibee_dsl::graph::GraphError),
    /// Compiling or running the program failed.
    #[error(transparent)]
    Exec(#[from] crate::exec::ExecError),
    /// A batch does not fit the model.
    #[error("batch: {0}")]
    Batch(String),
    /// A program input is neither data nor a parameter of the model.
    #[error("program input `{0}` is not a parameter of the model")]
    UnknownInput(String),
}
