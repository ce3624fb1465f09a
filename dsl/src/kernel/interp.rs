//! The reference interpreter: the definition of what a kernel computes.
//!
//! Every unit runs the body statement by statement on typed [`Scalar`] values, rounding
//! after each operation to the expression's element type (so `f16` arithmetic rounds the
//! way a device with native half precision does). Kernels with barriers run each unit of a
//! group on its own thread, meeting at a group barrier that units which have returned no
//! longer count towards; kernels without barriers run units one after another. The plane
//! (warp) size is 1: `plane_sum(x) == x`.

use std::sync::{Condvar, Mutex};

use thiserror::Error;

use super::ir::*;
use super::value::{HostBuffer, Scalar};

mod eval;

/// An argument of an interpreted launch, in parameter order (comptime values as `Scalar`).
#[derive(Clone, Debug, PartialEq)]
pub enum InterpArg {
    Buffer(HostBuffer),
    Scalar(Scalar),
}

impl InterpArg {
    pub fn buffer(&self) -> Option<&HostBuffer> {
        match self {
            InterpArg::Buffer(b) => Some(b),
            InterpArg::Scalar(_) => None,
        }
    }
}

/// What an interpreted launch observed besides its results.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// Reads outside a buffer (they yielded zero).
    pub oob_reads: u64,
    /// Writes outside a buffer (they were dropped).
    pub oob_writes: u64,
}

#[derive(Debug, Error, Clone, PartialEq)]
pub enum InterpError {
    #[error("kernel `{kernel}`: {message}")]
    Launch { kernel: String, message: String },
    #[error("kernel `{kernel}`: {message}")]
    Malformed { kernel: String, message: String },
}

/// Runs `kernel` over `grid`; buffers in `args` are updated in place.
///
/// ```
/// use vibee_dsl::kernel::{interp, Grid, HostBuffer, Kernel};
/// # let kernel: Kernel = serde_json::from_str(r#"{"name":"noop","params":[],"locals":[],"shared":[],"body":[]}"#).unwrap();
/// let report = interp::run(&kernel, Grid::linear(1, 1), &mut []).unwrap();
/// assert_eq!(report.oob_writes, 0);
/// ```
pub fn run(kernel: &Kernel, grid: Grid, args: &mut [InterpArg]) -> Result<Report, InterpError> {
    let launch_err = |message: String| InterpError::Launch {
        kernel: kernel.name.clone(),
        message,
    };
    if args.len() != kernel.params.len() {
        return Err(launch_err(format!(
            "expected {} arguments, got {}",
            kernel.params.len(),
            args.len()
        )));
    }
    let mut scalars = Vec::with_capacity(args.len());
    let mut buffers = Vec::with_capacity(args.len());
    for (param, arg) in kernel.params.iter().zip(args.iter_mut()) {
        match (param.kind, arg) {
            (ParamKind::Buffer { elem, .. }, InterpArg::Buffer(b)) if b.elem() == elem => {
                scalars.push(None);
                buffers.push(Some(Mutex::new(std::mem::replace(
                    b,
                    HostBuffer::U32(Vec::new()),
                ))));
            }
            (ParamKind::Scalar(elem) | ParamKind::Comptime { elem, .. }, InterpArg::Scalar(s))
                if s.elem() == elem =>
            {
                scalars.push(Some(*s));
                buffers.push(None);
            }
            (kind, _) => {
                return Err(launch_err(format!(
                    "argument `{}` must be {kind:?}",
                    param.name
                )));
            }
        }
    }
    let memory = Memory { buffers, scalars };
    let result = run_groups(kernel, grid, &memory);
    // Hand the buffers back whatever happened.
    for (arg, slot) in args.iter_mut().zip(memory.buffers) {
        if let (InterpArg::Buffer(b), Some(m)) = (arg, slot) {
            *b = m.into_inner().unwrap_or_else(|p| p.into_inner());
        }
    }
    result
}

