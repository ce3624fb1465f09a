//! Runs compiled code over a grid: groups spread over rayon's threads, each group's units
//! inside the generated loop (barrier-free kernels) or phase by phase (kernels with
//! barriers: every live unit runs to the next barrier before any unit resumes).
//!
//! Small launches run on the calling thread: waking rayon's workers and joining them costs
//! microseconds, more than a small grid's work. A plain loop-free kernel's work is bounded
//! by its unit count; for the others (loops, shared memory, barriers) the driver measures
//! what a unit costs on the launches it spreads, and runs a launch inline once that cost
//! says it would take under [`INLINE_NS`].

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use rayon::prelude::*;
use vibee_dsl::kernel::Grid;

use super::LaunchCtx;
use super::codegen::{Compiled, DONE, Entry, GroupsFn, PhaseFn};

/// Units one rayon task should cover at least, so task overhead stays small.
const UNITS_PER_TASK: u64 = 16 * 1024;
/// Loop-free launches of at most this many units run on the calling thread.
const INLINE_UNITS: u64 = 32 * 1024;
/// Launches whose measured work is shorter than this run on the calling thread.
const INLINE_NS: f32 = 20_000.0;
/// Work one rayon task holds when a unit's cost is measured: long enough that scheduling
/// it (about a microsecond) is noise, short enough to balance well.
const TASK_NS: f32 = 50_000.0;

/// What one unit of a kernel with loops costs, measured on its parallel launches (the
/// wall time times the threads that ran it, per unit): an estimate that decides whether
/// the next launch is worth spreading.
#[derive(Debug, Default)]
pub(crate) struct UnitCost(AtomicU32);

impl UnitCost {
    /// Nanoseconds per unit, or `None` before the first measurement.
    fn ns_per_unit(&self) -> Option<f32> {
        let v = f32::from_bits(self.0.load(Ordering::Relaxed));
        (v > 0.0).then_some(v)
    }

    /// Averages in a measurement, so one launch slowed by a busy machine moves it half way.
    fn record(&self, elapsed: Duration, units: u64, threads: u64) {
        let sample = elapsed.as_nanos() as f32 * threads as f32 / units.max(1) as f32;
        let next = match self.ns_per_unit() {
            Some(old) => 0.5 * (old + sample),
            None => sample,
        };
        self.0
            .store(next.max(f32::MIN_POSITIVE).to_bits(), Ordering::Relaxed);
    }
}

/// The launch context shared by the tasks.
#[derive(Clone, Copy)]
struct Shared(*const LaunchCtx);
// SAFETY: the context is only read by the tasks (its error word is atomic), and it outlives
// them: `run` does not return before every task has finished.
unsafe impl Send for Shared {}
unsafe impl Sync for Shared {}

impl Shared {
    /// The pointer; a method (not the field) so closures capture the `Sync` wrapper.
    fn get(self) -> *const LaunchCtx {
        self.0
    }
}

/// Runs `compiled` over every group of `grid`.
///
/// # Safety
/// `ctx` must describe live buffers matching the kernel `compiled` was built from.
pub(super) unsafe fn run(compiled: &Compiled, ctx: &LaunchCtx, grid: Grid) {
    let ctx = Shared(ctx);
    let (groups, units) = (grid.num_groups(), grid.units_per_group());
    let measured = unbounded(compiled);
    // The pool's size last: outside a pool rayon finds it through its global registry,
    // which costs more than a small launch's other decisions together.
    let inline = groups == 1
        || small(compiled, measured, groups * units)
        || rayon::current_num_threads() == 1;
    // Only a spread launch of a measured kernel teaches the estimate anything new.
    let start = (!inline && measured).then(Instant::now);
    let cost = measured.then(|| compiled.unit_cost.ns_per_unit()).flatten();
    let chunk = if inline {
        groups
    } else {
        chunking(groups, units, cost)
    };
    match compiled.entry {
        Entry::Groups(f) if !compiled.uses_shared => {
            let f = match compiled.simd {
                Some(simd) if units.is_multiple_of(4) => simd,
                _ => f,
            };
            run_groups(f, ctx, groups, chunk, inline)
        }
        Entry::Groups(f) => {
            run_groups_with_shared(f, ctx, groups, chunk, compiled.shared_bytes, inline)
        }
        Entry::Phases(f) => run_phases(f, ctx, (groups, units), chunk, compiled, inline),
    }
    if let Some(start) = start {
        let tasks = groups.div_ceil(chunk);
        let threads = rayon::current_num_threads() as u64;
        compiled
            .unit_cost
            .record(start.elapsed(), groups * units, threads.min(tasks));
    }
}

/// Whether a unit's work is not bounded by the code's size: loops, or the per-group
/// zeroing and per-unit phases of shared memory and barriers.
fn unbounded(compiled: &Compiled) -> bool {
    compiled.has_loops || compiled.uses_shared || matches!(compiled.entry, Entry::Phases(_))
}

