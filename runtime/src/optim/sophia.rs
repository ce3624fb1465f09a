//! Sophia (Liu et al. 2023, "Sophia: A Scalable Stochastic Second-order Optimizer for Language
//! Model Pre-training"), numerically as the official code (`SophiaG`, packaged as
//! `sophia-opt`). The diagonal Hessian estimate comes from the caller every
//! `hessian_interval` steps; see [`HessianEstimate`].

use serde::{Deserialize, Serialize};

use super::kernel::zip4;
use super::{
    Float, OptimError, Optimizer, ParamInfo, ParamSet, StateDict, check_beta, check_non_negative,
    load_slot, views, zeros,
};

/// How Sophia bounds the preconditioned step; the two published forms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum SophiaClip {
    /// The official code's: `sign(m)·min(|m| / (ρ·bs·h + 1e-15), 1)`.
    #[default]
    Ratio,
    /// The paper's first version, as `pytorch_optimizer.SophiaH`:
    /// `clamp(m / max(h, ε), −ρ, ρ)`.
    Elementwise,
}

/// Hyperparameters of [`Sophia`]; the defaults are the official code's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SophiaConfig {
    /// Learning rate.
    #[serde(default = "defaults::lr")]
    pub lr: f64,
    /// `(β₁, β₂)`: decay of the momentum and of the Hessian estimate.
    #[serde(default = "defaults::betas")]
    pub betas: (f64, f64),
    /// Clipping scale ρ (see [`SophiaClip`]).
    #[serde(default = "defaults::rho")]
    pub rho: f64,
    /// Which clipped step to take.
    #[serde(default)]
    pub clipping: SophiaClip,
    /// Floor of the Hessian estimate under [`SophiaClip::Elementwise`].
    #[serde(default = "defaults::eps")]
    pub eps: f64,
    /// Decoupled weight decay.
    #[serde(default = "defaults::weight_decay")]
    pub weight_decay: f64,
    /// Tokens per batch (`bs` in the reference), which the GNB estimate is scaled by.
    #[serde(default = "defaults::batch_tokens")]
    pub batch_tokens: f64,
    /// Refresh the Hessian estimate every this many steps (the reference's `k = 10`).
    #[serde(default = "defaults::hessian_interval")]
    pub hessian_interval: u64,
}

mod defaults {
    pub fn lr() -> f64 {
        1e-4
    }
    pub fn betas() -> (f64, f64) {
        (0.965, 0.99)
    }
    pub fn rho() -> f64 {
        0.04
    }
    pub fn weight_decay() -> f64 {
        0.1
    }
    pub fn batch_tokens() -> f64 {
        5120.0
    }
    pub fn hessian_interval() -> u64 {
        10
    }
    pub fn eps() -> f64 {
        1e-12
    }
}

impl Default for SophiaConfig {
    fn default() -> Self {
        Self {
            lr: defaults::lr(),
            betas: defaults::betas(),
            rho: defaults::rho(),
            clipping: SophiaClip::Ratio,
            eps: defaults::eps(),
            weight_decay: defaults::weight_decay(),
            batch_tokens: defaults::batch_tokens(),
            hessian_interval: defaults::hessian_interval(),
        }
    }
}

impl SophiaConfig {
    /// Checks every field.
    pub fn validate(&self) -> Result<(), OptimError> {
        check_non_negative("lr", self.lr)?;
        check_beta("betas.0", self.betas.0)?;
        check_beta("betas.1", self.betas.1)?;
        check_non_negative("rho", self.rho)?;
        check_non_negative("weight_decay", self.weight_decay)?;
        check_non_negative("batch_tokens", self.batch_tokens)?;
        if self.hessian_interval == 0 {
            return Err(OptimError::Config {
                field: "hessian_interval",
                reason: "must be at least 1".into(),
            });
        }
        Ok(())
    }
}

/// A diagonal Hessian sample, one slice per parameter, folded into the running estimate as
/// `h ← β₂h + (1−β₂)·sample`.
#[derive(Debug, Clone, Copy)]
pub enum HessianEstimate<'a, T> {
    /// SophiaG: the gradient `ĝ` of the loss on labels sampled from the model's own output
    /// (Gauss–Newton–Bartlett); the sample is `ĝ ⊙ ĝ`.
    GaussNewtonBartlett(&'a [&'a [T]]),
    /// SophiaH: a Hutchinson sample `u ⊙ (H u)` with Rademacher `u`, used as is.
    Hutchinson(&'a [&'a [T]]),
}

/// Per-tensor scalars of one Sophia step, rounded to `T`: everything the elementwise update
/// needs, so a fused kernel (`vibee::optim`) computes exactly what the host loop computes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SophiaScalars<T> {
    /// `β₁`.
    pub beta1: T,
    /// `1 − β₁`.
    pub keep1: T,
    /// `ρ·bs` ([`SophiaClip::Ratio`]).
    pub rho_bs: T,
    /// `ρ` ([`SophiaClip::Elementwise`]).
    pub rho: T,
    /// Floor of `h` ([`SophiaClip::Elementwise`]).
    pub eps: T,
    /// The official code's `1e-15` guard in the ratio's denominator.
    pub tiny: T,
    /// Which clipping.
    pub elementwise: bool,
    /// `1 − lr·wd`.
    pub decay: T,
    /// `−lr`.
    pub neg_lr: T,
}

