//! Optimizer update steps as fused kernels: one pass over each parameter tensor reads the
//! parameter, its gradient and its state once and writes them back once, on any vibee
//! device (the CPU backend's Cranelift code, or CubeCL on a GPU).
//!
//! The kernels compute what the host optimizers in [`vibee_runtime::optim`] compute, in
//! the same order of operations: the per-tensor scalars come from the same functions as
//! the host's ([`AdamScalars::new`](vibee_runtime::optim::AdamScalars::new),
//! [`GoldenScalars::new`](vibee_runtime::optim::GoldenScalars::new), …), so on the CPU
//! backend a fused step is bit-identical to the host optimizer in `f32`, and on GPUs it
//! differs only where the device contracts a multiply and an add. The exception is a
//! step that needs a sum over a whole tensor (the RMS of Adafactor's parameter scale and of
//! Adafactor's and CAME's update clipping, Prodigy's `⟨g, p0 − p⟩` and `Σ|s|`): it is
//! reduced on the device per group and the group partials are summed on the host in `f64`,
//! in another order than the host optimizer's sequential `f64` sum, so those three agree
//! with the host to about `1e-6` relative (see [`FusedAdafactor`]). Shampoo keeps its
//! statistics in `f32` where the host keeps `f64`, and recomputes its inverse roots on the
//! host (see [`FusedShampoo`]).
//!
//! | fused | host | state on the device |
//! |---|---|---|
//! | [`FusedAdam`] | [`Adam`](vibee_runtime::optim::Adam) (Adam, AdamW) | `exp_avg`, `exp_avg_sq` |
//! | [`FusedLion`] | [`Lion`](vibee_runtime::optim::Lion) | `exp_avg` |
//! | [`FusedSgd`] | [`Sgd`](vibee_runtime::optim::Sgd) (momentum, Nesterov, L2) | `momentum_buffer` |
//! | [`FusedGolden`] | [`Golden`](vibee_runtime::optim::Golden) | `exp_avg`, `exp_avg_sq` |
//! | [`FusedScheduleFree`] | [`ScheduleFree`](vibee_runtime::optim::ScheduleFree) (AdamW, SGD) | `z`, `exp_avg_sq` |
//! | [`FusedSophia`] | [`Sophia`](vibee_runtime::optim::Sophia) (both clippings, Hessian refresh) | `exp_avg`, `hessian` |
//! | [`FusedAdafactor`] | [`Adafactor`](vibee_runtime::optim::Adafactor) | factored `exp_avg_sq`, `exp_avg` with β₁ |
//! | [`FusedProdigy`] | [`Prodigy`](vibee_runtime::optim::Prodigy) | `exp_avg`, `exp_avg_sq`, `s`, `p0`; `d` on the host |
//! | [`FusedCame`] | [`Came`](vibee_runtime::optim::Came) | `exp_avg`, factored `exp_avg_sq`, `exp_avg_res` |
//! | [`FusedShampoo`] | [`Shampoo`](vibee_runtime::optim::Shampoo) (blocked, grafted) | both momenta, `graft_stats`, every block's statistics and inverse roots (`f32`; roots refreshed on the host) |
//!
//! Every fused optimizer implements [`FusedOptimizer`]; its state dict has its host
//! optimizer's name and slot names, so a checkpoint written by one resumes the other.
//!
//! ```
//! use vibee::optim::{FusedAdam, FusedOptimizer};
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

/// The [`FusedOptimizer`] methods that read the same in every fused optimizer whose fields
/// are `cfg` (with an `lr`) and `state` (a [`DeviceState`]): `steps`; `lr` and `set_lr`;
/// `state_dict` and `load_state_dict` of a state that is just the device slots; a `step`
/// that calls the optimizer's `update_tensor` per tensor.
macro_rules! fused_common {
    (steps) => {
        fn steps(&self) -> u64 {
            self.state.step
        }
    };
    (lr) => {
        fn lr(&self) -> f64 {
            self.cfg.lr
        }

        fn set_lr(&mut self, lr: f64) {
            self.cfg.lr = lr;
        }
    };
    (state_dict) => {
        fn state_dict(&self) -> Result<StateDict, FusedError> {
            self.state.state_dict(self.name())
        }

        fn load_state_dict(&mut self, sd: &StateDict) -> Result<(), FusedError> {
            let name = self.name();
            self.state.load(name, sd)
        }
    };
    // A step that checks the config and the tensors, counts itself, then calls the
    // optimizer's own `update_tensor(i, p, g)` for every tensor.
    (step_per_tensor) => {
        fn step(
            &mut self,
            params: &mut [Buffer<f32>],
            grads: &[Buffer<f32>],
        ) -> Result<(), FusedError> {
            self.cfg.validate()?;
            self.state.begin_step(params, grads)?;
            for (i, (p, g)) in params.iter_mut().zip(grads).enumerate() {
                self.update_tensor(i, p, g)?;
            }
            Ok(())
        }
    };
    ($($part:ident),+) => {
        $(fused_common!($part);)+
    };
}

