//! Causal self-attention and the pre-LN transformer block (as `torch_gpt.py`'s `Block`).

use vibee_dsl::graph::{Graph, GraphError, NodeId};

use super::layers::{LayerNorm, Linear, Mlp};
use super::param::{InitRng, Module, Param};

type Traced = Result<NodeId, GraphError>;

/// Multi-head causal self-attention with a fused `qkv` projection.
#[derive(Debug, Clone)]
pub struct CausalSelfAttention {
    /// `dim → 3·dim`: queries, keys and values, in that order.
    pub qkv: Linear,
    /// `dim → dim`.
    pub proj: Linear,
    /// Heads; `dim % n_head == 0`.
    pub n_head: usize,
}

impl CausalSelfAttention {
    /// `prefix.qkv` and `prefix.proj`.
    pub fn new(prefix: &str, dim: usize, n_head: usize, rng: &mut InitRng) -> Self {
        Self {
            qkv: Linear::new(&format!("{prefix}.qkv"), dim, 3 * dim, true, rng),
            proj: Linear::new(&format!("{prefix}.proj"), dim, dim, true, rng),
            n_head,
        }
    }

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

impl Module for CausalSelfAttention {
    fn visit_params<'a>(&'a self, f: &mut dyn FnMut(&'a Param)) {
        self.qkv.visit_params(f);
        self.proj.visit_params(f);
    }
    fn visit_params_mut<'a>(&'a mut self, f: &mut dyn FnMut(&'a mut Param)) {
        self.qkv.visit_params_mut(f);
        self.proj.visit_params_mut(f);
    }
}

/// `x + attn(ln1(x))`, then `x + mlp(ln2(x))`.
#[derive(Debug, Clone)]
pub struct Block {
    /// Before attention.
    pub ln1: LayerNorm,
    /// Self-attention.
    pub attn: CausalSelfAttention,
    /// Before the MLP.
    pub ln2: LayerNorm,
    /// Feed-forward.
    pub mlp: Mlp,
}

impl Block {
    /// `prefix.ln1`, `prefix.attn`, `prefix.ln2`, `prefix.mlp`.
    pub fn new(prefix: &str, dim: usize, n_head: usize, rng: &mut InitRng) -> Self {
        Self {
            ln1: LayerNorm::new(&format!("{prefix}.ln1"), dim, rng),
            attn: CausalSelfAttention::new(&format!("{prefix}.attn"), dim, n_head, rng),
            ln2: LayerNorm::new(&format!("{prefix}.ln2"), dim, rng),
            mlp: Mlp::new(&format!("{prefix}.mlp"), dim, rng),
        }
    }

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

impl Module for Block {
    fn visit_params<'a>(&'a self, f: &mut dyn FnMut(&'a Param)) {
        self.ln1.visit_params(f);
        self.attn.visit_params(f);
        self.ln2.visit_params(f);
        self.mlp.visit_params(f);
    }
    fn visit_params_mut<'a>(&'a mut self, f: &mut dyn FnMut(&'a mut Param)) {
        self.ln1.visit_params_mut(f);
        self.attn.visit_params_mut(f);
        self.ln2.visit_params_mut(f);
        self.mlp.visit_params_mut(f);
    }
}
