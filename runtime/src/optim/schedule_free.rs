//! Schedule-Free AdamW and SGD (Defazio et al. 2024, "The Road Less Scheduled"),
//! numerically as `schedulefree` 1.4 (`AdamWScheduleFree`, `SGDScheduleFree`).
//!
//! Three sequences: `z` (the base iterate, SGD/Adam steps), `x` (a weighted average of the
//! `z`s, the point to evaluate and checkpoint for inference) and `y = (1−β₁)z + β₁x` (where
//! gradients are taken). During training the parameters hold `y`; [`ScheduleFree::eval`]
//! turns them into `x` and [`ScheduleFree::train`] back into `y`.

use serde::{Deserialize, Serialize};

use super::kernel::{zip3, zip4};
use super::{
    Float, OptimError, Optimizer, ParamInfo, ParamSet, StateDict, check_beta, check_non_negative,
    load_slot, views, zeros,
};

/// The base method under the schedule-free averaging.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ScheduleFreeKind {
    /// Adam-normalized steps (`AdamWScheduleFree`).
    #[default]
    Adamw,
    /// Plain gradient steps (`SGDScheduleFree`).
    Sgd,
}

/// Hyperparameters of [`ScheduleFree`]; the defaults are `AdamWScheduleFree`'s.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleFreeConfig {
    /// AdamW or SGD steps.
    #[serde(default)]
    pub kind: ScheduleFreeKind,
    /// Learning rate.
    #[serde(default = "defaults::lr")]
    pub lr: f64,
    /// `β₁` (SGD's `momentum`): interpolation between `x` and `z`.
    #[serde(default = "defaults::beta1")]
    pub beta1: f64,
    /// `β₂` of the second moment (AdamW only).
    #[serde(default = "defaults::beta2")]
    pub beta2: f64,
    /// Added to `sqrt(v̂)` (AdamW only).
    #[serde(default = "defaults::eps")]
    pub eps: f64,
    /// Weight decay, evaluated at `y`.
    #[serde(default)]
    pub weight_decay: f64,
    /// Linear warmup of the rate over this many steps.
    #[serde(default)]
    pub warmup_steps: u64,
    /// Polynomial weighting power of the average.
    #[serde(default)]
    pub r: f64,
    /// Weight of each iterate grows as `lr_max^weight_lr_power`.
    #[serde(default = "defaults::weight_lr_power")]
    pub weight_lr_power: f64,
}

mod defaults {
    pub fn lr() -> f64 {
        0.0025
    }
    pub fn beta1() -> f64 {
        0.9
    }
    pub fn beta2() -> f64 {
        0.999
    }
    pub fn eps() -> f64 {
        1e-8
    }
    pub fn weight_lr_power() -> f64 {
        2.0
    }
}

impl ScheduleFreeConfig {
    /// Schedule-free AdamW or SGD with learning rate `lr` and the reference's other defaults.
    pub fn new(kind: ScheduleFreeKind, lr: f64) -> Self {
        Self {
            kind,
            lr,
            beta1: defaults::beta1(),
            beta2: defaults::beta2(),
            eps: defaults::eps(),
            weight_decay: 0.0,
            warmup_steps: 0,
            r: 0.0,
            weight_lr_power: defaults::weight_lr_power(),
        }
    }

    /// Checks every field.
    pub fn validate(&self) -> Result<(), OptimError> {
        check_non_negative("lr", self.lr)?;
        check_beta("beta1", self.beta1)?;
        check_beta("beta2", self.beta2)?;
        check_non_negative("eps", self.eps)?;
        check_non_negative("weight_decay", self.weight_decay)?;
        check_non_negative("r", self.r)?;
        check_non_negative("weight_lr_power", self.weight_lr_power)
    }
}

impl ScheduleFreeConfig {
    /// The weight that moves parameters from `y` to `x` (`lerp(y, z, w)`, [`ScheduleFree::eval`]).
    pub fn eval_weight(&self) -> f64 {
        1.0 - 1.0 / self.beta1
    }

    /// The weight that moves parameters from `x` back to `y` ([`ScheduleFree::train`]).
    pub fn train_weight(&self) -> f64 {
        1.0 - self.beta1
    }
}

/// A `torch.lerp` weight rounded to `T`: `lerp(a, b)` is `a + w(b − a)` for `w < 0.5`, else
/// `b − (b − a)(1 − w)`, so `w = 1` gives `b` exactly.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LerpWeight<T> {
    /// `w < 0.5`: which of the two forms applies.
    pub low: bool,
    /// `w`.
    pub w: T,
    /// `1 − w`.
    pub one_minus_w: T,
}

