//! Test-only helpers: a small builder for kernel IR and a runner that launches a kernel on
//! the CPU backend and in the reference interpreter and returns both results.

#![allow(
    dead_code,
    reason = "each test file uses a different part of the builder"
)]

pub mod bench_kernels;

use half::{bf16, f16};
use vibee_dsl::kernel::interp::{self, InterpArg};
use vibee_dsl::kernel::*;
use vibee_runtime::buffer::RawBuffer;
use vibee_runtime::{ArgRef, LaunchError};

/// Builds a [`Kernel`] parameter by parameter, local by local.
pub struct Kb {
    pub k: Kernel,
}

fn e(kind: ExprKind, ty: Ty) -> Expr {
    Expr::new(kind, ty, SpanId::NONE)
}
fn s(kind: StmtKind) -> Stmt {
    Stmt {
        kind,
        span: SpanId::NONE,
    }
}

impl Kb {
    pub fn new(name: &str) -> Kb {
        Kb {
            k: Kernel {
                name: name.into(),
                params: vec![],
                locals: vec![],
                shared: vec![],
                body: vec![],
            },
        }
    }
    fn param(&mut self, name: &str, kind: ParamKind) -> ParamId {
        self.k.params.push(Param {
            name: name.into(),
            kind,
            span: SpanId::NONE,
        });
        ParamId(self.k.params.len() as u32 - 1)
    }
    pub fn buf(&mut self, name: &str, elem: Elem) -> BufRef {
        BufRef::Param(self.param(
            name,
            ParamKind::Buffer {
                elem,
                mutable: false,
            },
        ))
    }
    pub fn buf_mut(&mut self, name: &str, elem: Elem) -> BufRef {
        BufRef::Param(self.param(
            name,
            ParamKind::Buffer {
                elem,
                mutable: true,
            },
        ))
    }
    pub fn scalar(&mut self, name: &str, elem: Elem) -> Expr {
        let p = self.param(name, ParamKind::Scalar(elem));
        e(ExprKind::Param(p), Ty::scalar(elem))
    }
    pub fn comptime(&mut self, name: &str, elem: Elem) -> Expr {
        let kind = ParamKind::Comptime {
            elem,
            const_generic: false,
        };
        let p = self.param(name, kind);
        e(ExprKind::Param(p), Ty::scalar(elem))
    }
    pub fn local(&mut self, name: &str, ty: Ty) -> VarId {
        self.k.locals.push(Local {
            name: name.into(),
            ty,
            mutable: true,
            span: SpanId::NONE,
        });
        VarId(self.k.locals.len() as u32 - 1)
    }
    pub fn shared(&mut self, name: &str, elem: Elem, len: Expr) -> BufRef {
        self.k.shared.push(SharedArray {
            name: name.into(),
            elem,
            len,
            span: SpanId::NONE,
        });
        BufRef::Shared(SharedId(self.k.shared.len() as u32 - 1))
    }
    pub fn get(&self, v: VarId) -> Expr {
        e(ExprKind::Local(v), self.k.locals[v.0 as usize].ty)
    }
    /// `buf[index]` with `lanes` lanes.
    pub fn load(&self, buf: BufRef, index: Expr, lanes: u8) -> Expr {
        let elem = self.k.buf_elem(buf).expect("a buffer");
        e(
            ExprKind::Load {
                buf,
                index: Box::new(index),
            },
            Ty::vector(elem, lanes),
        )
    }
    pub fn atomic_add(&self, buf: BufRef, index: Expr, value: Expr) -> Expr {
        let ty = value.ty;
        e(
            ExprKind::AtomicAdd {
                buf,
                index: Box::new(index),
                value: Box::new(value),
            },
            ty,
        )
    }
    pub fn finish(mut self, body: Vec<Stmt>) -> Kernel {
        self.k.body = body;
        self.k
    }
}

