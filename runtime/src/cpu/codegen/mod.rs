//! Kernel IR → Cranelift IR → native code.
//!
//! [`compile`] builds one function per kernel variant. [`Lower`] walks the IR once with a
//! `FunctionBuilder`: [`skeleton`] emits the function around the body (the loops over
//! groups and units, or the resume dispatch of a kernel with barriers), [`stmt`] the
//! statements and control flow, [`loops`] the `for` loops (versioned on their bounds),
//! [`expr`] the expressions, [`ops`] the scalar semantics of every operator, [`memory`] the
//! bounds-checked loads, stores and atomics, and [`simd`] the variant that runs four units
//! per iteration in vector lanes (its accesses in [`simd_memory`]), with [`analysis`] the
//! static facts it and the per-group and per-loop bounds versioning use, and [`vectorize`]
//! the loops that run four iterations per step. Every local is a
//! `cranelift_frontend::Variable`, so values stay in SSA registers.

mod analysis;
mod expr;
mod fastmath;
mod loops;
mod memory;
mod ops;
mod simd;
mod simd_memory;
mod skeleton;
mod stmt;
mod vectorize;

use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};

use cranelift_codegen::ir::{AbiParam, FuncRef, InstBuilder, Type, Value, types};
use cranelift_codegen::settings::{self, Configurable};
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext, Variable};
use cranelift_jit::{JITBuilder, JITModule};
use cranelift_module::{Linkage, Module, default_libcall_names};
use vibee_dsl::kernel::{Elem, Kernel, ParamKind, Scalar, Ty, ops as sem};

use super::helpers::{self, HelperTy};

/// Signature of a barrier-free kernel: `(ctx, shared, first_group, end_group)`.
pub(crate) type GroupsFn = unsafe extern "C" fn(*const super::LaunchCtx, *mut u8, u64, u64);

/// Signature of a kernel with barriers: `(ctx, shared, group, unit, state, resume) -> next`.
pub(crate) type PhaseFn =
    unsafe extern "C" fn(*const super::LaunchCtx, *mut u8, u64, u32, *mut u8, u32) -> u32;

/// What a resumable kernel returns once the unit has finished.
pub(crate) const DONE: u32 = u32::MAX;

/// The native entry point of a compiled variant.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Entry {
    Groups(GroupsFn),
    Phases(PhaseFn),
}

/// A compiled kernel variant; owns the JIT memory its code lives in.
#[derive(Debug)]
pub(crate) struct Compiled {
    pub entry: Entry,
    /// The four-units-per-iteration variant, for groups whose size is a multiple of 4.
    pub simd: Option<GroupsFn>,
    /// Bytes of shared memory one group needs (all arrays, 16-byte aligned).
    pub shared_bytes: usize,
    /// Bytes of saved state one unit needs across barriers.
    pub state_bytes: usize,
    /// Whether the kernel declares shared arrays (which need zeroing per group).
    pub uses_shared: bool,
    /// Whether the kernel has loops (so a unit's work is not bounded by its size).
    pub has_loops: bool,
    /// What a unit costs, measured by the driver to choose between threads and inline.
    pub unit_cost: super::driver::UnitCost,
    _code: JitCode,
}

/// Keeps the module (and so the executable memory) alive.
struct JitCode(#[allow(dead_code, reason = "owned only to keep the code mapped")] JITModule);

impl std::fmt::Debug for JitCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JitCode")
    }
}

// SAFETY: after `finalize_definitions` the module is never used again; it is only held so
// its code stays mapped, and the finalized code itself is immutable and callable anywhere.
unsafe impl Send for JitCode {}
unsafe impl Sync for JitCode {}

/// One shared array: byte offset in the group's shared block, length, element type.
#[derive(Clone, Copy, Debug)]
pub(super) struct SharedSlot {
    pub offset: u64,
    pub len: u64,
    pub elem: Elem,
}

/// Compiles `kernel` with the comptime values in `comptime` (indexed by parameter).
pub(crate) fn compile(kernel: &Kernel, comptime: &[Option<Scalar>]) -> Result<Compiled, String> {
    // Cranelift asserts on some malformed input; a bad kernel must be an error, not a crash.
    catch_unwind(AssertUnwindSafe(|| compile_inner(kernel, comptime))).unwrap_or_else(|p| {
        let why = p
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default();
        Err(format!("internal error in the Cranelift backend: {why}"))
    })
}

