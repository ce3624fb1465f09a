//! GELU (tanh approximation) as a differentiable elementwise kernel.

/// `gelu(x) = x/2 · (1 + tanh(√(2/π) · (x + 0.044715 x³)))`.
#[vibee::kernel(differentiable)]
pub fn gelu(x: f32) -> f32 {
    let inner = 0.7978846 * (x + 0.044715 * x * x * x);
    0.5 * x * (1.0 + inner.tanh())
}
