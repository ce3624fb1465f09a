//! A GPT-2-style decoder (pre-LN, learned positions, GELU MLP, untied head), the same
//! architecture and default initialisation as `torch_gpt.py`.

use serde::{Deserialize, Serialize};
use vibee_dsl::graph::{DType, Graph, GraphError, InputRole, NodeId};

use super::NnError;
use super::block::Block;
use super::layers::{Embedding, LayerNorm, Linear};
use super::param::{InitRng, Module, Param};

/// The model's sizes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GptConfig {
    /// Tokens in the vocabulary (256 for bytes).
    pub vocab_size: usize,
    /// Transformer blocks.
    pub n_layer: usize,
    /// Attention heads per block.
    pub n_head: usize,
    /// Width of the residual stream.
    pub d_model: usize,
    /// Longest context (positions).
    pub block_size: usize,
}

impl GptConfig {
    /// The anchor's small shape: vocab 256, 4 layers, 4 heads, width 128, context 128.
    pub fn small() -> Self {
        Self {
            vocab_size: 256,
            n_layer: 4,
            n_head: 4,
            d_model: 128,
            block_size: 128,
        }
    }

    /// Checks every field, naming the first bad one.
    pub fn validate(&self) -> Result<(), NnError> {
        let positive = [
            ("vocab_size", self.vocab_size),
            ("n_layer", self.n_layer),
            ("n_head", self.n_head),
            ("d_model", self.d_model),
            ("block_size", self.block_size),
        ];
        for (field, v) in positive {
            if v == 0 {
                return Err(NnError::Config {
                    field,
                    reason: "must be at least 1".into(),
                });
            }
        }
        if !self.d_model.is_multiple_of(self.n_head) {
            let reason = format!(
                "d_model = {} is not a multiple of n_head = {}",
                self.d_model, self.n_head
            );
            return Err(NnError::Config {
                field: "d_model",
                reason,
            });
        }
        Ok(())
    }
}

/// Token and position embeddings, blocks, final norm and the output head.
#[derive(Debug, Clone)]
pub struct Gpt {
    /// The sizes.
    pub config: GptConfig,
    /// `wte`: `[vocab, d_model]`.
    pub wte: Embedding,
    /// `wpe`: `[block_size, d_model]`.
    pub wpe: Embedding,
    /// `blocks.{i}`.
    pub blocks: Vec<Block>,
    /// `ln_f`.
    pub ln_f: LayerNorm,
    /// `lm_head`: `[vocab, d_model]`, no bias.
    pub lm_head: Linear,
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

    /// A model initialised from `seed`.
    pub fn new(config: GptConfig, seed: u64) -> Result<Self, NnError> {
        config.validate()?;
        let mut rng = InitRng::new(seed);
        let (v, d) = (config.vocab_size, config.d_model);
        let wte = Embedding::new("wte", v, d, &mut rng);
        let wpe = Embedding::new("wpe", config.block_size, d, &mut rng);
        let blocks = (0..config.n_layer)
            .map(|i| Block::new(&format!("blocks.{i}"), d, config.n_head, &mut rng))
            .collect();
        let ln_f = LayerNorm::new("ln_f", d, &mut rng);
        let lm_head = Linear::new("lm_head", d, v, false, &mut rng);
        Ok(Self {
            config,
            wte,
            wpe,
            blocks,
            ln_f,
            lm_head,
        })
    }

    /// Logits `[B, T, vocab]` for `tokens: [B, T]` (U32, `T ≤ block_size`).
    #[track_caller]
    pub fn forward(&self, g: &mut Graph, tokens: NodeId) -> Result<NodeId, GraphError> {
        let t = g.shape(tokens)[1];
        let tok = self.wte.forward(g, tokens)?;
        let wpe = self.wpe.weight.trace(g)?;
        let pos = g.slice(wpe, 0, 0, t)?;
        let mut x = g.add(tok, pos)?;
        for b in &self.blocks {
            x = b.forward(g, x)?;
        }
        let x = self.ln_f.forward(g, x)?;
        self.lm_head.forward(g, x)
    }

    /// Traces the training graph for `[batch, seq]`: outputs the mean cross-entropy, then
    /// (with `grads`) the gradient of every parameter in [`Module`] order.
    pub fn trace_loss(&self, batch: usize, seq: usize, grads: bool) -> Result<Graph, GraphError> {
        let mut g = Graph::new();
        let tokens = g.input("tokens", &[batch, seq], DType::U32, InputRole::Data)?;
        let targets = g.input("targets", &[batch * seq], DType::U32, InputRole::Data)?;
        let logits = self.forward(&mut g, tokens)?;
        let flat = g.reshape(logits, &[batch * seq, self.config.vocab_size])?;
        let loss = g.cross_entropy(flat, targets)?;
        g.outputs.push(loss);
        if grads {
            let mut params = Vec::new();
            for p in self.parameters() {
                params.push(p.trace(&mut g)?);
            }
            let ds = vibee_dsl::graph::autodiff::gradients(&mut g, loss, &params)?;
            g.outputs.extend(ds);
        }
        Ok(g)
    }

    /// Traces the sampling graph: logits `[1, block_size, vocab]`.
    pub fn trace_logits(&self) -> Result<Graph, GraphError> {
        let mut g = Graph::new();
        let tokens = g.input(
            "tokens",
            &[1, self.config.block_size],
            DType::U32,
            InputRole::Data,
        )?;
        let logits = self.forward(&mut g, tokens)?;
        g.outputs.push(logits);
        Ok(g)
    }
}

impl Module for Gpt {
    fn visit_params<'a>(&'a self, f: &mut dyn FnMut(&'a Param)) {
        self.wte.visit_params(f);
        self.wpe.visit_params(f);
        for b in &self.blocks {
            b.visit_params(f);
        }
        self.ln_f.visit_params(f);
        self.lm_head.visit_params(f);
    }
    fn visit_params_mut<'a>(&'a mut self, f: &mut dyn FnMut(&'a mut Param)) {
        self.wte.visit_params_mut(f);
        self.wpe.visit_params_mut(f);
        for b in &mut self.blocks {
            b.visit_params_mut(f);
        }
        self.ln_f.visit_params_mut(f);
        self.lm_head.visit_params_mut(f);
    }
}