fn compile_inner(kernel: &Kernel, comptime: &[Option<Scalar>]) -> Result<Compiled, String> {
    let (shared, shared_bytes) = shared_layout(kernel, comptime)?;
    let phased = kernel.has_barrier();
    let mut module = new_module()?;
    let shape = if phased { Shape::Phases } else { Shape::Groups };
    let (id, state_bytes) = define(&mut module, kernel, comptime, &shared, shape)?;
    let simd_id = if !phased && analysis::eligible(kernel) {
        Some(define(&mut module, kernel, comptime, &shared, Shape::Simd)?.0)
    } else {
        None
    };
    module.finalize_definitions().map_err(|e| e.to_string())?;
    let code = module.get_finalized_function(id);
    // SAFETY: each function was compiled from the signature of its shape, which matches the
    // function type chosen here.
    let (entry, simd) = unsafe {
        let simd = simd_id.map(|id| {
            std::mem::transmute::<*const u8, GroupsFn>(module.get_finalized_function(id))
        });
        if phased {
            (
                Entry::Phases(std::mem::transmute::<*const u8, PhaseFn>(code)),
                None,
            )
        } else {
            (
                Entry::Groups(std::mem::transmute::<*const u8, GroupsFn>(code)),
                simd,
            )
        }
    };
    Ok(Compiled {
        entry,
        simd,
        shared_bytes,
        state_bytes,
        uses_shared: !kernel.shared.is_empty(),
        has_loops: has_loops(&kernel.body),
        unit_cost: Default::default(),
        _code: JitCode(module),
    })
}

/// Which function to build from a kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Shape {
    /// Loops over groups and units, one unit per iteration.
    Groups,
    /// Loops over groups and units, four units per iteration in vector lanes.
    Simd,
    /// A resumable function for one unit (kernels with barriers).
    Phases,
}

/// Builds one function of `kernel` into `module`; returns it and the bytes of unit state.
fn define(
    module: &mut JITModule,
    kernel: &Kernel,
    comptime: &[Option<Scalar>],
    shared: &[SharedSlot],
    shape: Shape,
) -> Result<(cranelift_module::FuncId, usize), String> {
    let ptr = module.target_config().pointer_type();
    let mut sig = module.make_signature();
    if shape == Shape::Phases {
        for t in [ptr, ptr, types::I64, types::I32, ptr, types::I32] {
            sig.params.push(AbiParam::new(t));
        }
        sig.returns.push(AbiParam::new(types::I32));
    } else {
        for t in [ptr, ptr, types::I64, types::I64] {
            sig.params.push(AbiParam::new(t));
        }
    }
    let name = format!("{shape:?}");
    let id = module
        .declare_function(&name, Linkage::Export, &sig)
        .map_err(|e| e.to_string())?;
    let mut ctx = module.make_context();
    ctx.func.signature = sig;
    let mut fctx = FunctionBuilderContext::new();
    let config = module.target_config();
    let state_bytes = {
        let b = FunctionBuilder::new(&mut ctx.func, &mut fctx);
        let mut lower = Lower::new(kernel, comptime, shared.to_vec(), b, module, shape)?;
        match shape {
            Shape::Phases => lower.emit_phased()?,
            Shape::Groups => lower.emit_groups(false)?,
            Shape::Simd => lower.emit_groups(true)?,
        }
        lower.finish(config)
    };
    // `VIBEE_JIT_DUMP=1` prints each kernel's Cranelift IR and machine code, for tuning.
    let dump = std::env::var_os("VIBEE_JIT_DUMP").is_some();
    if dump {
        eprintln!("kernel `{}` ({name}):\n{}", kernel.name, ctx.func.display());
        ctx.set_disasm(true);
    }
    module
        .define_function(id, &mut ctx)
        .map_err(|e| format!("{e:?}"))?;
    if let Some(code) = ctx
        .compiled_code()
        .and_then(|c| c.vcode.as_ref())
        .filter(|_| dump)
    {
        eprintln!("machine code of `{}` ({name}):\n{code}", kernel.name);
    }
    Ok((id, state_bytes))
}

fn new_module() -> Result<JITModule, String> {
    let mut flags = settings::builder();
    for (name, value) in [
        ("opt_level", "speed"),
        ("use_colocated_libcalls", "false"),
        ("is_pic", "false"),
    ] {
        flags.set(name, value).map_err(|e| e.to_string())?;
    }
    let isa = cranelift_native::builder()
        .map_err(|e| format!("host machine is not supported: {e}"))?
        .finish(settings::Flags::new(flags))
        .map_err(|e| e.to_string())?;
    let mut builder = JITBuilder::with_isa(isa, default_libcall_names());
    for h in helpers::all() {
        builder.symbol(h.name, h.ptr);
    }
    // Cranelift lowers `fma` to a call of `fmaf` on hosts without FMA instructions.
    builder.symbol("fmaf", helpers::FMA_F32 as *const u8);
    Ok(JITModule::new(builder))
}

