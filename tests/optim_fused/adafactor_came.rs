//! Adafactor and CAME: factored moments (row and column statistics bit-identical to the
//! host's), and RMS reductions whose summation order differs from the host's sequential
//! `f64` sum — hence a tolerance of 1e-5 relative on the CPU backend instead of bit
//! equality (measured: at most 2.3e-6 over the 12 steps; the RMS scales the step).

use vibee::optim::{FusedAdafactor, FusedCame};
use vibee::runtime::optim::{Adafactor, AdafactorConfig, Came, CameConfig};

use super::{compare_within, devices, param_set, resume_within};

/// Tolerance of the steps that depend on an RMS (see the module docs).
const RMS_TOLERANCE: f32 = 1e-5;

fn adafactor_configs() -> Vec<AdafactorConfig> {
    let relative = AdafactorConfig {
        weight_decay: 0.1,
        ..AdafactorConfig::default()
    };
    let with_momentum = AdafactorConfig {
        lr: Some(1e-2),
        relative_step: false,
        scale_parameter: false,
        beta1: Some(0.9),
        clip_threshold: 0.5,
        weight_decay: 0.05,
        ..AdafactorConfig::default()
    };
    vec![relative, with_momentum]
}

#[test]
fn fused_adafactor_matches_host_adafactor() {
    for device in devices() {
        for cfg in adafactor_configs() {
            let host = Adafactor::<f32>::new(cfg.clone(), param_set());
            let fused = FusedAdafactor::new(&device, cfg, param_set()).unwrap();
            compare_within(&device, RMS_TOLERANCE, host, fused);
        }
    }
}

#[test]
fn adafactor_checkpoints_resume_across_host_and_fused() {
    for device in devices() {
        let cfg = adafactor_configs().remove(1);
        let host = || Adafactor::<f32>::new(cfg.clone(), param_set());
        let fused = FusedAdafactor::new(&device, cfg.clone(), param_set()).unwrap();
        resume_within(&device, RMS_TOLERANCE, host(), fused, host());
    }
}

fn came_config() -> CameConfig {
    CameConfig {
        weight_decay: 0.1,
        ..CameConfig::new(2e-3)
    }
}

#[test]
fn fused_came_matches_host_came() {
    for device in devices() {
        let host = Came::<f32>::new(came_config(), param_set());
        let fused = FusedCame::new(&device, came_config(), param_set()).unwrap();
        compare_within(&device, RMS_TOLERANCE, host, fused);
    }
}

#[test]
fn came_checkpoints_resume_across_host_and_fused() {
    for device in devices() {
        let host = || Came::<f32>::new(came_config(), param_set());
        let fused = FusedCame::new(&device, came_config(), param_set()).unwrap();
        resume_within(&device, RMS_TOLERANCE, host(), fused, host());
    }
}
