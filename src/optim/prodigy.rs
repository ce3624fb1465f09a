//! Prodigy as fused kernels: the moments, the `d` statistics (`⟨g, p0 − p⟩` and `Σ|s|`,
//! reduced per group on the device, the group partials summed on the host in `f64`), and the
//! parameter update; the scalar `d` update itself is the host's
//! ([`ProdigyEstimate::update`]), on a handful of numbers.

// Generated launchers take one argument per kernel parameter, plus the device and grid.
#![allow(clippy::too_many_arguments)]

use vibee_runtime::optim::{
    ParamSet, ProdigyApply, ProdigyConfig, ProdigyEstimate, ProdigyScalars, StateDict,
};
use vibee_runtime::{Buffer, Device};

use super::factored::reduce_grid;
use super::state::{put_slot, take_slot_sized};
use super::{DeviceState, FusedError, FusedOptimizer, check, grid};

/// The Adam moments with `d`-scaled weights: `m ← β₁m + d(1−β₁)g`, `v ← β₂v + d²(1−β₂)g²`,
/// `g` first given the L2 term (`coupled = 1`).
#[vibee::kernel]
pub fn prodigy_moments(
    p: &[f32],
    g: &[f32],
    m: &mut [f32],
    v: &mut [f32],
    coupled: u32,
    wd: f32,
    beta1: f32,
    m_keep: f32,
    beta2: f32,
    v_keep: f32,
) {
    let stride = num_groups() * group_size();
    let mut i = global_pos();
    while i < m.len() {
        let mut grad = g[i];
        if coupled != 0 {
            grad = g[i] + wd * p[i];
        }
        m[i] = beta1 * m[i] + m_keep * grad;
        v[i] = beta2 * v[i] + v_keep * grad * grad;
        i += stride;
    }
}

/// The `d` statistics over every `slice`-th element: `s ← β₃s + α·g`, and per group the
/// partial sums of `g·(p0 − p)` into `dots` and of `|s|` into `abs_sums`; groups of 256
/// units.
#[vibee::kernel]
pub fn prodigy_statistics(
    p: &[f32],
    g: &[f32],
    p0: &[f32],
    s: &mut [f32],
    dots: &mut [f32],
    abs_sums: &mut [f32],
    slice: u32,
    coupled: u32,
    wd: f32,
    beta3: f32,
    alpha: f32,
) {
    let dot_scratch = shared::<f32>(256);
    let abs_scratch = shared::<f32>(256);
    let stride = num_groups() * group_size();
    let mut dot = 0.0;
    let mut abs_sum = 0.0;
    let mut j = global_pos();
    while j < s.len() {
        let at = j * slice;
        let mut grad = g[at];
        if coupled != 0 {
            grad = g[at] + wd * p[at];
        }
        dot += grad * (p0[j] - p[at]);
        let sj = beta3 * s[j] + alpha * grad;
        s[j] = sj;
        abs_sum += abs(sj);
        j += stride;
    }
    dot_scratch[unit_pos()] = dot;
    abs_scratch[unit_pos()] = abs_sum;
    barrier();
    let mut half = group_size() / 2;
    while half > 0 {
        if unit_pos() < half {
            dot_scratch[unit_pos()] += dot_scratch[unit_pos() + half];
            abs_scratch[unit_pos()] += abs_scratch[unit_pos() + half];
        }
        barrier();
        half /= 2;
    }
    if unit_pos() == 0 {
        dots[group_pos()] = dot_scratch[0];
        abs_sums[group_pos()] = abs_scratch[0];
    }
}

/// The parameter update with the step's new `d`: `p ← p + p·neg_decay`, then
/// `p ← p − dlr·m / (√v + dε)` (`with_m = 1`) or `p ← p − dlr·d·g / (√v + dε)`.
#[vibee::kernel]
pub fn prodigy_apply(
    p: &mut [f32],
    g: &[f32],
    m: &[f32],
    v: &[f32],
    coupled: u32,
    wd: f32,
    d_eps: f32,
    neg_decay: f32,
    neg_dlr: f32,
    neg_dlr_d: f32,
    with_m: u32,
) {
    let stride = num_groups() * group_size();
    let mut i = global_pos();
    while i < p.len() {
        let x = p[i];
        let denom = sqrt(v[i]) + d_eps;
        let mut grad = g[i];
        if coupled != 0 {
            grad = g[i] + wd * x;
        }
        let decayed = x + x * neg_decay;
        if with_m != 0 {
            p[i] = decayed + neg_dlr * (m[i] / denom);
        } else {
            p[i] = decayed + neg_dlr_d * (grad / denom);
        }
        i += stride;
    }
}

