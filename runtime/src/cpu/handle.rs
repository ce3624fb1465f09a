//! Explicit compilation and launches over borrowed slices, for callers that launch the
//! same kernel many times (the graph executor's fused kernels).
//!
//! [`super::launch`] finds the compiled code in the specialization cache on every call,
//! which for a kernel built at run time means comparing the whole IR with the one
//! compiled, and it takes owned [`RawBuffer`](crate::buffer::RawBuffer)s. A
//! [`CompiledKernel`] is the cache's answer kept by the caller: launching it does no
//! lookup at all, and [`CompiledKernel::launch_slices`] reads and writes plain slices in
//! place, so values held elsewhere need no copy into an owned buffer.

use std::marker::PhantomData;

use vibee_dsl::kernel::{Elem, Element, Grid, Kernel, ParamKind, Scalar};

use super::cache::{self, Entry};
use super::{ArgSlot, EMPTY_BUFFER, bad_arg, check_arity, check_grid, fill_slots, run};
use super::{scalar_bits, with_slots};
use crate::{ArgRef, LaunchError};

/// Compiles `kernel` for the CPU backend now, with `comptime` as the values of its
/// `#[comptime]` parameters in parameter order (empty for a kernel without any).
///
/// Compiling the same IR and values twice returns the same code: the backend keeps one
/// variant per kernel and comptime values for the life of the process.
///
/// ```
/// use vibee_dsl::kernel::elementwise::ElementwiseFn;
/// use vibee_dsl::kernel::{BinaryOp, Elem, Expr, ExprKind, Grid, Param, ParamId, ParamKind, SpanId, Ty};
/// use vibee_runtime::cpu::{self, SliceArg};
///
/// // `out[i] = x[i] + x[i]`, one unit per element.
/// let x = Expr::new(ExprKind::Param(ParamId(0)), Ty::F32, SpanId::NONE);
/// let twice = Expr::new(ExprKind::Binary(BinaryOp::Add, Box::new(x.clone()), Box::new(x)), Ty::F32, SpanId::NONE);
/// let double = ElementwiseFn {
///     name: "double".into(),
///     inputs: vec![Param { name: "x".into(), kind: ParamKind::Scalar(Elem::F32), span: SpanId::NONE }],
///     outputs: vec![Elem::F32],
///     locals: vec![],
///     body: vec![],
///     results: vec![twice],
/// }
/// .to_kernel();
///
/// let compiled = cpu::compile(&double, &[]).unwrap();
/// let input = [1.0f32, 2.0, 3.0];
/// let mut out = [0.0f32; 3];
/// compiled
///     .launch_slices(Grid::cover(3, 64), &[SliceArg::read(&input), SliceArg::write(&mut out)])
///     .unwrap();
/// assert_eq!(out, [2.0, 4.0, 6.0]);
/// ```
pub fn compile(kernel: &Kernel, comptime: &[Scalar]) -> Result<CompiledKernel, LaunchError> {
    let mut values = comptime.iter();
    let mut by_param = Vec::with_capacity(kernel.params.len());
    for (i, param) in kernel.params.iter().enumerate() {
        let ParamKind::Comptime { elem, .. } = param.kind else {
            by_param.push(None);
            continue;
        };
        match values.next() {
            Some(v) if v.elem() == elem => by_param.push(Some(*v)),
            Some(v) => return Err(bad_arg(kernel, i, format!("is {v:?}, expected {elem:?}"))),
            None => {
                return Err(bad_arg(
                    kernel,
                    i,
                    format!("needs a comptime {elem:?} value"),
                ));
            }
        }
    }
    if values.len() > 0 {
        let expected = by_param.iter().flatten().count();
        let problem = format!(
            "{} comptime values given, the kernel has {expected} comptime parameters",
            comptime.len()
        );
        return Err(bad_arg(kernel, kernel.params.len(), problem));
    }
    Ok(CompiledKernel {
        entry: cache::variant(kernel, &by_param)?,
    })
}

/// A kernel compiled for the CPU backend with its comptime values fixed (see [`compile`]).
///
/// A handle to code the backend keeps for the life of the process, so it is `Copy` and
/// needs no reference counting; launching it skips the specialization cache.
#[derive(Clone, Copy, Debug)]
pub struct CompiledKernel {
    entry: &'static Entry,
}

