//! Sophia with both clippings and the Hessian refresh on the device.

use vibee::optim::{DeviceHessianSample, FusedOptimizer, FusedSophia};
use vibee::prelude::Device;
use vibee::runtime::optim::{HessianEstimate, Optimizer, Sophia, SophiaClip, SophiaConfig};

use super::{Run, STEPS, devices, param_set, resume, upload, values};

fn config(clipping: SophiaClip) -> SophiaConfig {
    SophiaConfig {
        lr: 1e-2,
        clipping,
        batch_tokens: 8.0,
        hessian_interval: 3,
        ..SophiaConfig::default()
    }
}

/// Steps both, refreshing both Hessian estimates from the same sample whenever the host
/// says one is due (`square`: Gauss–Newton–Bartlett, else Hutchinson).
fn compare_with_refresh(clipping: SophiaClip, square: bool) {
    for device in devices() {
        let mut host = Sophia::<f32>::new(config(clipping), param_set());
        let mut fused = FusedSophia::new(&device, config(clipping), param_set()).unwrap();
        let mut run = Run::new(&device);
        for k in 0..STEPS {
            run.step(&mut host, &mut fused);
            assert_eq!(host.hessian_due(), fused.hessian_due());
            if !host.hessian_due() {
                continue;
            }
            let samples: Vec<Vec<f32>> = (0..run.set.len())
                .map(|t| values(run.set.get(t).numel(), 77 + k as u64 * 10 + t as u64))
                .collect();
            let dev = upload(&device, &samples);
            let views: Vec<&[f32]> = samples.iter().map(Vec::as_slice).collect();
            if square {
                host.update_hessian(HessianEstimate::GaussNewtonBartlett(&views))
                    .unwrap();
                fused
                    .update_hessian(DeviceHessianSample::GaussNewtonBartlett(&dev))
                    .unwrap();
            } else {
                host.update_hessian(HessianEstimate::Hutchinson(&views))
                    .unwrap();
                fused
                    .update_hessian(DeviceHessianSample::Hutchinson(&dev))
                    .unwrap();
            }
        }
        if matches!(device, Device::Cpu) {
            assert_eq!(fused.state_dict().unwrap(), host.state_dict());
        }
    }
}

#[test]
fn fused_sophia_g_matches_host_with_ratio_clipping() {
    compare_with_refresh(SophiaClip::Ratio, true);
}

#[test]
fn fused_sophia_h_matches_host_with_elementwise_clipping() {
    compare_with_refresh(SophiaClip::Elementwise, false);
}

#[test]
fn sophia_checkpoints_resume_across_host_and_fused() {
    for device in devices() {
        let host = || {
            let mut h = Sophia::<f32>::new(config(SophiaClip::Ratio), param_set());
            // A nonzero Hessian estimate, so the checkpoint carries one.
            let samples: Vec<Vec<f32>> = (0..param_set().len())
                .map(|t| values(param_set().get(t).numel(), 5 + t as u64))
                .collect();
            let views: Vec<&[f32]> = samples.iter().map(Vec::as_slice).collect();
            h.update_hessian(HessianEstimate::GaussNewtonBartlett(&views))
                .unwrap();
            h
        };
        let fused = FusedSophia::new(&device, config(SophiaClip::Ratio), param_set()).unwrap();
        resume(&device, host(), fused, host());
    }
}

#[test]
fn a_hessian_sample_of_the_wrong_length_is_named() {
    let device = Device::Cpu;
    let mut fused = FusedSophia::new(&device, config(SophiaClip::Ratio), param_set()).unwrap();
    let mut samples: Vec<Vec<f32>> = (0..param_set().len())
        .map(|t| vec![0.0; param_set().get(t).numel()])
        .collect();
    samples[2].pop();
    let err = fused
        .update_hessian(DeviceHessianSample::Hutchinson(&upload(&device, &samples)))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("hessian `blocks.0.bias` has 299 elements"),
        "{err}"
    );
}
