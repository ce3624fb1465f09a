//! Adafactor (Shazeer & Stern 2018), numerically as `transformers.Adafactor`: factored
//! second moments, relative step size, parameter-scaled steps and update clipping.

use serde::{Deserialize, Serialize};

use super::factored::{Moment, rms, update_clip};
use super::{
    Float, OptimError, Optimizer, ParamSet, StateDict, check_beta, check_non_negative, load_slot,
    views, zeros,
};

/// Hyperparameters of [`Adafactor`]; the defaults are `transformers`'.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdafactorConfig {
    /// External learning rate; used only when `relative_step` is off.
    #[serde(default)]
    pub lr: Option<f64>,
    /// `(ε₁, ε₂)`: added to the squared gradient, and the floor of the parameter scale.
    #[serde(default = "defaults::eps")]
    pub eps: (f64, f64),
    /// The update is divided by `max(1, rms(update) / clip_threshold)`.
    #[serde(default = "defaults::clip_threshold")]
    pub clip_threshold: f64,
    /// `β₂ₜ = 1 − t^decay_rate`.
    #[serde(default = "defaults::decay_rate")]
    pub decay_rate: f64,
    /// First-moment decay; `None` keeps no first moment.
    #[serde(default)]
    pub beta1: Option<f64>,
    /// Weight decay, scaled by the step size.
    #[serde(default)]
    pub weight_decay: f64,
    /// Multiply the step by `max(ε₂, rms(p))`.
    #[serde(default = "defaults::yes")]
    pub scale_parameter: bool,
    /// Step size `min(1e-2, 1/sqrt(t))` instead of `lr`.
    #[serde(default = "defaults::yes")]
    pub relative_step: bool,
    /// With `relative_step`, start from `1e-6·t` instead of `1e-2`.
    #[serde(default)]
    pub warmup_init: bool,
}

mod defaults {
    pub fn eps() -> (f64, f64) {
        (1e-30, 1e-3)
    }
    pub fn clip_threshold() -> f64 {
        1.0
    }
    pub fn decay_rate() -> f64 {
        -0.8
    }
    pub fn yes() -> bool {
        true
    }
}

impl Default for AdafactorConfig {
    fn default() -> Self {
        Self {
            lr: None,
            eps: defaults::eps(),
            clip_threshold: defaults::clip_threshold(),
            decay_rate: defaults::decay_rate(),
            beta1: None,
            weight_decay: 0.0,
            scale_parameter: true,
            relative_step: true,
            warmup_init: false,
        }
    }
}

impl AdafactorConfig {
    /// Checks every field.
    pub fn validate(&self) -> Result<(), OptimError> {
        if !self.relative_step && self.lr.is_none() {
            return Err(OptimError::Config {
                field: "lr",
                reason: "is required when relative_step is false".into(),
            });
        }
        if self.warmup_init && !self.relative_step {
            return Err(OptimError::Config {
                field: "warmup_init",
                reason: "needs relative_step = true".into(),
            });
        }
        if let Some(b) = self.beta1 {
            check_beta("beta1", b)?;
        }
        if self.decay_rate >= 0.0 {
            return Err(OptimError::Config {
                field: "decay_rate",
                reason: format!("must be negative, got {}", self.decay_rate),
            });
        }
        check_non_negative("clip_threshold", self.clip_threshold)?;
        check_non_negative("weight_decay", self.weight_decay)
    }

    /// The step size of step `step` (counted from 1) for a parameter whose RMS is
    /// `param_rms` (`transformers`' `_get_lr`).
    pub fn step_size(&self, step: u64, param_rms: f64) -> f64 {
        let t = step as f64;
        let rel = if self.relative_step {
            let min_step = if self.warmup_init { 1e-6 * t } else { 1e-2 };
            min_step.min(1.0 / t.sqrt())
        } else {
            self.lr.unwrap_or(0.0)
        };
        let scale = if self.scale_parameter {
            self.eps.1.max(param_rms)
        } else {
            1.0
        };
        scale * rel
    }

    /// The second-moment decay of step `step`: `β₂ₜ = 1 − t^decay_rate`.
    pub fn beta2t(&self, step: u64) -> f64 {
        1.0 - (step as f64).powf(self.decay_rate)
    }
}

