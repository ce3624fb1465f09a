//! Warmup-stable-decay ("trapezoidal") schedules, numerically as
//! `transformers.get_wsd_schedule`.

use std::f64::consts::PI;

use serde::{Deserialize, Serialize};

use super::{ScheduleError, check_lr, check_positive, invalid, steps};

/// The shape of a WSD ramp.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Ramp {
    /// Straight line.
    #[default]
    Linear,
    /// Half-cosine.
    Cosine,
    /// `1 − sqrt(progress)` on the way down (Hägele et al. 2024), `1 − sqrt(1 − progress)`
    /// on the way up.
    OneMinusSqrt,
}

impl Ramp {
    /// Fraction of the peak while ramping up, `progress` in `[0, 1)`.
    fn up(self, progress: f64) -> f64 {
        match self {
            Ramp::Linear => progress,
            Ramp::Cosine => 0.5 * (1.0 - (PI * progress).cos()),
            Ramp::OneMinusSqrt => 1.0 - (1.0 - progress).sqrt(),
        }
    }

    /// Fraction of the peak while cooling down, `progress` in `[0, 1)`.
    fn down(self, progress: f64) -> f64 {
        match self {
            Ramp::Linear => 1.0 - progress,
            Ramp::Cosine => 0.5 * (1.0 + (PI * progress).cos()),
            Ramp::OneMinusSqrt => 1.0 - progress.sqrt(),
        }
    }
}

/// Warmup for `warmup_steps`, hold `lr` until `total_steps - decay_steps`, then cool down to
/// `min_lr_ratio·lr` at `total_steps` and hold it. Both ramps are lifted onto the floor
/// (`min_lr_ratio + (1 − min_lr_ratio)·shape`), as `transformers` does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Wsd {
    /// The stable (peak) rate.
    pub lr: f64,
    /// Steps of the warmup ramp (0 for none).
    #[serde(default, deserialize_with = "steps::warmup_steps")]
    pub warmup_steps: u64,
    /// Steps of the cooldown ramp, ending at `total_steps`.
    #[serde(deserialize_with = "steps::decay_steps")]
    pub decay_steps: u64,
    /// Length of the run; the stable phase is what warmup and cooldown leave.
    #[serde(deserialize_with = "steps::total_steps")]
    pub total_steps: u64,
    /// Floor as a fraction of `lr`, in `[0, 1]`.
    #[serde(default)]
    pub min_lr_ratio: f64,
    /// Warmup shape.
    #[serde(default)]
    pub warmup: Ramp,
    /// Cooldown shape.
    #[serde(default)]
    pub decay: Ramp,
}

impl Wsd {
    /// Linear warmup and linear cooldown to 0.
    pub fn new(lr: f64, warmup_steps: u64, decay_steps: u64, total_steps: u64) -> Self {
        Self {
            lr,
            warmup_steps,
            decay_steps,
            total_steps,
            min_lr_ratio: 0.0,
            warmup: Ramp::Linear,
            decay: Ramp::Linear,
        }
    }

    /// Cooldown shape.
    pub fn decay(mut self, ramp: Ramp) -> Self {
        self.decay = ramp;
        self
    }

    /// Warmup shape.
    pub fn warmup(mut self, ramp: Ramp) -> Self {
        self.warmup = ramp;
        self
    }

    /// Floor as a fraction of `lr`.
    pub fn min_lr_ratio(mut self, ratio: f64) -> Self {
        self.min_lr_ratio = ratio;
        self
    }

    fn factor(&self, step: u64) -> f64 {
        let floor = self.min_lr_ratio;
        let lift = |shape: f64| (shape * (1.0 - floor) + floor).max(0.0);
        let decay_start = self.total_steps - self.decay_steps;
        if step < self.warmup_steps {
            lift(self.warmup.up(step as f64 / self.warmup_steps as f64))
        } else if step < decay_start {
            1.0
        } else if step < self.total_steps {
            let progress = (step - decay_start) as f64 / self.decay_steps.max(1) as f64;
            lift(self.decay.down(progress))
        } else {
            floor
        }
    }

    pub(super) fn lr(&self, step: u64) -> f64 {
        self.lr * self.factor(step)
    }

    pub(super) fn validate(&self, path: &str) -> Result<(), ScheduleError> {
        check_lr(path, "lr", self.lr)?;
        check_positive(path, "decay_steps", self.decay_steps)?;
        if self.warmup_steps + self.decay_steps > self.total_steps {
            return Err(invalid(
                path,
                "decay_steps",
                format!(
                    "warmup_steps {} + decay_steps {} run past the end (total_steps {})",
                    self.warmup_steps, self.decay_steps, self.total_steps
                ),
            ));
        }
        if !(0.0..=1.0).contains(&self.min_lr_ratio) {
            return Err(invalid(path, "min_lr_ratio", "must lie in [0, 1]"));
        }
        Ok(())
    }
}
