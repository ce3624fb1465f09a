//! The launch path shared by every backend: argument checks, grid limits, bounds, dispatch.

use vibee_dsl::kernel::{Grid, Kernel, ParamKind, Scalar, bounds};

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

fn check_bounds(kernel: &Kernel, grid: Grid, args: &[ArgRef<'_>]) -> Result<(), LaunchError> {
    let lens: Vec<Option<usize>> = args
        .iter()
        .map(|a| a.buffer().map(RawBuffer::len))
        .collect();
    let values: Vec<Option<Scalar>> = args.iter().map(ArgRef::scalar).collect();
    for need in bounds::required_lengths(kernel, grid, &lens, &values) {
        let len = lens[need.param.0 as usize].unwrap_or(0);
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
