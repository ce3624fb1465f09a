//! The `macro_rules!` template behind every kernel's CubeCL launcher.
//!
//! `#[vibee::kernel]` (in `codegen/cube.rs`) only fills the slots: the path of the
//! generated `#[cube(launch, create_dummy_kernel)]` module and how each argument of its
//! `launch` converts: `buffer i`, `value i` (a scalar or comptime value, typed by the
//! kernel's signature), `float_bits i` (a float comptime value) or `planes` (the trailing
//! plane flag, from the device's features). The fixed
//! boilerplate, readable here as plain Rust, turns that into a
//! `vibee_runtime::cube::CubeLauncher`:
//!
//! ```ignore
//! pub const CUBE: CubeLauncher = ::vibee::__private::cube_launcher! {
//!     kernel: __cube::axpy,
//!     args: [value 0, buffer 1, buffer 2],
//! };
//! ```
//!
//! The launcher compiles in every build: CubeCL's `Client` is erased over its runtime, so
//! nothing here depends on vibee's `wgpu`/`cuda` features; without them no device ever
//! produces a `CubeLaunch` to call it with.

/// Expands to a `CubeLauncher` for the generated CubeCL kernel module `kernel`.
#[doc(hidden)]
#[macro_export]
macro_rules! __vibee_cube_launcher {
    (
        kernel: $($kernel:ident)::+,
        args: [$($kind:ident $($index:literal)?),* $(,)?] $(,)?
    ) => {{
        fn __vibee_cube_launch(
            __ctx: &mut $crate::__private::vibee_runtime::cube::CubeLaunch<'_>,
            __args: &mut [$crate::__private::vibee_runtime::ArgRef<'_>],
        ) -> ::core::result::Result<(), $crate::__private::vibee_runtime::LaunchError> {
            let __client = __ctx.client();
            if __ctx.defining() {
                let __kernel = $($kernel)::+::create_dummy_kernel(
                    __client.properties_shared(),
                    __client.target_properties_shared(),
                    __ctx.cube_count(),
                    __ctx.cube_dim(),
                    $($crate::__vibee_cube_arg!(__ctx, __args, $kind $($index)?)),*
                );
                __ctx.define(__kernel);
            } else {
                $($kernel)::+::launch(
                    __client,
                    __ctx.cube_count(),
                    __ctx.cube_dim(),
                    $($crate::__vibee_cube_arg!(__ctx, __args, $kind $($index)?)),*
                );
            }
            ::core::result::Result::Ok(())
        }
        __vibee_cube_launch
    }};
}

/// One launch argument, converted by its kind (used by `__vibee_cube_launcher!`).
#[doc(hidden)]
#[macro_export]
macro_rules! __vibee_cube_arg {
    ($ctx:ident, $args:ident, buffer $index:literal) => {
        $ctx.buffer($args, $index)?
    };
    ($ctx:ident, $args:ident, value $index:literal) => {
        $ctx.scalar($args, $index)?
    };
    ($ctx:ident, $args:ident, float_bits $index:literal) => {
        $ctx.float_bits($args, $index)?
    };
    ($ctx:ident, $args:ident, planes) => {
        $ctx.planes()
    };
}
