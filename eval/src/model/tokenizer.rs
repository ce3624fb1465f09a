//! Text ↔ token ids where vibee tokenizes itself (its own models; perplexity over an
//! OpenAI-compatible endpoint): the trainer's byte-level encoding, or a Hugging Face
//! `tokenizer.json` (cargo feature `tokenizers`).

use std::path::Path;

use crate::error::{EvalError, Result};

/// The tokenizer a `vibee train` run was trained with.
#[derive(Debug, Clone)]
pub enum Tokenizer {
    /// One token per UTF-8 byte (the `markov` and `text` corpora).
    Bytes,
    /// A Hugging Face tokenizer (the `tokenizer` corpus).
    #[cfg(feature = "tokenizers")]
    HuggingFace(Box<tokenizers::Tokenizer>),
}

/// Special-token spellings tried, in order, for the end-of-text token of a
/// Hugging Face vocabulary.
#[cfg(feature = "tokenizers")]
const EOS_NAMES: &[&str] = &["<|endoftext|>", "</s>", "<eos>", "<|end_of_text|>", "[SEP]"];

impl Tokenizer {
    /// Reads a `tokenizer.json`.
    #[cfg(feature = "tokenizers")]
    pub fn from_file(path: &Path) -> Result<Self> {
        tokenizers::Tokenizer::from_file(path)
            .map(|t| Tokenizer::HuggingFace(Box::new(t)))
            .map_err(|e| EvalError::RunDir {
                path: path.to_path_buf(),
                field: "tokenizer".into(),
                message: format!("not a usable tokenizer.json: {e}"),
            })
    }

    /// Without the `tokenizers` feature a `tokenizer.json` run cannot be evaluated.
    #[cfg(not(feature = "tokenizers"))]
    pub fn from_file(path: &Path) -> Result<Self> {
        Err(EvalError::RunDir {
            path: path.to_path_buf(),
            field: "tokenizer".into(),
            message: "tokenizer.json runs need vibee-eval built with the `tokenizers` feature"
                .into(),
        })
    }

    /// Token ids of `text` (no special tokens added).
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        match self {
            Tokenizer::Bytes => Ok(text.bytes().map(u32::from).collect()),
            #[cfg(feature = "tokenizers")]
            Tokenizer::HuggingFace(t) => t
                .encode(text, false)
                .map(|e| e.get_ids().to_vec())
                .map_err(|e| EvalError::Model(format!("tokenizer failed on {text:?}: {e}"))),
        }
    }

    /// Text of `tokens`; bytes that are not UTF-8 (a byte model may emit them) are
    /// replaced, as the trainer's own sampler does.
    pub fn decode(&self, tokens: &[u32]) -> String {
        match self {
            Tokenizer::Bytes => {
                let bytes: Vec<u8> = tokens.iter().map(|&t| t.min(255) as u8).collect();
                String::from_utf8_lossy(&bytes).into_owned()
            }
            #[cfg(feature = "tokenizers")]
            Tokenizer::HuggingFace(t) => t
                .decode(tokens, false)
                .unwrap_or_else(|e| format!("<undecodable: {e}>")),
        }
    }

    /// The end-of-text token, where the vocabulary has one. Byte-level models have
    /// none: generation then stops only at stop sequences or the token budget.
    pub fn eos(&self) -> Option<u32> {
        match self {
            Tokenizer::Bytes => None,
            #[cfg(feature = "tokenizers")]
            Tokenizer::HuggingFace(t) => EOS_NAMES.iter().find_map(|n| t.token_to_id(n)),
        }
    }

    /// The token a context-free request is conditioned on (the harness's
    /// `prefix_token_id`): the end-of-text token, or `\n` for byte-level models,
    /// whose training text has no end-of-text token but newline-separated lines.
    pub fn prefix_token(&self) -> u32 {
        self.eos().unwrap_or(u32::from(b'\n'))
    }

    /// `(context, continuation)` token ids as the harness's `_encode_pair`: the pair
    /// is encoded whole and the context's tokens split off, so a tokenizer that
    /// merges across the boundary scores the continuation's real tokens. The
    /// context's trailing whitespace must already be on the continuation
    /// ([`crate::model::split_context`]). An empty context is the prefix token.
    pub fn encode_pair(&self, context: &str, continuation: &str) -> Result<(Vec<u32>, Vec<u32>)> {
        if context.is_empty() {
            return Ok((vec![self.prefix_token()], self.encode(continuation)?));
        }
        let whole = self.encode(&format!("{context}{continuation}"))?;
        let ctx = self.encode(context)?;
        let split = ctx.len().min(whole.len());
        Ok((whole[..split].to_vec(), whole[split..].to_vec()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_round_trip_and_pair_split() {
        let t = Tokenizer::Bytes;
        assert_eq!(t.encode("aé").expect("bytes"), vec![97, 0xc3, 0xa9]);
        assert_eq!(t.decode(&[97, 0xc3, 0xa9]), "aé");
        let (c, x) = t.encode_pair("Q:", " A").expect("pair");
        assert_eq!((c, x), (vec![81, 58], vec![32, 65]));
        let (c, x) = t.encode_pair("", "hi").expect("pair");
        assert_eq!((c, x), (vec![10], vec![104, 105]));
    }
}
