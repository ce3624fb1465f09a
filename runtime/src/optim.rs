//! Optimizers: SGD, Adam, AdamW, Lion, Adafactor, CAME, SophiaG/SophiaH, Prodigy,
//! Schedule-Free AdamW and SGD, Shampoo, and the golden-ratio optimizer [`Golden`].
//!
//! Every optimizer implements [`Optimizer`]: it owns a [`ParamSet`] (names, shapes,
//! per-parameter learning-rate and weight-decay multipliers — PyTorch's parameter groups,
//! one entry per tensor) and its state, and `step` updates flat parameter slices in place
//! from gradient slices given in the same order. The learning rate is set each step from a
//! [`crate::schedule::Schedule`] with [`Optimizer::follow_schedule`] (or
//! [`Optimizer::set_lr`]). State round-trips through a
//! [`StateDict`] for checkpoints. Gradient clipping ([`clip_grad_norm`],
//! [`clip_grad_value`]) runs on the gradients before `step`.
//!
//! All optimizers are generic over [`Float`] (`f32`, `f64`): the parity tests run them in
//! `f64` against goldens from the reference implementations (1e-9 relative) and in `f32`
//! (1e-5). Prodigy's `f32` run is compared for its first 3 steps only: its `d` estimate is
//! driven by `p0 − p`, which `f32` parameters hold with ~10% rounding early on, and PyTorch's
//! own float32 Prodigy leaves its float64 trajectory just as fast.
//!
//! These are host implementations: the elementwise optimizers (SGD, Adam(W), Lion, Sophia,
//! Schedule-Free, golden) make one chunked pass over a tensor and its state on rayon's
//! threads, with loop bodies LLVM vectorizes; the factored and preconditioned ones
//! (Adafactor, CAME, Prodigy, Shampoo) run per tensor on one thread. The same updates compiled from the
//! kernel DSL into fused CPU/GPU kernels are `vibee::optim` in the facade crate; they take
//! their per-tensor scalars from the public `*Scalars` types here ([`AdamScalars`],
//! [`SgdScalars`], …, and Shampoo's [`ShampooLayout`], [`ShampooMomentum`] and
//! [`shampoo_inverse_root`]), so both compute the same numbers.
//!
//! ```
//! use vibee_runtime::optim::{AdamConfig, Adam, Optimizer, ParamSet};
//! let params = ParamSet::new([("blocks.0.mlp.weight", vec![2, 2]), ("blocks.0.mlp.bias", vec![2])]);
//! let mut opt = Adam::<f32>::new(AdamConfig::adamw(1e-3, 0.1), params);
//! let (mut w, mut b) = (vec![1.0f32; 4], vec![0.5f32; 2]);
//! let (gw, gb) = (vec![0.1f32; 4], vec![-0.2f32; 2]);
//! opt.step(&mut [&mut w, &mut b], &[&gw, &gb]).unwrap();
//! assert!(w[0] < 1.0 && b[0] > 0.5);
//! ```
//!
//! # Where references disagree, and what vibee follows
//!
//! - **Adafactor.** `transformers.Adafactor` (the fairseq/T5 algorithm) adds `eps1` (1e-30) to
//!   the squared gradient before averaging; `torch.optim.Adafactor` instead clamps the row
//!   mean at `eps1` and the variance estimate at `eps1²` (with `eps1` the dtype's machine
//!   epsilon by default). Both clip the update by its RMS. `transformers` steps
//!   `min(1e-2, 1/sqrt(t))` (relative step) or a given `lr`, optionally scaled by
//!   `max(eps2, rms(p))`, supports a first moment, and decays `p` by `wd·step`; torch always
//!   uses `max(eps2, rms(p))·min(lr, 1/sqrt(t))`, has no first moment, and decays by
//!   `lr·wd`. vibee follows `transformers` (the issue asks for relative step and update
//!   clipping), including computing `rms(p)` before weight decay.
//! - **CAME.** Follows `came-pytorch` (the authors' code): weight decay is
//!   `p ← p − wd·lr·p`, applied before the update, and a 1-D parameter uses the unfactored
//!   second moment with no confidence term (`update = m`).
//! - **Sophia.** The paper's first version clipped `m / max(h, ε)` to `[−ρ, ρ]` (kept by
//!   `pytorch_optimizer.SophiaH`); the official code (and the `sophia-opt` package, identical
//!   to it) uses `sign(m)·min(|m| / (ρ·bs·h + 1e-15), 1)`. Both decay `p ← p(1 − lr·wd)`.
//!   vibee defaults to the official form and offers the other as [`SophiaClip::Elementwise`];
//!   each matches its reference. `bs` (tokens per batch) is a config field. The Hessian
//!   estimate is the caller's: [`Sophia::update_hessian`] takes the Gauss–Newton–Bartlett
//!   gradient (SophiaG) or a Hutchinson `u ⊙ Hu` sample (SophiaH, [`HessianEstimate`]).
//!   The official loop refreshes after steps `k, 2k, …` ([`Sophia::hessian_due`]);
//!   `SophiaH` refreshes before steps `1, k+1, 2k+1, …`.
//! - **Lion.** `lion-pytorch` applies decay as `p(1 − lr·wd)` with the current (scheduled)
//!   `lr`; vibee too. `sign(0) = 0` as in `torch.sign`. Its optional
//!   `decoupled_weight_decay` (decay divided by the initial lr) is not offered.
//! - **Shampoo.** Follows `pytorch_optimizer.ScalableShampoo` with `use_svd=True` (exact
//!   inverse roots); its default coupled Schur–Newton iteration is an approximation stopped
//!   at a tolerance and is not reproduced (see [`Shampoo`]).
//! - **Prodigy.** Follows `prodigyopt` 1.1: `d` is global across all parameters, the decay
//!   uses the step's `d·lr` before `d` is updated, and the denominator's `eps` is scaled by
//!   the updated `d`.
//! - **Schedule-Free.** Follows `schedulefree` 1.4 (`AdamWScheduleFree`, `SGDScheduleFree`):
//!   parameters hold `y` during training; [`ScheduleFree::eval`] switches them to `x` and
//!   [`ScheduleFree::train`] back. Weight decay is evaluated at `y` and enters both the `y`
//!   and `z` updates, as in the package's default (memory-efficient) classes;
//!   `AdamWScheduleFreeReference` keeps `x` explicitly and applies decay to `z` only (or at
//!   `z` with `decay_at_z`), which vibee does not offer.
//! - **Adam/AdamW.** `torch.optim` semantics: L2 decay added to the gradient for Adam,
//!   decoupled `p(1 − lr·wd)` for AdamW, bias corrections applied as
//!   `lr/bc1 · m / (sqrt(v)/sqrt(bc2) + eps)`; `amsgrad` keeps the running max of `v`.

