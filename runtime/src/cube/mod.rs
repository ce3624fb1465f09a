//! GPU backends through CubeCL (wgpu, CUDA). The only place in the runtime that spells
//! CubeCL types. (Owned by the CubeCL work; this file is the contract the rest relies on.)

use crate::Device;

/// The launcher `#[vibee::kernel]` generates for CubeCL. Without a GPU feature it is `()`.
pub type CubeLauncher = ();

/// Adds the GPU devices present to `present` and the reasons for absent ones to `absent`.
pub fn probe_devices(present: &mut Vec<Device>, absent: &mut Vec<String>) {
    let _ = present;
    absent.push("wgpu: vibee was built without the `wgpu` feature".into());
    absent.push("cuda: vibee was built without the `cuda` feature".into());
}
