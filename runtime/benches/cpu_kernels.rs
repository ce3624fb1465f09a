//! CPU backend benchmark: Cranelift-compiled kernels against plain Rust loops compiled by
//! rustc, single-threaded and on rayon's pool, from 4 KiB to 256 MiB per buffer, next to
//! the machine's copy bandwidth.
//!
//! `cargo bench -p vibee-runtime --bench cpu_kernels` runs the full sweep; add `-- --quick`
//! (or set `VIBEE_BENCH_QUICK=1`) for a short run that stops at 16 MiB.

use std::hint::black_box;
use std::sync::LazyLock;
use std::time::{Duration, Instant};

use rayon::prelude::*;
use vibee_dsl::kernel::bounds;
use vibee_dsl::kernel::*;
use vibee_runtime::buffer::RawBuffer;
use vibee_runtime::cpu::SliceArg;
use vibee_runtime::{ArgRef, Device, KernelSource, LaunchError};

fn e(kind: ExprKind, ty: Ty) -> Expr {
    Expr::new(kind, ty, SpanId::NONE)
}
fn st(kind: StmtKind) -> Stmt {
    Stmt {
        kind,
        span: SpanId::NONE,
    }
}
fn bin(op: BinaryOp, a: Expr, b: Expr) -> Expr {
    let ty = if op.is_comparison() {
        Ty::vector(Elem::Bool, a.ty.lanes)
    } else {
        a.ty
    };
    e(ExprKind::Binary(op, Box::new(a), Box::new(b)), ty)
}
fn load(buf: u32, index: Expr, lanes: u8) -> Expr {
    let kind = ExprKind::Load {
        buf: BufRef::Param(ParamId(buf)),
        index: Box::new(index),
    };
    e(kind, Ty::vector(Elem::F32, lanes))
}
fn local(id: u32, ty: Ty) -> Expr {
    e(ExprKind::Local(VarId(id)), ty)
}
fn param(name: &str, kind: ParamKind) -> Param {
    Param {
        name: name.into(),
        kind,
        span: SpanId::NONE,
    }
}
fn buffer(mutable: bool) -> ParamKind {
    ParamKind::Buffer {
        elem: Elem::F32,
        mutable,
    }
}
fn var(name: &str, ty: Ty) -> Local {
    Local {
        name: name.into(),
        ty,
        mutable: true,
        span: SpanId::NONE,
    }
}
fn gid() -> Expr {
    e(ExprKind::Builtin(Builtin::GlobalPos(None)), Ty::U32)
}

/// `y[i] = a * x[i] + y[i]` with `lanes` lanes per unit (vector index `i`); the scalar
/// kernel is written the idiomatic way, guarded by `if i < len(y)`.
fn axpy(lanes: u8) -> Kernel {
    let a = e(ExprKind::Param(ParamId(0)), Ty::F32);
    let ax = bin(BinaryOp::Mul, load(1, local(0, Ty::U32), lanes), a);
    let value = bin(BinaryOp::Add, ax, load(2, local(0, Ty::U32), lanes));
    let mut update = st(StmtKind::Store {
        buf: BufRef::Param(ParamId(2)),
        index: local(0, Ty::U32),
        value,
    });
    if lanes == 1 {
        let len = e(ExprKind::Len(BufRef::Param(ParamId(2))), Ty::U32);
        update = st(StmtKind::If {
            cond: bin(BinaryOp::Lt, local(0, Ty::U32), len),
            then_branch: vec![update],
            else_branch: vec![],
        });
    }
    Kernel {
        name: format!("axpy_x{lanes}"),
        params: vec![
            param("a", ParamKind::Scalar(Elem::F32)),
            param("x", buffer(false)),
            param("y", buffer(true)),
        ],
        locals: vec![var("i", Ty::U32)],
        shared: vec![],
        body: vec![
            st(StmtKind::Let {
                var: VarId(0),
                init: gid(),
            }),
            update,
        ],
    }
}

