//! Prodigy: the `d` estimate's dot products are reduced on the device in another order
//! than the host's sequential `f64` sums (and their products rounded to `f32`), so the
//! comparison allows [`PRODIGY_TOLERANCE`] relative on the CPU backend.

use vibee::optim::{FusedOptimizer, FusedProdigy};
use vibee::runtime::optim::{Optimizer, Prodigy, ProdigyConfig};

use super::{Run, STEPS, compare_within, devices, param_set, resume_within};

/// Relative tolerance of parameters that depend on the `d` estimate (see the module docs).
const PRODIGY_TOLERANCE: f32 = 1e-5;

fn configs() -> Vec<ProdigyConfig> {
    let decoupled = ProdigyConfig {
        weight_decay: 0.1,
        ..ProdigyConfig::default()
    };
    let variants = ProdigyConfig {
        betas: (0.0, 0.99),
        weight_decay: 0.05,
        decouple: false,
        use_bias_correction: true,
        safeguard_warmup: true,
        growth_rate: Some(1.5),
        slice_p: 3,
        ..ProdigyConfig::default()
    };
    vec![decoupled, variants]
}

#[test]
fn fused_prodigy_matches_host_prodigy() {
    for device in devices() {
        for cfg in configs() {
            let host = Prodigy::<f32>::new(cfg.clone(), param_set());
            let fused = FusedProdigy::new(&device, cfg, param_set()).unwrap();
            compare_within(&device, PRODIGY_TOLERANCE, host, fused);
        }
    }
}

/// The estimate itself, not only the parameters, follows the host's.
#[test]
fn fused_d_follows_host_d() {
    let cfg = configs().remove(0);
    let device = vibee::prelude::Device::Cpu;
    let mut host = Prodigy::<f32>::new(cfg.clone(), param_set());
    let mut fused = FusedProdigy::new(&device, cfg, param_set()).unwrap();
    let mut run = Run::new(&device);
    run.tolerance = PRODIGY_TOLERANCE;
    for _ in 0..STEPS {
        run.step(&mut host, &mut fused);
        let (h, f) = (host.d(), fused.d());
        assert!((h - f).abs() <= 1e-5 * h, "d: host {h}, fused {f}");
    }
    assert_eq!(fused.steps(), host.steps());
}

#[test]
fn prodigy_checkpoints_resume_across_host_and_fused() {
    for device in devices() {
        for cfg in configs() {
            let host = || Prodigy::<f32>::new(cfg.clone(), param_set());
            let fused = FusedProdigy::new(&device, cfg.clone(), param_set()).unwrap();
            resume_within(&device, PRODIGY_TOLERANCE, host(), fused, host());
        }
    }
}
