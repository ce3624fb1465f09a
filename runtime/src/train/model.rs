//! What the trainer needs from a model.
//!
//! A model exposes its parameters as flat `f32` slices in a fixed order, with stable dotted
//! names and shapes (what checkpoints and the optimizer's parameter groups are keyed by),
//! computes the mean next-token cross-entropy of a batch with the gradient of every
//! parameter, and gives next-token logits for sampling.

/// Errors a model reports to the trainer (shape mismatches, backend failures).
pub type ModelResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// One parameter tensor: its stable dotted name (`blocks.3.attn.qkv.weight`) and shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamSpec {
    /// Stable dotted name, as a Hugging Face user would recognise it.
    pub name: String,
    /// Row-major shape; the parameter holds `shape.iter().product()` values.
    pub shape: Vec<usize>,
}

/// A model the training loop can drive.
///
/// Tokens are row-major `[batch, seq]`; `targets[b][t]` is the token that follows
/// `tokens[b][t]`.
pub trait Trainable {
    /// The parameters' names and shapes, in the order of [`Trainable::params`].
    fn param_specs(&self) -> Vec<ParamSpec>;
    /// The parameters' values, one flat slice per [`ParamSpec`], in order.
    fn params(&self) -> Vec<&[f32]>;
    /// The same slices, mutable: the optimizer updates them in place.
    fn params_mut(&mut self) -> Vec<&mut [f32]>;
    /// Mean cross-entropy (nats per token) of `targets` given `tokens`, and its gradient
    /// with respect to every parameter, **added** into `grads` (same order and sizes as
    /// [`Trainable::params`]) so that micro-batches accumulate.
    fn loss_and_grad(
        &mut self,
        tokens: &[u32],
        targets: &[u32],
        batch: usize,
        seq: usize,
        grads: &mut [Vec<f32>],
    ) -> ModelResult<f32>;
    /// Mean cross-entropy without gradients (validation).
    fn loss(
        &mut self,
        tokens: &[u32],
        targets: &[u32],
        batch: usize,
        seq: usize,
    ) -> ModelResult<f32>;
    /// Logits over the vocabulary for the token that follows `context`.
    fn next_logits(&mut self, context: &[u32]) -> ModelResult<Vec<f32>>;
    /// The longest context the model accepts (its block size).
    fn max_context(&self) -> usize;
    /// Vocabulary size.
    fn vocab_size(&self) -> usize;
}