/// One unit per row of `cols`: max, sum of exponentials, normalize.
fn softmax() -> Kernel {
    let cols = e(ExprKind::Param(ParamId(2)), Ty::U32);
    let row = local(0, Ty::U32);
    let j = local(1, Ty::U32);
    let (m, s) = (local(2, Ty::F32), local(3, Ty::F32));
    let at = bin(
        BinaryOp::Add,
        bin(BinaryOp::Mul, row.clone(), cols.clone()),
        j.clone(),
    );
    let x_j = load(0, at.clone(), 1);
    let exp = |x: Expr| e(ExprKind::Math(MathFn::Exp, vec![x]), Ty::F32);
    let shifted = bin(BinaryOp::Sub, x_j.clone(), m.clone());
    let for_cols = |body: Vec<Stmt>| {
        st(StmtKind::For {
            var: VarId(1),
            start: Expr::lit_u32(0),
            end: cols.clone(),
            step: Expr::lit_u32(1),
            body,
        })
    };
    let set = |v: u32, value: Expr| {
        st(StmtKind::Assign {
            var: VarId(v),
            value,
        })
    };
    let body = vec![
        st(StmtKind::Let {
            var: VarId(0),
            init: gid(),
        }),
        st(StmtKind::If {
            cond: bin(
                BinaryOp::Ge,
                bin(BinaryOp::Mul, row.clone(), cols.clone()),
                e(ExprKind::Len(BufRef::Param(ParamId(1))), Ty::U32),
            ),
            then_branch: vec![st(StmtKind::Return)],
            else_branch: vec![],
        }),
        st(StmtKind::Let {
            var: VarId(2),
            init: Expr::lit_f(f64::NEG_INFINITY, Elem::F32),
        }),
        st(StmtKind::Let {
            var: VarId(3),
            init: Expr::lit_f(0.0, Elem::F32),
        }),
        for_cols(vec![set(2, bin(BinaryOp::Max, m.clone(), x_j.clone()))]),
        for_cols(vec![set(
            3,
            bin(BinaryOp::Add, s.clone(), exp(shifted.clone())),
        )]),
        for_cols(vec![st(StmtKind::Store {
            buf: BufRef::Param(ParamId(1)),
            index: at,
            value: bin(BinaryOp::Div, exp(shifted), s),
        })]),
    ];
    Kernel {
        name: "softmax_rows".into(),
        params: vec![
            param("x", buffer(false)),
            param("y", buffer(true)),
            param("cols", ParamKind::Scalar(Elem::U32)),
        ],
        locals: vec![
            var("row", Ty::U32),
            var("j", Ty::U32),
            var("m", Ty::F32),
            var("s", Ty::F32),
        ],
        shared: vec![],
        body,
    }
}

/// The same with four lanes per load (`cols` a multiple of 4, `vcols = cols / 4` vectors
/// per row), as one writes a fast softmax: lane-wise running max and sum, one horizontal
/// reduction of each, and the vector `exp`.
fn softmax_x4() -> Kernel {
    let v4 = Ty::vector(Elem::F32, 4);
    let vcols = e(ExprKind::Param(ParamId(2)), Ty::U32);
    let row = local(0, Ty::U32);
    let j = local(1, Ty::U32);
    let (m4, s4, mv) = (local(2, v4), local(3, v4), local(4, v4));
    let at = bin(
        BinaryOp::Add,
        bin(BinaryOp::Mul, row.clone(), vcols.clone()),
        j.clone(),
    );
    let x_j = load(0, at.clone(), 4);
    let exp = |x: Expr| e(ExprKind::Math(MathFn::Exp, vec![x]), v4);
    let shifted = bin(BinaryOp::Sub, x_j.clone(), mv.clone());
    let lane = |v: &Expr, l: u8| {
        let kind = ExprKind::Extract {
            vector: Box::new(v.clone()),
            lane: l,
        };
        e(kind, Ty::F32)
    };
    let splat = |x: Expr| e(ExprKind::Construct(vec![x; 4]), v4);
    let fold = |op: BinaryOp, v: &Expr| {
        let lo = bin(op, lane(v, 0), lane(v, 1));
        let hi = bin(op, lane(v, 2), lane(v, 3));
        bin(op, lo, hi)
    };
    let for_cols = |body: Vec<Stmt>| {
        st(StmtKind::For {
            var: VarId(1),
            start: Expr::lit_u32(0),
            end: vcols.clone(),
            step: Expr::lit_u32(1),
            body,
        })
    };
    let set = |v: u32, value: Expr| {
        st(StmtKind::Assign {
            var: VarId(v),
            value,
        })
    };
    let let_ = |v: u32, init: Expr| {
        st(StmtKind::Let {
            var: VarId(v),
            init,
        })
    };
    let inv = bin(
        BinaryOp::Div,
        Expr::lit_f(1.0, Elem::F32),
        fold(BinaryOp::Add, &s4),
    );
    let body = vec![
        let_(0, gid()),
        st(StmtKind::If {
            cond: bin(
                BinaryOp::Ge,
                bin(
                    BinaryOp::Mul,
                    bin(BinaryOp::Mul, row.clone(), vcols.clone()),
                    Expr::lit_u32(4),
                ),
                e(ExprKind::Len(BufRef::Param(ParamId(1))), Ty::U32),
            ),
            then_branch: vec![st(StmtKind::Return)],
            else_branch: vec![],
        }),
        let_(2, splat(Expr::lit_f(f64::NEG_INFINITY, Elem::F32))),
        for_cols(vec![set(2, bin(BinaryOp::Max, m4.clone(), x_j.clone()))]),
        let_(4, splat(fold(BinaryOp::Max, &m4))),
        let_(3, splat(Expr::lit_f(0.0, Elem::F32))),
        for_cols(vec![set(
            3,
            bin(BinaryOp::Add, s4.clone(), exp(shifted.clone())),
        )]),
        let_(5, splat(inv)),
        for_cols(vec![st(StmtKind::Store {
            buf: BufRef::Param(ParamId(1)),
            index: at,
            value: bin(BinaryOp::Mul, exp(shifted), local(5, v4)),
        })]),
    ];
    Kernel {
        name: "softmax_rows_x4".into(),
        params: vec![
            param("x", buffer(false)),
            param("y", buffer(true)),
            param("vcols", ParamKind::Scalar(Elem::U32)),
        ],
        locals: vec![
            var("row", Ty::U32),
            var("j", Ty::U32),
            var("m", v4),
            var("s", v4),
            var("mv", v4),
            var("inv", v4),
        ],
        shared: vec![],
        body,
    }
}

