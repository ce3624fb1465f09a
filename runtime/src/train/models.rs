//! The models `[model] kind` can name, built to the config's shape.

use super::bigram::Bigram;
use super::config::{ModelConfig, ModelKind};
use super::error::TrainResult;
use super::model::Trainable;

/// Builds the model `cfg` describes (its `vocab_size` resolved), initialised from `seed`.
pub fn build_model(cfg: &ModelConfig, seed: u64) -> TrainResult<Box<dyn Trainable>> {
    let vocab = cfg.vocab_size.unwrap_or(256);
    let _ = seed;
    match cfg.kind {
        ModelKind::Bigram => Ok(Box::new(Bigram::new(vocab))),
    }
}
