//! Adam and AdamW, numerically as `torch.optim.Adam` / `torch.optim.AdamW`.

use serde::{Deserialize, Serialize};

use super::kernel::{zip4, zip5};
use super::{
    Float, OptimError, Optimizer, ParamInfo, ParamSet, StateDict, check_beta, check_non_negative,
    load_slot, views, zeros,
};

/// Hyperparameters of [`Adam`]; the defaults are PyTorch's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdamConfig {
    /// Learning rate.
    #[serde(default = "defaults::lr")]
    pub lr: f64,
    /// `(β₁, β₂)`: decay of the first and second moments.
    #[serde(default = "defaults::betas")]
    pub betas: (f64, f64),
    /// Added to `sqrt(v̂)`.
    #[serde(default = "defaults::eps")]
    pub eps: f64,
    /// Weight decay (times each parameter's `decay_scale`).
    #[serde(default)]
    pub weight_decay: f64,
    /// AdamW: decay the weights directly (`p ← p(1 − lr·wd)`) instead of adding `wd·p` to
    /// the gradient.
    #[serde(default)]
    pub decoupled_weight_decay: bool,
    /// Use the running maximum of `v` (AMSGrad).
    #[serde(default)]
    pub amsgrad: bool,
}

mod defaults {
    pub fn lr() -> f64 {
        1e-3
    }
    pub fn betas() -> (f64, f64) {
        (0.9, 0.999)
    }
    pub fn eps() -> f64 {
        1e-8
    }
}

impl Default for AdamConfig {
    fn default() -> Self {
        Self {
            lr: defaults::lr(),
            betas: defaults::betas(),
            eps: defaults::eps(),
            weight_decay: 0.0,
            decoupled_weight_decay: false,
            amsgrad: false,
        }
    }
}

impl AdamConfig {
    /// AdamW with learning rate `lr` and decoupled weight decay `weight_decay`.
    pub fn adamw(lr: f64, weight_decay: f64) -> Self {
        Self {
            lr,
            weight_decay,
            decoupled_weight_decay: true,
            ..Self::default()
        }
    }

    /// Sets `(β₁, β₂)`.
    pub fn betas(mut self, beta1: f64, beta2: f64) -> Self {
        self.betas = (beta1, beta2);
        self
    }

    /// Checks every field.
    pub fn validate(&self) -> Result<(), OptimError> {
        check_non_negative("lr", self.lr)?;
        check_beta("betas.0", self.betas.0)?;
        check_beta("betas.1", self.betas.1)?;
        check_non_negative("eps", self.eps)?;
        check_non_negative("weight_decay", self.weight_decay)
    }
}

/// Adam (L2 decay in the gradient) or AdamW (decoupled decay), chosen by
/// [`AdamConfig::decoupled_weight_decay`].
#[derive(Debug, Clone)]
pub struct Adam<T> {
    cfg: AdamConfig,
    params: ParamSet,
    step: u64,
    exp_avg: Vec<Vec<T>>,
    exp_avg_sq: Vec<Vec<T>>,
    max_exp_avg_sq: Vec<Vec<T>>,
}

/// Per-tensor scalars of one Adam step, rounded to `T`: everything the elementwise update
/// needs, so a fused kernel (`vibee::optim`) computes exactly what the host loop computes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamScalars<T> {
    /// `1 − lr·wd` with decoupled decay, else 1.
    pub decay: T,
    /// The L2 coefficient folded into the gradient (coupled decay), else 0.
    pub l2: T,
    /// `1 − β₁`.
    pub one_minus_b1: T,
    /// `β₂`.
    pub beta2: T,
    /// `1 − β₂`.
    pub one_minus_b2: T,
    /// `1 / √(1 − β₂ᵗ)`.
    pub inv_bc2_sqrt: T,
    /// `ε`.
    pub eps: T,
    /// `−lr / (1 − β₁ᵗ)`.
    pub neg_step_size: T,
}

impl<T: Float> AdamScalars<T> {
    /// The scalars of step `step` (counted from 1) for a tensor described by `info`.
    pub fn new(cfg: &AdamConfig, info: &ParamInfo, step: u64) -> Self {
        let (b1, b2) = cfg.betas;
        let lr = cfg.lr * info.lr_scale;
        let wd = cfg.weight_decay * info.decay_scale;
        let t = step as i32;
        let (bc1, bc2) = (1.0 - b1.powi(t), 1.0 - b2.powi(t));
        let decoupled = cfg.decoupled_weight_decay;
        AdamScalars {
            decay: T::of(if decoupled { 1.0 - lr * wd } else { 1.0 }),
            l2: T::of(if decoupled { 0.0 } else { wd }),
            one_minus_b1: T::of(1.0 - b1),
            beta2: T::of(b2),
            one_minus_b2: T::of(1.0 - b2),
            inv_bc2_sqrt: T::of(1.0 / bc2.sqrt()),
            eps: T::of(cfg.eps),
            neg_step_size: T::of(-lr / bc1),
        }
    }
}

