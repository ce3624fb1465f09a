//! The launch path shared by every backend: argument checks, grid limits, bounds, dispatch.

use std::cell::RefCell;

use vibee_dsl::kernel::{Grid, Kernel, ParamId, ParamKind, Scalar, bounds};

use crate::buffer::RawBuffer;
use crate::{Device, LaunchError};

/// One argument of a launch, in the order of the kernel's parameters.
#[derive(Debug)]
pub enum ArgRef<'a> {
    Buffer(&'a RawBuffer),
    BufferMut(&'a mut RawBuffer),
    Scalar(Scalar),
    /// A `#[comptime]` argument or const generic: the backends specialize on it.
    Comptime(Scalar),
}

impl ArgRef<'_> {
    pub fn buffer(&self) -> Option<&RawBuffer> {
        match self {
            ArgRef::Buffer(b) => Some(b),
            ArgRef::BufferMut(b) => Some(b),
            _ => None,
        }
    }
    pub fn scalar(&self) -> Option<Scalar> {
        match self {
            ArgRef::Scalar(s) | ArgRef::Comptime(s) => Some(*s),
            _ => None,
        }
    }
}

/// What `#[vibee::kernel]` hands the runtime: the kernel IR and the CubeCL launcher.
#[derive(Debug, Clone, Copy)]
pub struct KernelSource {
    /// The kernel IR (built once, on first use).
    pub ir: fn() -> &'static Kernel,
    /// The generated CubeCL launcher.
    pub cube: crate::cube::CubeLauncher,
}

