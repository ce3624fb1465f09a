//! Shampoo as fused kernels, as the host [`Shampoo`](vibee_runtime::optim::Shampoo): the
//! grafting direction, the statistics `S ← β₂S + w·G₍ₖ₎G₍ₖ₎ᵀ` of every block and dimension,
//! the preconditioned direction (each block contracted with its inverse roots, one
//! dimension after another), the norm grafting and the momentum step all run on the device;
//! the statistics and roots stay there.
//!
//! Two things differ from the host, which computes in `f64`: the device state is `f32`
//! (the kernel language has no `f64`), and the inverse roots — recomputed every
//! `preconditioning_compute_steps` — are computed on the host in `f64` from the statistics
//! read back, by the same eigendecomposition as the host's, and uploaded (the reference
//! implementations also run that step apart from the update, for its cost and its
//! precision). The grafting norms are reductions summed in `f64` on the host. A fused step
//! therefore follows the host to `f32` rounding before the first root refresh, and within
//! the `f32` error of the statistics magnified by the inverse root after it (measured in
//! `tests/optim_fused/shampoo.rs`).

// Generated launchers take one argument per kernel parameter, plus the device and grid.
#![allow(clippy::too_many_arguments)]

use vibee_runtime::optim::{
    Graft, ParamSet, ShampooConfig, ShampooLayout, ShampooMomentum, StateDict, shampoo_inverse_root,
};
use vibee_runtime::{Buffer, Device};

use super::factored::sum_squares;
use super::{DeviceState, FusedError, FusedOptimizer, grid};

/// `dst[q] ← src[order[q]]`: a tensor cut into its blocks, block after block.
#[vibee::kernel]
pub fn gather_blocks(src: &[f32], order: &[u32], dst: &mut [f32]) {
    let stride = num_groups() * group_size();
    let mut q = global_pos();
    while q < order.len() {
        dst[q] = src[order[q]];
        q += stride;
    }
}

/// `dst[order[q]] ← src[q]`: the blocks put back in their tensor.
#[vibee::kernel]
pub fn scatter_blocks(src: &[f32], order: &[u32], dst: &mut [f32]) {
    let stride = num_groups() * group_size();
    let mut q = global_pos();
    while q < order.len() {
        dst[order[q]] = src[q];
        q += stride;
    }
}

/// One unit per entry `(i, j)` of a `d × d` statistic of the block at `x[base..]`, viewed as
/// `[outer, d, inner]`: `S[i][j] ← β₂·S[i][j] + w·Σ_o Σ_r x[o][i][r]·x[o][j][r]`.
#[vibee::kernel]
pub fn shampoo_statistics(
    x: &[f32],
    stat: &mut [f32],
    base: u32,
    outer: u32,
    d: u32,
    inner: u32,
    beta2: f32,
    w: f32,
) {
    let stride = num_groups() * group_size();
    let mut e = global_pos();
    while e < stat.len() {
        let i = e / d;
        let j = e % d;
        let mut sum = 0.0;
        for o in 0..outer {
            let start = base + o * d * inner;
            for r in 0..inner {
                sum += x[start + i * inner + r] * x[start + j * inner + r];
            }
        }
        stat[e] = beta2 * stat[e] + w * sum;
        e += stride;
    }
}

/// One unit per output element of the block at `x[base..]`, viewed as `[d, rest]`:
/// `y[base + r·d + k] = Σ_a x[base + a·rest + r]·root[a][k]` — the leading dimension
/// contracted with its root and moved last.
#[vibee::kernel]
pub fn shampoo_contract(x: &[f32], root: &[f32], y: &mut [f32], base: u32, d: u32, rest: u32) {
    let stride = num_groups() * group_size();
    let mut e = global_pos();
    while e < d * rest {
        let r = e / d;
        let k = e % d;
        let mut sum = 0.0;
        for a in 0..d {
            sum += x[base + a * rest + r] * root[a * d + k];
        }
        y[base + e] = sum;
        e += stride;
    }
}

/// The grafting direction times `pre_mult`: the gradient (`kind` 0), its sign (1), or
/// AdaGrad's (2) / RMSProp's (3) `g / (√s + ε)` after folding `g²` into `s`.
#[vibee::kernel]
pub fn shampoo_graft(
    g: &[f32],
    s: &mut [f32],
    out: &mut [f32],
    kind: u32,
    beta2: f32,
    keep2: f32,
    eps: f32,
    pre_mult: f32,
) {
    let stride = num_groups() * group_size();
    let mut i = global_pos();
    while i < g.len() {
        let grad = g[i];
        let mut direction = grad;
        if kind == 1 {
            direction = 0.0;
            if grad > 0.0 {
                direction = 1.0;
            }
            if grad < 0.0 {
                direction = -1.0;
            }
        }
        if kind >= 2 {
            let mut si = s[i] + grad * grad;
            if kind == 3 {
                si = s[i] * beta2 + grad * grad * keep2;
            }
            s[i] = si;
            direction = grad / (sqrt(si) + eps);
        }
        out[i] = direction * pre_mult;
        i += stride;
    }
}