/// Adafactor. Matrices (2+ dimensions) keep factored second moments over their last two
/// dimensions; vectors keep a full one.
#[derive(Debug, Clone)]
pub struct Adafactor<T> {
    cfg: AdafactorConfig,
    params: ParamSet,
    step: u64,
    exp_avg: Vec<Vec<T>>,
    exp_avg_sq: Vec<Moment<T>>,
}

impl<T: Float> Adafactor<T> {
    /// A new optimizer over `params`.
    pub fn new(cfg: AdafactorConfig, params: ParamSet) -> Self {
        let exp_avg = if cfg.beta1.is_some() {
            zeros(&params)
        } else {
            Vec::new()
        };
        let exp_avg_sq = params.iter().map(|p| Moment::zeros(&p.shape)).collect();
        Self {
            cfg,
            exp_avg,
            exp_avg_sq,
            params,
            step: 0,
        }
    }

    fn update_param(&mut self, i: usize, p: &mut [T], g: &[T]) {
        let info = self.params.get(i);
        let lr = self.cfg.step_size(self.step, rms(p)) * info.lr_scale;
        let beta2t = self.cfg.beta2t(self.step);
        let eps1 = T::of(self.cfg.eps.0);
        let sq: Vec<T> = g.iter().map(|&g| g * g + eps1).collect();
        let mut update = vec![T::ZERO; g.len()];
        self.exp_avg_sq[i].update_and_scale(&sq, beta2t, g, &mut update);
        let clip = T::of(update_clip(rms(&update), self.cfg.clip_threshold));
        let lr_t = T::of(lr);
        update.iter_mut().for_each(|u| *u = *u / clip * lr_t);
        if let Some(b1) = self.cfg.beta1 {
            let (b, keep) = (T::of(b1), T::of(1.0 - b1));
            for (m, u) in self.exp_avg[i].iter_mut().zip(update.iter_mut()) {
                *m = b * *m + keep * *u;
                *u = *m;
            }
        }
        let neg_decay = T::of(-self.cfg.weight_decay * info.decay_scale * lr);
        for (p, u) in p.iter_mut().zip(&update) {
            *p += *p * neg_decay;
            *p += -*u;
        }
    }
}

impl<T: Float> Optimizer<T> for Adafactor<T> {
    fn name(&self) -> &'static str {
        "adafactor"
    }
    fn params(&self) -> &ParamSet {
        &self.params
    }
    fn lr(&self) -> f64 {
        self.cfg.lr.unwrap_or(0.0)
    }
    /// Sets the external rate and turns `relative_step` off, so the schedule drives it.
    fn set_lr(&mut self, lr: f64) {
        self.cfg.lr = Some(lr);
        self.cfg.relative_step = false;
        self.cfg.warmup_init = false;
    }
    fn steps(&self) -> u64 {
        self.step
    }

    fn step(&mut self, params: &mut [&mut [T]], grads: &[&[T]]) -> Result<(), OptimError> {
        self.params.check(params, grads)?;
        self.cfg.validate()?;
        self.step += 1;
        for (i, (p, g)) in params.iter_mut().zip(grads).enumerate() {
            self.update_param(i, p, g);
        }
        Ok(())
    }

    fn state_dict(&self) -> StateDict {
        let mut sd = StateDict::new("adafactor", self.step);
        if self.cfg.beta1.is_some() {
            sd.put(&self.params, "exp_avg", &views(&self.exp_avg));
        }
        for (info, m) in self.params.iter().zip(&self.exp_avg_sq) {
            m.save(&mut sd, &info.name, "exp_avg_sq");
        }
        sd
    }

    fn load_state_dict(&mut self, state: &StateDict) -> Result<(), OptimError> {
        state.expect("adafactor")?;
        if self.cfg.beta1.is_some() {
            self.exp_avg = load_slot(state, &self.params, "exp_avg")?;
        }
        for (info, m) in self.params.iter().zip(self.exp_avg_sq.iter_mut()) {
            m.load(state, &info.name, "exp_avg_sq")?;
        }
        self.step = state.step;
        Ok(())
    }
}
