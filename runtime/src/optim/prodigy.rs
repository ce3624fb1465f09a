//! Prodigy (Mishchenko & Defazio 2023, "Prodigy: An Expeditiously Adaptive Parameter-Free
//! Learner"), numerically as `prodigyopt` 1.1: Adam whose step is scaled by a global
//! estimate `d` of the distance to the solution.

use serde::{Deserialize, Serialize};

use super::{
    Float, OptimError, Optimizer, ParamInfo, ParamSet, StateDict, check_beta, check_non_negative,
    load_slot, views, zeros,
};

/// Hyperparameters of [`Prodigy`]; the defaults are `prodigyopt`'s.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProdigyConfig {
    /// Learning-rate multiplier on `d` (leave at 1 unless scheduling).
    #[serde(default = "defaults::one")]
    pub lr: f64,
    /// `(β₁, β₂)` of the Adam moments.
    #[serde(default = "defaults::betas")]
    pub betas: (f64, f64),
    /// Decay of the `d` statistics; `None` means `sqrt(β₂)`.
    #[serde(default)]
    pub beta3: Option<f64>,
    /// Added to `sqrt(v)`, scaled by `d`.
    #[serde(default = "defaults::eps")]
    pub eps: f64,
    /// Weight decay.
    #[serde(default)]
    pub weight_decay: f64,
    /// AdamW-style decoupled decay (otherwise L2 in the gradient).
    #[serde(default = "defaults::yes")]
    pub decouple: bool,
    /// Adam bias correction folded into the step.
    #[serde(default)]
    pub use_bias_correction: bool,
    /// Keep `lr` out of the denominator statistic during warmup.
    #[serde(default)]
    pub safeguard_warmup: bool,
    /// Initial `d`.
    #[serde(default = "defaults::d0")]
    pub d0: f64,
    /// Multiplies the `d` estimate.
    #[serde(default = "defaults::one")]
    pub d_coef: f64,
    /// Largest factor `d` may grow by per step; `None` is unbounded.
    #[serde(default)]
    pub growth_rate: Option<f64>,
    /// Use every `slice_p`-th element for the `d` statistics (memory saving).
    #[serde(default = "defaults::slice_p")]
    pub slice_p: usize,
}

mod defaults {
    pub fn one() -> f64 {
        1.0
    }
    pub fn betas() -> (f64, f64) {
        (0.9, 0.999)
    }
    pub fn eps() -> f64 {
        1e-8
    }
    pub fn yes() -> bool {
        true
    }
    pub fn d0() -> f64 {
        1e-6
    }
    pub fn slice_p() -> usize {
        1
    }
}

impl Default for ProdigyConfig {
    fn default() -> Self {
        Self {
            lr: 1.0,
            betas: defaults::betas(),
            beta3: None,
            eps: defaults::eps(),
            weight_decay: 0.0,
            decouple: true,
            use_bias_correction: false,
            safeguard_warmup: false,
            d0: defaults::d0(),
            d_coef: 1.0,
            growth_rate: None,
            slice_p: 1,
        }
    }
}

impl ProdigyConfig {
    /// `β₃`, `√β₂` when unset.
    pub fn beta3(&self) -> f64 {
        self.beta3.unwrap_or(self.betas.1.sqrt())
    }

    /// The L2 coefficient the gradient gets for a tensor (coupled decay), if any.
    pub fn coupled_decay(&self, info: &ParamInfo) -> Option<f64> {
        (!self.decouple && self.weight_decay != 0.0).then_some(self.weight_decay * info.decay_scale)
    }

    /// The reference allows only groups at the common `lr` or at 0.
    pub fn check_lr_scales(params: &ParamSet) -> Result<(), OptimError> {
        let bad = params
            .iter()
            .find(|p| p.lr_scale != 0.0 && p.lr_scale != 1.0);
        match bad {
            None => Ok(()),
            Some(p) => Err(OptimError::Config {
                field: "lr_scale",
                reason: format!(
                    "Prodigy needs 0 or 1 per parameter; `{}` has {}",
                    p.name, p.lr_scale
                ),
            }),
        }
    }