impl<T: Float> Adam<T> {
    /// A new optimizer over `params`.
    pub fn new(cfg: AdamConfig, params: ParamSet) -> Self {
        let max_exp_avg_sq = if cfg.amsgrad {
            zeros(&params)
        } else {
            Vec::new()
        };
        Self {
            exp_avg: zeros(&params),
            exp_avg_sq: zeros(&params),
            max_exp_avg_sq,
            cfg,
            params,
            step: 0,
        }
    }

    fn scalars(&self, i: usize) -> AdamScalars<T> {
        AdamScalars::new(&self.cfg, self.params.get(i), self.step)
    }
}

/// `m ← m + (1−β₁)(g − m)` (torch's `lerp`), `v ← β₂v + (1−β₂)g²`; returns the gradient
/// with L2 decay folded in.
#[inline(always)]
fn moments<T: Float>(s: &AdamScalars<T>, p: T, g: T, m: &mut T, v: &mut T) -> T {
    let g = g + s.l2 * p;
    *m += s.one_minus_b1 * (g - *m);
    *v = s.beta2 * *v + s.one_minus_b2 * g * g;
    g
}

fn update_chunk<T: Float>(s: &AdamScalars<T>, p: &mut [T], g: &[T], m: &mut [T], v: &mut [T]) {
    for (((p, &g), m), v) in p.iter_mut().zip(g).zip(m.iter_mut()).zip(v.iter_mut()) {
        let decayed = *p * s.decay;
        moments(s, *p, g, m, v);
        let denom = v.sqrt() * s.inv_bc2_sqrt + s.eps;
        *p = decayed + s.neg_step_size * *m / denom;
    }
}

fn update_chunk_amsgrad<T: Float>(
    s: &AdamScalars<T>,
    p: &mut [T],
    g: &[T],
    m: &mut [T],
    v: &mut [T],
    vmax: &mut [T],
) {
    let state = m.iter_mut().zip(v.iter_mut()).zip(vmax.iter_mut());
    for ((p, &g), ((m, v), vmax)) in p.iter_mut().zip(g).zip(state) {
        let decayed = *p * s.decay;
        moments(s, *p, g, m, v);
        *vmax = vmax.max(*v);
        let denom = vmax.sqrt() * s.inv_bc2_sqrt + s.eps;
        *p = decayed + s.neg_step_size * *m / denom;
    }
}

impl<T: Float> Optimizer<T> for Adam<T> {
    fn name(&self) -> &'static str {
        if self.cfg.decoupled_weight_decay {
            "adamw"
        } else {
            "adam"
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
        for (i, (p, g)) in params.iter_mut().zip(grads).enumerate() {
            let s = self.scalars(i);
            let (m, v) = (&mut self.exp_avg[i], &mut self.exp_avg_sq[i]);
            if self.cfg.amsgrad {
                let vmax = &mut self.max_exp_avg_sq[i];
                zip5(p, g, m, v, vmax, |p, g, m, v, x| {
                    update_chunk_amsgrad(&s, p, g, m, v, x)
                });
            } else {
                zip4(p, g, m, v, |p, g, m, v| update_chunk(&s, p, g, m, v));
            }
        }
        Ok(())
    }

    fn state_dict(&self) -> StateDict {
        let mut sd = StateDict::new(self.name(), self.step);
        sd.put(&self.params, "exp_avg", &views(&self.exp_avg));
        sd.put(&self.params, "exp_avg_sq", &views(&self.exp_avg_sq));
        if self.cfg.amsgrad {
            sd.put(&self.params, "max_exp_avg_sq", &views(&self.max_exp_avg_sq));
        }
        sd
    }

    fn load_state_dict(&mut self, state: &StateDict) -> Result<(), OptimError> {
        state.expect(self.name())?;
        self.exp_avg = load_slot(state, &self.params, "exp_avg")?;
        self.exp_avg_sq = load_slot(state, &self.params, "exp_avg_sq")?;
        if self.cfg.amsgrad {
            self.max_exp_avg_sq = load_slot(state, &self.params, "max_exp_avg_sq")?;
        }
        self.step = state.step;
        Ok(())
    }
}
