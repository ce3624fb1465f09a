//! vibee's runtime: devices, buffers and kernel launches.
//!
//! A kernel declared with `#[vibee::kernel]` reaches this crate as a [`KernelSource`]: its
//! IR (for the CPU backend, which compiles it with Cranelift at first launch and caches the
//! result per comptime specialization) and, when a GPU feature is on, the CubeCL launcher
//! the macro generated. [`launch`] checks the grid against the device's limits and the
//! buffers against what the grid will touch, then dispatches to the backend.

pub mod buffer;
pub mod cpu;
pub mod cube;
pub mod device;
pub mod error;
pub mod exec;
pub mod launch;
pub mod nn;
pub mod optim;
pub mod schedule;
pub mod train;

pub use buffer::Buffer;
pub use device::Device;
pub use error::LaunchError;
pub use launch::{ArgRef, KernelSource, launch};
pub use vibee_dsl::kernel::{Element, Grid, HostBuffer, Scalar, ScalarArg};
