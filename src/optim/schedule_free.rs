//! Schedule-Free AdamW and SGD: the step and the switch between training parameters `y` and
//! evaluation parameters `x` as fused kernels, with the host
//! [`ScheduleFree`](vibee_runtime::optim::ScheduleFree)'s averaging bookkeeping
//! ([`ScheduleFreeAverage`]) and per-tensor scalars ([`ScheduleFreeScalars`]).

// Generated launchers take one argument per kernel parameter, plus the device and grid.
#![allow(clippy::too_many_arguments)]

use vibee_runtime::optim::{
    LerpWeight, ParamSet, ScheduleFreeAverage, ScheduleFreeConfig, ScheduleFreeKind,
    ScheduleFreeScalars, StateDict,
};
use vibee_runtime::{Buffer, Device};

use super::state::{put_slot, take_slot};
use super::{DeviceState, FusedError, FusedOptimizer, check, grid};

/// One Schedule-Free AdamW step over a tensor: `v ← β₂v + (1−β₂)g²`,
/// `s = g / (√(v / (1−β₂ᵏ⁺¹)) + ε) + wd·y`, `y ← lerp(y, z, c) + y_coef·s`, `z ← z − lr·s`.
/// `lerp` is `torch.lerp`'s two-sided form (`low = 1`: `a + w(b − a)`, else
/// `b − (b − a)(1 − w)`).
#[vibee::kernel]
pub fn schedule_free_adamw_step(
    y: &mut [f32],
    g: &[f32],
    z: &mut [f32],
    v: &mut [f32],
    decay: f32,
    y_coef: f32,
    neg_lr: f32,
    low: u32,
    w: f32,
    one_minus_w: f32,
    beta2: f32,
    keep2: f32,
    bc2: f32,
    eps: f32,
) {
    let stride = num_groups() * group_size();
    let mut i = global_pos();
    while i < y.len() {
        let grad = g[i];
        let vi = beta2 * v[i] + keep2 * grad * grad;
        v[i] = vi;
        let yi = y[i];
        let zi = z[i];
        let step = grad / (sqrt(vi / bc2) + eps) + decay * yi;
        let mut moved = zi - (zi - yi) * one_minus_w;
        if low != 0 {
            moved = yi + w * (zi - yi);
        }
        y[i] = moved + y_coef * step;
        z[i] = zi + neg_lr * step;
        i += stride;
    }
}

/// One Schedule-Free SGD step over a tensor: as [`schedule_free_adamw_step`] with the raw
/// gradient as the direction.
#[vibee::kernel]
pub fn schedule_free_sgd_step(
    y: &mut [f32],
    g: &[f32],
    z: &mut [f32],
    decay: f32,
    y_coef: f32,
    neg_lr: f32,
    low: u32,
    w: f32,
    one_minus_w: f32,
) {
    let stride = num_groups() * group_size();
    let mut i = global_pos();
    while i < y.len() {
        let yi = y[i];
        let zi = z[i];
        let step = g[i] + decay * yi;
        let mut moved = zi - (zi - yi) * one_minus_w;
        if low != 0 {
            moved = yi + w * (zi - yi);
        }
        y[i] = moved + y_coef * step;
        z[i] = zi + neg_lr * step;
        i += stride;
    }
}

/// `p ← lerp(p, z, w)` (the `y ↔ x` switch), in `torch.lerp`'s two-sided form.
#[vibee::kernel]
pub fn lerp_towards(p: &mut [f32], z: &[f32], low: u32, w: f32, one_minus_w: f32) {
    let stride = num_groups() * group_size();
    let mut i = global_pos();
    while i < p.len() {
        let pi = p[i];
        let zi = z[i];
        let mut moved = zi - (zi - pi) * one_minus_w;
        if low != 0 {
            moved = pi + w * (zi - pi);
        }
        p[i] = moved;
        i += stride;
    }
}

/// `dst ← src`.
#[vibee::kernel]
pub fn copy_into(src: &[f32], dst: &mut [f32]) {
    let stride = num_groups() * group_size();
    let mut i = global_pos();
    while i < dst.len() {
        dst[i] = src[i];
        i += stride;
    }
}

/// Schedule-Free AdamW / SGD as fused kernels, `z` and the second moment resident on the
/// device. The parameters hold `y` while training; [`Self::eval`] switches them to `x` and
/// [`Self::train`] back. State dict as the host
/// [`ScheduleFree`](vibee_runtime::optim::ScheduleFree)'s.
#[derive(Debug)]
pub struct FusedScheduleFree {
    cfg: ScheduleFreeConfig,
    /// `exp_avg_sq` (AdamW) or nothing (SGD); `step` is the host's `k`.
    state: DeviceState,
    /// Empty before the first step, when `x = y = z`.
    z: Vec<Buffer<f32>>,
    average: ScheduleFreeAverage,
    train_mode: bool,
}

impl FusedScheduleFree {
    /// A new optimizer over `params` on `device`, in training mode.
    pub fn new(
        device: &Device,
        cfg: ScheduleFreeConfig,
        params: ParamSet,
    ) -> Result<Self, FusedError> {
        cfg.validate()?;
        let slots: &[&'static str] = match cfg.kind {
            ScheduleFreeKind::Adamw => &["exp_avg_sq"],
            ScheduleFreeKind::Sgd => &[],
        };
        Ok(Self {
            state: DeviceState::new(device, params, slots)?,
            cfg,
            z: Vec::new(),
            average: ScheduleFreeAverage::default(),
            train_mode: true,
        })
    }