/// Best time of each of `fs`, run round-robin (after a warm-up round) for at least
/// `min_time` each and three rounds, so every variant meets the same load on a shared
/// machine.
fn best_of(fs: &mut [&mut (dyn FnMut() + Send)], min_time: Duration) -> Vec<Duration> {
    fs.iter_mut().for_each(|f| f());
    let mut best = vec![Duration::MAX; fs.len()];
    let start = Instant::now();
    let mut rounds = 0;
    while rounds < 3 || start.elapsed() < min_time * fs.len() as u32 {
        for (f, b) in fs.iter_mut().zip(&mut best) {
            let t = Instant::now();
            f();
            *b = (*b).min(t.elapsed());
        }
        rounds += 1;
    }
    best
}

fn gbps(bytes: usize, t: Duration) -> f64 {
    bytes as f64 / t.as_secs_f64() / 1e9
}

// Built once and kept for the whole run, as `#[vibee::kernel]` keeps its IR: launched through
// `launch_static`, which finds the compiled code by the kernel's address.
static AXPY: LazyLock<Kernel> = LazyLock::new(|| axpy(1));
static AXPY_X4: LazyLock<Kernel> = LazyLock::new(|| axpy(4));
static SOFTMAX: LazyLock<Kernel> = LazyLock::new(softmax);
static SOFTMAX_X4: LazyLock<Kernel> = LazyLock::new(softmax_x4);

fn axpy_ir() -> &'static Kernel {
    &AXPY
}

fn launch_axpy(k: &'static Kernel, lanes: usize, a: f32, x: &RawBuffer, y: &mut RawBuffer) {
    let n = y.len() / lanes;
    let grid = Grid::cover(n, 256);
    let mut args = [
        ArgRef::Scalar(Scalar::F32(a)),
        ArgRef::Buffer(x),
        ArgRef::BufferMut(y),
    ];
    report(vibee_runtime::cpu::launch_static(k, grid, &mut args));
}

/// `lanes` is 1 for the scalar kernel (`cols` passed), 4 for the vector one (`cols / 4`).
fn launch_softmax(k: &'static Kernel, lanes: usize, cols: usize, x: &RawBuffer, y: &mut RawBuffer) {
    let rows = y.len() / cols;
    let grid = Grid::cover(rows, 64);
    let mut args = [
        ArgRef::Buffer(x),
        ArgRef::BufferMut(y),
        ArgRef::Scalar(Scalar::U32((cols / lanes) as u32)),
    ];
    report(vibee_runtime::cpu::launch_static(k, grid, &mut args));
}

/// The arguments of a one-element axpy launch.
fn overhead_args<'a>(x: &'a RawBuffer, y: &'a mut RawBuffer) -> [ArgRef<'a>; 3] {
    [
        ArgRef::Scalar(Scalar::F32(2.0)),
        ArgRef::Buffer(x),
        ArgRef::BufferMut(y),
    ]
}

