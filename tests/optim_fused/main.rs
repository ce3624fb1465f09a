//! The fused optimizer kernels against the host optimizers, step for step, on every
//! backend present: bit for bit on the CPU backend (the kernels do the host's operations in
//! the host's order with the host's scalars), within 1e-5 relative on GPUs (which may
//! contract multiply-adds). A backend that is absent is reported on stderr.
#![allow(clippy::unwrap_used)] // a failed unwrap in a test is a failed test

mod adafactor_came;
mod adam_lion;
mod golden;
mod prodigy;
mod schedule_free;
mod sgd;
mod shampoo;
mod sophia;

use vibee::optim::FusedOptimizer;
use vibee::prelude::*;
use vibee::runtime::optim::{Optimizer, ParamSet};

/// Steps every comparison runs.
pub const STEPS: usize = 12;

/// The backends present; the absent ones are reported on stderr.
pub fn devices() -> Vec<Device> {
    let (present, absent) = Device::available();
    for reason in absent {
        eprintln!("backend skipped: {reason}");
    }
    present
}

/// Four tensors: one smaller than a group, one not a multiple of it, a bias (no weight
/// decay by default, so per-tensor scalars matter), and a stack of two matrices (factored
/// moments over the last two dimensions).
pub fn param_set() -> ParamSet {
    ParamSet::new([
        ("tiny.weight", vec![3, 5]),
        ("blocks.0.weight", vec![37, 29]),
        ("blocks.0.bias", vec![300]),
        ("heads.weight", vec![2, 4, 6]),
    ])
}

/// Deterministic values in [-1, 1), different per `seed`.
pub fn values(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            ((s >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0) as f32
        })
        .collect()
}

/// The gradient of tensor `t` at step `k`.
pub fn grad(set: &ParamSet, t: usize, k: usize) -> Vec<f32> {
    values(set.get(t).numel(), 1000 * k as u64 + t as u64 + 7)
}

/// `vecs` copied to `device`.
pub fn upload(device: &Device, vecs: &[Vec<f32>]) -> Vec<Buffer<f32>> {
    vecs.iter()
        .map(|v| Buffer::from_slice(device, v).unwrap())
        .collect()
}

/// Relative tolerance on GPUs, which may contract a multiply and an add.
pub const GPU_TOLERANCE: f32 = 1e-5;

/// `got` equals `want` bit for bit when `tolerance` is 0 on the CPU backend, else within
/// `tolerance` (at least [`GPU_TOLERANCE`] on GPUs) relative to `max(|want|, 1e-3)`.
#[track_caller]
pub fn assert_matches(device: &Device, what: &str, got: &[f32], want: &[f32], tolerance: f32) {
    assert_eq!(got.len(), want.len());
    let tolerance = if matches!(device, Device::Cpu) {
        tolerance
    } else {
        tolerance.max(GPU_TOLERANCE)
    };
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let ok = if tolerance == 0.0 {
            g.to_bits() == w.to_bits()
        } else {
            (g - w).abs() <= tolerance * w.abs().max(1e-3)
        };
        assert!(ok, "{what}, element {i}: fused {g}, host {w}");
    }
}

/// The same parameters on the host and on a device, stepped side by side.
#[derive(Debug)]
pub struct Run {
    pub device: Device,
    pub set: ParamSet,
    pub host: Vec<Vec<f32>>,
    pub dev: Vec<Buffer<f32>>,
    /// Steps taken.
    pub k: usize,
    /// 0 for bit-identical results on the CPU backend; see [`assert_matches`].
    pub tolerance: f32,
}

impl Run {
    /// Initial parameters, the same on both sides.
    pub fn new(device: &Device) -> Self {
        let set = param_set();
        let host: Vec<Vec<f32>> = (0..set.len())
            .map(|t| values(set.get(t).numel(), t as u64))
            .collect();
        let dev = upload(device, &host);
        Self {
            device: device.clone(),
            set,
            host,
            dev,
            k: 0,
            tolerance: 0.0,
        }
    }

