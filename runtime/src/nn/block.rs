//! Causal self-attention and the pre-LN transformer block (as `torch_gpt.py`'s `Block`).

use vibee_dsl::graph::Tensor;

use super::layers::{LayerNorm, LayerNormConfig, Linear, LinearConfig, Mlp, MlpConfig};

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
    /// Rotary position embedding of queries and keys with this base (`None`: none); the
    /// head width must be even.
    #[config(
        default = None,
        check = rope_theta.is_none_or(|t| t > 0.0 && (dim / n_head.max(1)).is_multiple_of(2))
    )]
    pub rope_theta: Option<f64>,
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
    pub fn forward(&self, x: &Tensor) -> Tensor {
        let [b, t, d] = x.shape()[..] else {
            // Not `[B, T, dim]`: the projection reports the shapes at this line.
            return self.proj.forward(x);
        };
        let (h, hd) = (self.n_head, d / self.n_head.max(1));
        let qkv = self.qkv.forward(x);
        let Some(theta) = self.rope_theta else {
            // Straight from the projection: no head movement, probabilities recomputed
            // by the gradient instead of stored.
            let y = qkv.self_attention(h);
            return self.proj.forward(&y);
        };
        // [3, B, H, T, hd]: q, k and v become contiguous blocks, rotated per head.
        let heads = qkv.reshape(&[b, t, 3, h, hd]).permute(&[2, 0, 3, 1, 4]);
        let [q, k, v] = [0, 1, 2].map(|i| heads.slice(0, i, i + 1).reshape(&[b, h, t, hd]));
        let (q, k) = (q.rope(theta), k.rope(theta));
        let y = q
            .causal_attention(&k, &v)
            .permute(&[0, 2, 1, 3])
            .reshape(&[b, t, d]);
        self.proj.forward(&y)
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
    /// Rotary embedding base of the attention (`None`: none).
    #[config(default = None)]
    pub rope_theta: Option<f64>,
    /// Before attention.
    #[module(config = LayerNormConfig::new(dim))]
    pub ln1: LayerNorm,
    /// Self-attention.
    #[module(config = CausalSelfAttentionConfig { dim, n_head, rope_theta })]
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
    pub fn forward(&self, x: &Tensor) -> Tensor {
        let x = x + &self.attn.forward(&self.ln1.forward(x));
        &x + &self.mlp.forward(&self.ln2.forward(&x))
    }
}
