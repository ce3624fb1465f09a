//! Layer-wise learning-rate decay (LLRD): deeper layers keep the full rate, layers closer to
//! the input get geometrically smaller ones.

use serde::{Deserialize, Serialize};

use super::ScheduleError;

/// Per-parameter learning-rate multipliers from parameter names.
///
/// A parameter under `<block_prefix>.<i>.` sits at depth `i + 1`; one whose name contains an
/// `embedding_markers` entry sits at depth 0; everything else (final norm, head) at depth
/// `num_layers + 1`. The multiplier is `decay^(num_layers + 1 − depth)`, as in BEiT / ELECTRA
/// fine-tuning recipes.
///
/// ```
/// use vibee_runtime::schedule::LayerDecay;
/// let d = LayerDecay::new(0.5, 2);
/// assert_eq!(d.multiplier("head.weight").unwrap(), 1.0);
/// assert_eq!(d.multiplier("blocks.1.attn.qkv.weight").unwrap(), 0.5);
/// assert_eq!(d.multiplier("blocks.0.mlp.fc1.bias").unwrap(), 0.25);
/// assert_eq!(d.multiplier("tok_embed.weight").unwrap(), 0.125);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LayerDecay {
    /// Multiplier per layer of depth, in `(0, 1]`.
    pub decay: f64,
    /// Number of blocks in the model.
    pub num_layers: usize,
    /// The name segment that precedes a block index.
    #[serde(default = "default_prefix")]
    pub block_prefix: String,
    /// Name fragments that mark embedding parameters.
    #[serde(default = "default_markers")]
    pub embedding_markers: Vec<String>,
}

fn default_prefix() -> String {
    "blocks".into()
}

fn default_markers() -> Vec<String> {
    ["embed", "wte", "wpe"].map(String::from).to_vec()
}

impl LayerDecay {
    /// Decay `decay` per layer over `num_layers` blocks named `blocks.<i>.…`.
    pub fn new(decay: f64, num_layers: usize) -> Self {
        Self {
            decay,
            num_layers,
            block_prefix: default_prefix(),
            embedding_markers: default_markers(),
        }
    }

    /// Blocks are named `<prefix>.<i>.…` instead of `blocks.<i>.…`.
    pub fn block_prefix(mut self, prefix: &str) -> Self {
        self.block_prefix = prefix.into();
        self
    }

    /// Depth of a parameter: 0 for embeddings, `i + 1` for block `i`, `num_layers + 1` else.
    pub fn depth(&self, name: &str) -> Result<usize, ScheduleError> {
        let segments: Vec<&str> = name.split('.').collect();
        for pair in segments.windows(2) {
            if pair[0] != self.block_prefix {
                continue;
            }
            if let Ok(index) = pair[1].parse::<usize>() {
                if index >= self.num_layers {
                    return Err(ScheduleError::Invalid {
                        field: "layer_decay.num_layers".into(),
                        reason: format!(
                            "parameter `{name}` is in block {index} but num_layers is {}",
                            self.num_layers
                        ),
                    });
                }
                return Ok(index + 1);
            }
        }
        if self
            .embedding_markers
            .iter()
            .any(|m| name.contains(m.as_str()))
        {
            return Ok(0);
        }
        Ok(self.num_layers + 1)
    }

    /// The learning-rate multiplier for parameter `name`.
    pub fn multiplier(&self, name: &str) -> Result<f64, ScheduleError> {
        self.validate()?;
        let depth = self.depth(name)?;
        Ok(self.decay.powi((self.num_layers + 1 - depth) as i32))
    }

    /// Checks `decay` lies in `(0, 1]`.
    pub fn validate(&self) -> Result<(), ScheduleError> {
        if !(self.decay > 0.0 && self.decay <= 1.0) {
            return Err(ScheduleError::Invalid {
                field: "layer_decay.decay".into(),
                reason: format!("must lie in (0, 1], got {}", self.decay),
            });
        }
        Ok(())
    }
}
