//! CPU backend benchmark: Cranelift-compiled kernels against plain Rust loops compiled by
//! rustc, single-threaded and on rayon's pool, from 4 KiB to 256 MiB per buffer, next to
//! the machine's copy bandwidth. Softmax runs in two algorithms (`exp` twice per element,
//! and the one-pass form `1p` that stores the exponentials while summing them), each
//! compared with a rustc loop of the same algorithm; an `exp bound` row per size times
//! `exp` alone as rustc runs it 4 lanes at a time (the softmaxes' compute ceiling, beside
//! the copy bandwidth they are measured against). The kernels' IR lives in
//! `tests/cpu_support/bench_kernels.rs`, where the tests check it against the interpreter.
//!
//! `cargo bench -p vibee-runtime --bench cpu_kernels` runs the full sweep; add `-- --quick`
//! (or set `VIBEE_BENCH_QUICK=1`) for a short run that stops at 16 MiB, or `-- --overhead`
//! for only the per-launch costs, ten times over.

#[path = "../tests/cpu_support/mod.rs"]
mod cpu_support;

use std::hint::black_box;
use std::sync::LazyLock;
use std::time::{Duration, Instant};

use cpu_support::bench_kernels::{Softmax, axpy, softmax, softmax_x4};
use rayon::prelude::*;
use vibee_dsl::kernel::{Grid, HostBuffer, Kernel, Scalar, bounds};
use vibee_runtime::buffer::RawBuffer;
use vibee_runtime::cpu::SliceArg;
use vibee_runtime::{ArgRef, Device, KernelSource, LaunchError};

/// Shortest time one sample of [`best_of`] should take: a call of a few hundred
/// nanoseconds is repeated until a sample lasts this long, so the clock's granularity (tens
/// of nanoseconds) does not round small sizes' times.
const MIN_SAMPLE: Duration = Duration::from_micros(20);

