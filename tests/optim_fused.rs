//! The fused optimizer kernels against the host optimizers, step for step, on every
//! backend present: bit for bit on the CPU backend, within 1e-5 relative on GPUs (which
//! may contract multiply-adds). A backend that is absent is reported on stderr.
#![allow(clippy::unwrap_used)] // a failed unwrap in a test is a failed test

use vibee::optim::{FusedAdam, FusedError, FusedLion};
use vibee::prelude::*;
use vibee::runtime::optim::{Adam, AdamConfig, Lion, LionConfig, Optimizer, ParamSet};

const STEPS: usize = 12;

fn devices() -> Vec<Device> {
    let (present, absent) = Device::available();
    for reason in absent {
        eprintln!("backend skipped: {reason}");
    }
    present
}

/// Three tensors: one smaller than a group, one not a multiple of it, and a bias (no
/// weight decay by default), so per-tensor scalars matter.
fn param_set() -> ParamSet {
    ParamSet::new([
        ("tiny.weight", vec![3, 5]),
        ("blocks.0.weight", vec![37, 29]),
        ("blocks.0.bias", vec![300]),
    ])
}

/// Deterministic values in [-1, 1), different per `seed`.
fn values(n: usize, seed: u64) -> Vec<f32> {
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
fn grad(set: &ParamSet, t: usize, k: usize) -> Vec<f32> {
    values(set.get(t).numel(), 1000 * k as u64 + t as u64 + 7)
}

#[track_caller]
fn assert_matches(device: &Device, what: &str, got: &[f32], want: &[f32]) {
    assert_eq!(got.len(), want.len());
    let exact = matches!(device, Device::Cpu);
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let ok = if exact {
            g.to_bits() == w.to_bits()
        } else {
            (g - w).abs() <= 1e-5 * w.abs().max(1e-3)
        };
        assert!(ok, "{what}, element {i}: fused {g}, host {w}");
    }
}

/// Runs `STEPS` steps of the host optimizer and of the fused one, comparing the
/// parameters after every step.
fn compare<H: Optimizer<f32>>(
    device: &Device,
    name: &str,
    mut host: H,
    mut fused: impl FnMut(&mut [Buffer<f32>], &[Buffer<f32>]) -> Result<(), FusedError>,
) {
    let set = param_set();
    let mut host_params: Vec<Vec<f32>> = (0..set.len())
        .map(|t| values(set.get(t).numel(), t as u64))
        .collect();
    let mut dev_params: Vec<Buffer<f32>> = host_params
        .iter()
        .map(|p| Buffer::from_slice(device, p).unwrap())
        .collect();
    for k in 0..STEPS {
        let grads: Vec<Vec<f32>> = (0..set.len()).map(|t| grad(&set, t, k)).collect();
        let dev_grads: Vec<Buffer<f32>> = grads
            .iter()
            .map(|g| Buffer::from_slice(device, g).unwrap())
            .collect();
        let mut views: Vec<&mut [f32]> = host_params.iter_mut().map(Vec::as_mut_slice).collect();
        let grad_views: Vec<&[f32]> = grads.iter().map(Vec::as_slice).collect();
        host.step(&mut views, &grad_views).unwrap();
        fused(&mut dev_params, &dev_grads).unwrap();
        for (t, (d, h)) in dev_params.iter().zip(&host_params).enumerate() {
            let what = format!("{name} on {device:?}, step {}, tensor {t}", k + 1);
            assert_matches(device, &what, &d.to_vec().unwrap(), h);
        }
    }
}

#[test]
fn fused_adamw_matches_host_adamw() {
    let cfg = AdamConfig::adamw(3e-2, 0.1);
    for device in devices() {
        let host = Adam::<f32>::new(cfg.clone(), param_set());
        let mut fused = FusedAdam::new(&device, cfg.clone(), param_set()).unwrap();
        compare(&device, "adamw", host, |p, g| fused.step(p, g));
    }
}

#[test]
fn fused_adam_with_l2_matches_host_adam() {
    let mut cfg = AdamConfig::adamw(1e-2, 0.05);
    cfg.decoupled_weight_decay = false;
    for device in devices() {
        let host = Adam::<f32>::new(cfg.clone(), param_set());
        let mut fused = FusedAdam::new(&device, cfg.clone(), param_set()).unwrap();
        compare(&device, "adam", host, |p, g| fused.step(p, g));
    }
}

#[test]
fn fused_lion_matches_host_lion() {
    let cfg = LionConfig::new(1e-3, 0.5);
    for device in devices() {
        let host = Lion::<f32>::new(cfg.clone(), param_set());
        let mut fused = FusedLion::new(&device, cfg.clone(), param_set()).unwrap();
        compare(&device, "lion", host, |p, g| fused.step(p, g));
    }
}

/// A checkpoint written by the host optimizer resumes the fused one, and back.
#[test]
fn state_dicts_move_between_host_and_fused() {
    let set = param_set();
    let cfg = AdamConfig::adamw(1e-2, 0.1);
    let mut host = Adam::<f32>::new(cfg.clone(), set.clone());
    let mut params: Vec<Vec<f32>> = (0..set.len())
        .map(|t| values(set.get(t).numel(), 3))
        .collect();
    let grads: Vec<Vec<f32>> = (0..set.len()).map(|t| grad(&set, t, 0)).collect();
    let mut views: Vec<&mut [f32]> = params.iter_mut().map(Vec::as_mut_slice).collect();
    host.step(
        &mut views,
        &grads.iter().map(Vec::as_slice).collect::<Vec<_>>(),
    )
    .unwrap();
    let saved = host.state_dict();
    let mut fused = FusedAdam::new(&Device::Cpu, cfg, set).unwrap();
    fused.load_state_dict(&saved).unwrap();
    assert_eq!(fused.steps(), 1);
    assert_eq!(fused.state_dict().unwrap(), saved);
    let lion = FusedLion::new(&Device::Cpu, LionConfig::new(1e-3, 0.0), param_set());
    let err = lion.unwrap().load_state_dict(&saved).unwrap_err();
    assert!(err.to_string().contains("adamw"), "{err}");
}

#[test]
fn mismatched_tensors_are_named() {
    let device = Device::Cpu;
    let mut opt = FusedAdam::new(&device, AdamConfig::adamw(1e-3, 0.0), param_set()).unwrap();
    let set = param_set();
    let mut params: Vec<Buffer<f32>> = set
        .iter()
        .map(|i| Buffer::zeros(&device, i.numel()).unwrap())
        .collect();
    let mut grads: Vec<Buffer<f32>> = set
        .iter()
        .map(|i| Buffer::zeros(&device, i.numel()).unwrap())
        .collect();
    grads[1] = Buffer::zeros(&device, 5).unwrap();
    let err = opt.step(&mut params, &grads).unwrap_err().to_string();
    assert!(
        err.contains("gradient `blocks.0.weight` has 5 elements"),
        "{err}"
    );
    let err = opt.step(&mut params[..2], &grads).unwrap_err().to_string();
    assert!(err.contains("got 2 parameter tensors"), "{err}");
    assert_eq!(opt.steps(), 0, "a refused step does not count");
    let mut amsgrad = AdamConfig::adamw(1e-3, 0.0);
    amsgrad.amsgrad = true;
    let err = FusedAdam::new(&device, amsgrad, param_set()).err().unwrap();
    assert!(err.to_string().contains("amsgrad"), "{err}");
}