    /// True between [`Self::train`] and [`Self::eval`] (the initial mode).
    pub fn is_training(&self) -> bool {
        self.train_mode
    }

    /// Switches the parameters from `y` to the averaged `x`, for evaluation and checkpoints.
    pub fn eval(&mut self, params: &mut [Buffer<f32>]) -> Result<(), FusedError> {
        if self.train_mode {
            self.shift(params, self.cfg.eval_weight())?;
            self.train_mode = false;
        }
        Ok(())
    }

    /// Switches the parameters back from `x` to `y` before training steps.
    pub fn train(&mut self, params: &mut [Buffer<f32>]) -> Result<(), FusedError> {
        if !self.train_mode {
            self.shift(params, self.cfg.train_weight())?;
            self.train_mode = true;
        }
        Ok(())
    }

    fn shift(&self, params: &mut [Buffer<f32>], w: f64) -> Result<(), FusedError> {
        let st = &self.state;
        check(&st.params, &[("parameter", &*params)])?;
        let w = LerpWeight::<f32>::new(w);
        // Before the first step there is no `z`, and x = y = z.
        for (p, z) in params.iter_mut().zip(&self.z) {
            let (low, grid) = (u32::from(w.low), grid(&st.device, p.len()));
            lerp_towards::launch(&st.device, grid, p, z, low, w.w, w.one_minus_w)?;
        }
        Ok(())
    }

    /// Device copies of `params` (the first `z`).
    fn copy_of(&self, params: &[Buffer<f32>]) -> Result<Vec<Buffer<f32>>, FusedError> {
        let device = &self.state.device;
        params
            .iter()
            .map(|p| {
                let mut z = Buffer::zeros(device, p.len())?;
                copy_into::launch(device, grid(device, p.len()), p, &mut z)?;
                Ok(z)
            })
            .collect()
    }

    fn update_tensor(
        &mut self,
        i: usize,
        y: &mut Buffer<f32>,
        g: &Buffer<f32>,
        s: &ScheduleFreeScalars<f32>,
    ) -> Result<(), FusedError> {
        let st = &mut self.state;
        let (device, grid) = (&st.device, grid(&st.device, y.len()));
        let (z, low, c) = (&mut self.z[i], u32::from(s.ckp1.low), s.ckp1);
        match self.cfg.kind {
            ScheduleFreeKind::Adamw => schedule_free_adamw_step::launch(
                device,
                grid,
                y,
                g,
                z,
                &mut st.slots[0].1[i],
                s.decay,
                s.y_coef,
                s.neg_lr,
                low,
                c.w,
                c.one_minus_w,
                s.beta2,
                s.keep2,
                s.bc2,
                s.eps,
            )?,
            ScheduleFreeKind::Sgd => schedule_free_sgd_step::launch(
                device,
                grid,
                y,
                g,
                z,
                s.decay,
                s.y_coef,
                s.neg_lr,
                low,
                c.w,
                c.one_minus_w,
            )?,
        }
        Ok(())
    }
}

impl FusedOptimizer for FusedScheduleFree {
    fn name(&self) -> &'static str {
        match self.cfg.kind {
            ScheduleFreeKind::Adamw => "schedule_free_adamw",
            ScheduleFreeKind::Sgd => "schedule_free_sgd",
        }
    }

    fused_common!(steps, lr);

    fn step(
        &mut self,
        params: &mut [Buffer<f32>],
        grads: &[Buffer<f32>],
    ) -> Result<(), FusedError> {
        self.cfg.validate()?;
        if !self.train_mode {
            return Err(FusedError::Unsupported(
                "a schedule-free step in eval mode: call train() first",
            ));
        }
        self.state.begin_step(params, grads)?;
        if self.z.is_empty() {
            self.z = self.copy_of(params)?;
        }
        let k = self.state.step - 1;
        let (ckp1, lr) = self.average.advance(&self.cfg, k);
        for (i, (y, g)) in params.iter_mut().zip(grads).enumerate() {
            let s =
                ScheduleFreeScalars::<f32>::new(&self.cfg, self.state.params.get(i), k, ckp1, lr);
            self.update_tensor(i, y, g, &s)?;
        }
        Ok(())
    }

    fn state_dict(&self) -> Result<StateDict, FusedError> {
        let mut sd = self.state.state_dict(self.name())?;
        sd.scalars.insert("lr_max".into(), self.average.lr_max);
        sd.scalars
            .insert("weight_sum".into(), self.average.weight_sum);
        sd.scalars
            .insert("train_mode".into(), f64::from(u8::from(self.train_mode)));
        if !self.z.is_empty() {
            put_slot(&mut sd, &self.state.params, "z", &self.z)?;
        }
        Ok(sd)
    }

    fn load_state_dict(&mut self, sd: &StateDict) -> Result<(), FusedError> {
        let name = self.name();
        self.state.load(name, sd)?;
        self.average.lr_max = sd.scalar("lr_max")?;
        self.average.weight_sum = sd.scalar("weight_sum")?;
        self.train_mode = sd.scalar("train_mode")? != 0.0;
        self.z = if sd.step > 0 {
            take_slot(&self.state.device, &self.state.params, sd, "z")?
        } else {
            Vec::new()
        };
        Ok(())
    }
}
