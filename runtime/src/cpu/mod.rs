//! The CPU backend: kernel IR compiled to native code by Cranelift, run over rayon threads.
//!
//! Pipeline: [`launch`] checks the grid and arguments, looks the kernel up in the
//! specialization cache ([`cache`]; one compiled variant per kernel and set of comptime
//! values, compiled at first launch), packs the arguments into a [`LaunchCtx`] the
//! generated code reads, and hands it to the [`driver`], which spreads groups over rayon.
//! A caller that launches one kernel many times can instead [`compile`] it once and keep
//! the [`CompiledKernel`] ([`handle`]): its launches skip the cache lookup, and
//! [`CompiledKernel::launch_slices`] runs over borrowed slices ([`SliceArg`]).
//!
//! Three shapes of generated code ([`codegen`]):
//! - kernels without barriers compile to one function that loops over a range of groups
//!   and over every unit of each group inside the generated code, so a launch makes one
//!   native call per chunk of groups, not one per unit;
//! - loop-free kernels of that kind also compile to a variant that runs four units per
//!   iteration in the lanes of 128-bit vectors (`if` as masks, with an unmasked copy for
//!   the usual case of a condition true in all four lanes; consecutive accesses as one
//!   vector load or store), used when the group size is a multiple of 4 (four copies of the
//!   body per iteration when the units of a loop are a multiple of 16). A kernel that reads
//!   no position but the global one runs all the groups of a call as one loop when every
//!   group indexes inside its buffers;
//! - kernels with barriers compile to a *resumable* function: every local lives in a
//!   per-unit state slot across barriers, a barrier saves the unit's state and returns its
//!   resume point, and the driver runs every unit of a group up to the barrier before it
//!   resumes any. Barriers inside loops work the same way (the loop counters are state too).
//!
//! Semantics follow the interpreter (`vibee_dsl::kernel::interp`) exactly but for `exp` of
//! a 4-lane `f32` vector value, and `exp` of an `f32` scalar in a `for` loop that the loop
//! vectorizer runs four iterations per step (every iteration of it, so all of them compute
//! one function): that `exp` is generated inline and is within 1 ulp of the interpreter's
//! `expf` for every `f32` input (bit-identical for 99.6% of them, and for NaN, ±inf,
//! overflow and underflow). Every other scalar `exp` calls `expf` itself. The vectorizer
//! never reassociates: a sum in such a loop (`s = s + exp(x[j] - m)`) adds the lanes in
//! iteration order, so results are deterministic and independent of threads. As in the
//! interpreter: wrapping integer arithmetic, division or remainder by zero yields 0, out-of-bounds reads yield 0 and
//! out-of-bounds writes are dropped (every access is bounds-checked), float → int casts
//! saturate, `f16`/`bf16` values are held in `f32` registers and rounded after every
//! operation, vector values of 4 lanes use Cranelift's 128-bit SIMD types. Positions follow
//! the interpreter's convention: `linear = x + y*X + z*X*Y` and the global linear position
//! is `group_linear * units_per_group + unit_linear`. The CPU has no planes: the plane size
//! is 1, so `plane_sum(x) == plane_max(x) == x`, `PlaneSize == 1` and `PlaneUnit == 0`.
//! Shared memory is allocated per group and zeroed before the group runs.

mod cache;
mod codegen;
mod driver;
mod handle;
mod helpers;

use std::sync::atomic::{AtomicU32, Ordering};

use vibee_dsl::kernel::{Elem, Grid, HostBuffer, Kernel, ParamKind, Scalar};

use self::cache::KernelRef;
pub use self::handle::{CompiledKernel, HostElement, SliceArg, compile};
use crate::buffer::RawBuffer;
use crate::{ArgRef, LaunchError};

/// Units one group may have on the CPU backend.
pub const MAX_UNITS_PER_GROUP: u64 = 1024;

/// What the generated code reads: the grid, an error word it may set, the arguments.
#[repr(C)]
#[derive(Debug)]
pub(crate) struct LaunchCtx {
    pub groups: [u32; 3],
    pub group_size: [u32; 3],
    /// Set to a non-zero [`RuntimeFault`] code by the generated code.
    pub error: AtomicU32,
    pub args: *const ArgSlot,
}

/// One argument as the generated code sees it: a buffer's base and length in elements, or a
/// scalar's bits in `len` (floats of every width as `f32` bits, bool as 0/1).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub(crate) struct ArgSlot {
    pub ptr: *mut u8,
    pub len: u64,
}

impl ArgSlot {
    /// The slot of a comptime argument (its value is compiled in) and the fill of unused ones.
    const UNUSED: ArgSlot = ArgSlot {
        ptr: std::ptr::null_mut(),
        len: 0,
    };
}