    /// Checks every field.
    pub fn validate(&self) -> Result<(), OptimError> {
        check_non_negative("lr", self.lr)?;
        check_beta("betas.0", self.betas.0)?;
        check_beta("betas.1", self.betas.1)?;
        if let Some(b) = self.beta3 {
            check_beta("beta3", b)?;
        }
        check_non_negative("weight_decay", self.weight_decay)?;
        if !(self.d0 > 0.0 && self.d0.is_finite()) {
            return Err(OptimError::Config {
                field: "d0",
                reason: format!("must be finite and > 0, got {}", self.d0),
            });
        }
        if self.slice_p == 0 {
            return Err(OptimError::Config {
                field: "slice_p",
                reason: "must be at least 1".into(),
            });
        }
        Ok(())
    }
}

/// The global `d` statistics, shared by the host [`Prodigy`] and the fused one.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProdigyEstimate {
    /// The distance estimate `d` (the effective learning rate is `d·lr`).
    pub d: f64,
    /// The largest `d̂` so far.
    pub d_max: f64,
    /// The decayed numerator of `d̂`.
    pub d_numerator: f64,
}

impl ProdigyEstimate {
    /// The estimate before the first step: `d = d0`.
    pub fn new(cfg: &ProdigyConfig) -> Self {
        Self {
            d: cfg.d0,
            d_max: cfg.d0,
            d_numerator: 0.0,
        }
    }

    /// Step `k + 1`'s `d·lr` (`k` steps counted before it), with Adam's bias correction
    /// when enabled.
    pub fn dlr(&self, cfg: &ProdigyConfig, k: u64) -> f64 {
        let (b1, b2) = cfg.betas;
        let k = k as i32;
        let bias_correction = if cfg.use_bias_correction {
            (1.0 - b2.powi(k + 1)).sqrt() / (1.0 - b1.powi(k + 1))
        } else {
            1.0
        };
        self.d * cfg.lr * bias_correction
    }

    /// The weight of the gradient in the `s` statistic.
    pub fn s_alpha(&self, cfg: &ProdigyConfig, dlr: f64) -> f64 {
        let (d, d0) = (self.d, cfg.d0);
        if cfg.safeguard_warmup {
            d / d0 * d
        } else {
            d / d0 * dlr
        }
    }

    /// The numerator increment of one tensor whose `⟨g, p0 − p⟩` is `dot`.
    pub fn delta(&self, cfg: &ProdigyConfig, dlr: f64, dot: f64) -> f64 {
        self.d / cfg.d0 * dlr * dot
    }

    /// `d̂ = d_coef·Σ numerator / Σ|s|`; `d` grows to `d̂` (at most `growth_rate`× per step)
    /// and never shrinks below its running maximum.
    pub fn update(&mut self, cfg: &ProdigyConfig, delta: f64, denom: f64) {
        let beta3 = cfg.beta3();
        let numerator = self.d_numerator * beta3 + delta;
        let d_hat = cfg.d_coef * numerator / denom;
        let mut d = self.d;
        if d == cfg.d0 {
            d = d.max(d_hat);
        }
        let d_max = self.d_max.max(d_hat);
        let growth = cfg.growth_rate.unwrap_or(f64::INFINITY);
        *self = Self {
            d: d_max.min(d * growth),
            d_max,
            d_numerator: numerator,
        };
    }
}

/// Per-tensor scalars of one Prodigy step, rounded to `T`: everything the elementwise
/// passes need, so a fused kernel (`vibee::optim`) computes exactly what the host loop
/// computes. `accumulate` fields use the `d` before the step's update, `apply` fields the
/// updated one.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ProdigyScalars<T> {
    /// L2 decay folded into the gradient (coupled decay), if any.
    pub coupled_wd: Option<T>,
    /// `β₁`.
    pub beta1: T,
    /// `d(1 − β₁)`.
    pub m_keep: T,
    /// `β₂`.
    pub beta2: T,
    /// `d²(1 − β₂)`.
    pub v_keep: T,
    /// `β₃`.
    pub beta3: T,
    /// The gradient's weight in `s`.
    pub s_alpha: T,
}

impl<T: Float> ProdigyScalars<T> {
    /// The first pass's scalars for a tensor described by `info`.
    pub fn new(cfg: &ProdigyConfig, est: &ProdigyEstimate, dlr: f64, info: &ParamInfo) -> Self {
        let (b1, b2) = cfg.betas;
        let d = est.d;
        Self {
            coupled_wd: cfg.coupled_decay(info).map(T::of),
            beta1: T::of(b1),
            m_keep: T::of(d * (1.0 - b1)),
            beta2: T::of(b2),
            v_keep: T::of(d * d * (1.0 - b2)),
            beta3: T::of(cfg.beta3()),
            s_alpha: T::of(est.s_alpha(cfg, dlr)),
        }
    }
}