mod adafactor;
mod adam;
mod came;
mod factored;
mod golden;
mod lion;
mod prodigy;
mod schedule_free;
mod sgd;
mod shampoo;
mod sophia;
mod state;

pub use adafactor::{FusedAdafactor, adafactor_apply, adafactor_apply_momentum};
pub use adam::{FusedAdam, adam_step};
pub use came::{FusedCame, came_apply, came_residual};
pub use factored::{
    factored_col_ema, factored_row_ema, factored_scale, full_ema_scale, row_mean, square_plus,
    sum_squares_partial,
};
pub use golden::{FusedGolden, golden_step};
pub use lion::{FusedLion, lion_step};
pub use prodigy::{FusedProdigy, prodigy_apply, prodigy_moments, prodigy_statistics, strided_copy};
pub use schedule_free::{
    FusedScheduleFree, copy_into, lerp_towards, schedule_free_adamw_step, schedule_free_sgd_step,
};
pub use sgd::{FusedSgd, sgd_step};
pub use shampoo::{
    FusedShampoo, gather_blocks, scatter_blocks, shampoo_apply, shampoo_contract, shampoo_graft,
    shampoo_statistics,
};
pub use sophia::{DeviceHessianSample, FusedSophia, sophia_hessian, sophia_step};

use state::DeviceState;
use vibee_runtime::optim::{OptimError, ParamSet, StateDict};
use vibee_runtime::{Buffer, Device, Grid, LaunchError};

/// What every fused optimizer does; the device counterpart of
/// [`Optimizer`](vibee_runtime::optim::Optimizer), over device buffers.
pub trait FusedOptimizer: std::fmt::Debug {
    /// The host optimizer's name, which state dicts carry (`adamw`, `lion`, …).
    fn name(&self) -> &'static str;
    /// Steps taken.
    fn steps(&self) -> u64;
    /// The base learning rate.
    fn lr(&self) -> f64;
    /// Sets the learning rate for the next steps (schedules).
    fn set_lr(&mut self, lr: f64);
    /// One step: every parameter tensor updated in place from its gradient, given in the
    /// order of the optimizer's [`ParamSet`].
    fn step(&mut self, params: &mut [Buffer<f32>], grads: &[Buffer<f32>])
    -> Result<(), FusedError>;
    /// The state read back to the host, under the host optimizer's names.
    fn state_dict(&self) -> Result<StateDict, FusedError>;
    /// Restores the state and step count from a state dict (host or fused).
    fn load_state_dict(&mut self, sd: &StateDict) -> Result<(), FusedError>;
}

/// Units per group of the update kernels.
const GROUP: u32 = 256;

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
        /// `parameter`, `gradient` or `hessian`.
        what: &'static str,
        /// Tensors declared.
        want: usize,
        /// Tensors given.
        got: usize,
    },
    /// A tensor's length differs from its declared shape.
    #[error("{what} `{name}` has {got} elements, its shape {shape:?} has {want}")]
    Length {
        /// `parameter`, `gradient` or `hessian`.
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

/// Checks that every list of `tensors` (`("parameter", params)`, …) matches the declared
/// tensors one for one.
fn check(set: &ParamSet, tensors: &[(&'static str, &[Buffer<f32>])]) -> Result<(), FusedError> {
    for &(what, bufs) in tensors {
        if bufs.len() != set.len() {
            return Err(FusedError::Count {
                what,
                want: set.len(),
                got: bufs.len(),
            });
        }
    }
    for (t, info) in set.iter().enumerate() {
        for &(what, bufs) in tensors {
            let got = bufs[t].len();
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