impl CompiledKernel {
    /// The IR this code was compiled from.
    pub fn kernel(&self) -> &'static Kernel {
        self.entry.kernel()
    }

    /// Runs the kernel over `grid`, like [`super::launch`]; `#[comptime]` parameters must
    /// be passed the values it was compiled with.
    pub fn launch(&self, grid: Grid, args: &mut [ArgRef<'_>]) -> Result<(), LaunchError> {
        let k = self.kernel();
        check_grid(k, grid)?;
        check_arity(k, args.len())?;
        with_slots(args.len(), |slots| {
            fill_slots(k, args, slots)?;
            for (i, arg) in args.iter().enumerate() {
                if let ArgRef::Comptime(v) = arg {
                    self.check_comptime(i, *v)?;
                }
            }
            // SAFETY: the slots were filled from `args`, which stay borrowed for this call.
            unsafe { run(k, self.entry.compiled(), grid, slots) }
        })
    }

    /// Runs the kernel over `grid` on borrowed slices, one [`SliceArg`] per parameter:
    /// buffers are read and written in place.
    pub fn launch_slices(&self, grid: Grid, args: &[SliceArg<'_>]) -> Result<(), LaunchError> {
        let k = self.kernel();
        check_grid(k, grid)?;
        check_arity(k, args.len())?;
        with_slots(args.len(), |slots| {
            for (i, (arg, slot)) in args.iter().zip(slots.iter_mut()).enumerate() {
                *slot = self.slice_slot(i, arg)?;
            }
            // SAFETY: every slot points into a slice `args` borrows for this whole call,
            // and only parameters declared mutable got one borrowed mutably.
            unsafe { run(k, self.entry.compiled(), grid, slots) }
        })
    }

    fn check_comptime(&self, i: usize, value: Scalar) -> Result<(), LaunchError> {
        if self.entry.has_comptime(i, value) {
            return Ok(());
        }
        let problem = format!("is {value:?}, but the kernel was compiled for another value");
        Err(bad_arg(self.kernel(), i, problem))
    }

    /// The slot of argument `i`, checked against parameter `i`.
    fn slice_slot(&self, i: usize, arg: &SliceArg<'_>) -> Result<ArgSlot, LaunchError> {
        let k = self.kernel();
        let (slot, held) = match (k.params[i].kind, arg.kind) {
            (ParamKind::Buffer { mutable: false, .. }, SliceKind::Read { slot, elem })
            | (ParamKind::Buffer { .. }, SliceKind::Write { slot, elem }) => (slot, elem),
            (ParamKind::Buffer { .. }, SliceKind::Read { .. }) => {
                let problem = "is written by the kernel: pass it with `SliceArg::write`";
                return Err(bad_arg(k, i, problem.into()));
            }
            (ParamKind::Scalar(elem), SliceKind::Scalar(s)) if s.elem() == elem => {
                return Ok(ArgSlot {
                    ptr: std::ptr::null_mut(),
                    len: scalar_bits(s),
                });
            }
            (ParamKind::Comptime { elem, .. }, SliceKind::Comptime(s)) if s.elem() == elem => {
                return self.check_comptime(i, s).map(|()| ArgSlot::UNUSED);
            }
            (kind, _) => return Err(bad_arg(k, i, format!("must be {kind:?}"))),
        };
        match k.params[i].kind {
            ParamKind::Buffer { elem, .. } if elem != held => {
                Err(bad_arg(k, i, format!("holds {held:?}, expected {elem:?}")))
            }
            _ => Ok(slot),
        }
    }
}

/// One argument of [`CompiledKernel::launch_slices`]: a borrowed slice the kernel reads
/// or writes, or a scalar.
///
/// The borrow lasts as long as the `SliceArg`, so a slice passed for writing cannot be
/// passed again (for reading or writing) in the same launch; for the same reason it is
/// neither `Clone` nor `Copy`.
#[derive(Debug)]
pub struct SliceArg<'a> {
    kind: SliceKind,
    _borrow: PhantomData<&'a mut [u8]>,
}

#[derive(Clone, Copy, Debug)]
enum SliceKind {
    Read { slot: ArgSlot, elem: Elem },
    Write { slot: ArgSlot, elem: Elem },
    Scalar(Scalar),
    Comptime(Scalar),
}

impl<'a> SliceArg<'a> {
    /// A buffer the kernel only reads.
    pub fn read<T: HostElement>(data: &'a [T]) -> Self {
        let slot = borrowed_slot(data.as_ptr().cast_mut().cast(), data.len());
        Self::new(SliceKind::Read {
            slot,
            elem: T::ELEM,
        })
    }

    /// A buffer the kernel may write (the only way to pass a mutable parameter).
    pub fn write<T: HostElement>(data: &'a mut [T]) -> Self {
        let slot = borrowed_slot(data.as_mut_ptr().cast(), data.len());
        Self::new(SliceKind::Write {
            slot,
            elem: T::ELEM,
        })
    }

    /// A scalar argument.
    pub fn scalar(value: Scalar) -> Self {
        Self::new(SliceKind::Scalar(value))
    }

    /// The value of a `#[comptime]` parameter: must be the one the kernel was compiled with.
    pub fn comptime(value: Scalar) -> Self {
        Self::new(SliceKind::Comptime(value))
    }

    fn new(kind: SliceKind) -> Self {
        SliceArg {
            kind,
            _borrow: PhantomData,
        }
    }
}

/// The slot of a borrowed slice. An empty slice's pointer may dangle, and the generated
/// code reads a clamped element 0, so it gets a few valid zero bytes instead (as owned
/// buffers do).
fn borrowed_slot(ptr: *mut u8, len: usize) -> ArgSlot {
    let ptr = if len == 0 {
        EMPTY_BUFFER.as_ptr().cast::<u8>().cast_mut()
    } else {
        ptr
    };
    ArgSlot {
        ptr,
        len: len as u64,
    }
}

mod sealed {
    /// Keeps [`super::HostElement`] to the types whose memory layout the backend knows.
    pub trait Sealed {}
}

/// Element types whose slices the CPU backend reads and writes in place: exactly the
/// element types of [`vibee_dsl::kernel::HostBuffer`], laid out as the generated code
/// expects. Sealed, because any other type's layout is unknown to the backend.
pub trait HostElement: Element + sealed::Sealed {}

macro_rules! host_element {
    ($($t:ty),*) => {$(
        impl sealed::Sealed for $t {}
        impl HostElement for $t {}
    )*};
}

host_element!(f32, half::f16, half::bf16, i32, u32);
