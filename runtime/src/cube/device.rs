//! GPU devices through CubeCL: finding them without panicking, and their clients.

use std::sync::OnceLock;

use cubecl::prelude::Client;

/// What vibee keeps of a CubeCL device: its client and a readable name.
#[derive(Clone)]
pub(crate) struct CubeDevice {
    pub(crate) client: Client,
    pub(crate) name: String,
}

impl CubeDevice {
    /// Whether the device runs plane (subgroup) reductions.
    pub(crate) fn has_planes(&self) -> bool {
        use cubecl::features::Plane;
        self.client.features().plane.contains(Plane::Ops)
    }

    /// Units one cube (group) may have.
    pub(crate) fn max_units_per_group(&self) -> u64 {
        self.client.properties().hardware.max_units_per_cube as u64
    }

    /// Cubes (groups) along each axis of a launch.
    pub(crate) fn max_groups_per_axis(&self) -> u64 {
        let (x, y, z) = self.client.properties().hardware.max_cube_count;
        x.min(y).min(z) as u64
    }
}

/// Runs `f`, turning a panic inside CubeCL or a driver into an error message: a missing or
/// broken device must be a skipped backend, never a crashed test run.
fn without_panics<T>(f: impl FnOnce() -> Result<T, String>) -> Result<T, String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|payload| {
        let message = payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "unknown panic".into());
        Err(format!("device initialization panicked: {message}"))
    })
}

/// A device reached through CubeCL's wgpu runtime (Vulkan, Metal, DirectX; on machines
/// without a GPU, Mesa's lavapipe software device).
#[cfg(feature = "wgpu")]
#[derive(Clone)]
pub struct WgpuDevice(pub(crate) CubeDevice);

#[cfg(feature = "wgpu")]
impl std::fmt::Debug for WgpuDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0.name)
    }
}

#[cfg(feature = "wgpu")]
impl WgpuDevice {
    /// The default wgpu adapter, initialized once per process; the error says why there is
    /// none (no Vulkan driver, no adapter, a driver that refused to create a device).
    pub fn default_adapter() -> Result<WgpuDevice, String> {
        static DEVICE: OnceLock<Result<WgpuDevice, String>> = OnceLock::new();
        DEVICE.get_or_init(|| without_panics(init_wgpu)).clone()
    }

    /// The adapter's name as the driver reports it, e.g. `llvmpipe (LLVM 15.0.6, 256 bits)`.
    pub fn name(&self) -> &str {
        &self.0.name
    }

    /// The CubeCL client of this device.
    pub fn client(&self) -> &Client {
        &self.0.client
    }
}

#[cfg(feature = "wgpu")]
fn init_wgpu() -> Result<WgpuDevice, String> {
    use cubecl::wgpu::{AutoGraphicsApi, RuntimeOptions, try_init_setup};
    let device = cubecl::wgpu::WgpuDevice::default();
    let options = RuntimeOptions::try_default().map_err(|e| e.to_string())?;
    // The fallible setup registers the device's client; `client` below only looks it up,
    // where calling it first would panic inside CubeCL on a machine without an adapter.
    let setup = try_init_setup::<AutoGraphicsApi>(&device, options).map_err(|e| e.to_string())?;
    let info = setup.adapter.get_info();
    let client = cubecl::Device::Wgpu(device).client();
    Ok(WgpuDevice(CubeDevice {
        client,
        name: format!("{} ({:?})", info.name, info.backend),
    }))
}

/// An NVIDIA GPU reached through CubeCL's CUDA runtime.
#[cfg(feature = "cuda")]
#[derive(Clone)]
pub struct CudaDevice(pub(crate) CubeDevice);

#[cfg(feature = "cuda")]
impl std::fmt::Debug for CudaDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0.name)
    }
}

#[cfg(feature = "cuda")]
impl CudaDevice {
    /// CUDA device 0, initialized once per process; the error says why there is none.
    pub fn first() -> Result<CudaDevice, String> {
        static DEVICE: OnceLock<Result<CudaDevice, String>> = OnceLock::new();
        DEVICE
            .get_or_init(|| {
                without_panics(|| {
                    let device = cubecl::Device::cuda(0).map_err(|e| e.to_string())?;
                    let client = device.client();
                    Ok(CudaDevice(CubeDevice {
                        name: format!("cuda:0 ({})", client.name()),
                        client,
                    }))
                })
            })
            .clone()
    }

    /// The CubeCL client of this device.
    pub fn client(&self) -> &Client {
        &self.0.client
    }
}