impl<T: Float> SophiaScalars<T> {
    /// The scalars for a tensor described by `info`.
    pub fn new(cfg: &SophiaConfig, info: &ParamInfo) -> Self {
        let (b1, _) = cfg.betas;
        let lr = cfg.lr * info.lr_scale;
        Self {
            beta1: T::of(b1),
            keep1: T::of(1.0 - b1),
            rho_bs: T::of(cfg.rho * cfg.batch_tokens),
            rho: T::of(cfg.rho),
            eps: T::of(cfg.eps),
            tiny: T::of(1e-15),
            elementwise: cfg.clipping == SophiaClip::Elementwise,
            decay: T::of(1.0 - lr * cfg.weight_decay * info.decay_scale),
            neg_lr: T::of(-lr),
        }
    }

    /// The clipped step along momentum `m` with Hessian estimate `h`.
    #[inline(always)]
    pub fn clipped(&self, m: T, h: T) -> T {
        if self.elementwise {
            (m / h.max(self.eps)).max(-self.rho).min(self.rho)
        } else {
            m.sign() * (m.abs() / (self.rho_bs * h + self.tiny)).min(T::ONE)
        }
    }
}

/// SophiaG / SophiaH.
#[derive(Debug, Clone)]
pub struct Sophia<T> {
    cfg: SophiaConfig,
    params: ParamSet,
    step: u64,
    exp_avg: Vec<Vec<T>>,
    hessian: Vec<Vec<T>>,
}

impl<T: Float> Sophia<T> {
    /// A new optimizer over `params`.
    pub fn new(cfg: SophiaConfig, params: ParamSet) -> Self {
        Self {
            exp_avg: zeros(&params),
            hessian: zeros(&params),
            cfg,
            params,
            step: 0,
        }
    }

    /// Whether the training loop should refresh the Hessian after the step just taken (the
    /// reference refreshes after steps `k, 2k, …`).
    pub fn hessian_due(&self) -> bool {
        self.step > 0 && self.step.is_multiple_of(self.cfg.hessian_interval)
    }

    /// Folds a Hessian sample into the running estimate.
    pub fn update_hessian(&mut self, estimate: HessianEstimate<'_, T>) -> Result<(), OptimError> {
        let (samples, square) = match estimate {
            HessianEstimate::GaussNewtonBartlett(g) => (g, true),
            HessianEstimate::Hutchinson(s) => (s, false),
        };
        if samples.len() != self.params.len() {
            return Err(OptimError::Count {
                expected: self.params.len(),
                params: samples.len(),
                grads: samples.len(),
            });
        }
        let b2 = self.cfg.betas.1;
        let (beta2, keep) = (T::of(b2), T::of(1.0 - b2));
        for ((info, h), s) in self.params.iter().zip(&mut self.hessian).zip(samples) {
            if s.len() != h.len() {
                return Err(OptimError::Length {
                    param: info.name.clone(),
                    what: "hessian",
                    expected: h.len(),
                    got: s.len(),
                });
            }
            for (h, &s) in h.iter_mut().zip(s.iter()) {
                let sample = if square { s * s } else { s };
                *h = beta2 * *h + keep * sample;
            }
        }
        Ok(())
    }
}

impl<T: Float> Optimizer<T> for Sophia<T> {
    fn name(&self) -> &'static str {
        "sophia"
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
    fn steps(&self) -> u64 {
        self.step
    }

    fn step(&mut self, params: &mut [&mut [T]], grads: &[&[T]]) -> Result<(), OptimError> {
        self.params.check(params, grads)?;
        self.cfg.validate()?;
        self.step += 1;
        for (i, (p, g)) in params.iter_mut().zip(grads).enumerate() {
            let k = SophiaScalars::<T>::new(&self.cfg, self.params.get(i));
            let (m, h) = (&mut self.exp_avg[i], &mut self.hessian[i]);
            zip4(p, g, m, h, |p, g, m, h| {
                for (((p, &g), m), &mut h) in p.iter_mut().zip(g).zip(m.iter_mut()).zip(h) {
                    *p *= k.decay;
                    *m = k.beta1 * *m + k.keep1 * g;
                    *p += k.neg_lr * k.clipped(*m, h);
                }
            });
        }
        Ok(())
    }

    fn state_dict(&self) -> StateDict {
        let mut sd = StateDict::new("sophia", self.step);
        sd.put(&self.params, "exp_avg", &views(&self.exp_avg));
        sd.put(&self.params, "hessian", &views(&self.hessian));
        sd
    }

    fn load_state_dict(&mut self, state: &StateDict) -> Result<(), OptimError> {
        state.expect("sophia")?;
        self.exp_avg = load_slot(state, &self.params, "exp_avg")?;
        self.hessian = load_slot(state, &self.params, "hessian")?;
        self.step = state.step;
        Ok(())
    }
}