/// The step: weight decay (decoupled `p·decay`, or `l2·p` added to both directions), both
/// momenta, and `p ← p − mom_mult·look_ahead(m, d)` along the Shampoo direction
/// (`precondition = 1`, `shampoo · shampoo_mult`) or the grafted one.
#[vibee::kernel]
pub fn shampoo_apply(
    p: &mut [f32],
    graft: &[f32],
    shampoo: &[f32],
    m: &mut [f32],
    gm: &mut [f32],
    shampoo_mult: f32,
    decay: f32,
    l2: f32,
    beta1: f32,
    w: f32,
    ema: u32,
    nesterov: u32,
    precondition: u32,
    neg_mom_mult: f32,
) {
    let stride = num_groups() * group_size();
    let mut i = global_pos();
    while i < p.len() {
        let x = p[i] * decay;
        let gr = graft[i] + l2 * x;
        let sh = shampoo[i] * shampoo_mult + l2 * x;
        let mut mi = m[i] * beta1 + sh * w;
        if ema != 0 {
            mi = m[i] + w * (sh - m[i]);
        }
        let gmi = gm[i] * beta1 + gr * w;
        m[i] = mi;
        gm[i] = gmi;
        let mut mom = gmi;
        let mut d = gr;
        if precondition != 0 {
            mom = mi;
            d = sh;
        }
        let mut look = mom;
        if nesterov != 0 {
            look = mom * beta1 + d;
            if ema != 0 {
                look = mom + w * (d - mom);
            }
        }
        p[i] = x + neg_mom_mult * look;
        i += stride;
    }
}

/// One preconditioned tensor's blocks on the device.
struct DeviceBlocks {
    layout: ShampooLayout,
    order: Buffer<u32>,
    /// Per block and dimension (`b·rank + k`), `d × d`.
    statistics: Vec<Buffer<f32>>,
    roots: Vec<Buffer<f32>>,
}

/// Shampoo with grafting as fused kernels, every statistic resident on the device; state
/// dict as the host [`Shampoo`](vibee_runtime::optim::Shampoo)'s. See the module docs for
/// how it departs from the host's `f64`.
pub struct FusedShampoo {
    cfg: ShampooConfig,
    /// `momentum`, `graft_momentum`, `graft_stats`.
    state: DeviceState,
    /// `None` for tensors that are not preconditioned.
    blocks: Vec<Option<DeviceBlocks>>,
    /// Scratch sized for the largest tensor: the grafted direction, the Shampoo direction,
    /// and the two buffers the block contractions alternate between.
    graft: Buffer<f32>,
    shampoo: Buffer<f32>,
    ping: Buffer<f32>,
    pong: Buffer<f32>,
}

impl FusedShampoo {
    /// Statistics `matrix_eps·I`, roots `I` and zeroed momenta for every tensor of `params`
    /// on `device`.
    pub fn new(device: &Device, cfg: ShampooConfig, params: ParamSet) -> Result<Self, FusedError> {
        cfg.validate()?;
        let blocks = params
            .iter()
            .map(|info| {
                cfg.layout(&info.shape)
                    .map(|l| DeviceBlocks::new(device, &cfg, l))
                    .transpose()
            })
            .collect::<Result<_, _>>()?;
        let largest = params.iter().map(|i| i.numel()).max().unwrap_or(0).max(1);
        let scratch = || Buffer::<f32>::zeros(device, largest);
        Ok(Self {
            state: DeviceState::new(
                device,
                params,
                &["momentum", "graft_momentum", "graft_stats"],
            )?,
            cfg,
            blocks,
            graft: scratch()?,
            shampoo: scratch()?,
            ping: scratch()?,
            pong: scratch()?,
        })
    }

