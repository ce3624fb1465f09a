//! The golden-ratio optimizer: AdamW whose coefficients all come from φ, with a Nesterov-style
//! look-ahead blended in golden proportion. vibee's own design; there is no published
//! reference.
//!
//! # Definition
//!
//! With φ = (1 + √5)/2 and gradient `g` at step `t` (1-based):
//!
//! ```text
//! β₁ = 1 − φ⁻⁵  ≈ 0.909830          (momentum window φ⁵  ≈ 11.09 steps)
//! β₂ = 1 − φ⁻¹⁵ ≈ 0.999269          (variance window φ¹⁵ ≈ 1364 steps; β₂ = 1 − (1 − β₁)³)
//! m ← β₁·m + (1 − β₁)·g
//! v ← β₂·v + (1 − β₂)·g²
//! m̂ = m / (1 − β₁ᵗ),  v̂ = v / (1 − β₂ᵗ)
//! d = φ⁻¹·m̂ + φ⁻²·g                 (φ⁻¹ + φ⁻² = 1: a convex blend of momentum and gradient)
//! p ← p·(1 − lr·wd) − lr · d / (√v̂ + ε)
//! ```
//!
//! Why these numbers: the windows of the two moments are powers of φ whose exponents are in
//! ratio 1:3, which puts β₁, β₂ next to the values practice settled on (0.9, 0.999) without
//! tuning; the look-ahead weights are the unique pair `(a, a²)` summing to 1 (`a = 1/φ`),
//! so at `t = 1` the step is exactly `lr·g/(|g| + ε)`, like Adam's. Whether it trains
//! better than AdamW is an empirical question, measured on the training example with
//! `runtime/examples/golden_vs_adamw.rs` (GPT 2 blocks × width 64, context 64, batch 16,
//! the embedded order-2 Markov corpus with entropy rate 1.6089 nats/byte, warmup + cosine,
//! AdamW with the trainer's defaults β = (0.9, 0.95), wd 0.1; 2026-11-27):
//!
//! | budget | seeds | learning rates tried | best AdamW | best golden |
//! |---|---|---|---|---|
//! | 500 steps | 3 | 1e-3, 3e-3, 1e-2, 3e-2 | 3.427 ± 0.010 (lr 1e-2) | 3.264 ± 0.091 (lr 1e-2) |
//! | 1500 steps | 2 | 1e-2 | 1.887 ± 0.001 | 1.795 ± 0.004 |
//!
//! (validation loss in nats/byte, mean ± standard deviation over seeds.) At 500 steps both
//! are still on the plateau before the model learns to look back two positions; the
//! golden-ratio optimizer leaves it sooner (one seed of three, at 3.16). At 1500 steps its
//! gap to the entropy rate is 0.186 against AdamW's 0.278. One model size and one corpus:
//! evidence for this setting, not a general claim.

use serde::{Deserialize, Serialize};

use super::kernel::zip4;
use super::{
    Float, OptimError, Optimizer, ParamInfo, ParamSet, StateDict, check_non_negative, load_slot,
    views, zeros,
};

/// The golden ratio φ.
pub const PHI: f64 = 1.618_033_988_749_895;

/// Hyperparameters of [`Golden`]. The moment coefficients are fixed by the definition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GoldenConfig {
    /// Learning rate.
    #[serde(default = "defaults::lr")]
    pub lr: f64,
    /// Decoupled weight decay.
    #[serde(default)]
    pub weight_decay: f64,
    /// Added to `sqrt(v̂)`.
    #[serde(default = "defaults::eps")]
    pub eps: f64,
}

mod defaults {
    pub fn lr() -> f64 {
        1e-3
    }
    pub fn eps() -> f64 {
        1e-8
    }
}

impl GoldenConfig {
    /// Learning rate `lr`, weight decay `weight_decay`.
    pub fn new(lr: f64, weight_decay: f64) -> Self {
        Self {
            lr,
            weight_decay,
            eps: defaults::eps(),
        }
    }

    /// `β₁ = 1 − φ⁻⁵`.
    pub fn beta1() -> f64 {
        1.0 - PHI.powi(-5)
    }

    /// `β₂ = 1 − φ⁻¹⁵`.
    pub fn beta2() -> f64 {
        1.0 - PHI.powi(-15)
    }