/// Per-tensor scalars of the parameter update, with the step's updated `d`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ProdigyApply<T> {
    /// L2 decay folded into the gradient (coupled decay), if any.
    pub coupled_wd: Option<T>,
    /// `d·ε`, added to `√v`.
    pub d_eps: T,
    /// `−wd·dlr` with decoupled decay, else 0.
    pub neg_decay: T,
    /// `−dlr` (with a first moment).
    pub neg_dlr: T,
    /// `−dlr·d` (without one).
    pub neg_dlr_d: T,
    /// Whether the step follows the first moment (`β₁ > 0`).
    pub with_m: bool,
}

impl<T: Float> ProdigyApply<T> {
    /// The update's scalars for a tensor described by `info`.
    pub fn new(cfg: &ProdigyConfig, est: &ProdigyEstimate, dlr: f64, info: &ParamInfo) -> Self {
        let d = est.d;
        let decay = cfg.weight_decay * info.decay_scale;
        Self {
            coupled_wd: cfg.coupled_decay(info).map(T::of),
            d_eps: T::of(d * cfg.eps),
            neg_decay: T::of(if cfg.decouple { -decay * dlr } else { 0.0 }),
            neg_dlr: T::of(-dlr),
            neg_dlr_d: T::of(-dlr * d),
            with_m: cfg.betas.0 > 0.0,
        }
    }
}

/// Prodigy. Per-parameter learning-rate multipliers must be 0 or 1, as in the reference
/// (which allows only groups at `lr` or at 0).
#[derive(Debug, Clone)]
pub struct Prodigy<T> {
    cfg: ProdigyConfig,
    params: ParamSet,
    k: u64,
    est: ProdigyEstimate,
    exp_avg: Vec<Vec<T>>,
    exp_avg_sq: Vec<Vec<T>>,
    s: Vec<Vec<T>>,
    p0: Vec<Vec<T>>,
}

impl<T: Float> Prodigy<T> {
    /// A new optimizer over `params`.
    pub fn new(cfg: ProdigyConfig, params: ParamSet) -> Self {
        let sliced = params
            .iter()
            .map(|p| vec![T::ZERO; p.numel().div_ceil(cfg.slice_p.max(1))])
            .collect();
        Self {
            est: ProdigyEstimate::new(&cfg),
            exp_avg: zeros(&params),
            exp_avg_sq: zeros(&params),
            s: sliced,
            p0: Vec::new(),
            cfg,
            params,
            k: 0,
        }
    }

    /// The current distance estimate `d` (the effective learning rate is `d·lr`).
    pub fn d(&self) -> f64 {
        self.est.d
    }

    /// The gradient the moments see: with coupled decay, `g + wd·p`.
    fn grad_at(&self, i: usize, p: T, g: T) -> T {
        match self.cfg.coupled_decay(self.params.get(i)) {
            None => g,
            Some(wd) => g + T::of(wd) * p,
        }
    }

    /// First pass: moments and `s`; returns (numerator increment, denominator).
    fn accumulate(&mut self, params: &[&mut [T]], grads: &[&[T]], dlr: f64) -> (f64, f64) {
        let sp = self.cfg.slice_p;
        let (mut delta, mut denom) = (0.0, 0.0);
        for (i, (p, g)) in params.iter().zip(grads).enumerate() {
            if self.params.get(i).lr_scale == 0.0 {
                continue;
            }
            let g: Vec<T> = p
                .iter()
                .zip(g.iter())
                .map(|(&p, &g)| self.grad_at(i, p, g))
                .collect();
            let dot: f64 = (0..self.s[i].len())
                .map(|j| g[j * sp].f64() * (self.p0[i][j] - p[j * sp]).f64())
                .sum();
            delta += self.est.delta(&self.cfg, dlr, dot);
            let k = ProdigyScalars::<T>::new(&self.cfg, &self.est, dlr, self.params.get(i));
            let (beta1, m_keep, beta2, v_keep) = (k.beta1, k.m_keep, k.beta2, k.v_keep);
            let moments = self.exp_avg[i]
                .iter_mut()
                .zip(self.exp_avg_sq[i].iter_mut());
            for ((m, v), &g) in moments.zip(&g) {
                *m = beta1 * *m + m_keep * g;
                *v = beta2 * *v + v_keep * g * g;
            }
            let (b3, alpha) = (k.beta3, k.s_alpha);
            for (j, s) in self.s[i].iter_mut().enumerate() {
                *s = b3 * *s + alpha * g[j * sp];
                denom += s.abs().f64();
            }
        }
        (delta, denom)
    }