    /// Tensor `i`'s update: directions, grafting, then the step.
    fn update_tensor(
        &mut self,
        i: usize,
        p: &mut Buffer<f32>,
        g: &Buffer<f32>,
    ) -> Result<(), FusedError> {
        let (cfg, st) = (&self.cfg, &mut self.state);
        let (device, info, step, n) = (&st.device, st.params.get(i), st.step, p.len());
        let lr = cfg.lr * info.lr_scale;
        let wd = cfg.weight_decay * info.decay_scale;
        let pre_mult = if cfg.decoupled_learning_rate { 1.0 } else { lr };
        let [(_, m), (_, gm), (_, graft_stats)] = &mut st.slots[..] else {
            unreachable!("FusedShampoo::new creates exactly three slots");
        };
        let (kind, (b2, eps)) = (graft_kind(cfg.graft), (cfg.betas.1, cfg.diagonal_eps));
        shampoo_graft::launch(
            device,
            grid(device, n),
            g,
            &mut graft_stats[i],
            &mut self.graft,
            kind,
            b2 as f32,
            (1.0 - b2) as f32,
            eps as f32,
            pre_mult as f32,
        )?;
        let preconditioned = match &mut self.blocks[i] {
            Some(blocks) => {
                blocks.refresh(device, cfg, step, g, &mut self.ping)?;
                blocks.precondition(device, g, (&mut self.ping, &mut self.pong))?;
                blocks.scatter(device, &self.ping, &self.pong, &mut self.shampoo)?;
                true
            }
            None => false,
        };
        let shampoo = if preconditioned {
            &self.shampoo
        } else {
            &self.graft
        };
        let raw_mult = if preconditioned { pre_mult } else { 1.0 };
        let shampoo_mult = if cfg.graft == Graft::None {
            raw_mult
        } else {
            let graft_norm = sum_squares(device, &self.graft, n)?.sqrt();
            let raw_norm = sum_squares(device, shampoo, n)?.sqrt();
            raw_mult * graft_norm / (raw_mult * raw_norm + 1e-16)
        };
        let decoupled = cfg.decoupled_weight_decay && wd != 0.0;
        let decay = if decoupled { 1.0 - wd * lr } else { 1.0 };
        let l2 = if !decoupled && wd > 0.0 { wd } else { 0.0 };
        let mom = ShampooMomentum::of(cfg);
        let mom_mult = if cfg.decoupled_learning_rate { lr } else { 1.0 };
        shampoo_apply::launch(
            device,
            grid(device, n),
            p,
            &self.graft,
            shampoo,
            &mut m[i],
            &mut gm[i],
            shampoo_mult as f32,
            decay as f32,
            l2 as f32,
            mom.beta1 as f32,
            mom.w as f32,
            u32::from(mom.ema),
            u32::from(mom.nesterov),
            u32::from(step >= cfg.start_preconditioning_step),
            (-mom_mult) as f32,
        )?;
        Ok(())
    }
}

/// The `kind` argument of [`shampoo_graft`].
fn graft_kind(graft: Graft) -> u32 {
    match graft {
        Graft::None | Graft::Sgd => 0,
        Graft::Sqrtn => 1,
        Graft::Adagrad => 2,
        Graft::Rmsprop => 3,
    }
}

impl DeviceBlocks {
    fn new(
        device: &Device,
        cfg: &ShampooConfig,
        layout: ShampooLayout,
    ) -> Result<Self, FusedError> {
        let order: Vec<u32> = layout.order.iter().map(|&q| q as u32).collect();
        let dims = layout.blocks.iter().flatten();
        let identity = |d: usize, scale: f64| {
            let mut m = vec![0.0f32; d * d];
            (0..d).for_each(|k| m[k * d + k] = scale as f32);
            Buffer::from_slice(device, &m)
        };
        Ok(Self {
            order: Buffer::from_slice(device, &order)?,
            statistics: dims
                .clone()
                .map(|&d| identity(d, cfg.matrix_eps))
                .collect::<Result<_, _>>()?,
            roots: dims.map(|&d| identity(d, 1.0)).collect::<Result<_, _>>()?,
            layout,
        })
    }

    fn rank(&self) -> usize {
        self.layout.blocks.first().map_or(0, Vec::len)
    }

    /// Every block with its offset in the gathered buffer.
    fn offsets(&self) -> impl Iterator<Item = (usize, &Vec<usize>)> {
        let mut base = 0;
        self.layout.blocks.iter().map(move |shape| {
            let at = base;
            base += shape.iter().product::<usize>();
            (at, shape)
        })
    }

    /// Folds `g` into the statistics and recomputes the roots when the step calls for it.
    fn refresh(
        &mut self,
        device: &Device,
        cfg: &ShampooConfig,
        step: u64,
        g: &Buffer<f32>,
        blocked: &mut Buffer<f32>,
    ) -> Result<(), FusedError> {
        if step.is_multiple_of(cfg.statistics_compute_steps) {
            gather_blocks::launch(device, grid(device, g.len()), g, &self.order, blocked)?;
            let (beta2, w) = cfg.statistics_decay();
            let rank = self.rank();
            let blocks: Vec<(usize, Vec<usize>)> =
                self.offsets().map(|(at, s)| (at, s.clone())).collect();
            for (b, (base, shape)) in blocks.iter().enumerate() {
                for k in 0..rank {
                    let (outer, inner) = (
                        shape[..k].iter().product::<usize>(),
                        shape[k + 1..].iter().product::<usize>(),
                    );
                    let stat = &mut self.statistics[b * rank + k];
                    shampoo_statistics::launch(
                        device,
                        grid(device, stat.len()),
                        blocked,
                        stat,
                        *base as u32,
                        outer as u32,
                        shape[k] as u32,
                        inner as u32,
                        beta2 as f32,
                        w as f32,
                    )?;
                }
            }
        }
        if step.is_multiple_of(cfg.preconditioning_compute_steps) {
            self.compute_roots(device)?;
        }
        Ok(())
    }