/// `dst[j] ← src[j·slice]` (the sliced starting point `p0`).
#[vibee::kernel]
pub fn strided_copy(src: &[f32], dst: &mut [f32], slice: u32) {
    let stride = num_groups() * group_size();
    let mut j = global_pos();
    while j < dst.len() {
        dst[j] = src[j * slice];
        j += stride;
    }
}

/// Prodigy as fused kernels, moments and `d` statistics resident on the device; state dict
/// as the host [`Prodigy`](vibee_runtime::optim::Prodigy)'s.
///
/// `⟨g, p0 − p⟩` and `Σ|s|` are reductions in another order than the host's sequential
/// `f64` sums, so `d` — and with it every step — agrees with the host to about `1e-6`
/// relative rather than bit for bit.
#[derive(Debug)]
pub struct FusedProdigy {
    cfg: ProdigyConfig,
    /// `exp_avg`, `exp_avg_sq`; `step` is the host's `k` (steps that changed parameters).
    state: DeviceState,
    /// `s`, every `slice_p`-th element.
    s: Vec<Buffer<f32>>,
    /// The sliced starting point; empty before the first step.
    p0: Vec<Buffer<f32>>,
    est: ProdigyEstimate,
}

impl FusedProdigy {
    /// Zeroed statistics for every tensor of `params` on `device`.
    pub fn new(device: &Device, cfg: ProdigyConfig, params: ParamSet) -> Result<Self, FusedError> {
        cfg.validate()?;
        ProdigyConfig::check_lr_scales(&params)?;
        let s = zeroed_sliced(device, &cfg, &params)?;
        Ok(Self {
            state: DeviceState::new(device, params, &["exp_avg", "exp_avg_sq"])?,
            est: ProdigyEstimate::new(&cfg),
            cfg,
            s,
            p0: Vec::new(),
        })
    }

    /// The current distance estimate `d` (the effective learning rate is `d·lr`).
    pub fn d(&self) -> f64 {
        self.est.d
    }

    /// The sliced copies of `params` (the first `p0`).
    fn slices_of(&self, params: &[Buffer<f32>]) -> Result<Vec<Buffer<f32>>, FusedError> {
        let (device, slice) = (&self.state.device, self.cfg.slice_p as u32);
        let mut p0 = zeroed_sliced(device, &self.cfg, &self.state.params)?;
        for (p, dst) in params.iter().zip(&mut p0) {
            strided_copy::launch(device, grid(device, dst.len()), p, dst, slice)?;
        }
        Ok(p0)
    }

    /// First pass over tensor `i`: moments and `s`; returns its `⟨g, p0 − p⟩` and `Σ|s|`.
    fn accumulate(
        &mut self,
        i: usize,
        p: &Buffer<f32>,
        g: &Buffer<f32>,
        dlr: f64,
    ) -> Result<(f64, f64), FusedError> {
        let st = &mut self.state;
        let (device, info) = (&st.device, st.params.get(i));
        let k = ProdigyScalars::<f32>::new(&self.cfg, &self.est, dlr, info);
        let (coupled, wd) = (
            u32::from(k.coupled_wd.is_some()),
            k.coupled_wd.unwrap_or(0.0),
        );
        let [(_, m), (_, v)] = &mut st.slots[..] else {
            unreachable!("FusedProdigy::new creates exactly two slots");
        };
        let (m, v) = (&mut m[i], &mut v[i]);
        let (b1, mk, b2, vk) = (k.beta1, k.m_keep, k.beta2, k.v_keep);
        let grid = grid(device, p.len());
        prodigy_moments::launch(device, grid, p, g, m, v, coupled, wd, b1, mk, b2, vk)?;
        let s = &mut self.s[i];
        let (grid, groups) = reduce_grid(s.len());
        let mut dots = Buffer::<f32>::zeros(device, groups)?;
        let mut abs_sums = Buffer::<f32>::zeros(device, groups)?;
        let slice = self.cfg.slice_p as u32;
        prodigy_statistics::launch(
            device,
            grid,
            p,
            g,
            &self.p0[i],
            s,
            &mut dots,
            &mut abs_sums,
            slice,
            coupled,
            wd,
            k.beta3,
            k.s_alpha,
        )?;
        let sum = |b: &Buffer<f32>| -> Result<f64, FusedError> {
            Ok(b.to_vec()?.iter().map(|&v| f64::from(v)).sum())
        };
        Ok((sum(&dots)?, sum(&abs_sums)?))
    }

