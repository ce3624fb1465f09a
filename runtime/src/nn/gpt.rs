//! A GPT-2-style decoder (pre-LN, learned positions, GELU MLP, untied head), the same
//! architecture and default initialisation as `torch_gpt.py`.

use vibee_dsl::graph::{DType, Graph, GraphError, InputRole, Tensor, Tracer};

use super::NnError;
use super::block::{Block, BlockConfig};
use super::layers::{Embedding, EmbeddingConfig, LayerNorm, LayerNormConfig, Linear, LinearConfig};
use super::model::{Model, ModelConfig};
use super::param::Module;

/// Token and position embeddings, blocks, final norm and the output head. Its config,
/// [`GptConfig`], is what `[model]` in the trainer's TOML holds.
#[vibee_macros::model(crate = crate)]
#[derive(Debug, Clone)]
pub struct Gpt {
    /// Tokens in the vocabulary (256 for bytes).
    #[config(check = vocab_size >= 1)]
    pub vocab_size: usize,
    /// Transformer blocks.
    #[config(check = n_layer >= 1)]
    pub n_layer: usize,
    /// Attention heads per block.
    #[config(check = n_head >= 1)]
    pub n_head: usize,
    /// Width of the residual stream.
    #[config(check = d_model >= 1, check = d_model.is_multiple_of(n_head))]
    pub d_model: usize,
    /// Longest context (positions).
    #[config(check = block_size >= 1)]
    pub block_size: usize,
    /// Rotary position embeddings with this base in every attention instead of learned
    /// absolute ones (`wpe`); `None` (the default, as `torch_gpt.py`) keeps `wpe`.
    #[config(default = None)]
    pub rope_theta: Option<f64>,
    /// `wte`: `[vocab, d_model]`.
    #[module(config = EmbeddingConfig::new(vocab_size, d_model))]
    pub wte: Embedding,
    /// `wpe`: `[block_size, d_model]`, absent with rotary embeddings.
    #[module(config = EmbeddingConfig::new(block_size, d_model), when = rope_theta.is_none())]
    pub wpe: Option<Embedding>,
    /// `blocks.{i}`.
    #[module(
        config = BlockConfig { dim: d_model, n_head, rope_theta },
        len = n_layer
    )]
    pub blocks: Vec<Block>,
    /// `ln_f`.
    #[module(config = LayerNormConfig::new(d_model))]
    pub ln_f: LayerNorm,
    /// `lm_head`: `[vocab, d_model]`, no bias.
    #[module(config = LinearConfig { d_in: d_model, d_out: vocab_size, with_bias: false })]
    pub lm_head: Linear,
}

impl GptConfig {
    /// The anchor's small shape: vocab 256, 4 layers, 4 heads, width 128, context 128.
    pub fn small() -> Self {
        Self::new(256, 4, 4, 128, 128)
    }

    /// Checks every field, naming the first bad one.
    pub fn validate(&self) -> Result<(), NnError> {
        Ok(ModelConfig::validate(self)?)
    }
}

impl Gpt {
    /// For each input of a compiled `program`, in order: the index (in
    /// [`Module::parameters`] order) of the parameter it reads, or `None` for one of the
    /// `data` inputs (`tokens`, `targets`); any other name is an error.
    pub fn bind_inputs(
        &self,
        program: &crate::exec::Program,
        data: &[&str],
    ) -> Result<Vec<Option<usize>>, NnError> {
        let params = self.parameters();
        let index: std::collections::HashMap<&str, usize> = params
            .iter()
            .enumerate()
            .map(|(i, p)| (p.name.as_str(), i))
            .collect();
        program
            .inputs()
            .iter()
            .map(|s| match index.get(s.name.as_str()) {
                Some(&i) => Ok(Some(i)),
                None if data.contains(&s.name.as_str()) => Ok(None),
                None => Err(NnError::UnknownInput(s.name.clone())),
            })
            .collect()
    }

    /// A model initialised from `seed` (as [`Model::init`], with this crate's error).
    pub fn new(config: GptConfig, seed: u64) -> Result<Self, NnError> {
        Ok(<Self as Model>::init(&config, seed)?)
    }

    /// Logits `[B, T, vocab]` for `tokens: [B, T]` (U32, `T ≤ block_size`).
    #[track_caller]
    pub fn forward(&self, tokens: &Tensor) -> Tensor {
        let t = tokens.shape().get(1).copied().unwrap_or(0);
        let mut x = self.wte.forward(tokens);
        if let Some(wpe) = &self.wpe {
            x = x + wpe.weight.tensor(tokens).slice(0, 0, t);
        }
        for b in &self.blocks {
            x = b.forward(&x);
        }
        self.lm_head.forward(&self.ln_f.forward(&x))
    }

    /// Traces the training graph for `[batch, seq]`: outputs the mean cross-entropy, then
    /// (with `grads`) the gradient of every parameter in [`Module`] order.
    pub fn trace_loss(&self, batch: usize, seq: usize, grads: bool) -> Result<Graph, GraphError> {
        self.trace_loss_in(batch, seq, grads, None)
    }

    /// [`Gpt::trace_loss`] with the matrix products autocast to `precision` (`BF16`,
    /// `F16`; `None` for f32), as PyTorch's `autocast`: see [`Tracer::set_autocast`].
    pub fn trace_loss_in(
        &self,
        batch: usize,
        seq: usize,
        grads: bool,
        precision: Option<DType>,
    ) -> Result<Graph, GraphError> {
        let tr = Tracer::new();
        tr.set_autocast(precision);
        let tokens = tr.input("tokens", &[batch, seq], DType::U32, InputRole::Data);
        let targets = tr.input("targets", &[batch * seq], DType::U32, InputRole::Data);
        let logits = self
            .forward(&tokens)
            .reshape(&[batch * seq, self.vocab_size]);
        let loss = logits.cross_entropy(&targets);
        let mut g = tr.finish(&[&loss])?;
        if grads {
            let mut params = Vec::new();
            for p in self.parameters() {
                params.push(p.trace(&mut g)?);
            }
            let ds = vibee_dsl::graph::autodiff::gradients(&mut g, loss.id(), &params)?;
            g.outputs.extend(ds);
        }
        Ok(g)
    }

    /// The graph of logits `[batch, seq, vocab]` for a `tokens` input of that shape.
    pub fn trace_logits_for(&self, batch: usize, seq: usize) -> Result<Graph, GraphError> {
        let tr = Tracer::new();
        let tokens = tr.input("tokens", &[batch, seq], DType::U32, InputRole::Data);
        let logits = self.forward(&tokens);
        tr.finish(&[&logits])
    }

    /// Traces the sampling graph: logits `[1, block_size, vocab]`.
    pub fn trace_logits(&self) -> Result<Graph, GraphError> {
        self.trace_logits_for(1, self.block_size)
    }
}