/// Best time per call of each of `fs`, run round-robin (after a warm-up round that also
/// sets how many calls one sample makes) for at least `min_time` each and three rounds, so
/// every variant meets the same load on a shared machine.
fn best_of(fs: &mut [&mut (dyn FnMut() + Send)], min_time: Duration) -> Vec<Duration> {
    let reps: Vec<u32> = fs
        .iter_mut()
        .map(|f| {
            // The first call compiles (or faults pages in); the second one is timed.
            f();
            let t = Instant::now();
            f();
            let once = t.elapsed().max(Duration::from_nanos(1));
            (MIN_SAMPLE.as_nanos() / once.as_nanos()).clamp(1, 10_000) as u32
        })
        .collect();
    let mut best = vec![Duration::MAX; fs.len()];
    let start = Instant::now();
    let mut rounds = 0;
    while rounds < 3 || start.elapsed() < min_time * fs.len() as u32 {
        for ((f, b), &n) in fs.iter_mut().zip(&mut best).zip(&reps) {
            let t = Instant::now();
            (0..n).for_each(|_| f());
            *b = (*b).min(t.elapsed() / n);
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
static SOFTMAX: LazyLock<Kernel> = LazyLock::new(|| softmax(Softmax::Plain));
static SOFTMAX_X4: LazyLock<Kernel> = LazyLock::new(|| softmax_x4(Softmax::Plain));
static SOFTMAX_1: LazyLock<Kernel> = LazyLock::new(|| softmax(Softmax::OnePass));
static SOFTMAX_1_X4: LazyLock<Kernel> = LazyLock::new(|| softmax_x4(Softmax::OnePass));

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

/// The one-pass algorithm of [`Softmax::OnePass`]: `exp` once per element, stored and
/// summed, then the row scaled in place.
fn rust_softmax_one_pass(cols: usize, x: &[f32], y: &mut [f32]) {
    for (xr, yr) in x.chunks(cols).zip(y.chunks_mut(cols)) {
        let m = xr.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
        let mut s = 0.0;
        for (o, &v) in yr.iter_mut().zip(xr) {
            *o = (v - m).exp();
            s += *o;
        }
        let inv = 1.0 / s;
        yr.iter_mut().for_each(|o| *o *= inv);
    }
}

/// The softmaxes' compute bound: `y = exp(x − 1)` alone, one pass, 4 lanes at a time in
/// 128-bit registers with the operation sequence of the JIT's inline `exp` (clamp, round by
/// the magic constant, two-step reduction, degree-7 polynomial by Estrin's scheme, two-factor
/// scaling; see `cpu/codegen/fastmath.rs`), written with `std::arch` intrinsics and FMA.
/// No 4-lane softmax with an `exp` this accurate moves its bytes faster than this loop
/// (it also finds the maximum and scales), so the rows print it beside the copy bandwidth.
/// Hosts without FMA run the scalar `exp` instead.
fn exp_bound(x: &[f32], y: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("fma") {
        // SAFETY: the host has FMA (and so AVX), checked above.
        return unsafe { exp_bound_fma(x, y) };
    }
    y.iter_mut().zip(x).for_each(|(y, &x)| *y = (x - 1.0).exp());
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx,fma")]
fn exp_bound_fma(x: &[f32], y: &mut [f32]) {
    use std::arch::x86_64::*;
    let c = |v: f32| _mm_set1_ps(v);
    let (hi, lo, log2e, magic) = (
        c(88.72),
        c(-103.97),
        c(std::f32::consts::LOG2_E),
        c(12_582_912.0),
    );
    let (ln2_hi, ln2_lo, one, m) = (c(-0.693_145_75), c(-1.428_606_8e-6), c(1.0), c(1.0));
    let p = [
        1.0 / 5040.0,
        1.0 / 720.0,
        1.0 / 120.0,
        1.0 / 24.0,
        1.0 / 6.0,
        0.5,
    ]
    .map(c);
    let bias = _mm_set1_epi32(127);
    for (x, y) in x.chunks_exact(4).zip(y.chunks_exact_mut(4)) {
        // SAFETY: both chunks hold four `f32`s; unaligned loads and stores.
        let v = unsafe { _mm_loadu_ps(x.as_ptr()) };
        let v = _mm_max_ps(_mm_min_ps(_mm_sub_ps(v, m), hi), lo);
        let t = _mm_fmadd_ps(v, log2e, magic);
        let n = _mm_sub_epi32(_mm_castps_si128(t), _mm_castps_si128(magic));
        let nf = _mm_sub_ps(t, magic);
        let r = _mm_fmadd_ps(nf, ln2_lo, _mm_fmadd_ps(nf, ln2_hi, v));
        let z = _mm_mul_ps(r, r);
        let [a, b, d] = [0, 2, 4].map(|k| _mm_fmadd_ps(r, p[k], p[k + 1]));
        let poly = _mm_fmadd_ps(_mm_fmadd_ps(_mm_fmadd_ps(a, z, b), z, d), z, r);
        let e = _mm_add_ps(poly, one);
        let n1 = _mm_srai_epi32::<1>(n);
        let s1 = _mm_castsi128_ps(_mm_slli_epi32::<23>(_mm_add_epi32(n1, bias)));
        let s2 = _mm_castsi128_ps(_mm_slli_epi32::<23>(_mm_add_epi32(
            _mm_sub_epi32(n, n1),
            bias,
        )));
        // SAFETY: as for the load.
        unsafe { _mm_storeu_ps(y.as_mut_ptr(), _mm_mul_ps(_mm_mul_ps(e, s1), s2)) };
    }
}

/// Runs a rustc loop over `x` into `y`: whole on this thread, or in `chunk`-element pieces
/// on rayon's pool.
fn rust_run(
    parallel: bool,
    chunk: usize,
    x: &[f32],
    y: &mut [f32],
    f: impl Fn(&[f32], &mut [f32]) + Sync,
) {
    if parallel {
        y.par_chunks_mut(chunk)
            .zip(x.par_chunks(chunk))
            .for_each(|(y, x)| f(x, y));
    } else {
        f(x, y)
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
        "{:>9} {:<14} {:<8} {:>9.2} {:>9.2} {:>6.2}x {:>8.2} {:>6.0}%",
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

/// What each timed variant is compared with, and the bytes it moves (read + written once:
/// every softmax counts `x` read and `y` written, whatever its algorithm re-reads).
const ROWS: [(&str, usize, usize, usize); 6] = [
    // (name, jit variant, rustc variant, bytes moved per buffer byte)
    ("axpy", 1, 0, 3),
    ("axpy x4", 2, 0, 3),
    ("softmax", 4, 3, 2),
    ("softmax x4", 5, 3, 2),
    ("softmax 1p", 7, 6, 2),
    ("softmax 1p x4", 8, 6, 2),
];

/// Times every variant at one size, on one thread and on the whole pool; prints one row
/// per kernel next to the machine's copy bandwidth.
fn bench_size(bytes: usize, min_time: Duration, one: &rayon::ThreadPool) {
    let n = bytes / 4;
    let cols = 1024.min(n);
    let x = host((0..n).map(|i| (i % 1000) as f32 * 1e-3).collect());
    // One output per variant, so the variants can be interleaved.
    let mut ys: Vec<RawBuffer> = (0..10).map(|_| host(vec![1.0; n])).collect();
    let mut copy_dst = vec![0.0f32; n];
    let copy_t = best_of(
        &mut [&mut || copy_dst.copy_from_slice(black_box(as_slice(&x)))],
        min_time,
    );
    let copy = gbps(2 * bytes, copy_t[0]);
    let par_soft = (PAR_CHUNK / cols).max(1) * cols;
    let mut rows = Vec::new();
    let mut bounds = Vec::new();
    for (pool, threads) in [(Some(one), "1"), (None, "all")] {
        let (x, par) = (&x, pool.is_none());
        let [ra, ja, j4, rs, js, js4, r1, j1, j14, ex] = &mut ys[..] else {
            return;
        };
        let mut measure = || {
            best_of(
                &mut [
                    &mut || {
                        rust_run(par, PAR_CHUNK, as_slice(x), as_mut_slice(ra), |x, y| {
                            rust_axpy(1.0001, x, y)
                        })
                    },
                    &mut || launch_axpy(&AXPY, 1, 1.0001, x, ja),
                    &mut || launch_axpy(&AXPY_X4, 4, 1.0001, x, j4),
                    &mut || {
                        rust_run(par, par_soft, as_slice(x), as_mut_slice(rs), |x, y| {
                            rust_softmax(cols, x, y)
                        })
                    },
                    &mut || launch_softmax(&SOFTMAX, 1, cols, x, js),
                    &mut || launch_softmax(&SOFTMAX_X4, 4, cols, x, js4),
                    &mut || {
                        rust_run(par, par_soft, as_slice(x), as_mut_slice(r1), |x, y| {
                            rust_softmax_one_pass(cols, x, y)
                        })
                    },
                    &mut || launch_softmax(&SOFTMAX_1, 1, cols, x, j1),
                    &mut || launch_softmax(&SOFTMAX_1_X4, 4, cols, x, j14),
                    &mut || rust_run(par, PAR_CHUNK, as_slice(x), as_mut_slice(ex), exp_bound),
                ],
                min_time,
            )
        };
        let t = match pool {
            Some(p) => p.install(measure),
            None => measure(),
        };
        bounds.push((threads, gbps(2 * bytes, t[9])));
        for (what, jit, rust, moved) in ROWS {
            rows.push(Row {
                what,
                threads,
                jit: gbps(moved * bytes, t[jit]),
                rust: gbps(moved * bytes, t[rust]),
            });
        }
    }
    for r in &rows {
        print_row(bytes, copy, r);
    }
    for (threads, bound) in bounds {
        println!(
            "{:>9} {:<14} {:<8} {:>9} {:>9.2} {:>7} {:>8.2} {:>6.0}%",
            human(bytes),
            "exp bound",
            threads,
            "-",
            bound,
            "-",
            copy,
            100.0 * bound / copy
        );
    }
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick")
        || std::env::var("VIBEE_BENCH_QUICK").is_ok_and(|v| v != "0");
    if std::env::args().any(|a| a == "--overhead") {
        // Only the launch costs, measured ten times (for a profiler, or a noisy machine).
        (0..10).for_each(|_| launch_overhead());
        return;
    }
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
        "CPU backend vs rustc loops; {} rayon threads; GB/s counts bytes read + written once \
         (softmax: x read, y written)",
        rayon::current_num_threads()
    );
    println!(
        "{:>9} {:<14} {:<8} {:>9} {:>9} {:>7} {:>8} {:>7}",
        "buffer", "kernel", "threads", "jit GB/s", "rust GB/s", "ratio", "copy", "of copy"
    );
    launch_overhead();
    for bytes in sizes {
        bench_size(bytes, min_time, &one);
    }
}