impl<T: Float> LerpWeight<T> {
    /// The weight `w`.
    pub fn new(w: f64) -> Self {
        Self {
            low: w < 0.5,
            w: T::of(w),
            one_minus_w: T::of(1.0 - w),
        }
    }

    /// `lerp(a, b, w)`.
    #[inline(always)]
    pub fn lerp(&self, a: T, b: T) -> T {
        if self.low {
            a + self.w * (b - a)
        } else {
            b - (b - a) * self.one_minus_w
        }
    }
}

/// The running average's bookkeeping: the largest learning rate so far and the sum of the
/// iterates' weights. Host and fused optimizers advance it the same way.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ScheduleFreeAverage {
    /// Largest (warmed-up) learning rate so far; −1 before the first step.
    pub lr_max: f64,
    /// Sum of the weights of the iterates averaged so far.
    pub weight_sum: f64,
}

impl Default for ScheduleFreeAverage {
    fn default() -> Self {
        Self {
            lr_max: -1.0,
            weight_sum: 0.0,
        }
    }
}

impl ScheduleFreeAverage {
    /// Counts step `k + 1` (`k` steps taken before it): returns its averaging weight
    /// `c_{k+1}` and its learning rate.
    pub fn advance(&mut self, cfg: &ScheduleFreeConfig, k: u64) -> (f64, f64) {
        let kf = k as f64;
        let sched = if k < cfg.warmup_steps {
            (kf + 1.0) / cfg.warmup_steps as f64
        } else {
            1.0
        };
        let lr = cfg.lr * sched;
        self.lr_max = self.lr_max.max(lr);
        let weight = (kf + 1.0).powf(cfg.r) * self.lr_max.powf(cfg.weight_lr_power);
        self.weight_sum += weight;
        let ckp1 = if self.weight_sum == 0.0 {
            0.0
        } else {
            weight / self.weight_sum
        };
        (ckp1, lr)
    }
}

/// Schedule-Free AdamW / SGD.
#[derive(Debug, Clone)]
pub struct ScheduleFree<T> {
    cfg: ScheduleFreeConfig,
    params: ParamSet,
    k: u64,
    average: ScheduleFreeAverage,
    train_mode: bool,
    z: Vec<Vec<T>>,
    exp_avg_sq: Vec<Vec<T>>,
}

impl<T: Float> ScheduleFree<T> {
    /// A new optimizer over `params`, in training mode.
    pub fn new(cfg: ScheduleFreeConfig, params: ParamSet) -> Self {
        let exp_avg_sq = match cfg.kind {
            ScheduleFreeKind::Adamw => zeros(&params),
            ScheduleFreeKind::Sgd => Vec::new(),
        };
        Self {
            cfg,
            params,
            k: 0,
            average: ScheduleFreeAverage::default(),
            train_mode: true,
            z: Vec::new(),
            exp_avg_sq,
        }
    }

    /// True between [`Self::train`] and [`Self::eval`] (the initial mode).
    pub fn is_training(&self) -> bool {
        self.train_mode
    }

    /// Switches the parameters from `y` to the averaged `x`, for evaluation and checkpoints.
    pub fn eval(&mut self, params: &mut [&mut [T]]) {
        if self.train_mode {
            self.shift(params, self.cfg.eval_weight());
            self.train_mode = false;
        }
    }

    /// Switches the parameters back from `x` to `y` before training steps.
    pub fn train(&mut self, params: &mut [&mut [T]]) {
        if !self.train_mode {
            self.shift(params, self.cfg.train_weight());
            self.train_mode = true;
        }
    }

    fn shift(&self, params: &mut [&mut [T]], w: f64) {
        // Before the first step there is no `z`, and x = y = z.
        let w = LerpWeight::<T>::new(w);
        for (p, z) in params.iter_mut().zip(&self.z) {
            p.iter_mut().zip(z).for_each(|(p, &z)| *p = w.lerp(*p, z));
        }
    }

    fn update_param(&mut self, i: usize, y: &mut [T], g: &[T], ckp1: f64, lr: f64) {
        let k = ScheduleFreeScalars::new(&self.cfg, self.params.get(i), self.k, ckp1, lr);
        let z = &mut self.z[i];
        match self.cfg.kind {
            ScheduleFreeKind::Adamw => zip4(y, g, z, &mut self.exp_avg_sq[i], |y, g, z, v| {
                for (((y, &g), z), v) in y.iter_mut().zip(g).zip(z.iter_mut()).zip(v.iter_mut()) {
                    *v = k.beta2 * *v + k.keep2 * g * g;
                    k.apply(y, z, g / ((*v / k.bc2).sqrt() + k.eps));
                }
            }),
            ScheduleFreeKind::Sgd => zip3(y, g, z, |y, g, z| {
                for ((y, &g), z) in y.iter_mut().zip(g).zip(z.iter_mut()) {
                    k.apply(y, z, g);
                }
            }),
        }
    }
}

