//! The `macro_rules!` templates behind every `#[vibee::kernel]` module.
//!
//! The proc macro only validates the kernel and fills these templates' slots, so the
//! fixed boilerplate reads here as plain Rust, and the generated launcher stays a short
//! function a reviewer can read in the expansion snapshots. A kernel `axpy` expands to:
//!
//! ```ignore
//! pub mod axpy {
//!     ::vibee::__private::kernel_source! { ir_json = "{…}"; }
//!     pub const CUBE: ::vibee::__private::vibee_runtime::cube::CubeLauncher = …;
//!     pub fn launch(__device: &Device, __grid: Grid, a: f32, x: &Buffer<f32>, y: &mut Buffer<f32>)
//!         -> Result<(), LaunchError>
//!     {
//!         ::vibee::__private::launch(__device, &SOURCE, __grid, &mut [
//!             ::vibee::__private::scalar(a),
//!             ::vibee::__private::buffer(x),
//!             ::vibee::__private::buffer_mut(y),
//!         ])
//!     }
//! }
//! ```

use vibee_dsl::kernel::elementwise::ElementwiseFn;
use vibee_dsl::kernel::{Element, Kernel, Scalar, ScalarArg};
use vibee_runtime::{ArgRef, Buffer, LaunchError};

/// `ir()` (the kernel IR, parsed once from JSON the macro embedded) and `SOURCE`; the
/// module must also define `CUBE`.
#[doc(hidden)]
#[macro_export]
macro_rules! __vibee_kernel_source {
    (ir_json = $json:literal;) => {
        /// The kernel IR this module launches.
        pub fn ir() -> &'static $crate::__private::vibee_dsl::kernel::Kernel {
            static __IR: ::std::sync::LazyLock<$crate::__private::vibee_dsl::kernel::Kernel> =
                ::std::sync::LazyLock::new(|| $crate::__private::kernel_ir($json));
            &__IR
        }

        /// What the runtime needs to launch this kernel on any device.
        pub const SOURCE: $crate::__private::vibee_runtime::KernelSource =
            $crate::__private::vibee_runtime::KernelSource { ir, cube: CUBE };
    };
}

/// `elementwise()`: the elementwise function of a differentiable kernel, parsed once from
/// JSON the macro embedded.
#[doc(hidden)]
#[macro_export]
macro_rules! __vibee_elementwise_source {
    (json = $json:literal;) => {
        /// The elementwise function this kernel applies (its IR before `to_kernel`).
        pub fn elementwise()
        -> &'static $crate::__private::vibee_dsl::kernel::elementwise::ElementwiseFn {
            static __F: ::std::sync::LazyLock<
                $crate::__private::vibee_dsl::kernel::elementwise::ElementwiseFn,
            > = ::std::sync::LazyLock::new(|| $crate::__private::elementwise_ir($json));
            &__F
        }
    };
}

/// Parses the IR a kernel module embedded. The JSON is the macro's own output, so a
/// failure is a bug in vibee, not a user error.
pub fn kernel_ir(json: &str) -> Kernel {
    serde_json::from_str(json)
        .unwrap_or_else(|e| panic!("this is a bug in vibee: embedded kernel IR is invalid ({e})"))
}

/// Parses the elementwise function a differentiable kernel module embedded.
pub fn elementwise_ir(json: &str) -> ElementwiseFn {
    serde_json::from_str(json)
        .unwrap_or_else(|e| panic!("this is a bug in vibee: embedded kernel IR is invalid ({e})"))
}

/// A scalar argument.
pub fn scalar<T: ScalarArg>(value: T) -> ArgRef<'static> {
    ArgRef::Scalar(value.scalar())
}

/// A `#[comptime]` argument or const generic.
pub fn comptime<T: ScalarArg>(value: T) -> ArgRef<'static> {
    ArgRef::Comptime(value.scalar())
}

/// A read-only buffer argument.
pub fn buffer<T: Element>(buffer: &Buffer<T>) -> ArgRef<'_> {
    ArgRef::Buffer(buffer.raw())
}

/// A writable buffer argument.
pub fn buffer_mut<T: Element>(buffer: &mut Buffer<T>) -> ArgRef<'_> {
    ArgRef::BufferMut(buffer.raw_mut())
}

/// A `usize` comptime argument as the IR's `u32`, or an error naming the parameter.
pub fn comptime_usize(
    kernel: &str,
    index: usize,
    param: &str,
    value: usize,
) -> Result<ArgRef<'static>, LaunchError> {
    usize_as_u32(kernel, index, param, value).map(ArgRef::Comptime)
}

/// A `usize` scalar argument as the IR's `u32`, or an error naming the parameter.
pub fn scalar_usize(
    kernel: &str,
    index: usize,
    param: &str,
    value: usize,
) -> Result<ArgRef<'static>, LaunchError> {
    usize_as_u32(kernel, index, param, value).map(ArgRef::Scalar)
}

fn usize_as_u32(
    kernel: &str,
    index: usize,
    param: &str,
    value: usize,
) -> Result<Scalar, LaunchError> {
    u32::try_from(value)
        .map(Scalar::U32)
        .map_err(|_| LaunchError::BadArgument {
            kernel: kernel.into(),
            index,
            param: param.into(),
            problem: format!("is {value}, which does not fit in `u32`"),
        })
}

/// The error of a failed `#[comptime(...)]` or `assert(...)` check at launch.
pub fn check_failed(kernel: &str, index: usize, param: &str, message: &str) -> LaunchError {
    LaunchError::BadArgument {
        kernel: kernel.into(),
        index,
        param: param.into(),
        problem: format!("fails a check: {message}"),
    }
}
