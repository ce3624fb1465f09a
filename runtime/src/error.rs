//! Errors a launch or a buffer operation reports instead of panicking.

use thiserror::Error;

#[derive(Debug, Error, Clone, PartialEq)]
pub enum LaunchError {
    #[error("kernel `{kernel}`: argument {index} (`{param}`) {problem}")]
    BadArgument {
        kernel: String,
        index: usize,
        param: String,
        problem: String,
    },
    #[error(
        "kernel `{kernel}`: buffer `{param}` holds {len} elements but the grid reads or writes index {needed}; pass a buffer of at least {} elements or a smaller grid",
        needed + 1
    )]
    BufferTooSmall {
        kernel: String,
        param: String,
        len: usize,
        needed: u64,
    },
    #[error("kernel `{kernel}`: grid {grid:?} exceeds the device limit: {limit}")]
    GridTooLarge {
        kernel: String,
        grid: vibee_dsl::kernel::Grid,
        limit: String,
    },
    #[error("kernel `{kernel}` cannot run on {device}: {reason}")]
    Unsupported {
        kernel: String,
        device: String,
        reason: String,
    },
    #[error("kernel `{kernel}`: compilation failed: {message}")]
    Compile { kernel: String, message: String },
    #[error("device error: {0}")]
    Device(String),
}
