//! The one-cycle policy (Smith & Topin), numerically as `torch.optim.lr_scheduler.OneCycleLR`.

use std::f64::consts::PI;

use serde::{Deserialize, Serialize};

use super::{ScheduleError, check_lr, check_positive, invalid, steps};

/// How a one-cycle phase moves between its end points.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Anneal {
    /// Half-cosine (PyTorch's `anneal_strategy="cos"`).
    #[default]
    Cos,
    /// Straight line (`anneal_strategy="linear"`).
    Linear,
}

/// One cycle: warm up from `max_lr/div_factor` to `max_lr` over `pct_start` of the run, then
/// anneal to `max_lr/(div_factor·final_div_factor)`; with `three_phase`, come back down to
/// the initial rate symmetrically before the final anneal. With `cycle_momentum` the
/// momentum moves inversely between `max_momentum` and `base_momentum`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OneCycle {
    /// Peak rate.
    pub max_lr: f64,
    /// Length of the cycle; steps after it hold the final rate.
    #[serde(deserialize_with = "steps::total_steps")]
    pub total_steps: u64,
    /// Fraction of the cycle spent increasing the rate.
    #[serde(default = "defaults::pct_start")]
    pub pct_start: f64,
    /// Shape of every phase.
    #[serde(default)]
    pub anneal: Anneal,
    /// Initial rate is `max_lr / div_factor`.
    #[serde(default = "defaults::div_factor")]
    pub div_factor: f64,
    /// Final rate is `initial / final_div_factor`.
    #[serde(default = "defaults::final_div_factor")]
    pub final_div_factor: f64,
    /// Use PyTorch's three-phase variant.
    #[serde(default)]
    pub three_phase: bool,
    /// Cycle the momentum (SGD momentum or Adam β₁) inversely to the rate.
    #[serde(default = "defaults::yes")]
    pub cycle_momentum: bool,
    /// Momentum at the peak rate.
    #[serde(default = "defaults::base_momentum")]
    pub base_momentum: f64,
    /// Momentum at the lowest rates.
    #[serde(default = "defaults::max_momentum")]
    pub max_momentum: f64,
}

mod defaults {
    pub fn pct_start() -> f64 {
        0.3
    }
    pub fn div_factor() -> f64 {
        25.0
    }
    pub fn final_div_factor() -> f64 {
        1e4
    }
    pub fn yes() -> bool {
        true
    }
    pub fn base_momentum() -> f64 {
        0.85
    }
    pub fn max_momentum() -> f64 {
        0.95
    }
}

/// One phase: the step it ends on and its start/end rates and momenta.
struct Phase {
    end_step: f64,
    lr: (f64, f64),
    momentum: (f64, f64),
}

impl OneCycle {
    /// PyTorch's defaults for a cycle of `total_steps` peaking at `max_lr`.
    pub fn new(max_lr: f64, total_steps: u64) -> Self {
        Self {
            max_lr,
            total_steps,
            pct_start: defaults::pct_start(),
            anneal: Anneal::Cos,
            div_factor: defaults::div_factor(),
            final_div_factor: defaults::final_div_factor(),
            three_phase: false,
            cycle_momentum: true,
            base_momentum: defaults::base_momentum(),
            max_momentum: defaults::max_momentum(),
        }
    }

    /// Fraction of the cycle spent warming up.
    pub fn pct_start(mut self, pct: f64) -> Self {
        self.pct_start = pct;
        self
    }

    /// Phase shape.
    pub fn anneal(mut self, anneal: Anneal) -> Self {
        self.anneal = anneal;
        self
    }

    /// Initial and final divisors.
    pub fn div_factors(mut self, div: f64, final_div: f64) -> Self {
        self.div_factor = div;
        self.final_div_factor = final_div;
        self
    }

    /// PyTorch's three-phase variant.
    pub fn three_phase(mut self, on: bool) -> Self {
        self.three_phase = on;
        self
    }

    /// Momentum range, or `None` to leave the optimizer's momentum alone.
    pub fn momentum_range(mut self, range: Option<(f64, f64)>) -> Self {
        self.cycle_momentum = range.is_some();
        if let Some((base, max)) = range {
            self.base_momentum = base;
            self.max_momentum = max;
        }
        self
    }

    fn phases(&self) -> Vec<Phase> {
        let initial = self.max_lr / self.div_factor;
        let min = initial / self.final_div_factor;
        let (hi_m, lo_m) = (self.max_momentum, self.base_momentum);
        // Same end points as PyTorch: phase boundaries are fractional steps.
        let up_end = self.pct_start * self.total_steps as f64 - 1.0;
        let last = self.total_steps as f64 - 1.0;
        let phase = |end_step, lr, momentum| Phase {
            end_step,
            lr,
            momentum,
        };
        if self.three_phase {
            vec![
                phase(up_end, (initial, self.max_lr), (hi_m, lo_m)),
                phase(2.0 * up_end, (self.max_lr, initial), (lo_m, hi_m)),
                phase(last, (initial, min), (hi_m, hi_m)),
            ]
        } else {
            vec![
                phase(up_end, (initial, self.max_lr), (hi_m, lo_m)),
                phase(last, (self.max_lr, min), (lo_m, hi_m)),
            ]
        }
    }

    /// Rate and momentum at `step`, walking the phases as `OneCycleLR.get_lr` does.
    fn at(&self, step: u64) -> (f64, f64) {
        let step = step.min(self.total_steps.saturating_sub(1)) as f64;
        let phases = self.phases();
        // The first phase not yet finished; steps past the end stay in the last one.
        let last = phases.len() - 1;
        let i = phases
            .iter()
            .position(|p| step <= p.end_step)
            .unwrap_or(last);
        let start = if i == 0 { 0.0 } else { phases[i - 1].end_step };
        let p = &phases[i];
        let pct = (step - start) / (p.end_step - start);
        (self.interp(p.lr, pct), self.interp(p.momentum, pct))
    }

    fn interp(&self, (from, to): (f64, f64), pct: f64) -> f64 {
        match self.anneal {
            Anneal::Cos => to + (from - to) / 2.0 * ((PI * pct).cos() + 1.0),
            Anneal::Linear => (to - from) * pct + from,
        }
    }

    pub(super) fn lr(&self, step: u64) -> f64 {
        self.at(step).0
    }

    pub(super) fn momentum(&self, step: u64) -> Option<f64> {
        self.cycle_momentum.then(|| self.at(step).1)
    }

    pub(super) fn validate(&self, path: &str) -> Result<(), ScheduleError> {
        check_lr(path, "max_lr", self.max_lr)?;
        check_positive(path, "total_steps", self.total_steps)?;
        if !(self.pct_start > 0.0 && self.pct_start < 1.0) {
            return Err(invalid(
                path,
                "pct_start",
                "must lie strictly between 0 and 1",
            ));
        }
        let up_end = self.pct_start * self.total_steps as f64 - 1.0;
        if up_end <= 0.0 || (self.three_phase && 2.0 * up_end >= self.total_steps as f64 - 1.0) {
            return Err(invalid(
                path,
                "pct_start",
                "leaves a phase without steps; raise total_steps or change pct_start",
            ));
        }
        for (field, v) in [
            ("div_factor", self.div_factor),
            ("final_div_factor", self.final_div_factor),
        ] {
            if !(v.is_finite() && v > 0.0) {
                return Err(invalid(path, field, "must be a finite number > 0"));
            }
        }
        Ok(())
    }
}
