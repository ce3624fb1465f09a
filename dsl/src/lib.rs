//! vibee's intermediate representations, with no dependency on `syn` or on any runtime.
//!
//! The pipeline: `vibee-macros` parses a user's `#[vibee::kernel]` function and lowers it
//! to a [`kernel::Kernel`]; [`kernel::validate`] checks it (types, writes to read-only
//! buffers, barriers in divergent control flow, shared-memory sizes), reporting every
//! problem with the [`kernel::SpanId`] of its source; [`kernel::pretty`] prints it for
//! snapshots; [`kernel::interp`] executes it and is the reference every backend (Cranelift
//! on the CPU, CubeCL on GPUs) is tested against; [`kernel::autodiff`] derives the
//! backward kernel of elementwise functions.

pub mod graph;
pub mod kernel;
