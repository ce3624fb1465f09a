//! SGD: plain, with momentum and dampening, and Nesterov, each with L2 decay.

use vibee::optim::FusedSgd;
use vibee::runtime::optim::{Sgd, SgdConfig};

use super::{compare, devices, param_set, resume};

fn configs() -> Vec<SgdConfig> {
    let plain = SgdConfig {
        weight_decay: 0.05,
        ..SgdConfig::new(0.1, 0.0)
    };
    let damped = SgdConfig {
        dampening: 0.3,
        weight_decay: 0.01,
        ..SgdConfig::new(0.05, 0.9)
    };
    let nesterov = SgdConfig {
        nesterov: true,
        weight_decay: 0.02,
        ..SgdConfig::new(0.05, 0.8)
    };
    vec![plain, damped, nesterov]
}

#[test]
fn fused_sgd_matches_host_sgd() {
    for device in devices() {
        for cfg in configs() {
            let host = Sgd::<f32>::new(cfg.clone(), param_set());
            let fused = FusedSgd::new(&device, cfg, param_set()).unwrap();
            compare(&device, host, fused);
        }
    }
}

#[test]
fn sgd_checkpoints_resume_across_host_and_fused() {
    for device in devices() {
        let cfg = configs().remove(2);
        let host = || Sgd::<f32>::new(cfg.clone(), param_set());
        let fused = FusedSgd::new(&device, cfg.clone(), param_set()).unwrap();
        resume(&device, host(), fused, host());
    }
}
