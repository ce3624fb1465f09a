//! Adam, AdamW and Lion; checkpoints between host and fused; errors.

use vibee::optim::{FusedAdam, FusedLion, FusedOptimizer};
use vibee::prelude::*;
use vibee::runtime::optim::{Adam, AdamConfig, Lion, LionConfig, Optimizer};

use super::{compare, devices, grad, param_set, resume, values};

#[test]
fn fused_adamw_matches_host_adamw() {
    let cfg = AdamConfig::adamw(3e-2, 0.1);
    for device in devices() {
        let host = Adam::<f32>::new(cfg.clone(), param_set());
        let fused = FusedAdam::new(&device, cfg.clone(), param_set()).unwrap();
        compare(&device, host, fused);
    }
}

#[test]
fn fused_adam_with_l2_matches_host_adam() {
    let mut cfg = AdamConfig::adamw(1e-2, 0.05);
    cfg.decoupled_weight_decay = false;
    for device in devices() {
        let host = Adam::<f32>::new(cfg.clone(), param_set());
        let fused = FusedAdam::new(&device, cfg.clone(), param_set()).unwrap();
        compare(&device, host, fused);
    }
}

#[test]
fn fused_lion_matches_host_lion() {
    let cfg = LionConfig::new(1e-3, 0.5);
    for device in devices() {
        let host = Lion::<f32>::new(cfg.clone(), param_set());
        let fused = FusedLion::new(&device, cfg.clone(), param_set()).unwrap();
        compare(&device, host, fused);
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

#[test]
fn adamw_checkpoints_resume_across_host_and_fused() {
    let cfg = AdamConfig::adamw(3e-2, 0.1);
    for device in devices() {
        let host = || Adam::<f32>::new(cfg.clone(), param_set());
        let fused = FusedAdam::new(&device, cfg.clone(), param_set()).unwrap();
        resume(&device, host(), fused, host());
    }
}
