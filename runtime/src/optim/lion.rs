//! Lion (Chen et al. 2023, "Symbolic Discovery of Optimization Algorithms"), numerically as
//! `lion-pytorch`.

use serde::{Deserialize, Serialize};

use super::kernel::zip3;
use super::{
    Float, OptimError, Optimizer, ParamSet, StateDict, check_beta, check_non_negative, load_slot,
    views, zeros,
};

/// Hyperparameters of [`Lion`]; the defaults are `lion-pytorch`'s.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LionConfig {
    /// Learning rate (typically 3–10× smaller than AdamW's).
    #[serde(default = "defaults::lr")]
    pub lr: f64,
    /// `β₁` interpolates the update direction, `β₂` the momentum.
    #[serde(default = "defaults::betas")]
    pub betas: (f64, f64),
    /// Decoupled weight decay: `p ← p(1 − lr·wd)`.
    #[serde(default)]
    pub weight_decay: f64,
}

mod defaults {
    pub fn lr() -> f64 {
        1e-4
    }
    pub fn betas() -> (f64, f64) {
        (0.9, 0.99)
    }
}

impl LionConfig {
    /// Lion with learning rate `lr` and weight decay `weight_decay`.
    pub fn new(lr: f64, weight_decay: f64) -> Self {
        Self {
            lr,
            betas: defaults::betas(),
            weight_decay,
        }
    }

    /// Checks every field.
    pub fn validate(&self) -> Result<(), OptimError> {
        check_non_negative("lr", self.lr)?;
        check_beta("betas.0", self.betas.0)?;
        check_beta("betas.1", self.betas.1)?;
        check_non_negative("weight_decay", self.weight_decay)
    }
}

/// Lion: `p ← p(1 − lr·wd) − lr·sign(β₁m + (1−β₁)g)`, then `m ← β₂m + (1−β₂)g`.
#[derive(Debug, Clone)]
pub struct Lion<T> {
    cfg: LionConfig,
    params: ParamSet,
    step: u64,
    exp_avg: Vec<Vec<T>>,
}

impl<T: Float> Lion<T> {
    /// A new optimizer over `params`.
    pub fn new(cfg: LionConfig, params: ParamSet) -> Self {
        Self {
            exp_avg: zeros(&params),
            cfg,
            params,
            step: 0,
        }
    }
}

impl<T: Float> Optimizer<T> for Lion<T> {
    fn name(&self) -> &'static str {
        "lion"
    }
    fn params(&self) -> &ParamSet {
        &self.params
    }
    fn lr(&self) -> f64 {
        self.cfg.lr
    }
    fn set_lr(&mut self, lr: f64) {
        self.cfg.lr = lr;
    }
    fn set_momentum(&mut self, momentum: f64) -> Result<(), OptimError> {
        check_beta("betas.0", momentum)?;
        self.cfg.betas.0 = momentum;
        Ok(())
    }
    fn steps(&self) -> u64 {
        self.step
    }

    fn step(&mut self, params: &mut [&mut [T]], grads: &[&[T]]) -> Result<(), OptimError> {
        self.params.check(params, grads)?;
        self.cfg.validate()?;
        self.step += 1;
        let (b1, b2) = self.cfg.betas;
        for (i, (p, g)) in params.iter_mut().zip(grads).enumerate() {
            let info = self.params.get(i);
            let lr = self.cfg.lr * info.lr_scale;
            let decay = T::of(1.0 - lr * self.cfg.weight_decay * info.decay_scale);
            let neg_lr = T::of(-lr);
            let (beta1, one_minus_b1) = (T::of(b1), T::of(1.0 - b1));
            let (beta2, one_minus_b2) = (T::of(b2), T::of(1.0 - b2));
            zip3(p, g, &mut self.exp_avg[i], |p, g, m| {
                for ((p, &g), m) in p.iter_mut().zip(g).zip(m.iter_mut()) {
                    let direction = (beta1 * *m + one_minus_b1 * g).sign();
                    *p = *p * decay + neg_lr * direction;
                    *m = beta2 * *m + one_minus_b2 * g;
                }
            });
        }
        Ok(())
    }

    fn state_dict(&self) -> StateDict {
        let mut sd = StateDict::new("lion", self.step);
        sd.put(&self.params, "exp_avg", &views(&self.exp_avg));
        sd
    }

    fn load_state_dict(&mut self, state: &StateDict) -> Result<(), OptimError> {
        state.expect("lion")?;
        self.exp_avg = load_slot(state, &self.params, "exp_avg")?;
        self.step = state.step;
        Ok(())
    }
}