/// Best nanoseconds per call of each of `fs`, over many short rounds run round-robin, so
/// a busy machine slows every entry alike and the minimum finds the quiet moments.
fn per_call(fs: &mut [&mut dyn FnMut()]) -> Vec<f64> {
    const CALLS: u32 = 2_000;
    let mut best = vec![f64::INFINITY; fs.len()];
    for _ in 0..60 {
        for (f, b) in fs.iter_mut().zip(&mut best) {
            let t = Instant::now();
            (0..CALLS).for_each(|_| f());
            *b = b.min(t.elapsed().as_nanos() as f64 / f64::from(CALLS));
        }
    }
    best
}

/// What a launch costs before any work: a one-unit axpy through each entry point, and the
/// bounds proof the launch path made on every launch before it cached proofs.
fn launch_overhead() {
    let x = host(vec![1.0]);
    // One output per entry, since the closures are alive together.
    let [mut y0, mut y1, mut y2, mut y3] = [0; 4].map(|_| host(vec![1.0]));
    let (xs, mut ys) = (vec![1.0f32], vec![1.0f32]);
    let grid = Grid::cover(1, 1);
    let source = KernelSource {
        ir: axpy_ir,
        cube: |_, _| Err(LaunchError::Device("no GPU in this benchmark".into())),
    };
    let borrowed = axpy(1);
    let compiled = vibee_runtime::cpu::compile(&AXPY, &[]).unwrap_or_else(|e| {
        eprintln!("cannot compile axpy: {e}");
        std::process::exit(1)
    });
    let t = per_call(&mut [
        &mut || {
            report(vibee_runtime::cpu::launch(
                &borrowed,
                grid,
                &mut overhead_args(&x, &mut y0),
            ))
        },
        &mut || {
            report(vibee_runtime::cpu::launch_static(
                &AXPY,
                grid,
                &mut overhead_args(&x, &mut y1),
            ))
        },
        &mut || report(compiled.launch(grid, &mut overhead_args(&x, &mut y2))),
        &mut || {
            let args = [
                SliceArg::scalar(Scalar::F32(2.0)),
                SliceArg::read(&xs),
                SliceArg::write(&mut ys),
            ];
            report(compiled.launch_slices(grid, &args))
        },
        &mut || {
            let args = overhead_args(&x, &mut y3);
            report(vibee_runtime::launch(&Device::Cpu, &source, grid, &mut {
                args
            }))
        },
        &mut || {
            // What `check_bounds` did per launch before proofs were cached.
            let lens = [None, Some(1), Some(1)];
            let values = [Some(Scalar::F32(2.0)), None, None];
            black_box(bounds::required_lengths(
                &AXPY,
                grid,
                black_box(&lens),
                &values,
            ));
        },
    ]);
    println!(
        "launch overhead (1-unit axpy, ns): cpu::launch {:.0}, cpu::launch_static {:.0}, \
         CompiledKernel::launch {:.0}, CompiledKernel::launch_slices {:.0}, \
         vibee_runtime::launch (checks + cached bounds) {:.0}; an uncached bounds proof {:.0}",
        t[0], t[1], t[2], t[3], t[4], t[5]
    );
}

fn report(r: Result<(), LaunchError>) {
    if let Err(e) = r {
        eprintln!("launch failed: {e}");
        std::process::exit(1);
    }
}

fn rust_axpy(a: f32, x: &[f32], y: &mut [f32]) {
    for (y, x) in y.iter_mut().zip(x) {
        *y += a * *x;
    }
}

fn rust_softmax(cols: usize, x: &[f32], y: &mut [f32]) {
    for (xr, yr) in x.chunks(cols).zip(y.chunks_mut(cols)) {
        let m = xr.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
        let s: f32 = xr.iter().map(|&v| (v - m).exp()).sum();
        for (o, &v) in yr.iter_mut().zip(xr) {
            *o = (v - m).exp() / s;
        }
    }
}

/// Chunk length for the parallel Rust loops: the same 16 Ki-unit tasks the JIT driver uses.
const PAR_CHUNK: usize = 16 * 1024;

fn host(v: Vec<f32>) -> RawBuffer {
    RawBuffer::Host(HostBuffer::F32(v))
}

fn as_slice(b: &RawBuffer) -> &[f32] {
    match b {
        RawBuffer::Host(HostBuffer::F32(v)) => v,
        _ => &[],
    }
}

fn as_mut_slice(b: &mut RawBuffer) -> &mut [f32] {
    match b {
        RawBuffer::Host(HostBuffer::F32(v)) => v,
        _ => &mut [],
    }
}

struct Row {
    what: &'static str,
    threads: &'static str,
    jit: f64,
    rust: f64,
}

