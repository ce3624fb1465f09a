//! Learning-rate schedules: what the optimizer's learning rate (and, for one-cycle, its
//! momentum) is at every step.
//!
//! A [`Schedule`] is plain data. It is built in Rust with a typed builder
//! (`Cosine::new(3e-4, 10_000).min_lr(3e-5)`), composed with [`Schedule::then`], or loaded
//! from the training TOML with [`Schedule::from_toml_str`]; unknown keys, negative step
//! counts and inconsistent values (a decay that runs past the end, a floor above the peak)
//! are a [`ScheduleError`] that names the field. [`Schedule::lr`] is a pure function of the
//! step, so resuming a run needs only the step counter.
//!
//! ```
//! use vibee_runtime::schedule::{Cosine, LinearWarmup, Schedule};
//! let s = Schedule::from(LinearWarmup::new(3e-4, 100))
//!     .then(Cosine::new(3e-4, 900).min_lr(3e-5), 100);
//! s.validate().unwrap();
//! assert_eq!(s.lr(50), 1.5e-4);
//! assert!((s.lr(1000) - 3e-5).abs() < 1e-12);
//! ```
//!
//! # Parity and where references disagree
//!
//! Every schedule is compared step by step with its reference in
//! `runtime/tests/schedule_parity.rs` (goldens written by `scripts/optim_goldens.py`):
//! `torch.optim.lr_scheduler` (`LinearLR`, `CosineAnnealingLR`, `CosineAnnealingWarmRestarts`,
//! `OneCycleLR`, `SequentialLR`) and Hugging Face `transformers` (`get_inverse_sqrt_schedule`,
//! `get_wsd_schedule`, `get_constant_schedule_with_warmup`). Choices where they differ:
//!
//! - **Cosine past its end.** `CosineAnnealingLR` keeps following the cosine after `T_max`
//!   (the rate climbs back up); vibee holds `min_lr`, as `transformers` does, because a run
//!   that trains longer than planned should not get a rate spike.
//! - **One-cycle past its end.** `OneCycleLR` raises an error after `total_steps`; vibee holds
//!   the final rate.
//! - **WSD warmup floor.** `transformers.get_wsd_schedule` lifts the warmup as well as the
//!   cooldown to `min_lr_ratio` (warmup starts at `min_lr_ratio·lr`), while
//!   `pytorch_optimizer.get_wsd_schedule` warms up from 0 and applies the floor only in the
//!   cooldown. vibee follows `transformers` (the floor applies to both ramps).
//! - **Sequencing.** `a.then(b, n)` runs `b` from *its own* step 0 at step `n`, as
//!   `SequentialLR` does.
//!
//! Torch's schedulers are recursive (each rate derived from the previous one); vibee uses
//! the closed forms, which agree to ~1e-15 relative.

mod cosine;
mod layer_decay;
mod one_cycle;
mod steps;
mod warmup;
mod wsd;

pub use cosine::{Cosine, CosineRestarts};
pub use layer_decay::LayerDecay;
pub use one_cycle::{Anneal, OneCycle};
pub use warmup::{Constant, InverseSqrt, LinearWarmup};
pub use wsd::{Ramp, Wsd};

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Why a schedule (or a layer-decay rule) was rejected.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum ScheduleError {
    /// A value is out of range or inconsistent with another field.
    #[error("schedule field `{field}`: {reason}")]
    Invalid {
        /// Dotted path of the field, e.g. `next.total_steps`.
        field: String,
        /// What is wrong and what would be accepted.
        reason: String,
    },
    /// The TOML did not parse into a schedule (unknown key, wrong type, negative steps).
    #[error("schedule TOML: {0}")]
    Toml(String),
}

/// A learning-rate schedule. See the [module docs](self) for the catalogue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Schedule {
    /// The same rate every step.
    Constant(Constant),
    /// Linear ramp from `start_factor·lr` to `lr`, then constant.
    LinearWarmup(LinearWarmup),
    /// Linear warmup, then `lr·sqrt(timescale / (step + timescale - warmup))`.
    InverseSqrt(InverseSqrt),
    /// Half-cosine from `lr` to `min_lr` over `total_steps`.
    Cosine(Cosine),
    /// SGDR: cosine with warm restarts, each period `period_mult` times the previous.
    CosineRestarts(CosineRestarts),
    /// PyTorch's one-cycle policy, with optional momentum cycling.
    OneCycle(OneCycle),
    /// Warmup-stable-decay with a linear, cosine or 1−sqrt cooldown.
    Wsd(Wsd),
    /// `first` until step `at`, then `next` counted from its own step 0.
    Then {
        /// The schedule used before `at`.
        first: Box<Schedule>,
        /// The schedule used from `at` on.
        next: Box<Schedule>,
        /// The step at which `next` takes over.
        #[serde(deserialize_with = "steps::at")]
        at: u64,
    },
}