    /// Checks every field.
    pub fn validate(&self) -> Result<(), OptimError> {
        check_non_negative("lr", self.lr)?;
        check_non_negative("weight_decay", self.weight_decay)?;
        check_non_negative("eps", self.eps)
    }
}

/// Per-tensor scalars of one golden-ratio step, rounded to `T`: everything the elementwise
/// update needs, so a fused kernel (`vibee::optim`) computes exactly what the host loop
/// computes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GoldenScalars<T> {
    /// `β₁`.
    pub beta1: T,
    /// `1 − β₁`.
    pub keep1: T,
    /// `β₂`.
    pub beta2: T,
    /// `1 − β₂`.
    pub keep2: T,
    /// Weight of the momentum in the direction: `φ⁻¹ / (1 − β₁ᵗ)`.
    pub w_m: T,
    /// Weight of the gradient in the direction: `φ⁻²`.
    pub w_g: T,
    /// `1 / √(1 − β₂ᵗ)`.
    pub inv_bc2_sqrt: T,
    /// `ε`.
    pub eps: T,
    /// `1 − lr·wd`.
    pub decay: T,
    /// `−lr`.
    pub neg_lr: T,
}

impl<T: Float> GoldenScalars<T> {
    /// The scalars of step `step` (counted from 1) for a tensor described by `info`.
    pub fn new(cfg: &GoldenConfig, info: &ParamInfo, step: u64) -> Self {
        let (b1, b2) = (GoldenConfig::beta1(), GoldenConfig::beta2());
        let t = step as i32;
        let (bc1, bc2) = (1.0 - b1.powi(t), 1.0 - b2.powi(t));
        let lr = cfg.lr * info.lr_scale;
        Self {
            beta1: T::of(b1),
            keep1: T::of(1.0 - b1),
            beta2: T::of(b2),
            keep2: T::of(1.0 - b2),
            w_m: T::of(1.0 / (PHI * bc1)),
            w_g: T::of(PHI.powi(-2)),
            inv_bc2_sqrt: T::of(1.0 / bc2.sqrt()),
            eps: T::of(cfg.eps),
            decay: T::of(1.0 - lr * cfg.weight_decay * info.decay_scale),
            neg_lr: T::of(-lr),
        }
    }
}

/// The golden-ratio optimizer (see the module docs for the definition).
#[derive(Debug, Clone)]
pub struct Golden<T> {
    cfg: GoldenConfig,
    params: ParamSet,
    step: u64,
    exp_avg: Vec<Vec<T>>,
    exp_avg_sq: Vec<Vec<T>>,
}

impl<T: Float> Golden<T> {
    /// A new optimizer over `params`.
    pub fn new(cfg: GoldenConfig, params: ParamSet) -> Self {
        Self {
            exp_avg: zeros(&params),
            exp_avg_sq: zeros(&params),
            cfg,
            params,
            step: 0,
        }
    }
}

impl<T: Float> Optimizer<T> for Golden<T> {
    fn name(&self) -> &'static str {
        "golden"
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
            let k = GoldenScalars::<T>::new(&self.cfg, self.params.get(i), self.step);
            let (m, v) = (&mut self.exp_avg[i], &mut self.exp_avg_sq[i]);
            zip4(p, g, m, v, |p, g, m, v| {
                for (((p, &g), m), v) in p.iter_mut().zip(g).zip(m.iter_mut()).zip(v.iter_mut()) {
                    *m = k.beta1 * *m + k.keep1 * g;
                    *v = k.beta2 * *v + k.keep2 * g * g;
                    let direction = k.w_m * *m + k.w_g * g;
                    *p = *p * k.decay + k.neg_lr * direction / (v.sqrt() * k.inv_bc2_sqrt + k.eps);
                }
            });
        }
        Ok(())
    }

    fn state_dict(&self) -> StateDict {
        let mut sd = StateDict::new("golden", self.step);
        sd.put(&self.params, "exp_avg", &views(&self.exp_avg));
        sd.put(&self.params, "exp_avg_sq", &views(&self.exp_avg_sq));
        sd
    }

    fn load_state_dict(&mut self, state: &StateDict) -> Result<(), OptimError> {
        state.expect("golden")?;
        self.exp_avg = load_slot(state, &self.params, "exp_avg")?;
        self.exp_avg_sq = load_slot(state, &self.params, "exp_avg_sq")?;
        self.step = state.step;
        Ok(())
    }
}
