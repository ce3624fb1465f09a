//! Sophia: the clipped elementwise update and the Hessian-estimate refresh as fused kernels,
//! with the host [`Sophia`](vibee_runtime::optim::Sophia)'s per-tensor scalars
//! ([`SophiaScalars`]). Producing the Hessian sample (the Gauss–Newton–Bartlett gradient or
//! a Hutchinson product) stays with the caller, as on the host.

// Generated launchers take one argument per kernel parameter, plus the device and grid.
#![allow(clippy::too_many_arguments)]

use vibee_runtime::optim::{ParamSet, SophiaConfig, SophiaScalars, StateDict};
use vibee_runtime::{Buffer, Device};

use super::{DeviceState, FusedError, FusedOptimizer, check, grid};

/// One Sophia step over a tensor: `p ← p·decay`, `m ← β₁m + (1−β₁)g`, then
/// `p ← p − lr·clip(m, h)` with the official ratio clipping
/// `sign(m)·min(|m| / (ρ·bs·h + 1e-15), 1)`, or (`elementwise = 1`) the paper's
/// `clamp(m / max(h, ε), −ρ, ρ)`.
#[vibee::kernel]
pub fn sophia_step(
    p: &mut [f32],
    g: &[f32],
    m: &mut [f32],
    h: &[f32],
    beta1: f32,
    keep1: f32,
    rho_bs: f32,
    rho: f32,
    eps: f32,
    tiny: f32,
    elementwise: u32,
    decay: f32,
    neg_lr: f32,
) {
    let stride = num_groups() * group_size();
    let mut i = global_pos();
    while i < p.len() {
        let x = p[i] * decay;
        let mi = beta1 * m[i] + keep1 * g[i];
        m[i] = mi;
        let hi = h[i];
        let mut clipped = 0.0;
        if elementwise != 0 {
            clipped = min(max(mi / max(hi, eps), -rho), rho);
        } else {
            let mut sign = 0.0;
            if mi > 0.0 {
                sign = 1.0;
            }
            if mi < 0.0 {
                sign = -1.0;
            }
            clipped = sign * min(abs(mi) / (rho_bs * hi + tiny), 1.0);
        }
        p[i] = x + neg_lr * clipped;
        i += stride;
    }
}

/// Folds a Hessian sample into the running estimate: `h ← β₂h + (1−β₂)·s`, with `s` the
/// sample squared (`square = 1`, Gauss–Newton–Bartlett) or as is (Hutchinson).
#[vibee::kernel]
pub fn sophia_hessian(h: &mut [f32], s: &[f32], beta2: f32, keep2: f32, square: u32) {
    let stride = num_groups() * group_size();
    let mut i = global_pos();
    while i < h.len() {
        let mut sample = s[i];
        if square != 0 {
            sample = s[i] * s[i];
        }
        h[i] = beta2 * h[i] + keep2 * sample;
        i += stride;
    }
}

/// A diagonal Hessian sample on the device, one buffer per parameter tensor; the device
/// counterpart of [`HessianEstimate`](vibee_runtime::optim::HessianEstimate).
#[derive(Debug, Clone, Copy)]
pub enum DeviceHessianSample<'a> {
    /// SophiaG: the gradient `ĝ` of the loss on labels sampled from the model (folded in as
    /// `ĝ ⊙ ĝ`).
    GaussNewtonBartlett(&'a [Buffer<f32>]),
    /// SophiaH: a Hutchinson sample `u ⊙ (H u)`, folded in as is.
    Hutchinson(&'a [Buffer<f32>]),
}

/// SophiaG / SophiaH as fused kernels, momentum and Hessian estimate resident on the device;
/// state dict as the host [`Sophia`](vibee_runtime::optim::Sophia)'s.
#[derive(Debug)]
pub struct FusedSophia {
    cfg: SophiaConfig,
    state: DeviceState,
}

impl FusedSophia {
    /// Zeroed momentum and Hessian estimate for every tensor of `params` on `device`.
    pub fn new(device: &Device, cfg: SophiaConfig, params: ParamSet) -> Result<Self, FusedError> {
        cfg.validate()?;
        let state = DeviceState::new(device, params, &["exp_avg", "hessian"])?;
        Ok(Self { cfg, state })
    }

    /// Whether the training loop should refresh the Hessian after the step just taken, as
    /// [`Sophia::hessian_due`](vibee_runtime::optim::Sophia::hessian_due).
    pub fn hessian_due(&self) -> bool {
        let step = self.state.step;
        step > 0 && step.is_multiple_of(self.cfg.hessian_interval)
    }

    /// Folds a Hessian sample into the running estimate.
    pub fn update_hessian(&mut self, sample: DeviceHessianSample<'_>) -> Result<(), FusedError> {
        let (samples, square) = match sample {
            DeviceHessianSample::GaussNewtonBartlett(g) => (g, 1),
            DeviceHessianSample::Hutchinson(s) => (s, 0),
        };
        let st = &mut self.state;
        check(&st.params, &[("hessian", samples)])?;
        let b2 = self.cfg.betas.1;
        let (beta2, keep2) = (b2 as f32, (1.0 - b2) as f32);
        for (h, s) in st.slots[1].1.iter_mut().zip(samples) {
            let grid = grid(&st.device, h.len());
            sophia_hessian::launch(&st.device, grid, h, s, beta2, keep2, square)?;
        }
        Ok(())
    }
}

impl FusedOptimizer for FusedSophia {
    fn name(&self) -> &'static str {
        "sophia"
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
            let [m, h] = t.slots;
            let s = SophiaScalars::<f32>::new(cfg, t.info);
            sophia_step::launch(
                t.device,
                t.grid,
                t.p,
                t.g,
                m,
                h,
                s.beta1,
                s.keep1,
                s.rho_bs,
                s.rho,
                s.eps,
                s.tiny,
                u32::from(s.elementwise),
                s.decay,
                s.neg_lr,
            )
        })
    }
}