/// Failures only the running code can see, reported through [`LaunchCtx::error`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub(crate) enum RuntimeFault {
    /// A `for` loop's `step_by` was zero or negative (the interpreter rejects it too).
    NonPositiveStep = 1,
}

/// Read by the generated code in place of an empty buffer, so a clamped read of element 0
/// stays inside valid memory (`Vec::new()` has a dangling pointer).
static EMPTY_BUFFER: [u64; 4] = [0; 4];

/// Runs `kernel` over `grid` with `args` on the host.
///
/// A kernel built at run time may be dropped and another built at its address, so a
/// cache hit compares the IR with the compiled one; [`launch_static`] skips that.
pub fn launch(kernel: &Kernel, grid: Grid, args: &mut [ArgRef<'_>]) -> Result<(), LaunchError> {
    launch_ref(KernelRef::Borrowed(kernel), grid, args)
}

/// [`launch`] for a kernel that lives, unchanged, for the rest of the program (every
/// `#[vibee::kernel]`'s IR does): after its first launch its address alone finds the
/// compiled code, so a launch costs a few compares and no allocation.
pub fn launch_static(
    kernel: &'static Kernel,
    grid: Grid,
    args: &mut [ArgRef<'_>],
) -> Result<(), LaunchError> {
    launch_ref(KernelRef::Static(kernel), grid, args)
}

fn launch_ref(
    kernel: KernelRef<'_>,
    grid: Grid,
    args: &mut [ArgRef<'_>],
) -> Result<(), LaunchError> {
    let k = kernel.kernel();
    check_grid(k, grid)?;
    check_arity(k, args.len())?;
    with_slots(args.len(), |slots| {
        fill_slots(k, args, slots)?;
        let compiled = cache::get_or_compile(kernel, args)?;
        // SAFETY: the slots were filled from `args`, which stay borrowed for this call.
        unsafe { run(k, compiled, grid, slots) }
    })
}

/// Calls `f` with `n` unused argument slots: on the stack for most kernels, so a launch
/// does not allocate, on the heap for kernels with more than [`INLINE_ARGS`] arguments.
fn with_slots<R>(n: usize, f: impl FnOnce(&mut [ArgSlot]) -> R) -> R {
    if n <= INLINE_ARGS {
        let mut inline = [ArgSlot::UNUSED; INLINE_ARGS];
        f(&mut inline[..n])
    } else {
        f(&mut vec![ArgSlot::UNUSED; n])
    }
}

/// Runs `compiled` (built from `kernel`) over `grid` with the arguments in `slots`.
///
/// # Safety
/// `slots` must describe live buffers for the whole call, matching the kernel's
/// parameters (element types, lengths), and only mutable parameters may point at memory
/// that must not be written. The compiled code bounds-checks every access against the
/// lengths in `slots`.
unsafe fn run(
    kernel: &Kernel,
    compiled: &codegen::Compiled,
    grid: Grid,
    slots: &[ArgSlot],
) -> Result<(), LaunchError> {
    let ctx = LaunchCtx {
        groups: grid.groups,
        group_size: grid.group_size,
        error: AtomicU32::new(0),
        args: slots.as_ptr(),
    };
    // SAFETY: the caller's promise about `slots`; `ctx` outlives the call.
    unsafe { driver::run(compiled, &ctx, grid) };
    match ctx.error.load(Ordering::Relaxed) {
        0 => Ok(()),
        _ => Err(LaunchError::Device(format!(
            "kernel `{}`: a `for` loop's `step_by` was zero or negative",
            kernel.name
        ))),
    }
}

/// Arguments a launch keeps on the stack; kernels with more use the heap.
const INLINE_ARGS: usize = 16;

fn check_grid(kernel: &Kernel, grid: Grid) -> Result<(), LaunchError> {
    let too_large = |limit: String| LaunchError::GridTooLarge {
        kernel: kernel.name.clone(),
        grid,
        limit,
    };
    if grid.groups.contains(&0) || grid.group_size.contains(&0) {
        return Err(too_large("every grid dimension must be at least 1".into()));
    }
    if grid.units_per_group() > MAX_UNITS_PER_GROUP {
        return Err(too_large(format!(
            "at most {MAX_UNITS_PER_GROUP} units per group"
        )));
    }
    Ok(())
}

fn bad_arg(kernel: &Kernel, index: usize, problem: String) -> LaunchError {
    LaunchError::BadArgument {
        kernel: kernel.name.clone(),
        index,
        param: kernel
            .params
            .get(index)
            .map_or_else(|| "-".into(), |p| p.name.clone()),
        problem,
    }
}

fn check_arity(kernel: &Kernel, args: usize) -> Result<(), LaunchError> {
    if args == kernel.params.len() {
        return Ok(());
    }
    Err(bad_arg(
        kernel,
        args.min(kernel.params.len()),
        format!("expected {} arguments, got {args}", kernel.params.len()),
    ))
}

/// Packs every argument for the generated code into `slots`, checking kinds and element
/// types (comptime arguments included: the cache keys on their values).
fn fill_slots(
    kernel: &Kernel,
    args: &mut [ArgRef<'_>],
    slots: &mut [ArgSlot],
) -> Result<(), LaunchError> {
    let params = kernel.params.iter().zip(args.iter_mut());
    for (i, ((param, arg), slot)) in params.zip(slots).enumerate() {
        *slot = match (param.kind, arg) {
            (ParamKind::Buffer { elem, mutable }, arg) => {
                buffer_slot(kernel, i, elem, mutable, arg)?
            }
            (ParamKind::Scalar(elem), ArgRef::Scalar(s)) if s.elem() == elem => ArgSlot {
                ptr: std::ptr::null_mut(),
                len: scalar_bits(*s),
            },
            (ParamKind::Comptime { elem, .. }, ArgRef::Comptime(s)) if s.elem() == elem => {
                ArgSlot::UNUSED
            }
            (ParamKind::Comptime { elem, .. }, _) => {
                return Err(bad_arg(kernel, i, format!("must be a comptime {elem:?}")));
            }
            (kind, _) => return Err(bad_arg(kernel, i, format!("must be {kind:?}"))),
        };
    }
    Ok(())
}

/// The slot of buffer argument `i`: a host buffer of `elem`, mutable when the kernel writes.
fn buffer_slot(
    kernel: &Kernel,
    i: usize,
    elem: Elem,
    mutable: bool,
    arg: &mut ArgRef<'_>,
) -> Result<ArgSlot, LaunchError> {
    let (ptr, len, held) = match arg {
        ArgRef::BufferMut(RawBuffer::Host(h)) => host_parts_mut(h),
        ArgRef::Buffer(RawBuffer::Host(h)) if !mutable => host_parts(h),
        ArgRef::Buffer(_) if mutable => {
            return Err(bad_arg(kernel, i, "must be passed mutably".into()));
        }
        _ => return Err(bad_arg(kernel, i, "must be a buffer on the CPU".into())),
    };
    if held != elem {
        return Err(bad_arg(
            kernel,
            i,
            format!("holds {held:?}, expected {elem:?}"),
        ));
    }
    let ptr = if len == 0 {
        EMPTY_BUFFER.as_ptr().cast::<u8>().cast_mut()
    } else {
        ptr
    };
    Ok(ArgSlot {
        ptr,
        len: len as u64,
    })
}

/// Expands to a match over every `HostBuffer` variant giving (base, length, element type);
/// `$base` turns the variant's vector into its base pointer.
macro_rules! host_parts {
    ($h:expr, $v:ident => $base:expr) => {
        match $h {
            HostBuffer::F32($v) => ($base.cast(), $v.len(), Elem::F32),
            HostBuffer::F16($v) => ($base.cast(), $v.len(), Elem::F16),
            HostBuffer::BF16($v) => ($base.cast(), $v.len(), Elem::BF16),
            HostBuffer::I32($v) => ($base.cast(), $v.len(), Elem::I32),
            HostBuffer::U32($v) => ($base.cast(), $v.len(), Elem::U32),
        }
    };
}

/// A read-only host buffer's base, length and element type, in one match here rather than
/// through `HostBuffer`'s methods, which live in another crate and are not all inlined into
/// the launch path. The pointer is only read through (the parameter is not mutable).
fn host_parts(h: &HostBuffer) -> (*mut u8, usize, Elem) {
    host_parts!(h, v => v.as_ptr().cast_mut())
}

/// [`host_parts`] of a buffer the kernel may write.
fn host_parts_mut(h: &mut HostBuffer) -> (*mut u8, usize, Elem) {
    host_parts!(h, v => v.as_mut_ptr())
}

/// A scalar as the generated code holds it in a register.
fn scalar_bits(s: Scalar) -> u64 {
    match s {
        Scalar::F32(v) => v.to_bits() as u64,
        Scalar::F16(v) => v.to_f32().to_bits() as u64,
        Scalar::BF16(v) => v.to_f32().to_bits() as u64,
        Scalar::I32(v) => v as u32 as u64,
        Scalar::U32(v) => v as u64,
        Scalar::Bool(v) => v as u64,
    }
}
