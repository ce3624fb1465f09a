//! Optimizer update steps as fused kernels: one pass over each parameter tensor reads the
//! parameter, its gradient and its state once and writes them back once, on any vibee
//! device (the CPU backend's Cranelift code, or CubeCL on a GPU).
//!
//! The kernels compute what the host optimizers in [`vibee_runtime::optim`] compute, in
//! the same order of operations: the per-tensor scalars come from the same function
//! ([`AdamScalars::new`]), so on the CPU backend a fused step is bit-identical to
//! [`Adam`](vibee_runtime::optim::Adam) in `f32`, and on GPUs it differs only where the
//! device contracts a multiply and an add.
//!
//! ```
//! use vibee::optim::FusedAdam;
//! use vibee::prelude::*;
//! use vibee::runtime::optim::{AdamConfig, ParamSet};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let device = Device::Cpu;
//! let params = ParamSet::new([("w", vec![4])]);
//! let mut opt = FusedAdam::new(&device, AdamConfig::adamw(1e-2, 0.1), params)?;
//! let mut w = vec![Buffer::from_slice(&device, &[1.0f32, -2.0, 3.0, 0.5])?];
//! let g = vec![Buffer::from_slice(&device, &[0.1f32, 0.2, -0.3, 0.0])?];
//! opt.step(&mut w, &g)?;
//! assert_eq!(opt.steps(), 1);
//! # Ok(())
//! # }
//! ```

// Generated launchers take one argument per kernel parameter, plus the device and grid.
#![allow(clippy::too_many_arguments)]

use vibee_runtime::optim::{
    AdamConfig, AdamScalars, LionConfig, OptimError, ParamInfo, ParamSet, StateDict,
};
use vibee_runtime::{Buffer, Device, Grid, LaunchError};

/// Units per group of the update kernels.
const GROUP: u32 = 256;

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