    /// Every root `S^(−1/p)` computed on the host in `f64` from the device statistics.
    fn compute_roots(&mut self, device: &Device) -> Result<(), FusedError> {
        let p = self.layout.exponent;
        for (stat, root) in self.statistics.iter().zip(&mut self.roots) {
            let s: Vec<f64> = stat.to_vec()?.into_iter().map(f64::from).collect();
            let d = (s.len() as f64).sqrt().round() as usize;
            let r: Vec<f32> = shampoo_inverse_root(&s, d, p)
                .into_iter()
                .map(|v| v as f32)
                .collect();
            *root = Buffer::from_slice(device, &r)?;
        }
        Ok(())
    }

    /// Every block of `g` contracted with its roots, one dimension after another; the
    /// result is in `ping` for an even rank and in `pong` for an odd one.
    fn precondition(
        &self,
        device: &Device,
        g: &Buffer<f32>,
        (ping, pong): (&mut Buffer<f32>, &mut Buffer<f32>),
    ) -> Result<(), FusedError> {
        gather_blocks::launch(device, grid(device, g.len()), g, &self.order, ping)?;
        let rank = self.rank();
        for (b, (base, shape)) in self.offsets().enumerate() {
            let n: usize = shape.iter().product();
            let mut dims = shape.clone();
            for k in 0..rank {
                let (d, rest) = (dims[0], n / dims[0].max(1));
                let (x, y) = if k % 2 == 0 {
                    (&*ping, &mut *pong)
                } else {
                    (&*pong, &mut *ping)
                };
                let root = &self.roots[b * rank + k];
                let grid = grid(device, n);
                shampoo_contract::launch(
                    device,
                    grid,
                    x,
                    root,
                    y,
                    base as u32,
                    d as u32,
                    rest as u32,
                )?;
                dims.rotate_left(1);
            }
        }
        Ok(())
    }

    /// The preconditioned blocks put back in tensor order into `out`.
    fn scatter(
        &self,
        device: &Device,
        ping: &Buffer<f32>,
        pong: &Buffer<f32>,
        out: &mut Buffer<f32>,
    ) -> Result<(), FusedError> {
        let done = if self.rank().is_multiple_of(2) {
            ping
        } else {
            pong
        };
        let n = self.layout.order.len();
        scatter_blocks::launch(device, grid(device, n), done, &self.order, out)?;
        Ok(())
    }
}

impl FusedOptimizer for FusedShampoo {
    fn name(&self) -> &'static str {
        "shampoo"
    }

    fused_common!(steps, lr, step_per_tensor);

    fn state_dict(&self) -> Result<StateDict, FusedError> {
        let mut sd = self.state.state_dict("shampoo")?;
        for (info, blocks) in self.state.params.iter().zip(&self.blocks) {
            let Some(blocks) = blocks else { continue };
            let pairs = blocks.statistics.iter().zip(&blocks.roots);
            for (k, (s, r)) in pairs.enumerate() {
                for (what, buf) in [("statistics", s), ("root", r)] {
                    let host = buf.to_vec()?.into_iter().map(f64::from).collect();
                    sd.tensors.insert(format!("{}/{what}.{k}", info.name), host);
                }
            }
        }
        Ok(sd)
    }

    fn load_state_dict(&mut self, sd: &StateDict) -> Result<(), FusedError> {
        self.state.load("shampoo", sd)?;
        let device = &self.state.device;
        for (info, blocks) in self.state.params.iter().zip(&mut self.blocks) {
            let Some(blocks) = blocks else { continue };
            let pairs = blocks.statistics.iter_mut().zip(&mut blocks.roots);
            for (k, (s, r)) in pairs.enumerate() {
                for (what, buf) in [("statistics", s), ("root", r)] {
                    let host = sd.take::<f32>(&info.name, &format!("{what}.{k}"), buf.len())?;
                    *buf = Buffer::from_slice(device, &host)?;
                }
            }
        }
        Ok(())
    }
}

impl std::fmt::Debug for FusedShampoo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FusedShampoo")
            .field("cfg", &self.cfg)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}
