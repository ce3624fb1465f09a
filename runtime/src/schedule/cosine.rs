//! Cosine annealing and SGDR (cosine with warm restarts).

use std::f64::consts::PI;

use serde::{Deserialize, Serialize};

use super::{ScheduleError, check_lr, check_positive, invalid, steps};

/// `min_lr + (lr - min_lr)·(1 + cos(π·t/T))/2` for `t ≤ T`, then `min_lr`
/// (`torch.optim.lr_scheduler.CosineAnnealingLR(T_max=T, eta_min=min_lr)` up to `T`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cosine {
    /// The rate at step 0.
    pub lr: f64,
    /// Steps from `lr` down to `min_lr`.
    #[serde(deserialize_with = "steps::total_steps")]
    pub total_steps: u64,
    /// The floor, reached at `total_steps` and held after.
    #[serde(default)]
    pub min_lr: f64,
}

impl Cosine {
    /// Cosine decay from `lr` to 0 over `total_steps`.
    pub fn new(lr: f64, total_steps: u64) -> Self {
        Self {
            lr,
            total_steps,
            min_lr: 0.0,
        }
    }

    /// Decay to `min_lr` instead of 0.
    pub fn min_lr(mut self, min_lr: f64) -> Self {
        self.min_lr = min_lr;
        self
    }

    pub(super) fn lr(&self, step: u64) -> f64 {
        let progress = step.min(self.total_steps) as f64 / self.total_steps.max(1) as f64;
        half_cosine(self.lr, self.min_lr, progress)
    }

    pub(super) fn validate(&self, path: &str) -> Result<(), ScheduleError> {
        check_lr(path, "lr", self.lr)?;
        check_positive(path, "total_steps", self.total_steps)?;
        check_floor(path, self.lr, self.min_lr)
    }
}

/// SGDR: cosine periods of `period`, `period·period_mult`, `period·period_mult²`, …, each
/// restarting at `lr` (`torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(T_0, T_mult,
/// eta_min)`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CosineRestarts {
    /// The rate at the start of every period.
    pub lr: f64,
    /// Length of the first period (`T_0`).
    #[serde(deserialize_with = "steps::period")]
    pub period: u64,
    /// Each period is this many times the previous one (`T_mult`, at least 1).
    #[serde(default = "one", deserialize_with = "steps::period_mult")]
    pub period_mult: u64,
    /// The rate each period decays towards.
    #[serde(default)]
    pub min_lr: f64,
}

fn one() -> u64 {
    1
}

impl CosineRestarts {
    /// Restarts every `period` steps.
    pub fn new(lr: f64, period: u64) -> Self {
        Self {
            lr,
            period,
            period_mult: 1,
            min_lr: 0.0,
        }
    }

    /// Multiply the period by `mult` after each restart.
    pub fn period_mult(mut self, mult: u64) -> Self {
        self.period_mult = mult;
        self
    }

    /// Decay towards `min_lr` instead of 0.
    pub fn min_lr(mut self, min_lr: f64) -> Self {
        self.min_lr = min_lr;
        self
    }

    pub(super) fn lr(&self, step: u64) -> f64 {
        // Walk the periods; their lengths grow geometrically, so this is O(log step).
        let (mut t, mut period) = (step, self.period.max(1));
        while t >= period {
            t -= period;
            period = period.saturating_mul(self.period_mult.max(1));
        }
        half_cosine(self.lr, self.min_lr, t as f64 / period as f64)
    }

    pub(super) fn validate(&self, path: &str) -> Result<(), ScheduleError> {
        check_lr(path, "lr", self.lr)?;
        check_positive(path, "period", self.period)?;
        check_positive(path, "period_mult", self.period_mult)?;
        check_floor(path, self.lr, self.min_lr)
    }
}

/// `low + (high - low)·(1 + cos(π·progress))/2`.
pub(super) fn half_cosine(high: f64, low: f64, progress: f64) -> f64 {
    low + (high - low) * (1.0 + (PI * progress).cos()) / 2.0
}

fn check_floor(path: &str, lr: f64, min_lr: f64) -> Result<(), ScheduleError> {
    check_lr(path, "min_lr", min_lr)?;
    if min_lr > lr {
        return Err(invalid(
            path,
            "min_lr",
            format!("{min_lr} is above the peak rate `lr` = {lr}"),
        ));
    }
    Ok(())
}
