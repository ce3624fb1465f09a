//! The contract between a generated CubeCL kernel and the runtime.
//!
//! `#[vibee::kernel]` emits, next to its `#[cube(launch)]` function, a [`CubeLauncher`]: a plain
//! function that converts the launch's [`ArgRef`]s into CubeCL launch arguments with the
//! accessors of [`CubeLaunch`] and then either launches the kernel or only defines it (for
//! source dumps and snapshots). CubeCL 0.11's `Client` is erased over its runtime, so this
//! module compiles whatever GPU features are on: a kernel's launcher type-checks in every
//! build, and only the devices that produce a [`CubeLaunch`] are feature-gated.

use cubecl::prelude::{BufferArg, Client, CubeCount, CubeDim, CubeKernel, KernelDefinition};
use vibee_dsl::kernel::{Kernel, Scalar};

use crate::{ArgRef, LaunchError};

/// The launcher `#[vibee::kernel]` generates for CubeCL: converts `args` (in parameter order)
/// and launches or defines the kernel according to [`CubeLaunch::defining`].
pub type CubeLauncher =
    for<'a, 'b> fn(&mut CubeLaunch<'a>, &mut [ArgRef<'b>]) -> Result<(), LaunchError>;

/// What a [`CubeLauncher`] is asked to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CubeMode {
    /// Dispatch the kernel.
    Launch,
    /// Only build its definition (CubeCL's kernel IR), kept in the context.
    Define,
}

/// One launch in progress: the client, the grid in CubeCL's terms and the kernel's IR (for
/// error messages). Generated launchers read their arguments through it.
pub struct CubeLaunch<'a> {
    kernel: &'a Kernel,
    client: &'a Client,
    count: CubeCount,
    dim: CubeDim,
    planes: bool,
    mode: CubeMode,
    definition: Option<KernelDefinition>,
}

impl std::fmt::Debug for CubeLaunch<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CubeLaunch")
            .field("kernel", &self.kernel.name)
            .field("dim", &self.dim)
            .field("planes", &self.planes)
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}

impl<'a> CubeLaunch<'a> {
    /// A launch of `kernel` on `client` over `groups` groups of `group_size` units.
    pub fn new(
        kernel: &'a Kernel,
        client: &'a Client,
        groups: [u32; 3],
        group_size: [u32; 3],
        planes: bool,
        mode: CubeMode,
    ) -> Self {
        CubeLaunch {
            kernel,
            client,
            count: CubeCount::Static(groups[0], groups[1], groups[2]),
            dim: CubeDim::new_3d(group_size[0], group_size[1], group_size[2]),
            planes,
            mode,
            definition: None,
        }
    }

    /// The client the kernel launches on.
    pub fn client(&self) -> &'a Client {
        self.client
    }

    /// Groups in the grid.
    pub fn cube_count(&self) -> CubeCount {
        self.count.clone()
    }

    /// Units per group.
    pub fn cube_dim(&self) -> CubeDim {
        self.dim
    }

    /// Whether the device has plane (subgroup) operations; the generated kernel takes it as a
    /// comptime flag and falls back to planes of one unit without them.
    pub fn planes(&self) -> bool {
        self.planes
    }

    /// Whether the launcher should only define the kernel.
    pub fn defining(&self) -> bool {
        self.mode == CubeMode::Define
    }

    /// Keeps the definition of `kernel` (what [`CubeMode::Define`] asks for).
    pub fn define<K: CubeKernel>(&mut self, kernel: K) {
        self.definition = Some(kernel.define());
    }

    /// The definition kept by [`CubeLaunch::define`].
    pub fn take_definition(&mut self) -> Option<KernelDefinition> {
        self.definition.take()
    }

    /// Argument `index` as a CubeCL buffer argument.
    pub fn buffer(&self, args: &[ArgRef<'_>], index: usize) -> Result<BufferArg, LaunchError> {
        let arg = args
            .get(index)
            .ok_or_else(|| self.bad(index, "is missing"))?;
        let raw = arg
            .buffer()
            .ok_or_else(|| self.bad(index, "must be a buffer"))?;
        match raw {
            #[cfg(any(feature = "wgpu", feature = "cuda"))]
            crate::buffer::RawBuffer::Cube(cube) => cube.binding(self.client),
            #[allow(unreachable_patterns)]
            _ => Err(self.bad(
                index,
                "lives on the CPU; upload it to the launch's device first",
            )),
        }
    }

    /// Argument `index` (a runtime scalar or a comptime value) as a Rust value of type `T`.
    pub fn scalar<T: FromScalar>(
        &self,
        args: &[ArgRef<'_>],
        index: usize,
    ) -> Result<T, LaunchError> {
        let arg = args
            .get(index)
            .ok_or_else(|| self.bad(index, "is missing"))?;
        let value = arg
            .scalar()
            .ok_or_else(|| self.bad(index, "must be a scalar"))?;
        T::from_scalar(value).ok_or_else(|| {
            self.bad(
                index,
                &format!(
                    "is {:?}, expected {}",
                    value.elem(),
                    std::any::type_name::<T>()
                ),
            )
        })
    }

    /// A float comptime argument as its `f32` bit pattern: CubeCL hashes comptime values into
    /// its cache key and floats are not `Hash`, so the kernel rebuilds the value from bits.
    pub fn float_bits(&self, args: &[ArgRef<'_>], index: usize) -> Result<u32, LaunchError> {
        let arg = args
            .get(index)
            .ok_or_else(|| self.bad(index, "is missing"))?;
        match arg.scalar() {
            Some(Scalar::F32(v)) => Ok(v.to_bits()),
            Some(Scalar::F16(v)) => Ok(v.to_f32().to_bits()),
            Some(Scalar::BF16(v)) => Ok(v.to_f32().to_bits()),
            _ => Err(self.bad(index, "must be a float")),
        }
    }

    fn bad(&self, index: usize, problem: &str) -> LaunchError {
        LaunchError::BadArgument {
            kernel: self.kernel.name.clone(),
            index,
            param: self
                .kernel
                .params
                .get(index)
                .map_or_else(|| "-".into(), |p| p.name.clone()),
            problem: problem.into(),
        }
    }
}

/// Rust types a [`Scalar`] converts to without loss, for kernel arguments.
pub trait FromScalar: Sized {
    fn from_scalar(value: Scalar) -> Option<Self>;
}

macro_rules! from_scalar {
    ($t:ty, $variant:ident) => {
        impl FromScalar for $t {
            fn from_scalar(value: Scalar) -> Option<Self> {
                match value {
                    Scalar::$variant(v) => Some(v),
                    _ => None,
                }
            }
        }
    };
}
from_scalar!(f32, F32);
from_scalar!(half::f16, F16);
from_scalar!(half::bf16, BF16);
from_scalar!(i32, I32);
from_scalar!(u32, U32);
from_scalar!(bool, Bool);