fn has_loops(stmts: &[vibee_dsl::kernel::Stmt]) -> bool {
    use vibee_dsl::kernel::StmtKind;
    stmts.iter().any(|s| match &s.kind {
        StmtKind::For { .. } | StmtKind::While { .. } => true,
        StmtKind::If {
            then_branch,
            else_branch,
            ..
        } => has_loops(then_branch) || has_loops(else_branch),
        _ => false,
    })
}

/// Byte layout of the shared arrays; their lengths must be constant for this variant.
fn shared_layout(
    kernel: &Kernel,
    comptime: &[Option<Scalar>],
) -> Result<(Vec<SharedSlot>, usize), String> {
    let mut slots = Vec::with_capacity(kernel.shared.len());
    let mut offset = 0u64;
    for array in &kernel.shared {
        let param = |p: vibee_dsl::kernel::ParamId| comptime.get(p.0 as usize).copied().flatten();
        let len = sem::const_eval(&array.len, &param).ok_or_else(|| {
            format!(
                "shared array `{}` needs a length built from literals and comptime parameters",
                array.name
            )
        })?;
        let len = u64::try_from(len.to_i64()).unwrap_or(0);
        let bytes = len
            .checked_mul(array.elem.size_bytes() as u64)
            .filter(|&b| b <= 1 << 30)
            .ok_or_else(|| {
                format!(
                    "shared array `{}` of {len} elements is too large",
                    array.name
                )
            })?;
        slots.push(SharedSlot {
            offset,
            len,
            elem: array.elem,
        });
        offset += bytes.div_ceil(16) * 16;
    }
    Ok((slots, offset.max(16) as usize))
}

/// A parameter's values as the function body sees them (loaded once, at entry).
#[derive(Clone, Copy, Debug)]
enum ArgVal {
    Buffer {
        base: Value,
        len: Value,
        elem: Elem,
        mutable: bool,
    },
    Scalar(Value),
}

/// Loop targets for `break` and `continue`.
#[derive(Clone, Copy, Debug)]
struct LoopTargets {
    continue_to: cranelift_codegen::ir::Block,
    break_to: cranelift_codegen::ir::Block,
}

/// Position values: per-axis and linearized unit and group positions, the grid's sizes.
#[derive(Clone, Copy, Debug)]
struct Positions {
    unit: [Variable; 3],
    unit_linear: Variable,
    group: [Variable; 3],
    group_linear: Variable,
    /// `group_linear * units_per_group`.
    global_base: Variable,
    group_size: [Value; 3],
    groups: [Value; 3],
    units_per_group: Value,
}

/// The state of lowering one kernel into one function.
pub(super) struct Lower<'k, 'b> {
    kernel: &'k Kernel,
    comptime: &'k [Option<Scalar>],
    shared_slots: Vec<SharedSlot>,
    b: FunctionBuilder<'b>,
    module: &'k mut JITModule,
    helpers: HashMap<&'static str, FuncRef>,
    locals: Vec<Variable>,
    args: Vec<Option<ArgVal>>,
    shared_base: Option<Value>,
    ctx_ptr: Option<Value>,
    pos: Option<Positions>,
    loops: Vec<LoopTargets>,
    /// Locals known to index inside a buffer in the code being lowered (`if i < len(b)`).
    proven: Vec<(vibee_dsl::kernel::VarId, vibee_dsl::kernel::BufRef)>,
    /// Accesses proven in bounds for the whole loop being lowered (its unchecked copy).
    loop_facts: Vec<loops::LoopFact>,
    /// Where a `return` goes: the next unit (groups function) or `None` (return `DONE`).
    unit_exit: Option<cranelift_codegen::ir::Block>,
    /// Variables saved across barriers, with their types.
    state_slots: Vec<(Variable, Type)>,
    /// Saved state pointer and resume blocks (kernels with barriers only).
    state_ptr: Option<Value>,
    resume_blocks: Vec<cranelift_codegen::ir::Block>,
    /// Masks and constants of the four-units-per-iteration shape.
    simd: simd::SimdState,
    /// Scalar `f32` `exp` is the inline one rather than a call of `expf`: set while the
    /// scalar iterations of a vectorized loop are lowered.
    inline_exp: bool,
}

