//! Explicit compilation (`cpu::compile`) and launches of the handle, over owned buffers
//! and over borrowed slices, checked against the interpreter and for their typed errors.

mod cpu_support;

use cpu_support::*;
use vibee_dsl::kernel::*;
use vibee_runtime::buffer::RawBuffer;
use vibee_runtime::cpu::{self, SliceArg};
use vibee_runtime::{ArgRef, LaunchError};

/// The benchmark's scalar `y[i] = a * x[i] + y[i]`, guarded by `i < len(y)`.
fn axpy() -> Kernel {
    bench_kernels::axpy(1)
}

/// `y[i] = x[i] + k` with `k` a comptime `u32`.
fn add_comptime() -> Kernel {
    let mut kb = Kb::new("add_comptime");
    let k = kb.comptime("k", Elem::U32);
    let x = kb.buf("x", Elem::F32);
    let y = kb.buf_mut("y", Elem::F32);
    let i = kb.local("i", Ty::U32);
    let value = add(kb.load(x, kb.get(i), 1), cast(k, Elem::F32));
    let body = vec![
        let_(i, gid()),
        if_(
            lt(kb.get(i), len(y)),
            vec![store(y, kb.get(i), value)],
            vec![],
        ),
    ];
    kb.finish(body)
}

fn problem_of(r: Result<(), LaunchError>) -> (usize, String) {
    match r {
        Err(LaunchError::BadArgument { index, problem, .. }) => (index, problem),
        other => panic!("expected a bad argument, got {other:?}"),
    }
}

#[test]
fn slices_launch_matches_the_interpreter() {
    let n = 10_003;
    let x: Vec<f32> = (0..n).map(|i| (i as f32 * 0.37).sin()).collect();
    let mut y: Vec<f32> = (0..n).map(|i| i as f32 * 0.25).collect();
    let grid = Grid::cover(n, 256);
    let args = [Arg::Scalar(Scalar::F32(-1.5)), f32s(&x), f32s(&y)];
    let want = run_interp(&axpy(), grid, &args);
    let compiled = cpu::compile(&axpy(), &[]).expect("axpy compiles");
    let slices = [
        SliceArg::scalar(Scalar::F32(-1.5)),
        SliceArg::read(&x),
        SliceArg::write(&mut y),
    ];
    compiled
        .launch_slices(grid, &slices)
        .expect("the launch runs");
    assert_eq!(bits(&HostBuffer::F32(y)), bits(&want[1]));
}

#[test]
fn handle_launch_over_owned_buffers_matches_cpu_launch() {
    let n = 1000;
    let x: Vec<f32> = (0..n).map(|i| i as f32).collect();
    let grid = Grid::cover(n, 64);
    let args = [Arg::Scalar(Scalar::F32(2.0)), f32s(&x), f32s(&vec![1.0; n])];
    let want = run_cpu(&axpy(), grid, &args).expect("cpu::launch runs");
    let compiled = cpu::compile(&axpy(), &[]).expect("axpy compiles");
    let xb = RawBuffer::Host(HostBuffer::F32(x));
    let mut yb = RawBuffer::Host(HostBuffer::F32(vec![1.0; n]));
    let mut refs = [
        ArgRef::Scalar(Scalar::F32(2.0)),
        ArgRef::Buffer(&xb),
        ArgRef::BufferMut(&mut yb),
    ];
    compiled.launch(grid, &mut refs).expect("the launch runs");
    assert_eq!(yb.read().expect("a host buffer"), want[1]);
}

#[test]
fn compiling_the_same_ir_twice_shares_the_code() {
    let (a, b) = (axpy(), axpy());
    let ca = cpu::compile(&a, &[]).expect("compiles");
    let cb = cpu::compile(&b, &[]).expect("compiles");
    assert!(std::ptr::eq(ca.kernel(), cb.kernel()));
}

#[test]
fn comptime_values_are_fixed_at_compile_time() {
    let k = add_comptime();
    let compiled = cpu::compile(&k, &[Scalar::U32(3)]).expect("compiles");
    let x = [1.0f32, 2.0];
    let mut y = [0.0f32; 2];
    let grid = Grid::cover(2, 4);
    compiled
        .launch_slices(
            grid,
            &[
                SliceArg::comptime(Scalar::U32(3)),
                SliceArg::read(&x),
                SliceArg::write(&mut y),
            ],
        )
        .expect("the launch runs");
    assert_eq!(y, [4.0, 5.0]);
    let other = [
        SliceArg::comptime(Scalar::U32(4)),
        SliceArg::read(&x),
        SliceArg::write(&mut y),
    ];
    let (index, problem) = problem_of(compiled.launch_slices(grid, &other));
    assert_eq!(index, 0);
    assert!(problem.contains("compiled for another value"), "{problem}");
}

#[test]
fn compile_checks_the_comptime_values() {
    let k = add_comptime();
    let missing = cpu::compile(&k, &[]).map(|_| ());
    assert!(problem_of(missing).1.contains("needs a comptime U32"));
    let wrong = cpu::compile(&k, &[Scalar::F32(1.0)]).map(|_| ());
    assert!(problem_of(wrong).1.contains("expected U32"));
    let extra = cpu::compile(&k, &[Scalar::U32(1), Scalar::U32(2)]).map(|_| ());
    assert_eq!(problem_of(extra).0, 3);
}

#[test]
fn slices_are_checked_against_the_parameters() {
    let compiled = cpu::compile(&axpy(), &[]).expect("compiles");
    let grid = Grid::cover(4, 4);
    let x = [1.0f32; 4];
    let y = [1.0f32; 4];
    let read_only_y = [
        SliceArg::scalar(Scalar::F32(1.0)),
        SliceArg::read(&x),
        SliceArg::read(&y),
    ];
    let (index, problem) = problem_of(compiled.launch_slices(grid, &read_only_y));
    assert_eq!(index, 2);
    assert!(problem.contains("SliceArg::write"), "{problem}");
    let mut ints = [0u32; 4];
    let wrong_elem = [
        SliceArg::scalar(Scalar::F32(1.0)),
        SliceArg::read(&x),
        SliceArg::write(&mut ints),
    ];
    assert!(
        problem_of(compiled.launch_slices(grid, &wrong_elem))
            .1
            .contains("U32")
    );
    let too_few = [SliceArg::scalar(Scalar::F32(1.0))];
    assert!(
        problem_of(compiled.launch_slices(grid, &too_few))
            .1
            .contains("expected 3")
    );
}

#[test]
fn empty_slices_read_zeros_and_drop_writes() {
    let compiled = cpu::compile(&axpy(), &[]).expect("compiles");
    let mut y: Vec<f32> = Vec::new();
    let args = [
        SliceArg::scalar(Scalar::F32(1.0)),
        SliceArg::read::<f32>(&[]),
        SliceArg::write(&mut y),
    ];
    compiled
        .launch_slices(Grid::cover(8, 4), &args)
        .expect("an empty launch runs");
}
