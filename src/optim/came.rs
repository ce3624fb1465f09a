//! CAME as fused kernels: two factored statistics ([`DeviceMoment`]) — the second moment
//! and the confidence residual — the update RMS for clipping (a reduction, partials summed
//! on the host), and elementwise passes, as the host [`Came`](vibee_runtime::optim::Came).

// Generated launchers take one argument per kernel parameter, plus the device and grid.
#![allow(clippy::too_many_arguments)]

use vibee_runtime::optim::{CameConfig, FactoredMoment, ParamSet, StateDict, update_clip};
use vibee_runtime::{Buffer, Device};

use super::factored::{DeviceMoment, rms, square_plus};
use super::{DeviceState, FusedError, FusedOptimizer, grid};

/// The clipped update and the momentum: `u = update / clip`, `m ← β₁m + (1−β₁)u`, and
/// the confidence residual `res = (u − m)² + ε₂`.
#[vibee::kernel]
pub fn came_residual(
    update: &[f32],
    m: &mut [f32],
    res: &mut [f32],
    clip: f32,
    beta1: f32,
    keep1: f32,
    eps2: f32,
) {
    let stride = num_groups() * group_size();
    let mut i = global_pos();
    while i < m.len() {
        let u = update[i] / clip;
        let mi = beta1 * m[i] + keep1 * u;
        m[i] = mi;
        res[i] = (u - mi) * (u - mi) + eps2;
        i += stride;
    }
}

/// The last pass: `p ← p + p·neg_decay`, `p ← p − update·lr`.
#[vibee::kernel]
pub fn came_apply(p: &mut [f32], update: &[f32], lr: f32, neg_decay: f32) {
    let stride = num_groups() * group_size();
    let mut i = global_pos();
    while i < p.len() {
        let x = p[i] + p[i] * neg_decay;
        p[i] = x - update[i] * lr;
        i += stride;
    }
}

/// CAME as fused kernels, its statistics resident on the device; state dict as the host
/// [`Came`](vibee_runtime::optim::Came)'s.
///
/// The update RMS (clipping) is a reduction whose order differs from the host's, so a step
/// agrees with the host to about `1e-6` relative rather than bit for bit.
pub struct FusedCame {
    cfg: CameConfig,
    /// `exp_avg`.
    state: DeviceState,
    exp_avg_sq: Vec<DeviceMoment>,
    /// Factored for matrices; vectors keep none (the reference steps along `m`).
    exp_avg_res: Vec<DeviceMoment>,
    /// `g² + ε₁`, then the residual; sized for the largest tensor.
    stat: Buffer<f32>,
    update: Buffer<f32>,
}

impl FusedCame {
    /// Zeroed statistics for every tensor of `params` on `device`.
    pub fn new(device: &Device, cfg: CameConfig, params: ParamSet) -> Result<Self, FusedError> {
        cfg.validate()?;
        let moments = || -> Result<Vec<DeviceMoment>, FusedError> {
            params
                .iter()
                .map(|info| {
                    let host = FactoredMoment::zeros(&info.shape);
                    Ok(DeviceMoment::upload(device, &host)?)
                })
                .collect()
        };
        let (exp_avg_sq, exp_avg_res) = (moments()?, moments()?);
        let largest = params.iter().map(|i| i.numel()).max().unwrap_or(0).max(1);
        Ok(Self {
            state: DeviceState::new(device, params, &["exp_avg"])?,
            cfg,
            exp_avg_sq,
            exp_avg_res,
            stat: Buffer::zeros(device, largest)?,
            update: Buffer::zeros(device, largest)?,
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
        let (b1, b2, b3) = cfg.betas;
        square_plus::launch(device, grid(device, n), g, &mut self.stat, cfg.eps.0 as f32)?;
        self.exp_avg_sq[i].update_and_scale(device, &self.stat, b2, g, &mut self.update)?;
        let clip = update_clip(rms(device, &self.update, n)?, cfg.clip_threshold) as f32;
        let m = &mut st.slots[0].1[i];
        let (beta1, keep1, eps2) = (b1 as f32, (1.0 - b1) as f32, cfg.eps.1 as f32);
        let grid = grid(device, n);
        let res = &mut self.stat;
        came_residual::launch(device, grid, &self.update, m, res, clip, beta1, keep1, eps2)?;
        let lr = cfg.lr * info.lr_scale;
        let neg_decay = (-cfg.weight_decay * info.decay_scale * lr) as f32;
        match &mut self.exp_avg_res[i] {
            // Vectors: the reference skips the confidence term and steps along `m`.
            DeviceMoment::Full(_) => came_apply::launch(device, grid, p, m, lr as f32, neg_decay)?,
            factored => {
                factored.update_and_scale(device, &self.stat, b3, m, &mut self.update)?;
                came_apply::launch(device, grid, p, &self.update, lr as f32, neg_decay)?;
            }
        }
        Ok(())
    }
}

impl FusedOptimizer for FusedCame {
    fn name(&self) -> &'static str {
        "came"
    }

    fused_common!(steps, lr, step_per_tensor);

    fn state_dict(&self) -> Result<StateDict, FusedError> {
        let mut sd = self.state.state_dict("came")?;
        let moments = self.exp_avg_sq.iter().zip(&self.exp_avg_res);
        for (info, (sq, res)) in self.state.params.iter().zip(moments) {
            sq.download()?.save(&mut sd, &info.name, "exp_avg_sq");
            if let DeviceMoment::Factored { .. } = res {
                res.download()?.save(&mut sd, &info.name, "exp_avg_res");
            }
        }
        Ok(sd)
    }

    fn load_state_dict(&mut self, sd: &StateDict) -> Result<(), FusedError> {
        self.state.load("came", sd)?;
        let device = &self.state.device;
        let moments = self.exp_avg_sq.iter_mut().zip(&mut self.exp_avg_res);
        for (info, (sq, res)) in self.state.params.iter().zip(moments) {
            let mut host = FactoredMoment::<f32>::zeros(&info.shape);
            host.load(sd, &info.name, "exp_avg_sq")?;
            *sq = DeviceMoment::upload(device, &host)?;
            if let DeviceMoment::Factored { .. } = res {
                host.load(sd, &info.name, "exp_avg_res")?;
                *res = DeviceMoment::upload(device, &host)?;
            }
        }
        Ok(())
    }
}

impl std::fmt::Debug for FusedCame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FusedCame")
            .field("cfg", &self.cfg)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}
