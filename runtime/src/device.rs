//! Where kernels run.

use std::fmt;

/// A device kernels launch on. The CPU is always present; GPU variants exist when vibee is
/// built with the `wgpu` or `cuda` feature.
#[derive(Clone)]
pub enum Device {
    /// Cranelift-compiled kernels over rayon threads.
    Cpu,
    /// A GPU (or the Vulkan software device) through CubeCL's wgpu runtime.
    #[cfg(feature = "wgpu")]
    Wgpu(crate::cube::WgpuDevice),
    /// An NVIDIA GPU through CubeCL's CUDA runtime.
    #[cfg(feature = "cuda")]
    Cuda(crate::cube::CudaDevice),
}

impl fmt::Debug for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Device::Cpu => write!(f, "Cpu"),
            #[cfg(feature = "wgpu")]
            Device::Wgpu(d) => write!(f, "Wgpu({d:?})"),
            #[cfg(feature = "cuda")]
            Device::Cuda(d) => write!(f, "Cuda({d:?})"),
        }
    }
}

impl fmt::Display for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

impl Device {
    /// Every device present on this machine, CPU first; for each absent backend, the reason
    /// it is absent (so tests can print why they skip it).
    pub fn available() -> (Vec<Device>, Vec<String>) {
        let mut present = vec![Device::Cpu];
        let mut absent = Vec::new();
        crate::cube::probe_devices(&mut present, &mut absent);
        (present, absent)
    }

    /// The largest number of units one group may have on this device.
    pub fn max_units_per_group(&self) -> u64 {
        match self {
            Device::Cpu => crate::cpu::MAX_UNITS_PER_GROUP,
            #[cfg(any(feature = "wgpu", feature = "cuda"))]
            other => crate::cube::max_units_per_group(other),
        }
    }

    /// The largest number of groups along one axis of the grid.
    pub fn max_groups_per_axis(&self) -> u64 {
        match self {
            Device::Cpu => u32::MAX as u64,
            #[cfg(any(feature = "wgpu", feature = "cuda"))]
            other => crate::cube::max_groups_per_axis(other),
        }
    }
}