impl Schedule {
    /// Parses a schedule from TOML (the `[schedule]` table of a training config) and
    /// validates it.
    pub fn from_toml_str(text: &str) -> Result<Self, ScheduleError> {
        let schedule: Schedule =
            toml::from_str(text).map_err(|e| ScheduleError::Toml(e.to_string()))?;
        schedule.validate()?;
        Ok(schedule)
    }

    /// Sequencing: `self` until step `at`, then `next` (which starts at its own step 0).
    pub fn then(self, next: impl Into<Schedule>, at: u64) -> Self {
        Schedule::Then {
            first: Box::new(self),
            next: Box::new(next.into()),
            at,
        }
    }

    /// The learning rate for optimizer step `step` (0-based).
    pub fn lr(&self, step: u64) -> f64 {
        match self {
            Schedule::Constant(s) => s.lr,
            Schedule::LinearWarmup(s) => s.lr(step),
            Schedule::InverseSqrt(s) => s.lr(step),
            Schedule::Cosine(s) => s.lr(step),
            Schedule::CosineRestarts(s) => s.lr(step),
            Schedule::OneCycle(s) => s.lr(step),
            Schedule::Wsd(s) => s.lr(step),
            Schedule::Then { first, next, at } => {
                if step < *at {
                    first.lr(step)
                } else {
                    next.lr(step - at)
                }
            }
        }
    }

    /// The momentum (SGD momentum or Adam β₁) for `step`, where the schedule cycles it
    /// (one-cycle with `cycle_momentum`); `None` leaves the optimizer's own value.
    pub fn momentum(&self, step: u64) -> Option<f64> {
        match self {
            Schedule::OneCycle(s) => s.momentum(step),
            Schedule::Then { first, at, .. } if step < *at => first.momentum(step),
            Schedule::Then { next, at, .. } => next.momentum(step - at),
            _ => None,
        }
    }

    /// Checks every field; errors name the field by its dotted path.
    pub fn validate(&self) -> Result<(), ScheduleError> {
        self.validate_at("")
    }

    fn validate_at(&self, path: &str) -> Result<(), ScheduleError> {
        match self {
            Schedule::Constant(s) => check_lr(path, "lr", s.lr),
            Schedule::LinearWarmup(s) => s.validate(path),
            Schedule::InverseSqrt(s) => s.validate(path),
            Schedule::Cosine(s) => s.validate(path),
            Schedule::CosineRestarts(s) => s.validate(path),
            Schedule::OneCycle(s) => s.validate(path),
            Schedule::Wsd(s) => s.validate(path),
            Schedule::Then { first, next, .. } => {
                first.validate_at(&join(path, "first"))?;
                next.validate_at(&join(path, "next"))
            }
        }
    }
}

/// `a.b` for nested field paths; the root has no prefix.
pub(crate) fn join(path: &str, field: &str) -> String {
    if path.is_empty() {
        field.to_string()
    } else {
        format!("{path}.{field}")
    }
}

/// A typed error for `field` under `path`.
pub(crate) fn invalid(path: &str, field: &str, reason: impl Into<String>) -> ScheduleError {
    ScheduleError::Invalid {
        field: join(path, field),
        reason: reason.into(),
    }
}

/// Learning rates must be finite and non-negative.
pub(crate) fn check_lr(path: &str, field: &str, lr: f64) -> Result<(), ScheduleError> {
    if lr.is_finite() && lr >= 0.0 {
        Ok(())
    } else {
        Err(invalid(
            path,
            field,
            format!("must be a finite rate >= 0, got {lr}"),
        ))
    }
}

/// Step counts that divide must be at least 1.
pub(crate) fn check_positive(path: &str, field: &str, steps: u64) -> Result<(), ScheduleError> {
    if steps == 0 {
        Err(invalid(path, field, "must be at least 1 step"))
    } else {
        Ok(())
    }
}

macro_rules! into_schedule {
    ($($ty:ident),*) => {$(
        impl From<$ty> for Schedule {
            fn from(s: $ty) -> Self {
                Schedule::$ty(s)
            }
        }
        impl $ty {
            /// Sequencing: this schedule until step `at`, then `next` from its own step 0.
            pub fn then(self, next: impl Into<Schedule>, at: u64) -> Schedule {
                Schedule::from(self).then(next, at)
            }
        }
    )*};
}
into_schedule!(
    Constant,
    LinearWarmup,
    InverseSqrt,
    Cosine,
    CosineRestarts,
    OneCycle,
    Wsd
);
