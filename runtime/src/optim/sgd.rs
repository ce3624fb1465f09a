//! SGD with momentum, dampening and Nesterov, numerically as `torch.optim.SGD`.

use serde::{Deserialize, Serialize};

use super::kernel::{zip2, zip3};
use super::{
    Float, OptimError, Optimizer, ParamInfo, ParamSet, StateDict, check_non_negative, load_slot,
    views, zeros,
};

/// Hyperparameters of [`Sgd`]; the defaults are PyTorch's (with `lr` = 1e-3).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SgdConfig {
    /// Learning rate.
    #[serde(default = "default_lr")]
    pub lr: f64,
    /// Momentum factor (0 for plain SGD).
    #[serde(default)]
    pub momentum: f64,
    /// Dampening of the gradient's contribution to the momentum buffer.
    #[serde(default)]
    pub dampening: f64,
    /// L2 weight decay added to the gradient.
    #[serde(default)]
    pub weight_decay: f64,
    /// Nesterov momentum (needs `momentum > 0` and `dampening = 0`).
    #[serde(default)]
    pub nesterov: bool,
}

fn default_lr() -> f64 {
    1e-3
}

impl SgdConfig {
    /// SGD with learning rate `lr` and momentum `momentum`.
    pub fn new(lr: f64, momentum: f64) -> Self {
        Self {
            lr,
            momentum,
            dampening: 0.0,
            weight_decay: 0.0,
            nesterov: false,
        }
    }

    /// Checks every field.
    pub fn validate(&self) -> Result<(), OptimError> {
        check_non_negative("lr", self.lr)?;
        check_non_negative("momentum", self.momentum)?;
        check_non_negative("dampening", self.dampening)?;
        check_non_negative("weight_decay", self.weight_decay)?;
        if self.nesterov && (self.momentum <= 0.0 || self.dampening != 0.0) {
            return Err(OptimError::Config {
                field: "nesterov",
                reason: "needs momentum > 0 and dampening = 0".into(),
            });
        }
        Ok(())
    }
}

/// Per-tensor scalars of one SGD step, rounded to `T`: everything the elementwise update
/// needs, so a fused kernel (`vibee::optim`) computes exactly what the host loop computes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SgdScalars<T> {
    /// `−lr`, with the tensor's learning-rate multiplier.
    pub neg_lr: T,
    /// The L2 coefficient folded into the gradient.
    pub wd: T,
    /// Momentum factor μ.
    pub mu: T,
    /// `1 − dampening`.
    pub keep: T,
}

impl<T: Float> SgdScalars<T> {
    /// The scalars for a tensor described by `info`.
    pub fn new(cfg: &SgdConfig, info: &ParamInfo) -> Self {
        Self {
            neg_lr: T::of(-cfg.lr * info.lr_scale),
            wd: T::of(cfg.weight_decay * info.decay_scale),
            mu: T::of(cfg.momentum),
            keep: T::of(1.0 - cfg.dampening),
        }
    }
}

/// Stochastic gradient descent. The momentum buffer starts as the first gradient (no
/// dampening on step 1), as in PyTorch.
#[derive(Debug, Clone)]
pub struct Sgd<T> {
    cfg: SgdConfig,
    params: ParamSet,
    step: u64,
    momentum_buffer: Vec<Vec<T>>,
}

impl<T: Float> Sgd<T> {
    /// A new optimizer over `params`.
    pub fn new(cfg: SgdConfig, params: ParamSet) -> Self {
        Self {
            momentum_buffer: zeros(&params),
            cfg,
            params,
            step: 0,
        }
    }
}

impl<T: Float> Optimizer<T> for Sgd<T> {
    fn name(&self) -> &'static str {
        "sgd"
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
        check_non_negative("momentum", momentum)?;
        self.cfg.momentum = momentum;
        Ok(())
    }
    fn steps(&self) -> u64 {
        self.step
    }

    fn step(&mut self, params: &mut [&mut [T]], grads: &[&[T]]) -> Result<(), OptimError> {
        self.params.check(params, grads)?;
        self.cfg.validate()?;
        let first = self.step == 0;
        self.step += 1;
        for (i, (p, g)) in params.iter_mut().zip(grads).enumerate() {
            let SgdScalars {
                neg_lr,
                wd,
                mu,
                keep,
            } = SgdScalars::<T>::new(&self.cfg, self.params.get(i));
            let nesterov = self.cfg.nesterov;
            if self.cfg.momentum == 0.0 {
                zip2(p, g, |p, g| {
                    for (p, &g) in p.iter_mut().zip(g) {
                        *p += neg_lr * (g + wd * *p);
                    }
                });
                continue;
            }
            zip3(p, g, &mut self.momentum_buffer[i], |p, g, buf| {
                for ((p, &g), b) in p.iter_mut().zip(g).zip(buf.iter_mut()) {
                    let d = g + wd * *p;
                    *b = if first { d } else { mu * *b + keep * d };
                    let dir = if nesterov { d + mu * *b } else { *b };
                    *p += neg_lr * dir;
                }
            });
        }
        Ok(())
    }

    fn state_dict(&self) -> StateDict {
        let mut sd = StateDict::new("sgd", self.step);
        sd.put(
            &self.params,
            "momentum_buffer",
            &views(&self.momentum_buffer),
        );
        sd
    }

    fn load_state_dict(&mut self, state: &StateDict) -> Result<(), OptimError> {
        state.expect("sgd")?;
        self.momentum_buffer = load_slot(state, &self.params, "momentum_buffer")?;
        self.step = state.step;
        Ok(())
    }
}
