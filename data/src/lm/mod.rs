//! N-gram language models for perplexity filtering, as CCNet does it (Wenzek et al.
//! 2020): a model with interpolated modified Kneser-Ney smoothing (Chen & Goodman 1998)
//! is trained on reference text ([`train`]), saved and loaded in the ARPA format KenLM
//! reads and writes ([`arpa`]), and scores documents line by line ([`NgramModel::score_line`]).
//! The perplexity filter ([`crate::filters::Perplexity`]) turns a document's perplexity
//! into a head / middle / tail bucket with cut-offs taken from a reference distribution.

pub mod arpa;
mod model;
mod tokenize;
pub mod train;

pub use model::{LineScore, NgramEntry, NgramModel};
pub use tokenize::{LmNormalization, lm_tokens};
pub use train::{Discounts, TrainConfig, train};

/// The sentence-start token.
pub const BOS: &str = "<s>";
/// The sentence-end token.
pub const EOS: &str = "</s>";
/// The unknown-word token.
pub const UNK: &str = "<unk>";