pub fn lit_f(v: f64, elem: Elem) -> Expr {
    e(ExprKind::Lit(Lit::Float(v)), Ty::scalar(elem))
}
pub fn f32c(v: f64) -> Expr {
    lit_f(v, Elem::F32)
}
pub fn u32c(v: u32) -> Expr {
    Expr::lit_u32(v)
}
pub fn i32c(v: i32) -> Expr {
    e(ExprKind::Lit(Lit::Int(v as i64)), Ty::I32)
}
pub fn boolc(v: bool) -> Expr {
    e(ExprKind::Lit(Lit::Bool(v)), Ty::BOOL)
}
pub fn builtin(b: Builtin) -> Expr {
    e(ExprKind::Builtin(b), Ty::U32)
}
pub fn gid() -> Expr {
    builtin(Builtin::GlobalPos(None))
}
pub fn bin(op: BinaryOp, a: Expr, b: Expr) -> Expr {
    let ty = if op.is_comparison() {
        Ty::vector(Elem::Bool, a.ty.lanes)
    } else {
        a.ty
    };
    e(ExprKind::Binary(op, Box::new(a), Box::new(b)), ty)
}
pub fn add(a: Expr, b: Expr) -> Expr {
    bin(BinaryOp::Add, a, b)
}
pub fn mul(a: Expr, b: Expr) -> Expr {
    bin(BinaryOp::Mul, a, b)
}
pub fn lt(a: Expr, b: Expr) -> Expr {
    bin(BinaryOp::Lt, a, b)
}
pub fn un(op: UnaryOp, a: Expr) -> Expr {
    let ty = a.ty;
    e(ExprKind::Unary(op, Box::new(a)), ty)
}
pub fn cast(a: Expr, to: Elem) -> Expr {
    let ty = Ty::vector(to, a.ty.lanes);
    e(ExprKind::Cast(Box::new(a)), ty)
}
pub fn math(f: MathFn, args: Vec<Expr>) -> Expr {
    let ty = args[0].ty;
    e(ExprKind::Math(f, args), ty)
}
pub fn len(buf: BufRef) -> Expr {
    e(ExprKind::Len(buf), Ty::U32)
}
pub fn extract(v: Expr, lane: u8) -> Expr {
    let ty = Ty::scalar(v.ty.elem);
    e(
        ExprKind::Extract {
            vector: Box::new(v),
            lane,
        },
        ty,
    )
}
pub fn construct(parts: Vec<Expr>) -> Expr {
    let ty = Ty::vector(parts[0].ty.elem, parts.len() as u8);
    e(ExprKind::Construct(parts), ty)
}
pub fn plane(op: PlaneOp, a: Expr) -> Expr {
    let ty = a.ty;
    e(ExprKind::Plane(op, Box::new(a)), ty)
}
pub fn select(c: Expr, a: Expr, b: Expr) -> Expr {
    let ty = a.ty;
    e(
        ExprKind::Select {
            cond: Box::new(c),
            then_value: Box::new(a),
            else_value: Box::new(b),
        },
        ty,
    )
}

pub fn let_(var: VarId, init: Expr) -> Stmt {
    s(StmtKind::Let { var, init })
}
pub fn assign(var: VarId, value: Expr) -> Stmt {
    s(StmtKind::Assign { var, value })
}
pub fn store(buf: BufRef, index: Expr, value: Expr) -> Stmt {
    s(StmtKind::Store { buf, index, value })
}
pub fn if_(cond: Expr, then_branch: Vec<Stmt>, else_branch: Vec<Stmt>) -> Stmt {
    s(StmtKind::If {
        cond,
        then_branch,
        else_branch,
    })
}
pub fn for_(var: VarId, start: Expr, end: Expr, step: Expr, body: Vec<Stmt>) -> Stmt {
    s(StmtKind::For {
        var,
        start,
        end,
        step,
        body,
    })
}
pub fn while_(cond: Expr, body: Vec<Stmt>) -> Stmt {
    s(StmtKind::While { cond, body })
}
pub fn brk() -> Stmt {
    s(StmtKind::Break)
}
pub fn cont() -> Stmt {
    s(StmtKind::Continue)
}
pub fn ret() -> Stmt {
    s(StmtKind::Return)
}
pub fn barrier() -> Stmt {
    s(StmtKind::Barrier)
}
pub fn eval(x: Expr) -> Stmt {
    s(StmtKind::Eval(x))
}

/// One launch argument, in parameter order.
#[derive(Clone, Debug)]
pub enum Arg {
    Buf(HostBuffer),
    Scalar(Scalar),
    Comptime(Scalar),
}

pub fn f32s(v: &[f32]) -> Arg {
    Arg::Buf(HostBuffer::F32(v.to_vec()))
}
pub fn u32s(v: &[u32]) -> Arg {
    Arg::Buf(HostBuffer::U32(v.to_vec()))
}
pub fn i32s(v: &[i32]) -> Arg {
    Arg::Buf(HostBuffer::I32(v.to_vec()))
}

/// Launches on the CPU backend (directly, without the launch path's bounds check, so
/// out-of-bounds behaviour is exercised); returns every buffer afterwards.
pub fn run_cpu(kernel: &Kernel, grid: Grid, args: &[Arg]) -> Result<Vec<HostBuffer>, LaunchError> {
    let mut raws: Vec<Option<RawBuffer>> = args
        .iter()
        .map(|a| match a {
            Arg::Buf(b) => Some(RawBuffer::Host(b.clone())),
            _ => None,
        })
        .collect();
    {
        let mut refs: Vec<ArgRef<'_>> = Vec::new();
        for ((a, raw), p) in args.iter().zip(raws.iter_mut()).zip(&kernel.params) {
            refs.push(match (a, raw) {
                (_, Some(r)) => match p.kind {
                    ParamKind::Buffer { mutable: true, .. } => ArgRef::BufferMut(r),
                    _ => ArgRef::Buffer(r),
                },
                (Arg::Comptime(s), None) => ArgRef::Comptime(*s),
                (Arg::Scalar(s), None) => ArgRef::Scalar(*s),
                (Arg::Buf(_), None) => unreachable!(),
            });
        }
        vibee_runtime::cpu::launch(kernel, grid, &mut refs)?;
    }
    Ok(raws
        .into_iter()
        .flatten()
        .map(|r| match r {
            RawBuffer::Host(h) => h,
            #[allow(unreachable_patterns, reason = "GPU variants exist with GPU features")]
            _ => unreachable!(),
        })
        .collect())
}