mod adafactor;
mod adam;
mod came;
mod clip;
mod factored;
mod float;
mod golden;
mod kernel;
mod lion;
mod params;
mod prodigy;
mod schedule_free;
mod sgd;
mod shampoo;
mod sophia;
mod state;

pub use adafactor::{Adafactor, AdafactorConfig};
pub use adam::{Adam, AdamConfig, AdamScalars};
pub use came::{Came, CameConfig};
pub use clip::{clip_grad_norm, clip_grad_value};
pub use factored::{Factored, Moment as FactoredMoment, update_clip};
pub use float::Float;
pub use golden::{Golden, GoldenConfig, GoldenScalars};
pub use lion::{Lion, LionConfig};
pub use params::{ParamInfo, ParamSet, is_no_decay_name};
pub use prodigy::{Prodigy, ProdigyApply, ProdigyConfig, ProdigyEstimate, ProdigyScalars};
pub use schedule_free::{
    LerpWeight, ScheduleFree, ScheduleFreeAverage, ScheduleFreeConfig, ScheduleFreeKind,
    ScheduleFreeScalars,
};
pub use sgd::{Sgd, SgdConfig, SgdScalars};
pub use shampoo::{
    Graft, Shampoo, ShampooConfig, ShampooLayout, ShampooMomentum, shampoo_inverse_root,
};
pub use sophia::{HessianEstimate, Sophia, SophiaClip, SophiaConfig, SophiaScalars};
pub use state::StateDict;

use thiserror::Error;

use crate::schedule::{Schedule, ScheduleError};