    /// Second pass: the parameter update with the new `d`.
    fn apply(&self, params: &mut [&mut [T]], grads: &[&[T]], dlr: f64) {
        for (i, (p, g)) in params.iter_mut().zip(grads).enumerate() {
            let k = ProdigyApply::<T>::new(&self.cfg, &self.est, dlr, self.params.get(i));
            let (d_eps, neg_decay, neg_dlr, neg_dlr_d) =
                (k.d_eps, k.neg_decay, k.neg_dlr, k.neg_dlr_d);
            let with_m = k.with_m;
            for (j, p) in p.iter_mut().enumerate() {
                let denom = self.exp_avg_sq[i][j].sqrt() + d_eps;
                let grad = self.grad_at(i, *p, g[j]);
                *p += *p * neg_decay;
                *p += if with_m {
                    neg_dlr * (self.exp_avg[i][j] / denom)
                } else {
                    neg_dlr_d * (grad / denom)
                };
            }
        }
    }
}

impl<T: Float> Optimizer<T> for Prodigy<T> {
    fn name(&self) -> &'static str {
        "prodigy"
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
        self.k
    }

    fn step(&mut self, params: &mut [&mut [T]], grads: &[&[T]]) -> Result<(), OptimError> {
        self.params.check(params, grads)?;
        self.cfg.validate()?;
        ProdigyConfig::check_lr_scales(&self.params)?;
        if self.p0.is_empty() {
            let sp = self.cfg.slice_p;
            let start = params
                .iter()
                .map(|p| p.iter().step_by(sp).copied().collect());
            self.p0 = start.collect();
        }
        let dlr = self.est.dlr(&self.cfg, self.k);
        let (delta, denom) = self.accumulate(params, grads, dlr);
        if denom == 0.0 {
            // The reference returns before counting the step when every gradient is zero.
            return Ok(());
        }
        if self.cfg.lr > 0.0 {
            self.est.update(&self.cfg, delta, denom);
        }
        self.apply(params, grads, dlr);
        self.k += 1;
        Ok(())
    }

    fn state_dict(&self) -> StateDict {
        let mut sd = StateDict::new("prodigy", self.k);
        sd.scalars.insert("d".into(), self.est.d);
        sd.scalars.insert("d_max".into(), self.est.d_max);
        sd.scalars
            .insert("d_numerator".into(), self.est.d_numerator);
        sd.put(&self.params, "exp_avg", &views(&self.exp_avg));
        sd.put(&self.params, "exp_avg_sq", &views(&self.exp_avg_sq));
        sd.put(&self.params, "s", &views(&self.s));
        if !self.p0.is_empty() {
            sd.put(&self.params, "p0", &views(&self.p0));
        }
        sd
    }

    fn load_state_dict(&mut self, state: &StateDict) -> Result<(), OptimError> {
        state.expect("prodigy")?;
        self.est = ProdigyEstimate {
            d: state.scalar("d")?,
            d_max: state.scalar("d_max")?,
            d_numerator: state.scalar("d_numerator")?,
        };
        self.exp_avg = load_slot(state, &self.params, "exp_avg")?;
        self.exp_avg_sq = load_slot(state, &self.params, "exp_avg_sq")?;
        let sp = self.cfg.slice_p.max(1);
        let sliced = |info: &ParamInfo| info.numel().div_ceil(sp);
        let started = self
            .params
            .iter()
            .next()
            .is_some_and(|info| state.tensors.contains_key(&format!("{}/p0", info.name)));
        let load = |slot: &str| -> Result<Vec<Vec<T>>, OptimError> {
            self.params
                .iter()
                .map(|info| state.take(&info.name, slot, sliced(info)))
                .collect()
        };
        self.s = load("s")?;
        self.p0 = if started { load("p0")? } else { Vec::new() };
        self.k = state.step;
        Ok(())
    }
}
