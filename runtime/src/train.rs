//! The training scheduler: corpus, batching, the step loop (gradient accumulation,
//! clipping, the optimizer and its schedule), validation, checkpoints and metrics.
//!
//! The loop drives any model through the [`Trainable`] trait.

pub mod model;

pub use model::{ModelResult, ParamSpec, Trainable};