/// Per-tensor scalars of one step, rounded to `T`: everything the elementwise update needs,
/// so a fused kernel (`vibee::optim`) computes exactly what the host loop computes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ScheduleFreeScalars<T> {
    /// Weight decay, evaluated at `y`.
    pub decay: T,
    /// `lr·(β₁(1 − c) − 1)`: the step's coefficient in the `y` update.
    pub y_coef: T,
    /// `−lr`: the step's coefficient in the `z` update.
    pub neg_lr: T,
    /// The averaging weight `c_{k+1}` that moves `y` towards `z`.
    pub ckp1: LerpWeight<T>,
    /// `β₂` (AdamW).
    pub beta2: T,
    /// `1 − β₂` (AdamW).
    pub keep2: T,
    /// `1 − β₂^(k+1)` (AdamW).
    pub bc2: T,
    /// `ε` (AdamW).
    pub eps: T,
}

impl<T: Float> ScheduleFreeScalars<T> {
    /// The scalars of step `k + 1` (`k` steps taken before it) for a tensor described by
    /// `info`, with the averaging weight and learning rate from
    /// [`ScheduleFreeAverage::advance`].
    pub fn new(cfg: &ScheduleFreeConfig, info: &ParamInfo, k: u64, ckp1: f64, lr: f64) -> Self {
        let lr = lr * info.lr_scale;
        Self {
            decay: T::of(cfg.weight_decay * info.decay_scale),
            y_coef: T::of(lr * (cfg.beta1 * (1.0 - ckp1) - 1.0)),
            neg_lr: T::of(-lr),
            ckp1: LerpWeight::new(ckp1),
            beta2: T::of(cfg.beta2),
            keep2: T::of(1.0 - cfg.beta2),
            bc2: T::of(1.0 - cfg.beta2.powi(k as i32 + 1)),
            eps: T::of(cfg.eps),
        }
    }

    /// Moves `y` towards `z` by `c_{k+1}` and both along the (decayed) step direction.
    #[inline(always)]
    pub fn apply(&self, y: &mut T, z: &mut T, direction: T) {
        let step = direction + self.decay * *y;
        *y = self.ckp1.lerp(*y, *z);
        *y += self.y_coef * step;
        *z += self.neg_lr * step;
    }
}

impl<T: Float> Optimizer<T> for ScheduleFree<T> {
    fn name(&self) -> &'static str {
        match self.cfg.kind {
            ScheduleFreeKind::Adamw => "schedule_free_adamw",
            ScheduleFreeKind::Sgd => "schedule_free_sgd",
        }
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
        if !self.train_mode {
            return Err(OptimError::Unsupported(
                "schedule-free step in eval mode: call train() first".into(),
            ));
        }
        if self.z.is_empty() {
            self.z = params.iter().map(|p| p.to_vec()).collect();
        }
        let (ckp1, lr) = self.average.advance(&self.cfg, self.k);
        for (i, (y, g)) in params.iter_mut().zip(grads).enumerate() {
            self.update_param(i, y, g, ckp1, lr);
        }
        self.k += 1;
        Ok(())
    }

    fn state_dict(&self) -> StateDict {
        let mut sd = StateDict::new(self.name(), self.k);
        sd.scalars.insert("lr_max".into(), self.average.lr_max);
        sd.scalars
            .insert("weight_sum".into(), self.average.weight_sum);
        sd.scalars
            .insert("train_mode".into(), f64::from(u8::from(self.train_mode)));
        if !self.z.is_empty() {
            sd.put(&self.params, "z", &views(&self.z));
        }
        if self.cfg.kind == ScheduleFreeKind::Adamw {
            sd.put(&self.params, "exp_avg_sq", &views(&self.exp_avg_sq));
        }
        sd
    }

    fn load_state_dict(&mut self, state: &StateDict) -> Result<(), OptimError> {
        state.expect(self.name())?;
        self.average.lr_max = state.scalar("lr_max")?;
        self.average.weight_sum = state.scalar("weight_sum")?;
        self.train_mode = state.scalar("train_mode")? != 0.0;
        self.z = if state.step > 0 {
            load_slot(state, &self.params, "z")?
        } else {
            Vec::new()
        };
        if self.cfg.kind == ScheduleFreeKind::Adamw {
            self.exp_avg_sq = load_slot(state, &self.params, "exp_avg_sq")?;
        }
        self.k = state.step;
        Ok(())
    }
}
