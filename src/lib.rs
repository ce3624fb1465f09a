//! vibee: a typed Rust DSL for the whole life of a large language model.
//!
//! Kernels are written as Rust functions under `#[vibee::kernel]`. The macro lowers the
//! body to vibee's kernel IR (`vibee-dsl`), validates it (errors point at the culprit
//! span), and generates a CubeCL kernel and a typed launcher; the CPU backend compiles the
//! same IR with Cranelift at first launch. The IR's interpreter is the reference every
//! backend is tested against.

mod kernel_templates;

pub use vibee_macros::kernel;
pub use vibee_runtime::{Buffer, Device, Grid, LaunchError};

/// What a kernel author needs in scope.
pub mod prelude {
    pub use vibee_runtime::{Buffer, Device, Grid, LaunchError};
}

/// Items generated code refers to. Not part of the public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::__vibee_elementwise_source as elementwise_source;
    pub use crate::__vibee_kernel_source as kernel_source;
    pub use crate::kernel_templates::{
        buffer, buffer_mut, check_failed, comptime, comptime_usize, elementwise_ir, kernel_ir,
        scalar, scalar_usize,
    };
    pub use vibee_runtime::{Buffer, Device, Grid, LaunchError, launch};
    pub use cubecl;
    pub use serde_json;
    pub use vibee_dsl;
    pub use vibee_runtime;
}
