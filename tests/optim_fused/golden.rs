//! The golden-ratio optimizer.

use vibee::optim::FusedGolden;
use vibee::runtime::optim::{Golden, GoldenConfig};

use super::{compare, devices, param_set, resume};

#[test]
fn fused_golden_matches_host_golden() {
    let cfg = GoldenConfig::new(1e-2, 0.1);
    for device in devices() {
        let host = Golden::<f32>::new(cfg.clone(), param_set());
        let fused = FusedGolden::new(&device, cfg.clone(), param_set()).unwrap();
        compare(&device, host, fused);
    }
}

#[test]
fn golden_checkpoints_resume_across_host_and_fused() {
    let cfg = GoldenConfig::new(1e-2, 0.1);
    for device in devices() {
        let host = || Golden::<f32>::new(cfg.clone(), param_set());
        let fused = FusedGolden::new(&device, cfg.clone(), param_set()).unwrap();
        resume(&device, host(), fused, host());
    }
}
