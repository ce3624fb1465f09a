//! What the executor's fused and merged program tests share: scrambled inputs, graph
//! inputs and a tiny GPT.

#![allow(
    dead_code,
    reason = "each test file uses a different part of the helpers"
)]
// A broken invariant in a helper should fail its test loudly.
#![allow(clippy::unwrap_used)]

use vibee_dsl::graph::{DType, Graph, InputRole, NodeId};
use vibee_runtime::nn::GptConfig;

/// `n` values spread over `[lo, hi]`, in a scrambled order.
pub fn values(n: usize, lo: f32, hi: f32, salt: usize) -> Vec<f32> {
    (0..n)
        .map(|i| {
            let k = (i * 7919 + salt * 104_729) % n;
            lo + (hi - lo) * k as f32 / (n - 1).max(1) as f32
        })
        .collect()
}

/// An `f32` data input of `shape`.
pub fn input(g: &mut Graph, name: &str, shape: &[usize]) -> NodeId {
    g.input(name, shape, DType::F32, InputRole::Data).unwrap()
}

/// A GPT of 2 blocks, 2 heads of 8, vocabulary 32, context 8.
pub fn tiny_gpt() -> GptConfig {
    GptConfig {
        vocab_size: 32,
        n_layer: 2,
        n_head: 2,
        d_model: 16,
        block_size: 8,
        rope_theta: None,
    }
}
