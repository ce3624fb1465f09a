//! Causal self-attention and the pre-LN transformer block (as `torch_gpt.py`'s `Block`).

use vibee_dsl::graph::{Graph, GraphError, NodeId};

use super::layers::{LayerNorm, LayerNormConfig, Linear, LinearConfig, Mlp, MlpConfig};

type Traced = Result<NodeId, GraphError>;

/// Multi-head causal self-attention with a fused `qkv` projection.
#[vibee_macros::model(crate = crate)]
#[derive(Debug, Clone)]
pub struct CausalSelfAttention {
    /// Width of the residual stream.
    #[config]
    pub dim: usize,
    /// Heads; `dim % n_head == 0`.
    #[config(check = n_head >= 1, check = dim.is_multiple_of(n_head))]
    pub n_head: usize,
    /// `dim → 3·dim`: queries, keys and values, in that order.
    #[module(config = LinearConfig::new(dim, 3 * dim))]
    pub qkv: Linear,
    /// `dim → dim`.
    #[module(config = LinearConfig::new(dim, dim))]
    pub proj: Linear,
}

impl CausalSelfAttention {
    /// Attends over `x: [B, T, dim]`.
    #[track_caller]
    pub fn forward(&self, g: &mut Graph, x: NodeId) -> Traced {
        let s = g.shape(x).to_vec();
        let (b, t, d) = (s[0], s[1], s[2]);
        let (h, hd) = (self.n_head, d / self.n_head.max(1));
        let qkv = self.qkv.forward(g, x)?;
        let split = g.reshape(qkv, &[b, t, 3, h, hd])?;
        // [3, B, H, T, hd]: q, k and v become contiguous blocks.
        let heads = g.permute(split, &[2, 0, 3, 1, 4])?;
        let mut qkv3 = [x; 3];
        for (i, part) in qkv3.iter_mut().enumerate() {
            let one = g.slice(heads, 0, i, i + 1)?;
            *part = g.reshape(one, &[b, h, t, hd])?;
        }
        let y = g.causal_attention(qkv3[0], qkv3[1], qkv3[2])?;
        let y = g.permute(y, &[0, 2, 1, 3])?;
        let y = g.reshape(y, &[b, t, d])?;
        self.proj.forward(g, y)
    }
}

/// `x + attn(ln1(x))`, then `x + mlp(ln2(x))`.
#[vibee_macros::model(crate = crate)]
#[derive(Debug, Clone)]
pub struct Block {
    /// Width of the residual stream.
    #[config]
    pub dim: usize,
    /// Attention heads.
    #[config]
    pub n_head: usize,
    /// Before attention.
    #[module(config = LayerNormConfig::new(dim))]
    pub ln1: LayerNorm,
    /// Self-attention.
    #[module(config = CausalSelfAttentionConfig::new(dim, n_head))]
    pub attn: CausalSelfAttention,
    /// Before the MLP.
    #[module(config = LayerNormConfig::new(dim))]
    pub ln2: LayerNorm,
    /// Feed-forward.
    #[module(config = MlpConfig::new(dim))]
    pub mlp: Mlp,
}

impl Block {
    /// Applies the block to `x: [B, T, dim]`.
    #[track_caller]
    pub fn forward(&self, g: &mut Graph, x: NodeId) -> Traced {
        let h = self.ln1.forward(g, x)?;
        let h = self.attn.forward(g, h)?;
        let x = g.add(x, h)?;
        let h = self.ln2.forward(g, x)?;
        let h = self.mlp.forward(g, h)?;
        g.add(x, h)
    }
}
