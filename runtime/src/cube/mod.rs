//! GPU backends through CubeCL (wgpu, CUDA). The only place in the runtime that spells
//! CubeCL types.
//!
//! - [`launcher`]: the contract with generated kernels ([`CubeLauncher`], [`CubeLaunch`]);
//!   compiled in every build, since CubeCL's client is erased over its runtime.
//! - [`ops`]: `#[cube]` helpers generated kernels call for vibee's semantics (bounds-checked
//!   loads and stores that read zero and drop writes, division by zero, plane fallbacks).
//! - `device` and `buffer` (with the `wgpu` or `cuda` feature): devices found without
//!   panicking, and buffers held as CubeCL handles.
//!
//! A launch maps vibee's grid one to one onto CubeCL's: `groups` is the `CubeCount`,
//! `group_size` the `CubeDim`.

pub mod launcher;
pub mod ops;

#[cfg(any(feature = "wgpu", feature = "cuda"))]
mod buffer;
#[cfg(any(feature = "wgpu", feature = "cuda"))]
mod device;
#[cfg(any(feature = "wgpu", feature = "cuda"))]
mod support;

#[cfg(any(feature = "wgpu", feature = "cuda"))]
pub use buffer::CubeBuffer;
#[cfg(feature = "cuda")]
pub use device::CudaDevice;
#[cfg(feature = "wgpu")]
pub use device::WgpuDevice;
/// Half-precision types as generated kernels spell them.
pub use half::{bf16, f16};
pub use launcher::{CubeLaunch, CubeLauncher, CubeMode, FromScalar};

use crate::Device;
#[cfg(any(feature = "wgpu", feature = "cuda"))]
use crate::{ArgRef, KernelSource, LaunchError};
#[cfg(any(feature = "wgpu", feature = "cuda"))]
use vibee_dsl::kernel::Grid;

/// Adds the GPU devices present to `present` and the reasons for absent ones to `absent`.
pub fn probe_devices(present: &mut Vec<Device>, absent: &mut Vec<String>) {
    let _ = &present;
    #[cfg(feature = "wgpu")]
    match WgpuDevice::default_adapter() {
        Ok(device) => present.push(Device::Wgpu(device)),
        Err(reason) => absent.push(format!("wgpu: {reason}")),
    }
    #[cfg(not(feature = "wgpu"))]
    absent.push("wgpu: vibee was built without the `wgpu` feature".into());
    #[cfg(feature = "cuda")]
    match CudaDevice::first() {
        Ok(device) => present.push(Device::Cuda(device)),
        Err(reason) => absent.push(format!("cuda: {reason}")),
    }
    #[cfg(not(feature = "cuda"))]
    absent.push("cuda: vibee was built without the `cuda` feature".into());
}

/// The CubeCL side of a GPU device; an error for the CPU.
#[cfg(any(feature = "wgpu", feature = "cuda"))]
fn cube_device(device: &Device) -> Result<&device::CubeDevice, LaunchError> {
    match device {
        #[cfg(feature = "wgpu")]
        Device::Wgpu(d) => Ok(&d.0),
        #[cfg(feature = "cuda")]
        Device::Cuda(d) => Ok(&d.0),
        Device::Cpu => Err(LaunchError::Device("the CPU is not a CubeCL device".into())),
    }
}

/// The largest number of units one group may have on a GPU device.
#[cfg(any(feature = "wgpu", feature = "cuda"))]
pub fn max_units_per_group(device: &Device) -> u64 {
    cube_device(device).map_or(0, device::CubeDevice::max_units_per_group)
}

/// The largest number of groups along one axis on a GPU device.
#[cfg(any(feature = "wgpu", feature = "cuda"))]
pub fn max_groups_per_axis(device: &Device) -> u64 {
    cube_device(device).map_or(0, device::CubeDevice::max_groups_per_axis)
}

/// Launches `source`'s generated CubeCL kernel on a GPU `device`. The launch path has already
/// checked the arguments, the grid against the device limits and the buffer sizes. Inside
/// [`capture_wgsl`] on a wgpu device, the kernel is compiled to WGSL instead of dispatched.
#[cfg(any(feature = "wgpu", feature = "cuda"))]
pub fn launch(
    device: &Device,
    source: &KernelSource,
    grid: Grid,
    args: &mut [ArgRef<'_>],
) -> Result<(), LaunchError> {
    #[cfg(feature = "wgpu")]
    if let Device::Wgpu(wgpu) = device
        && CAPTURE.with(|c| c.borrow().is_some())
    {
        let wgsl = wgsl_source(wgpu, source, grid, args)?;
        CAPTURE.with(|c| c.borrow_mut().get_or_insert_with(Vec::new).push(wgsl));
        return Ok(());
    }
    let cube = cube_device(device)?;
    let kernel = (source.ir)();
    support::check(kernel, &cube.client, &format!("{device}"))?;
    let mut ctx = CubeLaunch::new(
        kernel,
        &cube.client,
        grid.groups,
        grid.group_size,
        cube.has_planes(),
        CubeMode::Launch,
    );
    (source.cube)(&mut ctx, args)
}

#[cfg(feature = "wgpu")]
thread_local! {
    /// WGSL of the launches made inside [`capture_wgsl`] on this thread.
    static CAPTURE: std::cell::RefCell<Option<Vec<String>>> = const { std::cell::RefCell::new(None) };
}

/// Runs `f` and returns, instead of running them, the WGSL of the kernels it launches on wgpu
/// devices (in launch order), so tests and `VIBEE_DUMP` can call the typed launchers.
///
/// ```no_run
/// # use vibee_runtime::{cube, LaunchError};
/// let wgsl = cube::capture_wgsl(|| -> Result<(), LaunchError> { Ok(()) })?;
/// assert!(wgsl.is_empty());
/// # Ok::<(), LaunchError>(())
/// ```
#[cfg(feature = "wgpu")]
pub fn capture_wgsl<E>(f: impl FnOnce() -> Result<(), E>) -> Result<Vec<String>, E> {
    let outer = CAPTURE.with(|c| c.borrow_mut().replace(Vec::new()));
    let result = f();
    let captured = CAPTURE.with(|c| std::mem::replace(&mut *c.borrow_mut(), outer));
    result.map(|()| captured.unwrap_or_default())
}

/// The WGSL source CubeCL compiles `source` to for `grid` and `args` on a wgpu `device`,
/// without dispatching it. Plane operations are always compiled as such (the fallback for
/// devices without subgroups is not shown), so the text does not depend on the adapter.
#[cfg(feature = "wgpu")]
pub fn wgsl_source(
    device: &WgpuDevice,
    source: &KernelSource,
    grid: Grid,
    args: &mut [ArgRef<'_>],
) -> Result<String, LaunchError> {
    use cubecl::Compiler as _;
    let kernel = (source.ir)();
    let mut ctx = CubeLaunch::new(
        kernel,
        &device.0.client,
        grid.groups,
        grid.group_size,
        true,
        CubeMode::Define,
    );
    (source.cube)(&mut ctx, args)?;
    let definition = ctx.take_definition().ok_or_else(|| LaunchError::Compile {
        kernel: kernel.name.clone(),
        message: "the generated launcher defined no kernel".into(),
    })?;
    let options = cubecl::WgpuCompilationOptions::default();
    cubecl::wgpu::WgslCompiler
        .compile(definition, &options)
        .map(|shader| shader.to_string())
        .map_err(|e| LaunchError::Compile {
            kernel: kernel.name.clone(),
            message: e.to_string(),
        })
}
