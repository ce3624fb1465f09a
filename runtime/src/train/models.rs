//! The models `[model] kind` can name, built to the config's shape.

use super::bigram::Bigram;
use super::config::{ModelConfig, ModelKind};
use super::error::{TrainError, TrainResult};
use super::model::Trainable;
use crate::nn::CpuGpt;

/// Builds the model `cfg` describes (its `vocab_size` resolved, else 256), initialised from
/// `seed`, running on `threads` CPU threads (0: one per core).
pub fn build_model(
    cfg: &ModelConfig,
    seed: u64,
    threads: usize,
) -> TrainResult<Box<dyn Trainable>> {
    let vocab_size = cfg.vocab_size.unwrap_or(256);
    match cfg.kind {
        ModelKind::Bigram => Ok(Box::new(Bigram::new(vocab_size))),
        ModelKind::Gpt => {
            let shape = cfg.gpt_shape(vocab_size);
            let threads = match threads {
                0 => std::thread::available_parallelism().map_or(1, usize::from),
                n => n,
            };
            let mut gpt =
                CpuGpt::new(shape, seed, threads).map_err(|e| TrainError::Model(Box::new(e)))?;
            gpt.set_recompute(cfg.recompute);
            gpt.set_precision(cfg.precision.autocast());
            Ok(Box::new(gpt))
        }
    }
}
