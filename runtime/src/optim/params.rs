//! Which parameters an optimizer updates, their shapes, and their per-parameter ("group")
//! learning-rate multiplier and weight decay.

use serde::{Deserialize, Serialize};

use super::OptimError;
use crate::schedule::LayerDecay;

/// One parameter tensor as the optimizer sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParamInfo {
    /// Stable dotted name, e.g. `blocks.3.attn.qkv.weight`.
    pub name: String,
    /// Row-major shape; factored optimizers factor the last two dimensions.
    pub shape: Vec<usize>,
    /// Multiplies the optimizer's learning rate (layer-wise decay, per-group rates).
    pub lr_scale: f64,
    /// Multiplies the optimizer's weight decay: 0 for norms and biases by default, else 1.
    pub decay_scale: f64,
}

impl ParamInfo {
    /// Number of elements.
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }
}

/// True for parameters that conventionally get no weight decay: biases and normalization
/// weights, recognised by name (`…bias`, a segment containing `norm`, or `ln`, `ln_f`, `ln1`…).
pub fn is_no_decay_name(name: &str) -> bool {
    name.split('.').any(|seg| {
        seg == "bias"
            || seg.ends_with("_bias")
            || seg.contains("norm")
            || (seg.starts_with("ln")
                && seg[2..]
                    .chars()
                    .all(|c| c.is_ascii_digit() || c == '_' || c == 'f'))
    })
}

/// The parameters of one optimizer, in the order `step` receives them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParamSet {
    params: Vec<ParamInfo>,
}

impl ParamSet {
    /// Parameters from `(name, shape)` pairs. The optimizer's weight decay applies to every
    /// parameter except those [`is_no_decay_name`] recognises.
    pub fn new<S: Into<String>>(specs: impl IntoIterator<Item = (S, Vec<usize>)>) -> Self {
        let params = specs
            .into_iter()
            .map(|(name, shape)| {
                let name = name.into();
                let decay_scale = if is_no_decay_name(&name) { 0.0 } else { 1.0 };
                ParamInfo {
                    name,
                    shape,
                    lr_scale: 1.0,
                    decay_scale,
                }
            })
            .collect();
        Self { params }
    }

    /// A single decayed parameter `w` (tests, small problems).
    pub fn single(shape: Vec<usize>) -> Self {
        Self::new([("w", shape)])
    }

    /// Sets the weight-decay multiplier of every parameter whose name satisfies `select`
    /// (0 turns decay off, 1 uses the optimizer's value).
    pub fn scale_decay(mut self, select: impl Fn(&str) -> bool, scale: f64) -> Self {
        self.params
            .iter_mut()
            .filter(|p| select(&p.name))
            .for_each(|p| p.decay_scale = scale);
        self
    }

    /// Multiplies the learning rate of every parameter whose name satisfies `select`.
    pub fn scale_lr(mut self, select: impl Fn(&str) -> bool, scale: f64) -> Self {
        self.params
            .iter_mut()
            .filter(|p| select(&p.name))
            .for_each(|p| p.lr_scale *= scale);
        self
    }

    /// Applies layer-wise learning-rate decay multipliers from parameter names.
    pub fn with_layer_decay(mut self, decay: &LayerDecay) -> Result<Self, OptimError> {
        for p in &mut self.params {
            p.lr_scale *= decay.multiplier(&p.name)?;
        }
        Ok(self)
    }

    /// The parameters, in order.
    pub fn iter(&self) -> std::slice::Iter<'_, ParamInfo> {
        self.params.iter()
    }

    /// Number of parameter tensors.
    pub fn len(&self) -> usize {
        self.params.len()
    }

    /// True when there are no parameters.
    pub fn is_empty(&self) -> bool {
        self.params.is_empty()
    }

    /// Parameter `i`.
    pub fn get(&self, i: usize) -> &ParamInfo {
        &self.params[i]
    }

    /// Checks that `params` and `grads` match the set, tensor by tensor.
    pub fn check<T>(&self, params: &[&mut [T]], grads: &[&[T]]) -> Result<(), OptimError> {
        if params.len() != self.len() || grads.len() != self.len() {
            return Err(OptimError::Count {
                expected: self.len(),
                params: params.len(),
                grads: grads.len(),
            });
        }
        for ((info, p), g) in self.params.iter().zip(params).zip(grads) {
            for (what, len) in [("parameter", p.len()), ("gradient", g.len())] {
                if len != info.numel() {
                    return Err(OptimError::Length {
                        param: info.name.clone(),
                        what,
                        expected: info.numel(),
                        got: len,
                    });
                }
            }
        }
        Ok(())
    }
}