/// Launches `source` on `device` over `grid`.
pub fn launch(
    device: &Device,
    source: &KernelSource,
    grid: Grid,
    args: &mut [ArgRef<'_>],
) -> Result<(), LaunchError> {
    let kernel = (source.ir)();
    check_args(kernel, args)?;
    check_grid(device, kernel, grid)?;
    check_bounds(kernel, grid, args)?;
    match device {
        // The IR is `'static`: the CPU cache finds its compiled code by address.
        Device::Cpu => crate::cpu::launch_static(kernel, grid, args),
        #[cfg(any(feature = "wgpu", feature = "cuda"))]
        gpu => crate::cube::launch(gpu, source, grid, args),
    }
}

fn check_args(kernel: &Kernel, args: &[ArgRef<'_>]) -> Result<(), LaunchError> {
    let bad = |index: usize, problem: String| LaunchError::BadArgument {
        kernel: kernel.name.clone(),
        index,
        param: kernel
            .params
            .get(index)
            .map_or_else(|| "-".into(), |p| p.name.clone()),
        problem,
    };
    if args.len() != kernel.params.len() {
        return Err(bad(
            args.len().min(kernel.params.len()),
            format!(
                "expected {} arguments, got {}",
                kernel.params.len(),
                args.len()
            ),
        ));
    }
    for (i, (param, arg)) in kernel.params.iter().zip(args).enumerate() {
        match (param.kind, arg) {
            (ParamKind::Buffer { elem, mutable }, arg) => {
                let Some(buf) = arg.buffer() else {
                    return Err(bad(i, "must be a buffer".into()));
                };
                if buf.elem() != elem {
                    return Err(bad(
                        i,
                        format!("holds {:?}, expected {:?}", buf.elem(), elem),
                    ));
                }
                if mutable && !matches!(arg, ArgRef::BufferMut(_)) {
                    return Err(bad(i, "must be passed mutably".into()));
                }
            }
            (ParamKind::Scalar(elem), ArgRef::Scalar(s))
            | (ParamKind::Comptime { elem, .. }, ArgRef::Comptime(s)) => {
                if s.elem() != elem {
                    return Err(bad(i, format!("is {:?}, expected {:?}", s.elem(), elem)));
                }
            }
            (kind, _) => return Err(bad(i, format!("must be {kind:?}"))),
        }
    }
    Ok(())
}

fn check_grid(device: &Device, kernel: &Kernel, grid: Grid) -> Result<(), LaunchError> {
    let too_large = |limit: String| LaunchError::GridTooLarge {
        kernel: kernel.name.clone(),
        grid,
        limit,
    };
    if grid.groups.contains(&0) || grid.group_size.contains(&0) {
        return Err(too_large("every grid dimension must be at least 1".into()));
    }
    let max_units = device.max_units_per_group();
    if grid.units_per_group() > max_units {
        return Err(too_large(format!("at most {max_units} units per group")));
    }
    let max_groups = device.max_groups_per_axis();
    if grid.groups.iter().any(|&g| g as u64 > max_groups) {
        return Err(too_large(format!("at most {max_groups} groups per axis")));
    }
    Ok(())
}

/// The arguments as the bounds analysis sees them.
struct ArgFacts<'s, 'a>(&'s [ArgRef<'a>]);

impl bounds::LaunchFacts for ArgFacts<'_, '_> {
    fn len(&self, param: ParamId) -> Option<usize> {
        self.0.get(param.0 as usize)?.buffer().map(RawBuffer::len)
    }
    fn value(&self, param: ParamId) -> Option<Scalar> {
        self.0.get(param.0 as usize)?.scalar()
    }
}

/// A bounds proof made for one (kernel, grid) pair.
struct CachedProof {
    kernel: &'static Kernel,
    grid: Grid,
    proof: bounds::BoundsProof,
}

/// Slots of the per-thread proof table (a power of two).
const PROOF_SLOTS: usize = 32;

thread_local! {
    /// Recent bounds proofs, direct-mapped by kernel address and grid. Per thread, so a
    /// hit takes no lock; a miss (first launch, a new grid, or an argument the proof read
    /// that changed) proves again and replaces the slot.
    static PROOFS: RefCell<[Option<CachedProof>; PROOF_SLOTS]> =
        const { RefCell::new([const { None }; PROOF_SLOTS]) };
}

/// Refuses a launch whose buffers are smaller than what the grid is certain to touch.
///
/// The proof depends on the kernel and grid, and on the buffer lengths and scalar values
/// it read (most kernels read none), so it is made once per (kernel, grid) and reused
/// while those stay the same: a launch then only compares lengths, without allocating.
/// The IR is `'static`, so its address identifies it.
fn check_bounds(
    kernel: &'static Kernel,
    grid: Grid,
    args: &[ArgRef<'_>],
) -> Result<(), LaunchError> {
    let facts = ArgFacts(args);
    let slot = proof_slot(kernel, grid);
    PROOFS.with(|table| {
        let mut table = table.borrow_mut();
        let cached = &mut table[slot];
        let fresh = match cached {
            Some(c) => {
                !(std::ptr::eq(c.kernel, kernel) && c.grid == grid && c.proof.applies_to(&facts))
            }
            None => true,
        };
        if fresh {
            let proof = bounds::prove(kernel, grid, &facts);
            *cached = Some(CachedProof {
                kernel,
                grid,
                proof,
            });
        }
        let requirements = cached.as_ref().map_or(&[][..], |c| c.proof.requirements());
        check_requirements(kernel, requirements, args)
    })
}

fn check_requirements(
    kernel: &Kernel,
    requirements: &[bounds::Requirement],
    args: &[ArgRef<'_>],
) -> Result<(), LaunchError> {
    for need in requirements {
        let len = args[need.param.0 as usize]
            .buffer()
            .map_or(0, RawBuffer::len);
        if need.max_index >= len as u64 {
            return Err(LaunchError::BufferTooSmall {
                kernel: kernel.name.clone(),
                param: kernel.param(need.param).name.clone(),
                len,
                needed: need.max_index,
            });
        }
    }
    Ok(())
}

/// The table slot of a (kernel, grid) pair: a cheap mix, since every hit is confirmed.
fn proof_slot(kernel: &'static Kernel, grid: Grid) -> usize {
    let mut h = (std::ptr::from_ref(kernel) as u64) >> 4;
    for (i, d) in grid.groups.iter().chain(&grid.group_size).enumerate() {
        h ^= u64::from(*d).rotate_left(i as u32 * 11);
    }
    (h.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 59) as usize % PROOF_SLOTS
}
