//! The CPU backend: kernel IR compiled to native code by Cranelift, run over rayon threads.
//! (Owned by the Cranelift work; this file is the contract the launch path relies on.)

use vibee_dsl::kernel::{Grid, Kernel};

use crate::{ArgRef, LaunchError};

/// Units one group may have on the CPU backend.
pub const MAX_UNITS_PER_GROUP: u64 = 1024;

/// Runs `kernel` over `grid` with `args` on the host.
pub fn launch(kernel: &Kernel, grid: Grid, args: &mut [ArgRef<'_>]) -> Result<(), LaunchError> {
    let _ = (grid, args);
    Err(LaunchError::Unsupported {
        kernel: kernel.name.clone(),
        device: "Cpu".into(),
        reason: "the Cranelift backend is not built yet".into(),
    })
}
