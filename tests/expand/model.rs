//! A model using every role and container: its expansion is `snapshots/expand/model.snap`.

use vibee::runtime::nn::{LayerNorm, LayerNormConfig, Linear, LinearConfig, Param};

/// Residual MLP layers with an optional final norm.
#[vibee::model]
#[derive(Debug, Clone)]
pub struct ResidualStack {
    /// Width of the stream.
    #[config(check = width.is_multiple_of(2))]
    pub width: usize,
    /// Layers.
    #[config(default = 2)]
    pub depth: usize,
    /// Whether a norm ends the stack.
    #[config(default = true)]
    pub final_norm: bool,
    /// `layers.{i}`.
    #[module(config = LinearConfig::new(width, width), len = depth, init = xavier_uniform)]
    pub layers: Vec<Linear>,
    /// `norm`, if any.
    #[module(config = LayerNormConfig::new(width), when = final_norm)]
    pub norm: Option<LayerNorm>,
    /// A learned output gain.
    #[param(shape = [width], init = ones, name = "gain")]
    pub scale: Param,
}
