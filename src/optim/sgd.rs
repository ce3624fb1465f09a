//! SGD with momentum, dampening, Nesterov and L2 decay: one fused kernel per tensor with the
//! host [`Sgd`](vibee_runtime::optim::Sgd)'s per-tensor scalars ([`SgdScalars`]).

// Generated launchers take one argument per kernel parameter, plus the device and grid.
#![allow(clippy::too_many_arguments)]

use vibee_runtime::optim::{ParamSet, SgdConfig, SgdScalars, StateDict};
use vibee_runtime::{Buffer, Device};

use super::{DeviceState, FusedError, FusedOptimizer};

/// One SGD step over a tensor: `d = g + wd·p`; without momentum `p ← p − lr·d`; with it
/// `b ← d` on the first step, else `b ← μb + (1 − dampening)d`, and `p ← p − lr·b` (or
/// `p ← p − lr(d + μb)` with Nesterov). Flags are `0` or `1`.
#[vibee::kernel]
pub fn sgd_step(
    p: &mut [f32],
    g: &[f32],
    buf: &mut [f32],
    neg_lr: f32,
    wd: f32,
    mu: f32,
    keep: f32,
    momentum: u32,
    first: u32,
    nesterov: u32,
) {
    let stride = num_groups() * group_size();
    let mut i = global_pos();
    while i < p.len() {
        let x = p[i];
        let d = g[i] + wd * x;
        if momentum == 0 {
            p[i] = x + neg_lr * d;
        } else {
            let mut b = d;
            if first == 0 {
                b = mu * buf[i] + keep * d;
            }
            buf[i] = b;
            let mut direction = b;
            if nesterov != 0 {
                direction = d + mu * b;
            }
            p[i] = x + neg_lr * direction;
        }
        i += stride;
    }
}

/// SGD as a fused kernel, momentum buffers resident on the device; state dict as the host
/// [`Sgd`](vibee_runtime::optim::Sgd)'s.
#[derive(Debug)]
pub struct FusedSgd {
    cfg: SgdConfig,
    state: DeviceState,
}

impl FusedSgd {
    /// Zeroed momentum buffers for every tensor of `params` on `device`.
    pub fn new(device: &Device, cfg: SgdConfig, params: ParamSet) -> Result<Self, FusedError> {
        cfg.validate()?;
        let state = DeviceState::new(device, params, &["momentum_buffer"])?;
        Ok(Self { cfg, state })
    }

    /// Sets the momentum for the next steps (one-cycle momentum cycling).
    pub fn set_momentum(&mut self, momentum: f64) {
        self.cfg.momentum = momentum;
    }
}

impl FusedOptimizer for FusedSgd {
    fn name(&self) -> &'static str {
        "sgd"
    }

    fused_common!(steps, lr, state_dict);

    fn step(
        &mut self,
        params: &mut [Buffer<f32>],
        grads: &[Buffer<f32>],
    ) -> Result<(), FusedError> {
        self.cfg.validate()?;
        let cfg = &self.cfg;
        let (momentum, nesterov) = (u32::from(cfg.momentum != 0.0), u32::from(cfg.nesterov));
        self.state.step_each(params, grads, |t| {
            let [b] = t.slots;
            let s = SgdScalars::<f32>::new(cfg, t.info);
            let first = u32::from(t.step == 1);
            sgd_step::launch(
                t.device, t.grid, t.p, t.g, b, s.neg_lr, s.wd, s.mu, s.keep, momentum, first,
                nesterov,
            )
        })
    }
}