fn print_row(size: usize, copy: f64, r: &Row) {
    println!(
        "{:>9} {:<12} {:<8} {:>9.2} {:>9.2} {:>6.2}x {:>8.2} {:>6.0}%",
        human(size),
        r.what,
        r.threads,
        r.jit,
        r.rust,
        r.jit / r.rust,
        copy,
        100.0 * r.jit / copy
    );
}

fn human(bytes: usize) -> String {
    if bytes >= 1 << 20 {
        format!("{} MiB", bytes >> 20)
    } else {
        format!("{} KiB", bytes >> 10)
    }
}

fn bench_size(bytes: usize, min_time: Duration, one: &rayon::ThreadPool) {
    let n = bytes / 4;
    let (k1, k4, soft, soft4) = (&*AXPY, &*AXPY_X4, &*SOFTMAX, &*SOFTMAX_X4);
    let cols = 1024.min(n);
    let x = host((0..n).map(|i| (i % 1000) as f32 * 1e-3).collect());
    // One output per variant, so the variants can be interleaved.
    let mut ys: Vec<RawBuffer> = (0..6).map(|_| host(vec![1.0; n])).collect();
    let mut copy_dst = vec![0.0f32; n];
    let copy_t = best_of(
        &mut [&mut || copy_dst.copy_from_slice(black_box(as_slice(&x)))],
        min_time,
    );
    let copy = gbps(2 * bytes, copy_t[0]);
    let (axpy_bytes, soft_bytes) = (3 * bytes, 2 * bytes);
    let par_soft = (PAR_CHUNK / cols).max(1) * cols;
    let mut rows = Vec::new();
    for (pool, threads) in [(Some(one), "1"), (None, "all")] {
        let x = &x;
        let [ra, ja, j4, rs, js, js4] = &mut ys[..] else {
            return;
        };
        let mut measure = || {
            let mut rust_axpy_f = || match pool {
                Some(_) => rust_axpy(1.0001, as_slice(x), as_mut_slice(ra)),
                None => as_mut_slice(ra)
                    .par_chunks_mut(PAR_CHUNK)
                    .zip(as_slice(x).par_chunks(PAR_CHUNK))
                    .for_each(|(y, x)| rust_axpy(1.0001, x, y)),
            };
            let mut rust_soft_f = || match pool {
                Some(_) => rust_softmax(cols, as_slice(x), as_mut_slice(rs)),
                None => as_mut_slice(rs)
                    .par_chunks_mut(par_soft)
                    .zip(as_slice(x).par_chunks(par_soft))
                    .for_each(|(y, x)| rust_softmax(cols, x, y)),
            };
            best_of(
                &mut [
                    &mut rust_axpy_f,
                    &mut || launch_axpy(k1, 1, 1.0001, x, ja),
                    &mut || launch_axpy(k4, 4, 1.0001, x, j4),
                    &mut rust_soft_f,
                    &mut || launch_softmax(soft, 1, cols, x, js),
                    &mut || launch_softmax(soft4, 4, cols, x, js4),
                ],
                min_time,
            )
        };
        let t = match pool {
            Some(p) => p.install(measure),
            None => measure(),
        };
        for (what, jit, rust, moved) in [
            ("axpy", t[1], t[0], axpy_bytes),
            ("axpy x4", t[2], t[0], axpy_bytes),
            ("softmax", t[4], t[3], soft_bytes),
            ("softmax x4", t[5], t[3], soft_bytes),
        ] {
            rows.push(Row {
                what,
                threads,
                jit: gbps(moved, jit),
                rust: gbps(moved, rust),
            });
        }
    }
    for r in &rows {
        print_row(bytes, copy, r);
    }
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick")
        || std::env::var("VIBEE_BENCH_QUICK").is_ok_and(|v| v != "0");
    let sizes: Vec<usize> = if quick {
        vec![4 << 10, 1 << 20, 16 << 20]
    } else {
        vec![4 << 10, 64 << 10, 1 << 20, 16 << 20, 256 << 20]
    };
    let min_time = Duration::from_millis(if quick { 100 } else { 500 });
    let one = match rayon::ThreadPoolBuilder::new().num_threads(1).build() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("cannot build a one-thread pool: {e}");
            std::process::exit(1);
        }
    };
    println!(
        "CPU backend vs rustc loops; {} rayon threads; GB/s counts bytes read + written",
        rayon::current_num_threads()
    );
    println!(
        "{:>9} {:<12} {:<8} {:>9} {:>9} {:>7} {:>8} {:>7}",
        "buffer", "kernel", "threads", "jit GB/s", "rust GB/s", "ratio", "copy", "of copy"
    );
    launch_overhead();
    for bytes in sizes {
        bench_size(bytes, min_time, &one);
    }
}
