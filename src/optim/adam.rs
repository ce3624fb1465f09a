//! Adam and AdamW: one fused kernel per tensor with the host [`Adam`](vibee_runtime::optim::Adam)'s
//! per-tensor scalars ([`AdamScalars`]).

// Generated launchers take one argument per kernel parameter, plus the device and grid.
#![allow(clippy::too_many_arguments)]

use vibee_runtime::optim::{AdamConfig, AdamScalars, ParamSet, StateDict};
use vibee_runtime::{Buffer, Device};

use super::{DeviceState, FusedError, FusedOptimizer};

/// One Adam/AdamW step over a tensor: `m ← m + (1−β₁)(g − m)`, `v ← β₂v + (1−β₂)g²`,
/// `p ← p·decay − step·m / (√v / √(1−β₂ᵗ) + ε)`, with `g` first given the L2 term for
/// coupled decay. A grid-stride loop, so any grid covers any length.
#[vibee::kernel]
pub fn adam_step(
    p: &mut [f32],
    g: &[f32],
    m: &mut [f32],
    v: &mut [f32],
    decay: f32,
    l2: f32,
    one_minus_b1: f32,
    beta2: f32,
    one_minus_b2: f32,
    inv_bc2_sqrt: f32,
    eps: f32,
    neg_step_size: f32,
) {
    let stride = num_groups() * group_size();
    let mut i = global_pos();
    while i < p.len() {
        let x = p[i];
        let grad = g[i] + l2 * x;
        let mi = m[i] + one_minus_b1 * (grad - m[i]);
        let vi = beta2 * v[i] + one_minus_b2 * grad * grad;
        m[i] = mi;
        v[i] = vi;
        p[i] = x * decay + neg_step_size * mi / (sqrt(vi) * inv_bc2_sqrt + eps);
        i += stride;
    }
}

/// Adam and AdamW as fused kernels, state resident on the device. Its state dict has the
/// host [`Adam`](vibee_runtime::optim::Adam)'s names, so checkpoints move between the two.
#[derive(Debug)]
pub struct FusedAdam {
    cfg: AdamConfig,
    state: DeviceState,
}

impl FusedAdam {
    /// Zeroed moments for every tensor of `params` on `device`.
    pub fn new(device: &Device, cfg: AdamConfig, params: ParamSet) -> Result<Self, FusedError> {
        cfg.validate()?;
        if cfg.amsgrad {
            return Err(FusedError::Unsupported("amsgrad"));
        }
        let state = DeviceState::new(device, params, &["exp_avg", "exp_avg_sq"])?;
        Ok(Self { cfg, state })
    }
}

impl FusedOptimizer for FusedAdam {
    fn name(&self) -> &'static str {
        if self.cfg.decoupled_weight_decay {
            "adamw"
        } else {
            "adam"
        }
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
            let s = AdamScalars::<f32>::new(cfg, t.info, t.step);
            adam_step::launch(
                t.device,
                t.grid,
                t.p,
                t.g,
                m,
                v,
                s.decay,
                s.l2,
                s.one_minus_b1,
                s.beta2,
                s.one_minus_b2,
                s.inv_bc2_sqrt,
                s.eps,
                s.neg_step_size,
            )
        })
    }
}