/// Why a fused step could not run.
#[derive(Debug, thiserror::Error)]
pub enum FusedError {
    /// A hyperparameter is out of range, or a state dict does not fit.
    #[error(transparent)]
    Optim(#[from] OptimError),
    /// The device could not allocate, copy or launch.
    #[error(transparent)]
    Launch(#[from] LaunchError),
    /// The step got a different number of tensors than the parameter set declares.
    #[error("the step got {got} {what} tensors, the parameter set declares {want}")]
    Count {
        /// `parameter` or `gradient`.
        what: &'static str,
        /// Tensors declared.
        want: usize,
        /// Tensors given.
        got: usize,
    },
    /// A tensor's length differs from its declared shape.
    #[error("{what} `{name}` has {got} elements, its shape {shape:?} has {want}")]
    Length {
        /// `parameter` or `gradient`.
        what: &'static str,
        /// The parameter's name.
        name: String,
        /// Its declared shape.
        shape: Vec<usize>,
        /// Elements the shape holds.
        want: usize,
        /// Elements given.
        got: usize,
    },
    /// The configuration asks for something the fused step does not do.
    #[error("the fused step does not support {0}; use the host optimizer in vibee::runtime::optim")]
    Unsupported(&'static str),
}

/// Checks that `params` and `grads` match the declared tensors one for one.
fn check(set: &ParamSet, params: &[Buffer<f32>], grads: &[Buffer<f32>]) -> Result<(), FusedError> {
    for (what, got) in [("parameter", params.len()), ("gradient", grads.len())] {
        if got != set.len() {
            return Err(FusedError::Count {
                what,
                want: set.len(),
                got,
            });
        }
    }
    for (info, (p, g)) in set.iter().zip(params.iter().zip(grads)) {
        for (what, got) in [("parameter", p.len()), ("gradient", g.len())] {
            if got != info.numel() {
                return Err(FusedError::Length {
                    what,
                    name: info.name.clone(),
                    shape: info.shape.clone(),
                    want: info.numel(),
                    got,
                });
            }
        }
    }
    Ok(())
}

/// A grid of `GROUP`-unit groups covering `n` elements, capped at what the device runs
/// on one axis (the kernels stride over the rest).
fn grid(device: &Device, n: usize) -> Grid {
    let groups = n
        .div_ceil(GROUP as usize)
        .clamp(1, device.max_groups_per_axis() as usize);
    Grid::linear(groups as u32, GROUP)
}

/// What every fused optimizer keeps: its tensors, its device, one device buffer per tensor
/// for each named state slot (`exp_avg`, …), and the step count.
struct DeviceState {
    params: ParamSet,
    device: Device,
    slots: Vec<(&'static str, Vec<Buffer<f32>>)>,
    step: u64,
}

impl DeviceState {
    /// Zeroed buffers for every slot named in `slots`.
    fn new(device: &Device, params: ParamSet, slots: &[&'static str]) -> Result<Self, FusedError> {
        let zeroed = || -> Result<Vec<Buffer<f32>>, LaunchError> {
            params
                .iter()
                .map(|info| Buffer::zeros(device, info.numel()))
                .collect()
        };
        let slots = slots
            .iter()
            .map(|&name| Ok((name, zeroed()?)))
            .collect::<Result<_, LaunchError>>()?;
        Ok(Self {
            params,
            device: device.clone(),
            slots,
            step: 0,
        })
    }

    /// Checks the tensors of a step and counts it.
    fn begin_step(
        &mut self,
        params: &[Buffer<f32>],
        grads: &[Buffer<f32>],
    ) -> Result<(), FusedError> {
        check(&self.params, params, grads)?;
        self.step += 1;
        Ok(())
    }

    /// Every slot read back to the host, under the host optimizer `name`'s slot names.
    fn state_dict(&self, name: &str) -> Result<StateDict, FusedError> {
        let mut sd = StateDict::new(name, self.step);
        for (slot, bufs) in &self.slots {
            let host = bufs
                .iter()
                .map(Buffer::to_vec)
                .collect::<Result<Vec<_>, _>>()?;
            let views: Vec<&[f32]> = host.iter().map(Vec::as_slice).collect();
            sd.put(&self.params, slot, &views);
        }
        Ok(sd)
    }

    /// Every slot and the step count from a state dict written by optimizer `name`.
    fn load(&mut self, name: &str, sd: &StateDict) -> Result<(), FusedError> {
        sd.expect(name)?;
        for (slot, bufs) in &mut self.slots {
            *bufs = self
                .params
                .iter()
                .map(|info: &ParamInfo| {
                    let host = sd.take::<f32>(&info.name, slot, info.numel())?;
                    Ok(Buffer::from_slice(&self.device, &host)?)
                })
                .collect::<Result<_, FusedError>>()?;
        }
        self.step = sd.step;
        Ok(())
    }
}

impl std::fmt::Debug for DeviceState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let slots: Vec<&str> = self.slots.iter().map(|(name, _)| *name).collect();
        f.debug_struct("DeviceState")
            .field("device", &self.device)
            .field("tensors", &self.params.len())
            .field("slots", &slots)
            .field("step", &self.step)
            .finish()
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

    /// `adam` or `adamw`, as the host optimizer names itself.
    pub fn name(&self) -> &'static str {
        if self.cfg.decoupled_weight_decay {
            "adamw"
        } else {
            "adam"
        }
    }

    /// Steps taken.
    pub fn steps(&self) -> u64 {
        self.state.step
    }

    /// Sets the learning rate for the next steps (schedules).
    pub fn set_lr(&mut self, lr: f64) {
        self.cfg.lr = lr;
    }

    /// One step: every parameter tensor updated in place from its gradient.
    pub fn step(
        &mut self,
        params: &mut [Buffer<f32>],
        grads: &[Buffer<f32>],
    ) -> Result<(), FusedError> {
        self.cfg.validate()?;
        self.state.begin_step(params, grads)?;
        let st = &mut self.state;
        let [(_, exp_avg), (_, exp_avg_sq)] = &mut st.slots[..] else {
            unreachable!("FusedAdam::new creates exactly two slots");
        };
        let state = exp_avg.iter_mut().zip(exp_avg_sq.iter_mut());
        for (i, ((p, g), (m, v))) in params.iter_mut().zip(grads).zip(state).enumerate() {
            let s = AdamScalars::<f32>::new(&self.cfg, st.params.get(i), st.step);
            adam_step::launch(
                &st.device,
                grid(&st.device, p.len()),
                p,
                g,
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
            )?;
        }
        Ok(())
    }

    /// The moments read back to the host, under the host optimizer's names.
    pub fn state_dict(&self) -> Result<StateDict, FusedError> {
        self.state.state_dict(self.name())
    }

    /// Restores moments and step count from a state dict (host or fused).
    pub fn load_state_dict(&mut self, sd: &StateDict) -> Result<(), FusedError> {
        let name = self.name();
        self.state.load(name, sd)
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

    /// Steps taken.
    pub fn steps(&self) -> u64 {
        self.state.step
    }

    /// Sets the learning rate for the next steps (schedules).
    pub fn set_lr(&mut self, lr: f64) {
        self.cfg.lr = lr;
    }

    /// One step: every parameter tensor updated in place from its gradient.
    pub fn step(
        &mut self,
        params: &mut [Buffer<f32>],
        grads: &[Buffer<f32>],
    ) -> Result<(), FusedError> {
        self.cfg.validate()?;
        self.state.begin_step(params, grads)?;
        let st = &mut self.state;
        let (b1, b2) = self.cfg.betas;
        let moments = &mut st.slots[0].1;
        for (i, ((p, g), m)) in params.iter_mut().zip(grads).zip(moments).enumerate() {
            let info = st.params.get(i);
            let lr = self.cfg.lr * info.lr_scale;
            let decay = (1.0 - lr * self.cfg.weight_decay * info.decay_scale) as f32;
            lion_step::launch(
                &st.device,
                grid(&st.device, p.len()),
                p,
                g,
                m,
                decay,
                (-lr) as f32,
                b1 as f32,
                (1.0 - b1) as f32,
                b2 as f32,
                (1.0 - b2) as f32,
            )?;
        }
        Ok(())
    }

    /// The momentum read back to the host, under the host optimizer's names.
    pub fn state_dict(&self) -> Result<StateDict, FusedError> {
        self.state.state_dict("lion")
    }

    /// Restores momentum and step count from a state dict (host or fused).
    pub fn load_state_dict(&mut self, sd: &StateDict) -> Result<(), FusedError> {
        self.state.load("lion", sd)
    }
}