/// Whether a launch of `total` units is too small to be worth rayon's threads.
fn small(compiled: &Compiled, measured: bool, total: u64) -> bool {
    if !measured {
        return total <= INLINE_UNITS;
    }
    compiled
        .unit_cost
        .ns_per_unit()
        .is_some_and(|ns| ns * (total as f32) < INLINE_NS)
}

/// Runs `f(first, end)` over `0..groups` in chunks: on rayon's threads, or in one call on
/// this thread when `inline`; `init` makes each task's scratch memory.
fn for_chunks<M>(
    groups: u64,
    chunk: u64,
    inline: bool,
    init: impl Fn() -> M + Sync + Send,
    f: impl Fn(&mut M, u64, u64) + Sync + Send,
) {
    if inline {
        f(&mut init(), 0, groups);
        return;
    }
    (0..groups.div_ceil(chunk))
        .into_par_iter()
        .for_each_init(init, |mem, c| {
            f(mem, c * chunk, ((c + 1) * chunk).min(groups))
        });
}

/// Groups per rayon task: enough tasks to balance the threads, each big enough to amortize
/// its scheduling. With a unit's measured cost (`ns_per_unit`), a task holds about
/// [`TASK_NS`] of work, so a kernel whose units are long (a softmax row is microseconds)
/// is cut into many tasks and a thread slowed by a busy core cannot hold the launch back;
/// otherwise a task holds [`UNITS_PER_TASK`] units.
fn chunking(groups: u64, units: u64, ns_per_unit: Option<f32>) -> u64 {
    let threads = rayon::current_num_threads() as u64;
    let by_size = match ns_per_unit {
        Some(ns) => (TASK_NS / (ns * units as f32)).ceil() as u64,
        None => UNITS_PER_TASK.div_ceil(units),
    };
    let by_balance = groups.div_ceil(threads * 4);
    by_size.min(by_balance).max(1)
}

fn run_groups(f: GroupsFn, ctx: Shared, groups: u64, chunk: u64, inline: bool) {
    let mut dummy = [0u64; 2];
    let shared = dummy.as_mut_ptr().cast::<u8>();
    if inline {
        // SAFETY: see `run`; the kernel has no shared arrays, so `shared` is never read.
        unsafe { f(ctx.get(), shared, 0, groups) };
        return;
    }
    (0..groups.div_ceil(chunk)).into_par_iter().for_each(|c| {
        let mut dummy = [0u64; 2];
        let begin = c * chunk;
        // SAFETY: see `run`.
        unsafe {
            f(
                ctx.get(),
                dummy.as_mut_ptr().cast(),
                begin,
                (begin + chunk).min(groups),
            )
        };
    });
}

/// One call per group, each with freshly zeroed shared memory.
fn run_groups_with_shared(
    f: GroupsFn,
    ctx: Shared,
    groups: u64,
    chunk: u64,
    bytes: usize,
    inline: bool,
) {
    let init = || vec![0u128; bytes.div_ceil(16)];
    for_chunks(groups, chunk, inline, init, |shared, first, end| {
        for g in first..end {
            shared.fill(0);
            // SAFETY: see `run`; `shared` holds `bytes` bytes, 16-byte aligned.
            unsafe { f(ctx.get(), shared.as_mut_ptr().cast(), g, g + 1) };
        }
    });
}

/// Per-thread memory of a group with barriers: shared arrays, unit states, resume points.
struct GroupMemory {
    shared: Vec<u128>,
    state: Vec<u128>,
    resume: Vec<u32>,
}

fn run_phases(
    f: PhaseFn,
    ctx: Shared,
    (groups, units): (u64, u64),
    chunk: u64,
    compiled: &Compiled,
    inline: bool,
) {
    let state_words = compiled.state_bytes.div_ceil(16).max(1);
    let init = || GroupMemory {
        shared: vec![0; compiled.shared_bytes.div_ceil(16)],
        state: vec![0; state_words * units as usize],
        resume: vec![0; units as usize],
    };
    for_chunks(groups, chunk, inline, init, |mem, first, end| {
        for g in first..end {
            // SAFETY: see `run`.
            unsafe { run_group(f, ctx, g, mem, state_words) };
        }
    });
}

/// Runs one group phase by phase until every unit is done. A unit that has returned no
/// longer takes part in later barriers, as in the interpreter.
///
/// # Safety
/// As for [`run`].
unsafe fn run_group(f: PhaseFn, ctx: Shared, group: u64, mem: &mut GroupMemory, words: usize) {
    mem.shared.fill(0);
    mem.state.fill(0);
    mem.resume.fill(0);
    let shared = mem.shared.as_mut_ptr().cast::<u8>();
    loop {
        let mut live = false;
        for (u, resume) in mem.resume.iter_mut().enumerate() {
            if *resume == DONE {
                continue;
            }
            let state = mem.state[u * words..].as_mut_ptr().cast::<u8>();
            // SAFETY: `state` holds this unit's `words * 16` bytes, `shared` the group's
            // shared block; the rest is the caller's promise.
            *resume = unsafe { f(ctx.get(), shared, group, u as u32, state, *resume) };
            live |= *resume != DONE;
        }
        if !live {
            break;
        }
    }
}
