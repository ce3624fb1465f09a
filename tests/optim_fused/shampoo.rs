//! Shampoo: the fused step keeps its statistics in `f32` on the device and computes the
//! inverse roots on the host from them, where the host optimizer keeps everything in `f64`
//! — so the comparison is normwise (`max|fused − host| / max|host|` per tensor) within a
//! tolerance per configuration. Measured over 12 steps on the CPU backend and on lavapipe:
//! at most 3.2e-7 with well-conditioned statistics (`matrix_eps` 1e-2, and the defaults,
//! whose roots are never refreshed within 12 steps), 7.1e-6 with near-singular ones
//! (`matrix_eps` 1e-6 on blocks with fewer samples than rows: the inverse root magnifies the
//! `f32` rounding of the smallest eigenvalues).

use vibee::optim::{FusedOptimizer, FusedShampoo};
use vibee::runtime::optim::{Graft, Optimizer, Shampoo, ShampooConfig};

use super::{Run, STEPS, devices, param_set, upload};

/// Small blocks, so that the `[37, 29]` matrix is cut into 3 × 2 blocks of rank 3 (shape
/// interpretation gives `[1, 37, 29]`), the roots refreshed at steps 4, 8 and 12, and the
/// preconditioned direction used from step 3.
fn blocked(graft: Graft) -> ShampooConfig {
    ShampooConfig {
        lr: 1e-2,
        block_size: 16,
        start_preconditioning_step: 3,
        preconditioning_compute_steps: 4,
        matrix_eps: 1e-2,
        graft,
        ..ShampooConfig::default()
    }
}

/// The configurations compared, each with the largest relative difference it may show.
fn configs() -> Vec<(&'static str, ShampooConfig, f32)> {
    let adagrad_coupled = ShampooConfig {
        weight_decay: 0.1,
        decoupled_learning_rate: false,
        moving_average_for_momentum: true,
        nesterov: false,
        ..blocked(Graft::Adagrad)
    };
    let rmsprop_decoupled = ShampooConfig {
        weight_decay: 0.1,
        decoupled_weight_decay: true,
        statistics_compute_steps: 2,
        ..blocked(Graft::Rmsprop)
    };
    vec![
        ("sgd graft", blocked(Graft::Sgd), 1e-6),
        ("sqrt-n graft", blocked(Graft::Sqrtn), 1e-6),
        ("no graft", blocked(Graft::None), 1e-6),
        ("adagrad graft, coupled decay", adagrad_coupled, 1e-6),
        ("rmsprop graft, decoupled decay", rmsprop_decoupled, 1e-6),
        ("defaults", ShampooConfig::default(), 1e-6),
        (
            "near-singular statistics",
            ShampooConfig {
                matrix_eps: 1e-6,
                ..blocked(Graft::Sgd)
            },
            2e-5,
        ),
    ]
}

/// Largest normwise difference over the tensors, `max|fused − host| / max|host|`: a
/// parameter near zero after a step carries the rounding of the values that cancelled.
fn max_difference(run: &Run) -> f32 {
    let mut worst = 0.0f32;
    for (d, h) in run.dev.iter().zip(&run.host) {
        let scale = h.iter().fold(0.0f32, |a, v| a.max(v.abs()));
        let got = d.to_vec().unwrap();
        let diff = got
            .iter()
            .zip(h)
            .fold(0.0f32, |a, (g, w)| a.max((g - w).abs()));
        worst = worst.max(diff / scale.max(f32::MIN_POSITIVE));
    }
    worst
}

/// Steps host and fused side by side; returns the largest difference after any step.
fn drift(run: &mut Run, host: &mut Shampoo<f32>, fused: &mut FusedShampoo, steps: usize) -> f32 {
    let mut worst = 0.0f32;
    for _ in 0..steps {
        let set = &run.set;
        let grads: Vec<Vec<f32>> = (0..set.len()).map(|t| super::grad(set, t, run.k)).collect();
        let views: Vec<&[f32]> = grads.iter().map(Vec::as_slice).collect();
        host.step(&mut run.host_views(), &views).unwrap();
        fused
            .step(&mut run.dev, &upload(&run.device, &grads))
            .unwrap();
        run.k += 1;
        worst = worst.max(max_difference(run));
    }
    worst
}

#[test]
fn fused_shampoo_follows_host_shampoo() {
    for device in devices() {
        for (what, cfg, tolerance) in configs() {
            let mut host = Shampoo::<f32>::new(cfg.clone(), param_set());
            let mut fused = FusedShampoo::new(&device, cfg, param_set()).unwrap();
            let mut run = Run::new(&device);
            let worst = drift(&mut run, &mut host, &mut fused, STEPS);
            eprintln!("shampoo, {what}, {device:?}: largest relative difference {worst:.2e}");
            assert!(
                worst <= tolerance,
                "{what} on {device:?}: {worst:e} > {tolerance:e}"
            );
            assert_eq!(fused.steps(), STEPS as u64);
        }
    }
}

#[test]
fn shampoo_checkpoints_resume_across_host_and_fused() {
    for device in devices() {
        let cfg = blocked(Graft::Adagrad);
        let mut host = Shampoo::<f32>::new(cfg.clone(), param_set());
        let mut run = Run::new(&device);
        for _ in 0..STEPS / 2 {
            let set = &run.set;
            let grads: Vec<Vec<f32>> = (0..set.len()).map(|t| super::grad(set, t, run.k)).collect();
            let views: Vec<&[f32]> = grads.iter().map(Vec::as_slice).collect();
            host.step(&mut run.host_views(), &views).unwrap();
            run.k += 1;
        }
        run.dev = upload(&device, &run.host);
        let mut fused = FusedShampoo::new(&device, cfg.clone(), param_set()).unwrap();
        fused.load_state_dict(&host.state_dict()).unwrap();
        assert_eq!(fused.steps(), (STEPS / 2) as u64);
        let worst = drift(&mut run, &mut host, &mut fused, STEPS / 2);
        assert!(worst <= 1e-6, "resumed on {device:?}: {worst:e}");
        let mut fresh = Shampoo::<f32>::new(cfg, param_set());
        fresh.load_state_dict(&fused.state_dict().unwrap()).unwrap();
        assert_eq!(fresh.steps(), STEPS as u64);
    }
}

#[test]
fn a_state_dict_of_another_shape_is_named() {
    let device = vibee::prelude::Device::Cpu;
    let host = Shampoo::<f32>::new(blocked(Graft::Sgd), param_set());
    let mut other = FusedShampoo::new(&device, ShampooConfig::default(), param_set()).unwrap();
    let err = other.load_state_dict(&host.state_dict()).unwrap_err();
    assert!(err.to_string().contains("statistics"), "{err}");
}
