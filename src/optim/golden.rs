//! The golden-ratio optimizer: one fused kernel per tensor with the host
//! [`Golden`](vibee_runtime::optim::Golden)'s per-tensor scalars ([`GoldenScalars`]).

// Generated launchers take one argument per kernel parameter, plus the device and grid.
#![allow(clippy::too_many_arguments)]

use vibee_runtime::optim::{GoldenConfig, GoldenScalars, ParamSet, StateDict};
use vibee_runtime::{Buffer, Device};

use super::{DeviceState, FusedError, FusedOptimizer};

/// One golden-ratio step over a tensor: `m ← β₁m + (1−β₁)g`, `v ← β₂v + (1−β₂)g²`,
/// `p ← p·decay − lr(w_m·m + w_g·g) / (√v / √(1−β₂ᵗ) + ε)`.
#[vibee::kernel]
pub fn golden_step(
    p: &mut [f32],
    g: &[f32],
    m: &mut [f32],
    v: &mut [f32],
    beta1: f32,
    keep1: f32,
    beta2: f32,
    keep2: f32,
    w_m: f32,
    w_g: f32,
    inv_bc2_sqrt: f32,
    eps: f32,
    decay: f32,
    neg_lr: f32,
) {
    let stride = num_groups() * group_size();
    let mut i = global_pos();
    while i < p.len() {
        let grad = g[i];
        let mi = beta1 * m[i] + keep1 * grad;
        let vi = beta2 * v[i] + keep2 * grad * grad;
        m[i] = mi;
        v[i] = vi;
        let direction = w_m * mi + w_g * grad;
        p[i] = p[i] * decay + neg_lr * direction / (sqrt(vi) * inv_bc2_sqrt + eps);
        i += stride;
    }
}

/// The golden-ratio optimizer as a fused kernel, moments resident on the device; state dict
/// as the host [`Golden`](vibee_runtime::optim::Golden)'s.
#[derive(Debug)]
pub struct FusedGolden {
    cfg: GoldenConfig,
    state: DeviceState,
}

impl FusedGolden {
    /// Zeroed moments for every tensor of `params` on `device`.
    pub fn new(device: &Device, cfg: GoldenConfig, params: ParamSet) -> Result<Self, FusedError> {
        cfg.validate()?;
        let state = DeviceState::new(device, params, &["exp_avg", "exp_avg_sq"])?;
        Ok(Self { cfg, state })
    }
}

impl FusedOptimizer for FusedGolden {
    fn name(&self) -> &'static str {
        "golden"
    }

    fused_common!(steps, lr, state_dict);

    fn step(
        &mut self,
        params: &mut [Buffer<f32>],
        grads: &[Buffer<f32>],
    ) -> Result<(), FusedError> {
        self.cfg.validate()?;
        let cfg = &self.cfg;
        self.state.step_each(params, grads, |t| {
            let [m, v] = t.slots;
            let s = GoldenScalars::<f32>::new(cfg, t.info, t.step);
            golden_step::launch(
                t.device,
                t.grid,
                t.p,
                t.g,
                m,
                v,
                s.beta1,
                s.keep1,
                s.beta2,
                s.keep2,
                s.w_m,
                s.w_g,
                s.inv_bc2_sqrt,
                s.eps,
                s.decay,
                s.neg_lr,
            )
        })
    }
}
