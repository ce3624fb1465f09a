//! CAME (Luo et al. 2023, "Confidence-guided Adaptive Memory Efficient Optimization"),
//! numerically as `came-pytorch`.

use serde::{Deserialize, Serialize};

use super::factored::{Moment, rms, update_clip};
use super::{
    Float, OptimError, Optimizer, ParamSet, StateDict, check_beta, check_non_negative, load_slot,
    views, zeros,
};

/// Hyperparameters of [`Came`]; the defaults are `came-pytorch`'s (with `lr` = 2e-4).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CameConfig {
    /// Learning rate.
    #[serde(default = "defaults::lr")]
    pub lr: f64,
    /// `(ε₁, ε₂)`: added to the squared gradient and to the squared instability.
    #[serde(default = "defaults::eps")]
    pub eps: (f64, f64),
    /// The update is divided by `max(1, rms(update) / clip_threshold)`.
    #[serde(default = "defaults::clip_threshold")]
    pub clip_threshold: f64,
    /// `(β₁, β₂, β₃)`: decay of the update, the squared gradient and the instability.
    #[serde(default = "defaults::betas")]
    pub betas: (f64, f64, f64),
    /// Weight decay: `p ← p − wd·lr·p`.
    #[serde(default)]
    pub weight_decay: f64,
}

mod defaults {
    pub fn lr() -> f64 {
        2e-4
    }
    pub fn eps() -> (f64, f64) {
        (1e-30, 1e-16)
    }
    pub fn clip_threshold() -> f64 {
        1.0
    }
    pub fn betas() -> (f64, f64, f64) {
        (0.9, 0.999, 0.9999)
    }
}

impl CameConfig {
    /// CAME with learning rate `lr` and the reference's other defaults.
    pub fn new(lr: f64) -> Self {
        Self {
            lr,
            eps: defaults::eps(),
            clip_threshold: defaults::clip_threshold(),
            betas: defaults::betas(),
            weight_decay: 0.0,
        }
    }

    /// Checks every field.
    pub fn validate(&self) -> Result<(), OptimError> {
        check_non_negative("lr", self.lr)?;
        check_beta("betas.0", self.betas.0)?;
        check_beta("betas.1", self.betas.1)?;
        check_beta("betas.2", self.betas.2)?;
        check_non_negative("clip_threshold", self.clip_threshold)?;
        check_non_negative("weight_decay", self.weight_decay)
    }
}

/// CAME: Adafactor's factored, clipped update smoothed by a first moment and rescaled by the
/// factored "instability" `(update − m)²`.
#[derive(Debug, Clone)]
pub struct Came<T> {
    cfg: CameConfig,
    params: ParamSet,
    step: u64,
    exp_avg: Vec<Vec<T>>,
    exp_avg_sq: Vec<Moment<T>>,
    exp_avg_res: Vec<Moment<T>>,
}

impl<T: Float> Came<T> {
    /// A new optimizer over `params`.
    pub fn new(cfg: CameConfig, params: ParamSet) -> Self {
        let moments = || params.iter().map(|p| Moment::zeros(&p.shape)).collect();
        Self {
            exp_avg: zeros(&params),
            exp_avg_sq: moments(),
            exp_avg_res: moments(),
            cfg,
            params,
            step: 0,
        }
    }

    fn update_param(&mut self, i: usize, p: &mut [T], g: &[T]) {
        let info = self.params.get(i);
        let (b1, b2, b3) = self.cfg.betas;
        let eps1 = T::of(self.cfg.eps.0);
        let sq: Vec<T> = g.iter().map(|&g| g * g + eps1).collect();
        let mut update = vec![T::ZERO; g.len()];
        self.exp_avg_sq[i].update_and_scale(&sq, b2, g, &mut update);
        let clip = T::of(update_clip(rms(&update), self.cfg.clip_threshold));
        let (beta1, keep1, eps2) = (T::of(b1), T::of(1.0 - b1), T::of(self.cfg.eps.1));
        let m = &mut self.exp_avg[i];
        let mut res = vec![T::ZERO; g.len()];
        for ((u, m), r) in update.iter_mut().zip(m.iter_mut()).zip(res.iter_mut()) {
            *u = *u / clip;
            *m = beta1 * *m + keep1 * *u;
            *r = (*u - *m) * (*u - *m) + eps2;
        }
        match &mut self.exp_avg_res[i] {
            // Vectors: the reference skips the confidence term and steps along `m`.
            Moment::Full(_) => update.copy_from_slice(m),
            factored => factored.update_and_scale(&res, b3, m, &mut update),
        }
        let lr = self.cfg.lr * info.lr_scale;
        let neg_decay = T::of(-self.cfg.weight_decay * info.decay_scale * lr);
        let lr_t = T::of(lr);
        for (p, u) in p.iter_mut().zip(&update) {
            *p += *p * neg_decay;
            *p += -(*u * lr_t);
        }
    }
}

impl<T: Float> Optimizer<T> for Came<T> {
    fn name(&self) -> &'static str {
        "came"
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
            self.update_param(i, p, g);
        }
        Ok(())
    }

    fn state_dict(&self) -> StateDict {
        let mut sd = StateDict::new("came", self.step);
        sd.put(&self.params, "exp_avg", &views(&self.exp_avg));
        for (info, (sq, res)) in self
            .params
            .iter()
            .zip(self.exp_avg_sq.iter().zip(&self.exp_avg_res))
        {
            sq.save(&mut sd, &info.name, "exp_avg_sq");
            if let Moment::Factored { .. } = res {
                res.save(&mut sd, &info.name, "exp_avg_res");
            }
        }
        sd
    }

    fn load_state_dict(&mut self, state: &StateDict) -> Result<(), OptimError> {
        state.expect("came")?;
        self.exp_avg = load_slot(state, &self.params, "exp_avg")?;
        let moments = self.exp_avg_sq.iter_mut().zip(self.exp_avg_res.iter_mut());
        for (info, (sq, res)) in self.params.iter().zip(moments) {
            sq.load(state, &info.name, "exp_avg_sq")?;
            if let Moment::Factored { .. } = res {
                res.load(state, &info.name, "exp_avg_res")?;
            }
        }
        self.step = state.step;
        Ok(())
    }
}
