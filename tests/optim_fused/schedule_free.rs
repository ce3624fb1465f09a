//! Schedule-Free AdamW and SGD, with the `y ↔ x` switch for evaluation.

use vibee::optim::{FusedOptimizer, FusedScheduleFree};
use vibee::runtime::optim::{ScheduleFree, ScheduleFreeConfig, ScheduleFreeKind};

use super::{Run, STEPS, devices, param_set, resume, upload};

fn config(kind: ScheduleFreeKind) -> ScheduleFreeConfig {
    ScheduleFreeConfig {
        weight_decay: 0.05,
        warmup_steps: 4,
        r: 0.5,
        ..ScheduleFreeConfig::new(kind, 2e-2)
    }
}

/// Steps both, switching both to `x` and back in the middle and to `x` at the end,
/// comparing after every step and switch.
fn compare_with_switches(kind: ScheduleFreeKind) {
    for device in devices() {
        let mut host = ScheduleFree::<f32>::new(config(kind), param_set());
        let mut fused = FusedScheduleFree::new(&device, config(kind), param_set()).unwrap();
        let mut run = Run::new(&device);
        // Before any step there is no `z`: the switch is the identity on both sides.
        host.eval(&mut run.host_views());
        fused.eval(&mut run.dev).unwrap();
        run.assert_same("eval before the first step");
        host.train(&mut run.host_views());
        fused.train(&mut run.dev).unwrap();
        for k in 0..STEPS {
            run.step(&mut host, &mut fused);
            if k == STEPS / 2 {
                host.eval(&mut run.host_views());
                fused.eval(&mut run.dev).unwrap();
                assert!(!fused.is_training());
                run.assert_same("x in the middle");
                host.train(&mut run.host_views());
                fused.train(&mut run.dev).unwrap();
                run.assert_same("y in the middle");
            }
        }
        host.eval(&mut run.host_views());
        fused.eval(&mut run.dev).unwrap();
        run.assert_same("x at the end");
    }
}

#[test]
fn fused_schedule_free_adamw_matches_host_with_switches() {
    compare_with_switches(ScheduleFreeKind::Adamw);
}

#[test]
fn fused_schedule_free_sgd_matches_host_with_switches() {
    compare_with_switches(ScheduleFreeKind::Sgd);
}

#[test]
fn schedule_free_checkpoints_resume_across_host_and_fused() {
    for device in devices() {
        for kind in [ScheduleFreeKind::Adamw, ScheduleFreeKind::Sgd] {
            let host = || ScheduleFree::<f32>::new(config(kind), param_set());
            let fused = FusedScheduleFree::new(&device, config(kind), param_set()).unwrap();
            resume(&device, host(), fused, host());
        }
    }
}

#[test]
fn a_step_in_eval_mode_is_refused() {
    let device = vibee::prelude::Device::Cpu;
    let cfg = config(ScheduleFreeKind::Adamw);
    let mut fused = FusedScheduleFree::new(&device, cfg, param_set()).unwrap();
    let mut run = Run::new(&device);
    fused.eval(&mut run.dev).unwrap();
    let grads = upload(&device, &run.host);
    let err = fused.step(&mut run.dev, &grads).unwrap_err().to_string();
    assert!(err.contains("train()"), "{err}");
    assert_eq!(fused.steps(), 0, "a refused step does not count");
}
