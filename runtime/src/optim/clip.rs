//! Gradient clipping, applied to the gradients before `step` (as
//! `torch.nn.utils.clip_grad_norm_` / `clip_grad_value_`).

use super::Float;

/// Scales all gradients so their global L2 norm is at most `max_norm`; returns the norm
/// before clipping. Like PyTorch, the factor is `max_norm / (norm + 1e-6)`, applied only
/// when it is below 1. The norm is accumulated in `f64` whatever `T` is.
pub fn clip_grad_norm<T: Float>(grads: &mut [&mut [T]], max_norm: f64) -> f64 {
    let total = grads
        .iter()
        .map(|g| g.iter().map(|v| v.f64() * v.f64()).sum::<f64>())
        .sum::<f64>()
        .sqrt();
    let coef = max_norm / (total + 1e-6);
    if coef < 1.0 {
        let c = T::of(coef);
        grads
            .iter_mut()
            .for_each(|g| g.iter_mut().for_each(|v| *v *= c));
    }
    total
}

/// Clamps every gradient element into `[-clip, clip]`.
pub fn clip_grad_value<T: Float>(grads: &mut [&mut [T]], clip: f64) {
    let (lo, hi) = (T::of(-clip), T::of(clip));
    grads
        .iter_mut()
        .for_each(|g| g.iter_mut().for_each(|v| *v = v.max(lo).min(hi)));
}
