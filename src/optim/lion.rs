//! Lion: one fused kernel per tensor, as the host [`Lion`](vibee_runtime::optim::Lion).

// Generated launchers take one argument per kernel parameter, plus the device and grid.
#![allow(clippy::too_many_arguments)]

use vibee_runtime::optim::{LionConfig, ParamSet, StateDict};
use vibee_runtime::{Buffer, Device};

use super::{DeviceState, FusedError, FusedOptimizer};

/// One Lion step over a tensor: `p ← p·decay − lr·sign(β₁m + (1−β₁)g)`, then
/// `m ← β₂m + (1−β₂)g`; `sign(0) = 0`, as `torch.sign`.
#[vibee::kernel]
pub fn lion_step(
    p: &mut [f32],
    g: &[f32],
    m: &mut [f32],
    decay: f32,
    neg_lr: f32,
    beta1: f32,
    one_minus_b1: f32,
    beta2: f32,
    one_minus_b2: f32,
) {
    let stride = num_groups() * group_size();
    let mut i = global_pos();
    while i < p.len() {
        let direction = beta1 * m[i] + one_minus_b1 * g[i];
        let mut sign = 0.0;
        if direction > 0.0 {
            sign = 1.0;
        }
        if direction < 0.0 {
            sign = -1.0;
        }
        p[i] = p[i] * decay + neg_lr * sign;
        m[i] = beta2 * m[i] + one_minus_b2 * g[i];
        i += stride;
    }
}

/// Lion as a fused kernel, momentum resident on the device; state dict as the host
/// [`Lion`](vibee_runtime::optim::Lion)'s.
#[derive(Debug)]
pub struct FusedLion {
    cfg: LionConfig,
    state: DeviceState,
}

impl FusedLion {
    /// Zeroed momentum for every tensor of `params` on `device`.
    pub fn new(device: &Device, cfg: LionConfig, params: ParamSet) -> Result<Self, FusedError> {
        cfg.validate()?;
        let state = DeviceState::new(device, params, &["exp_avg"])?;
        Ok(Self { cfg, state })
    }
}

impl FusedOptimizer for FusedLion {
    fn name(&self) -> &'static str {
        "lion"
    }

    fused_common!(steps, lr, state_dict);

    fn step(
        &mut self,
        params: &mut [Buffer<f32>],
        grads: &[Buffer<f32>],
    ) -> Result<(), FusedError> {
        self.cfg.validate()?;
        let cfg = &self.cfg;
        let (b1, b2) = cfg.betas;
        self.state.step_each(params, grads, |t| {
            let [m] = t.slots;
            let lr = cfg.lr * t.info.lr_scale;
            let decay = (1.0 - lr * cfg.weight_decay * t.info.decay_scale) as f32;
            lion_step::launch(
                t.device,
                t.grid,
                t.p,
                t.g,
                m,
                decay,
                (-lr) as f32,
                b1 as f32,
                (1.0 - b1) as f32,
                b2 as f32,
                (1.0 - b2) as f32,
            )
        })
    }
}
