//! Adafactor as fused kernels: the factored second moment ([`DeviceMoment`]), the update
//! RMS for clipping (a reduction, partials summed on the host), and one elementwise pass
//! for momentum, weight decay and the parameter update, with the host
//! [`Adafactor`](vibee_runtime::optim::Adafactor)'s step size
//! ([`AdafactorConfig::step_size`]) and decay ([`AdafactorConfig::beta2t`]).

// Generated launchers take one argument per kernel parameter, plus the device and grid.
#![allow(clippy::too_many_arguments)]

use vibee_runtime::optim::{AdafactorConfig, FactoredMoment, ParamSet, StateDict, update_clip};
use vibee_runtime::{Buffer, Device};

use super::factored::{DeviceMoment, rms, square_plus};
use super::{DeviceState, FusedError, FusedOptimizer, grid};

/// The last pass without a first moment: `u = update / clip · lr`, `p ← p + p·neg_decay`,
/// `p ← p − u`.
#[vibee::kernel]
pub fn adafactor_apply(p: &mut [f32], update: &[f32], clip: f32, lr: f32, neg_decay: f32) {
    let stride = num_groups() * group_size();
    let mut i = global_pos();
    while i < p.len() {
        let u = update[i] / clip * lr;
        let x = p[i] + p[i] * neg_decay;
        p[i] = x - u;
        i += stride;
    }
}

/// The last pass with a first moment: `m ← β₁m + (1−β₁)(update / clip · lr)`, then
/// `p ← p + p·neg_decay`, `p ← p − m`.
#[vibee::kernel]
pub fn adafactor_apply_momentum(
    p: &mut [f32],
    update: &[f32],
    m: &mut [f32],
    clip: f32,
    lr: f32,
    beta1: f32,
    keep1: f32,
    neg_decay: f32,
) {
    let stride = num_groups() * group_size();
    let mut i = global_pos();
    while i < p.len() {
        let u = update[i] / clip * lr;
        let mi = beta1 * m[i] + keep1 * u;
        m[i] = mi;
        let x = p[i] + p[i] * neg_decay;
        p[i] = x - mi;
        i += stride;
    }
}

/// Adafactor as fused kernels, its statistics resident on the device; state dict as the
/// host [`Adafactor`](vibee_runtime::optim::Adafactor)'s.
///
/// The parameter RMS (`scale_parameter`) and the update RMS (clipping) are reductions whose
/// order differs from the host's, so a step agrees with the host to about `1e-6` relative
/// rather than bit for bit.
pub struct FusedAdafactor {
    cfg: AdafactorConfig,
    /// `exp_avg` when `beta1` is set.
    state: DeviceState,
    exp_avg_sq: Vec<DeviceMoment>,
    /// `g² + ε₁`, then the update; sized for the largest tensor.
    stat: Buffer<f32>,
    update: Buffer<f32>,
}

impl FusedAdafactor {
    /// Zeroed statistics for every tensor of `params` on `device`.
    pub fn new(
        device: &Device,
        cfg: AdafactorConfig,
        params: ParamSet,
    ) -> Result<Self, FusedError> {
        cfg.validate()?;
        let slots: &[&'static str] = if cfg.beta1.is_some() {
            &["exp_avg"]
        } else {
            &[]
        };
        let exp_avg_sq = params
            .iter()
            .map(|info| DeviceMoment::upload(device, &FactoredMoment::zeros(&info.shape)))
            .collect::<Result<_, _>>()?;
        let largest = params.iter().map(|i| i.numel()).max().unwrap_or(0);
        Ok(Self {
            state: DeviceState::new(device, params, slots)?,
            cfg,
            exp_avg_sq,
            stat: Buffer::zeros(device, largest.max(1))?,
            update: Buffer::zeros(device, largest.max(1))?,
        })
    }

    fn update_tensor(
        &mut self,
        i: usize,
        p: &mut Buffer<f32>,
        g: &Buffer<f32>,
    ) -> Result<(), FusedError> {
        let (cfg, st) = (&self.cfg, &mut self.state);
        let (device, n, info) = (&st.device, p.len(), st.params.get(i));
        let param_rms = if cfg.scale_parameter {
            rms(device, p, n)?
        } else {
            0.0
        };
        let lr = cfg.step_size(st.step, param_rms) * info.lr_scale;
        let eps1 = cfg.eps.0 as f32;
        square_plus::launch(device, grid(device, n), g, &mut self.stat, eps1)?;
        let beta2t = cfg.beta2t(st.step);
        self.exp_avg_sq[i].update_and_scale(device, &self.stat, beta2t, g, &mut self.update)?;
        let clip = update_clip(rms(device, &self.update, n)?, cfg.clip_threshold) as f32;
        let neg_decay = (-cfg.weight_decay * info.decay_scale * lr) as f32;
        let grid = grid(device, n);
        match cfg.beta1 {
            None => {
                adafactor_apply::launch(device, grid, p, &self.update, clip, lr as f32, neg_decay)?
            }
            Some(b1) => adafactor_apply_momentum::launch(
                device,
                grid,
                p,
                &self.update,
                &mut st.slots[0].1[i],
                clip,
                lr as f32,
                b1 as f32,
                (1.0 - b1) as f32,
                neg_decay,
            )?,
        }
        Ok(())
    }
}

impl FusedOptimizer for FusedAdafactor {
    fn name(&self) -> &'static str {
        "adafactor"
    }

    fused_common!(steps);

    fn lr(&self) -> f64 {
        self.cfg.lr.unwrap_or(0.0)
    }

    /// Sets the external rate and turns `relative_step` off, as the host optimizer does.
    fn set_lr(&mut self, lr: f64) {
        self.cfg.lr = Some(lr);
        self.cfg.relative_step = false;
        self.cfg.warmup_init = false;
    }

    fused_common!(step_per_tensor);

    fn state_dict(&self) -> Result<StateDict, FusedError> {
        let mut sd = self.state.state_dict("adafactor")?;
        for (info, m) in self.state.params.iter().zip(&self.exp_avg_sq) {
            m.download()?.save(&mut sd, &info.name, "exp_avg_sq");
        }
        Ok(sd)
    }

    fn load_state_dict(&mut self, sd: &StateDict) -> Result<(), FusedError> {
        self.state.load("adafactor", sd)?;
        let device = &self.state.device;
        for (info, m) in self.state.params.iter().zip(&mut self.exp_avg_sq) {
            let mut host = FactoredMoment::<f32>::zeros(&info.shape);
            host.load(sd, &info.name, "exp_avg_sq")?;
            *m = DeviceMoment::upload(device, &host)?;
        }
        Ok(())
    }
}

impl std::fmt::Debug for FusedAdafactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FusedAdafactor")
            .field("cfg", &self.cfg)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}