/// Runs the reference interpreter; returns every buffer afterwards.
pub fn run_interp(kernel: &Kernel, grid: Grid, args: &[Arg]) -> Vec<HostBuffer> {
    let mut iargs: Vec<InterpArg> = args
        .iter()
        .map(|a| match a {
            Arg::Buf(b) => InterpArg::Buffer(b.clone()),
            Arg::Scalar(s) | Arg::Comptime(s) => InterpArg::Scalar(*s),
        })
        .collect();
    interp::run(kernel, grid, &mut iargs).expect("the interpreter runs the kernel");
    iargs
        .into_iter()
        .filter_map(|a| match a {
            InterpArg::Buffer(b) => Some(b),
            InterpArg::Scalar(_) => None,
        })
        .collect()
}

/// Bits of every element, so NaNs compare equal to themselves and -0.0 differs from 0.0.
pub fn bits(b: &HostBuffer) -> Vec<u32> {
    match b {
        HostBuffer::F32(v) => v.iter().map(|x| x.to_bits()).collect(),
        HostBuffer::F16(v) => v.iter().map(|x| x.to_bits() as u32).collect(),
        HostBuffer::BF16(v) => v.iter().map(|x| x.to_bits() as u32).collect(),
        HostBuffer::I32(v) => v.iter().map(|x| *x as u32).collect(),
        HostBuffer::U32(v) => v.clone(),
    }
}

/// Runs on both and asserts bit-identical buffers; returns the CPU's buffers.
pub fn check(kernel: &Kernel, grid: Grid, args: &[Arg]) -> Vec<HostBuffer> {
    let cpu = run_cpu(kernel, grid, args).unwrap_or_else(|e| panic!("{e}"));
    let reference = run_interp(kernel, grid, args);
    for (i, (c, r)) in cpu.iter().zip(&reference).enumerate() {
        assert_eq!(
            bits(c),
            bits(r),
            "kernel `{}`, buffer {i}: cpu {:?} vs interpreter {:?}",
            kernel.name,
            c,
            r
        );
    }
    cpu
}

/// The inline `exp` of the CPU backend is within this many ulps of the interpreter's
/// (`vibee_runtime::cpu` documents the bound; `cpu_exp.rs` measures it).
pub const EXP_ULPS: u32 = 1;

/// Distance in units in the last place between two floats held as bits of `elem`'s width
/// (`f32`, or `f16`/`bf16` in the low 16 bits); NaNs are only equal to the same NaN.
pub fn ulp_distance(elem: Elem, a: u32, b: u32) -> u32 {
    let is_nan = |v: u32| match elem {
        Elem::F32 => f32::from_bits(v).is_nan(),
        Elem::F16 => f16::from_bits(v as u16).is_nan(),
        _ => bf16::from_bits(v as u16).is_nan(),
    };
    if a == b {
        return 0;
    }
    if is_nan(a) || is_nan(b) {
        return u32::MAX;
    }
    let sign = if elem == Elem::F32 { 1 << 31 } else { 1 << 15 };
    // Map sign-magnitude bits onto a line where neighbours differ by one.
    let line = |v: u32| {
        if v & sign != 0 {
            -i64::from(v & !sign)
        } else {
            i64::from(v)
        }
    };
    (line(a) - line(b)).unsigned_abs().min(u64::from(u32::MAX)) as u32
}

/// Runs on both and asserts every float within `ulps` of the interpreter's (integers and
/// NaNs bit-identical); returns the CPU's buffers.
pub fn check_within_ulps(kernel: &Kernel, grid: Grid, args: &[Arg], ulps: u32) -> Vec<HostBuffer> {
    let cpu = run_cpu(kernel, grid, args).unwrap_or_else(|e| panic!("{e}"));
    let reference = run_interp(kernel, grid, args);
    for (i, (c, r)) in cpu.iter().zip(&reference).enumerate() {
        let elem = c.elem();
        for (j, (a, b)) in bits(c).into_iter().zip(bits(r)).enumerate() {
            let d = if elem.is_float() {
                ulp_distance(elem, a, b)
            } else {
                u32::from(a != b) * u32::MAX
            };
            assert!(
                d <= ulps,
                "kernel `{}`, buffer {i}, element {j}: cpu {a:#x} vs interpreter {b:#x} \
                 ({d} ulps apart, {ulps} allowed)",
                kernel.name
            );
        }
    }
    cpu
}

pub fn as_f32(b: &HostBuffer) -> Vec<f32> {
    f32::view(b).expect("f32 buffer").to_vec()
}
pub fn as_u32(b: &HostBuffer) -> Vec<u32> {
    u32::view(b).expect("u32 buffer").to_vec()
}
pub fn as_i32(b: &HostBuffer) -> Vec<i32> {
    i32::view(b).expect("i32 buffer").to_vec()
}