/// Why an optimizer step, configuration or state load was rejected.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum OptimError {
    /// `step` got a different number of tensors than the optimizer was built with.
    #[error(
        "optimizer has {expected} parameters but step got {params} parameters and {grads} gradients"
    )]
    Count {
        /// Tensors in the [`ParamSet`].
        expected: usize,
        /// Parameter slices passed.
        params: usize,
        /// Gradient slices passed.
        grads: usize,
    },
    /// A slice length disagrees with the parameter's shape.
    #[error("{what} of `{param}` holds {got} elements, its shape needs {expected}")]
    Length {
        /// Parameter name.
        param: String,
        /// `"parameter"`, `"gradient"` or `"hessian"`.
        what: &'static str,
        /// Elements the shape implies.
        expected: usize,
        /// Elements passed.
        got: usize,
    },
    /// A hyperparameter is out of range.
    #[error("optimizer field `{field}`: {reason}")]
    Config {
        /// The config field.
        field: &'static str,
        /// What is wrong and what would be accepted.
        reason: String,
    },
    /// A [`StateDict`] does not fit this optimizer.
    #[error("optimizer state: {0}")]
    State(String),
    /// The operation does not apply to this optimizer.
    #[error("{0}")]
    Unsupported(String),
    /// A layer-decay rule rejected a parameter name.
    #[error(transparent)]
    Schedule(#[from] ScheduleError),
}

/// A first-order (or diagonal second-order) optimizer over flat parameter slices.
pub trait Optimizer<T: Float> {
    /// Short name, as written into [`StateDict::optimizer`].
    fn name(&self) -> &'static str;
    /// The parameters this optimizer updates.
    fn params(&self) -> &ParamSet;
    /// The current base learning rate (each parameter uses it times its `lr_scale`).
    fn lr(&self) -> f64;
    /// Sets the base learning rate, e.g. from a schedule before each step.
    fn set_lr(&mut self, lr: f64);
    /// Sets the momentum (SGD) or β₁ (Adam family), for one-cycle momentum cycling.
    fn set_momentum(&mut self, momentum: f64) -> Result<(), OptimError> {
        let _ = momentum;
        Err(OptimError::Unsupported(format!(
            "`{}` has no momentum to cycle",
            self.name()
        )))
    }
    /// Sets the learning rate, and the momentum where the schedule cycles it, for optimizer
    /// step `step` (0-based) of `schedule`.
    fn follow_schedule(&mut self, schedule: &Schedule, step: u64) -> Result<(), OptimError> {
        self.set_lr(schedule.lr(step));
        match schedule.momentum(step) {
            Some(m) => self.set_momentum(m),
            None => Ok(()),
        }
    }
    /// Steps taken so far.
    fn steps(&self) -> u64;
    /// Updates every parameter in place from its gradient (same order as [`Self::params`]).
    fn step(&mut self, params: &mut [&mut [T]], grads: &[&[T]]) -> Result<(), OptimError>;
    /// The state to put in a checkpoint.
    fn state_dict(&self) -> StateDict;
    /// Restores state written by [`Self::state_dict`] of the same optimizer and parameters.
    fn load_state_dict(&mut self, state: &StateDict) -> Result<(), OptimError>;
}

/// Checks a coefficient lies in `[0, 1)`.
pub(crate) fn check_beta(field: &'static str, beta: f64) -> Result<(), OptimError> {
    if (0.0..1.0).contains(&beta) {
        Ok(())
    } else {
        Err(OptimError::Config {
            field,
            reason: format!("must lie in [0, 1), got {beta}"),
        })
    }
}

/// Checks a value is finite and non-negative.
pub(crate) fn check_non_negative(field: &'static str, v: f64) -> Result<(), OptimError> {
    if v.is_finite() && v >= 0.0 {
        Ok(())
    } else {
        Err(OptimError::Config {
            field,
            reason: format!("must be finite and >= 0, got {v}"),
        })
    }
}

/// Zeroed buffers, one per parameter.
pub(crate) fn zeros<T: Float>(params: &ParamSet) -> Vec<Vec<T>> {
    params.iter().map(|p| vec![T::ZERO; p.numel()]).collect()
}

/// Borrowed views of per-parameter buffers, for [`StateDict::put`].
pub(crate) fn views<T>(bufs: &[Vec<T>]) -> Vec<&[T]> {
    bufs.iter().map(Vec::as_slice).collect()
}

/// Reads one buffer per parameter back from a state dict.
pub(crate) fn load_slot<T: Float>(
    state: &StateDict,
    params: &ParamSet,
    slot: &str,
) -> Result<Vec<Vec<T>>, OptimError> {
    params
        .iter()
        .map(|p| state.take(&p.name, slot, p.numel()))
        .collect()
}
