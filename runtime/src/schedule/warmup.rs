//! Flat and warmup-shaped schedules: constant, linear warmup, inverse square root.

use serde::{Deserialize, Serialize};

use super::{ScheduleError, check_lr, check_positive, invalid, steps};

/// The same learning rate at every step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Constant {
    /// The learning rate.
    pub lr: f64,
}

impl Constant {
    /// A constant rate `lr`.
    pub fn new(lr: f64) -> Self {
        Self { lr }
    }
}

/// Linear warmup from `start_factor·lr` at step 0 to `lr` at `warmup_steps`, then constant.
///
/// With `start_factor = 0` this is `transformers.get_constant_schedule_with_warmup`; with a
/// positive factor it is `torch.optim.lr_scheduler.LinearLR(start_factor, 1.0, warmup_steps)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinearWarmup {
    /// The rate reached at the end of warmup.
    pub lr: f64,
    /// Steps of the ramp (at least 1).
    #[serde(deserialize_with = "steps::warmup_steps")]
    pub warmup_steps: u64,
    /// Fraction of `lr` at step 0, in `[0, 1]`.
    #[serde(default)]
    pub start_factor: f64,
}

impl LinearWarmup {
    /// Warmup from 0 to `lr` over `warmup_steps`.
    pub fn new(lr: f64, warmup_steps: u64) -> Self {
        Self {
            lr,
            warmup_steps,
            start_factor: 0.0,
        }
    }

    /// Start the ramp at `factor·lr` instead of 0.
    pub fn start_factor(mut self, factor: f64) -> Self {
        self.start_factor = factor;
        self
    }

    pub(super) fn lr(&self, step: u64) -> f64 {
        let progress = step.min(self.warmup_steps) as f64 / self.warmup_steps.max(1) as f64;
        self.lr * (self.start_factor + (1.0 - self.start_factor) * progress)
    }

    pub(super) fn validate(&self, path: &str) -> Result<(), ScheduleError> {
        check_lr(path, "lr", self.lr)?;
        check_positive(path, "warmup_steps", self.warmup_steps)?;
        if !(0.0..=1.0).contains(&self.start_factor) {
            return Err(invalid(path, "start_factor", "must lie in [0, 1]"));
        }
        Ok(())
    }
}

/// Inverse square root decay after a linear warmup from 0, as
/// `transformers.get_inverse_sqrt_schedule`: for `step >= warmup_steps` the rate is
/// `lr / sqrt((step + timescale - warmup_steps) / timescale)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InverseSqrt {
    /// The peak rate, reached at the end of warmup.
    pub lr: f64,
    /// Steps of the linear warmup (0 for none).
    #[serde(deserialize_with = "steps::warmup_steps")]
    pub warmup_steps: u64,
    /// Decay timescale; defaults to `warmup_steps`, or 10 000 without warmup.
    #[serde(default, deserialize_with = "steps::timescale")]
    pub timescale: Option<u64>,
}

impl InverseSqrt {
    /// Inverse square root decay with a warmup of `warmup_steps`.
    pub fn new(lr: f64, warmup_steps: u64) -> Self {
        Self {
            lr,
            warmup_steps,
            timescale: None,
        }
    }

    /// Use `timescale` instead of the default.
    pub fn timescale(mut self, timescale: u64) -> Self {
        self.timescale = Some(timescale);
        self
    }

    fn effective_timescale(&self) -> u64 {
        match (self.timescale, self.warmup_steps) {
            (Some(t), _) => t,
            (None, 0) => 10_000,
            (None, w) => w,
        }
    }

    pub(super) fn lr(&self, step: u64) -> f64 {
        if step < self.warmup_steps {
            return self.lr * step as f64 / self.warmup_steps as f64;
        }
        let timescale = self.effective_timescale() as f64;
        let shifted = step as f64 + timescale - self.warmup_steps as f64;
        self.lr / (shifted / timescale).sqrt()
    }

    pub(super) fn validate(&self, path: &str) -> Result<(), ScheduleError> {
        check_lr(path, "lr", self.lr)?;
        if let Some(t) = self.timescale {
            check_positive(path, "timescale", t)?;
        }
        Ok(())
    }
}