    /// Second pass over tensor `i`: the update with the step's new `d`.
    fn apply(
        &mut self,
        i: usize,
        p: &mut Buffer<f32>,
        g: &Buffer<f32>,
        dlr: f64,
    ) -> Result<(), FusedError> {
        let st = &self.state;
        let (device, info) = (&st.device, st.params.get(i));
        let k = ProdigyApply::<f32>::new(&self.cfg, &self.est, dlr, info);
        let (coupled, wd) = (
            u32::from(k.coupled_wd.is_some()),
            k.coupled_wd.unwrap_or(0.0),
        );
        let (m, v) = (&st.slots[0].1[i], &st.slots[1].1[i]);
        prodigy_apply::launch(
            device,
            grid(device, p.len()),
            p,
            g,
            m,
            v,
            coupled,
            wd,
            k.d_eps,
            k.neg_decay,
            k.neg_dlr,
            k.neg_dlr_d,
            u32::from(k.with_m),
        )?;
        Ok(())
    }
}

/// Zeroed `d` statistics for every tensor: every `slice_p`-th element.
fn zeroed_sliced(
    device: &Device,
    cfg: &ProdigyConfig,
    params: &ParamSet,
) -> Result<Vec<Buffer<f32>>, FusedError> {
    let slice = cfg.slice_p.max(1);
    let buffers = params
        .iter()
        .map(|info| Buffer::zeros(device, info.numel().div_ceil(slice)))
        .collect::<Result<_, _>>()?;
    Ok(buffers)
}

impl FusedOptimizer for FusedProdigy {
    fn name(&self) -> &'static str {
        "prodigy"
    }

    fused_common!(steps, lr);

    fn step(
        &mut self,
        params: &mut [Buffer<f32>],
        grads: &[Buffer<f32>],
    ) -> Result<(), FusedError> {
        check(
            &self.state.params,
            &[("parameter", &*params), ("gradient", grads)],
        )?;
        self.cfg.validate()?;
        ProdigyConfig::check_lr_scales(&self.state.params)?;
        if self.p0.is_empty() {
            self.p0 = self.slices_of(params)?;
        }
        let dlr = self.est.dlr(&self.cfg, self.state.step);
        let (mut delta, mut denom) = (0.0, 0.0);
        for (i, (p, g)) in params.iter().zip(grads).enumerate() {
            if self.state.params.get(i).lr_scale == 0.0 {
                continue;
            }
            let (dot, abs_sum) = self.accumulate(i, p, g, dlr)?;
            delta += self.est.delta(&self.cfg, dlr, dot);
            denom += abs_sum;
        }
        if denom == 0.0 {
            // The reference returns before counting the step when every gradient is zero.
            return Ok(());
        }
        if self.cfg.lr > 0.0 {
            self.est.update(&self.cfg, delta, denom);
        }
        for (i, (p, g)) in params.iter_mut().zip(grads).enumerate() {
            self.apply(i, p, g, dlr)?;
        }
        self.state.step += 1;
        Ok(())
    }

    fn state_dict(&self) -> Result<StateDict, FusedError> {
        let mut sd = self.state.state_dict("prodigy")?;
        sd.scalars.insert("d".into(), self.est.d);
        sd.scalars.insert("d_max".into(), self.est.d_max);
        sd.scalars
            .insert("d_numerator".into(), self.est.d_numerator);
        put_slot(&mut sd, &self.state.params, "s", &self.s)?;
        if !self.p0.is_empty() {
            put_slot(&mut sd, &self.state.params, "p0", &self.p0)?;
        }
        Ok(sd)
    }

    fn load_state_dict(&mut self, sd: &StateDict) -> Result<(), FusedError> {
        self.state.load("prodigy", sd)?;
        self.est = ProdigyEstimate {
            d: sd.scalar("d")?,
            d_max: sd.scalar("d_max")?,
            d_numerator: sd.scalar("d_numerator")?,
        };
        let (device, params) = (&self.state.device, &self.state.params);
        let slice = self.cfg.slice_p.max(1);
        let len = |info: &vibee_runtime::optim::ParamInfo| info.numel().div_ceil(slice);
        let started = params
            .iter()
            .next()
            .is_some_and(|info| sd.tensors.contains_key(&format!("{}/p0", info.name)));
        self.s = take_slot_sized(device, params, sd, "s", len)?;
        self.p0 = if started {
            take_slot_sized(device, params, sd, "p0", len)?
        } else {
            Vec::new()
        };
        Ok(())
    }
}