impl<'k, 'b> Lower<'k, 'b> {
    fn new(
        kernel: &'k Kernel,
        comptime: &'k [Option<Scalar>],
        shared_slots: Vec<SharedSlot>,
        mut b: FunctionBuilder<'b>,
        module: &'k mut JITModule,
        shape: Shape,
    ) -> Result<Self, String> {
        let mut locals = Vec::with_capacity(kernel.locals.len());
        let mut state_slots = Vec::new();
        for local in &kernel.locals {
            let ty = if shape == Shape::Simd {
                simd::widen(local.ty)
            } else {
                local.ty
            };
            let t = clif_ty(ty).map_err(|e| format!("local `{}`: {e}", local.name))?;
            let var = b.declare_var(t);
            locals.push(var);
            state_slots.push((var, t));
        }
        Ok(Lower {
            kernel,
            comptime,
            shared_slots,
            b,
            module,
            helpers: HashMap::new(),
            locals,
            args: Vec::new(),
            shared_base: None,
            ctx_ptr: None,
            pos: None,
            loops: Vec::new(),
            proven: Vec::new(),
            loop_facts: Vec::new(),
            unit_exit: None,
            state_slots,
            state_ptr: None,
            resume_blocks: Vec::new(),
            simd: simd::SimdState::default(),
            inline_exp: false,
        })
    }

    /// Seals and finalizes the function; returns the bytes of state one unit needs.
    fn finish(mut self, config: cranelift_codegen::isa::TargetFrontendConfig) -> usize {
        let bytes = self.state_slots.len() * 16;
        self.b.seal_all_blocks();
        self.b.finalize(config);
        bytes
    }

    /// Declares a variable that must survive barriers (a loop counter, a loop bound).
    fn state_var(&mut self, t: Type) -> Variable {
        let var = self.b.declare_var(t);
        self.state_slots.push((var, t));
        var
    }

    /// Calls the host helper `name` with `args`; returns its single result.
    fn call_helper(&mut self, name: &'static str, args: &[Value]) -> Result<Value, String> {
        let func = match self.helpers.get(name) {
            Some(f) => *f,
            None => {
                let h = helpers::find(name).ok_or_else(|| format!("no helper `{name}`"))?;
                let mut sig = self.module.make_signature();
                let t = |h: HelperTy| match h {
                    HelperTy::F32 => types::F32,
                    HelperTy::F64 => types::F64,
                    HelperTy::I32 => types::I32,
                };
                sig.params
                    .extend(h.params.iter().map(|&p| AbiParam::new(t(p))));
                sig.returns.push(AbiParam::new(t(h.ret)));
                let id = self
                    .module
                    .declare_function(name, Linkage::Import, &sig)
                    .map_err(|e| e.to_string())?;
                let f = self.module.declare_func_in_func(id, self.b.func);
                self.helpers.insert(name, f);
                f
            }
        };
        let call = self.b.ins().call(func, args);
        Ok(self.b.inst_results(call)[0])
    }

    fn iconst32(&mut self, v: u32) -> Value {
        self.b.ins().iconst(types::I32, i64::from(v))
    }

    /// The Cranelift type of a value, for checks before `def_var` and friends.
    fn ty_of(&self, v: Value) -> Type {
        self.b.func.dfg.value_type(v)
    }

    fn param_kind(&self, index: usize) -> Result<ParamKind, String> {
        self.kernel
            .params
            .get(index)
            .map(|p| p.kind)
            .ok_or_else(|| format!("parameter #{index} does not exist"))
    }
}

/// Register type of one lane: floats of every width in `f32`, integers in `i32`, bool in
/// `i8` (0 or 1).
pub(super) fn lane_ty(elem: Elem) -> Type {
    match elem {
        Elem::F32 | Elem::F16 | Elem::BF16 => types::F32,
        Elem::I32 | Elem::U32 => types::I32,
        Elem::Bool => types::I8,
    }
}

/// Register type of a value: 4-lane vectors are `f32x4` or `i32x4` (bool lanes as 0/1).
pub(super) fn clif_ty(ty: Ty) -> Result<Type, String> {
    match ty.lanes {
        1 => Ok(lane_ty(ty.elem)),
        4 if ty.elem.is_float() => Ok(types::F32X4),
        4 => Ok(types::I32X4),
        n => Err(format!("vectors of {n} lanes are not supported (1 or 4)")),
    }
}