/// Global memory and uniform values of one launch.
struct Memory {
    buffers: Vec<Option<Mutex<HostBuffer>>>,
    scalars: Vec<Option<Scalar>>,
}

fn run_groups(kernel: &Kernel, grid: Grid, memory: &Memory) -> Result<Report, InterpError> {
    let mut report = Report::default();
    let [gx, gy, gz] = grid.groups;
    for z in 0..gz {
        for y in 0..gy {
            for x in 0..gx {
                let shared = eval::allocate_shared(kernel, memory)?;
                let group = Group {
                    kernel,
                    grid,
                    group_pos: [x, y, z],
                    memory,
                    shared,
                    barrier: GroupBarrier::new(grid.units_per_group() as usize),
                };
                let r = group.run()?;
                report.oob_reads += r.oob_reads;
                report.oob_writes += r.oob_writes;
            }
        }
    }
    Ok(report)
}

/// One group in flight: its shared memory and its barrier.
struct Group<'a> {
    kernel: &'a Kernel,
    grid: Grid,
    group_pos: [u32; 3],
    memory: &'a Memory,
    shared: Vec<Mutex<HostBuffer>>,
    barrier: GroupBarrier,
}

impl Group<'_> {
    fn unit_positions(&self) -> Vec<[u32; 3]> {
        let [sx, sy, sz] = self.grid.group_size;
        let mut out = Vec::with_capacity(self.grid.units_per_group() as usize);
        for z in 0..sz {
            for y in 0..sy {
                for x in 0..sx {
                    out.push([x, y, z]);
                }
            }
        }
        out
    }

    fn run(&self) -> Result<Report, InterpError> {
        let units = self.unit_positions();
        if !self.kernel.has_barrier() {
            let mut report = Report::default();
            for pos in units {
                let r = eval::Unit::new(self, pos).run()?;
                report.oob_reads += r.oob_reads;
                report.oob_writes += r.oob_writes;
            }
            return Ok(report);
        }
        let results: Vec<Result<Report, InterpError>> = std::thread::scope(|scope| {
            let handles: Vec<_> = units
                .into_iter()
                .map(|pos| {
                    scope.spawn(move || {
                        let result = eval::Unit::new(self, pos).run();
                        self.barrier.leave();
                        result
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join().unwrap_or_else(|_| {
                        Err(InterpError::Malformed {
                            kernel: self.kernel.name.clone(),
                            message: "a unit panicked in the interpreter".into(),
                        })
                    })
                })
                .collect()
        });
        let mut report = Report::default();
        for r in results {
            let r = r?;
            report.oob_reads += r.oob_reads;
            report.oob_writes += r.oob_writes;
        }
        Ok(report)
    }
}

/// A barrier whose party shrinks as units finish, so an early return cannot deadlock the
/// interpreter (validation rejects kernels where that could happen on a device).
struct GroupBarrier {
    state: Mutex<BarrierState>,
    cond: Condvar,
}

struct BarrierState {
    active: usize,
    arrived: usize,
    generation: u64,
}

impl GroupBarrier {
    fn new(units: usize) -> Self {
        GroupBarrier {
            state: Mutex::new(BarrierState {
                active: units,
                arrived: 0,
                generation: 0,
            }),
            cond: Condvar::new(),
        }
    }

    fn wait(&self) {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        s.arrived += 1;
        if s.arrived >= s.active {
            s.arrived = 0;
            s.generation += 1;
            self.cond.notify_all();
            return;
        }
        let generation = s.generation;
        while s.generation == generation {
            s = self.cond.wait(s).unwrap_or_else(|p| p.into_inner());
        }
    }

    fn leave(&self) {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        s.active -= 1;
        if s.arrived > 0 && s.arrived >= s.active {
            s.arrived = 0;
            s.generation += 1;
            self.cond.notify_all();
        }
    }
}