    /// Mutable views of the host parameters.
    pub fn host_views(&mut self) -> Vec<&mut [f32]> {
        self.host.iter_mut().map(Vec::as_mut_slice).collect()
    }

    /// One step of each on the same gradients, then the parameters compared.
    pub fn step(&mut self, host: &mut impl Optimizer<f32>, fused: &mut impl FusedOptimizer) {
        let set = &self.set;
        let grads: Vec<Vec<f32>> = (0..set.len()).map(|t| grad(set, t, self.k)).collect();
        let dev_grads = upload(&self.device, &grads);
        let grad_views: Vec<&[f32]> = grads.iter().map(Vec::as_slice).collect();
        host.step(&mut self.host_views(), &grad_views).unwrap();
        fused.step(&mut self.dev, &dev_grads).unwrap();
        self.k += 1;
        self.assert_same(&format!("{}, step {}", fused.name(), self.k));
    }

    /// Host and device parameters compared.
    #[track_caller]
    pub fn assert_same(&self, what: &str) {
        for (t, (d, h)) in self.dev.iter().zip(&self.host).enumerate() {
            let what = format!("{what} on {:?}, tensor {t}", self.device);
            assert_matches(&self.device, &what, &d.to_vec().unwrap(), h, self.tolerance);
        }
    }
}

/// Runs `STEPS` steps of the host optimizer and of the fused one, comparing the
/// parameters after every step.
pub fn compare(device: &Device, host: impl Optimizer<f32>, fused: impl FusedOptimizer) {
    compare_within(device, 0.0, host, fused);
}

/// [`compare`] within `tolerance` (see [`assert_matches`]).
pub fn compare_within(
    device: &Device,
    tolerance: f32,
    mut host: impl Optimizer<f32>,
    mut fused: impl FusedOptimizer,
) {
    let mut run = Run::new(device);
    run.tolerance = tolerance;
    for _ in 0..STEPS {
        run.step(&mut host, &mut fused);
    }
}

/// A checkpoint moves both ways: the host optimizer takes `STEPS / 2` steps alone, the fused
/// one resumes from its state dict (which it must write back unchanged), both take the
/// remaining steps side by side, and the host then resumes from the fused state dict.
pub fn resume(
    device: &Device,
    host: impl Optimizer<f32>,
    fused: impl FusedOptimizer,
    fresh_host: impl Optimizer<f32>,
) {
    resume_within(device, 0.0, host, fused, fresh_host);
}

/// [`resume`] within `tolerance` (see [`assert_matches`]); the final state dicts are
/// compared only when it is 0.
pub fn resume_within(
    device: &Device,
    tolerance: f32,
    mut host: impl Optimizer<f32>,
    mut fused: impl FusedOptimizer,
    mut fresh_host: impl Optimizer<f32>,
) {
    let mut run = Run::new(device);
    run.tolerance = tolerance;
    for k in 0..STEPS / 2 {
        let grads: Vec<Vec<f32>> = (0..run.set.len()).map(|t| grad(&run.set, t, k)).collect();
        let views: Vec<&[f32]> = grads.iter().map(Vec::as_slice).collect();
        host.step(&mut run.host_views(), &views).unwrap();
    }
    run.k = STEPS / 2;
    run.dev = upload(device, &run.host);
    let saved = host.state_dict();
    fused.load_state_dict(&saved).unwrap();
    assert_eq!(fused.steps(), saved.step);
    assert_eq!(
        fused.state_dict().unwrap(),
        saved,
        "{} state dict",
        fused.name()
    );
    for _ in STEPS / 2..STEPS {
        run.step(&mut host, &mut fused);
    }
    fresh_host
        .load_state_dict(&fused.state_dict().unwrap())
        .unwrap();
    assert_eq!(fresh_host.steps(), STEPS as u64);
    if matches!(device, Device::Cpu) && tolerance == 0.0 {
        assert_eq!(fresh_host.state_dict(), host.state_dict());
    }
}
