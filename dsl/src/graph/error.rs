//! Errors of graph building, autodiff and reference evaluation.

use super::ir::{CallSite, NodeId};

/// Everything that can go wrong with a graph before an executor runs it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum GraphError {
    /// Shape or dtype inference rejected an op (named, with its call site and the shapes).
    #[error("`{op}` at {site}: {reason} (input shapes {shapes:?})")]
    Shape {
        /// The op's name.
        op: &'static str,
        /// The user's call site.
        site: String,
        /// The inputs' shapes, in order.
        shapes: Vec<Vec<usize>>,
        /// What rule was broken.
        reason: String,
    },
    /// An operand is not a node of this graph.
    #[error("`{op}` at {site}: operand {node} is not a node of this graph")]
    UnknownNode {
        /// The op's name.
        op: &'static str,
        /// The user's call site.
        site: String,
        /// The bad operand.
        node: NodeId,
    },
    /// Two inputs share a name.
    #[error("input `{name}` at {site} is already defined")]
    DuplicateInput {
        /// The name.
        name: String,
        /// The second definition's call site.
        site: String,
    },
    /// Autodiff met an op without a derivative (a backward op).
    #[error("autodiff: `{op}` at {site} has no derivative")]
    NotDifferentiable {
        /// The op's name.
        op: &'static str,
        /// Its call site.
        site: String,
    },
    /// Autodiff needs a scalar float loss.
    #[error("autodiff: the loss {node} must be a scalar float, it has shape {shape:?}")]
    NonScalarLoss {
        /// The loss node.
        node: NodeId,
        /// Its shape.
        shape: Vec<usize>,
    },
    /// Evaluation without a value for an input.
    #[error("no value bound for input `{0}`")]
    MissingFeed(String),
    /// A bound value has the wrong number of elements.
    #[error("input `{name}` has shape {shape:?} ({want} values) but {got} were bound")]
    FeedSize {
        /// The input.
        name: String,
        /// Its declared shape.
        shape: Vec<usize>,
        /// Elements expected.
        want: usize,
        /// Elements bound.
        got: usize,
    },
    /// An index tensor holds a value outside the table.
    #[error("`{op}` at {site}: index {index} is out of range for {rows} rows")]
    IndexOutOfRange {
        /// The op's name.
        op: &'static str,
        /// Its call site.
        site: String,
        /// The bad index.
        index: u64,
        /// Rows available.
        rows: usize,
    },
}

/// Formats an optional call site for messages.
pub fn site_string(site: Option<&CallSite>) -> String {
    site.map_or_else(|| "(no call site)".to_string(), ToString::to_string)
}
