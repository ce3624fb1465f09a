//! First kernels through the CPU backend end to end, checked by hand and against the
//! interpreter.

mod cpu_support;

use cpu_support::*;
use vibee_dsl::kernel::*;

/// `y[i] = a * x[i] + y[i]` for `i < len(y)`.
fn axpy() -> Kernel {
    let mut kb = Kb::new("axpy");
    let a = kb.scalar("a", Elem::F32);
    let x = kb.buf("x", Elem::F32);
    let y = kb.buf_mut("y", Elem::F32);
    let i = kb.local("i", Ty::U32);
    let body = vec![
        let_(i, gid()),
        if_(
            lt(kb.get(i), len(y)),
            vec![store(
                y,
                kb.get(i),
                add(mul(a, kb.load(x, kb.get(i), 1)), kb.load(y, kb.get(i), 1)),
            )],
            vec![],
        ),
    ];
    kb.finish(body)
}

#[test]
fn axpy_matches_hand_computed_values() {
    let k = axpy();
    let n = 1000;
    let x: Vec<f32> = (0..n).map(|i| i as f32).collect();
    let y: Vec<f32> = (0..n).map(|i| 1.0 - i as f32).collect();
    let args = [Arg::Scalar(Scalar::F32(2.0)), f32s(&x), f32s(&y)];
    let out = run_cpu(&k, Grid::cover(n, 64), &args).expect("the CPU launch succeeds");
    let want: Vec<f32> = (0..n).map(|i| 2.0 * i as f32 + 1.0 - i as f32).collect();
    assert_eq!(as_f32(&out[1]), want);
    assert_eq!(as_f32(&out[0]), x, "x is read only");
}

#[test]
fn axpy_matches_the_interpreter_on_many_groups() {
    let k = axpy();
    let n = 100_003;
    let x: Vec<f32> = (0..n).map(|i| (i as f32).sin()).collect();
    let y: Vec<f32> = (0..n).map(|i| (i as f32) * 0.25).collect();
    check(
        &k,
        Grid::cover(n, 256),
        &[Arg::Scalar(Scalar::F32(-1.5)), f32s(&x), f32s(&y)],
    );
}

#[test]
fn a_second_launch_reuses_the_compiled_kernel() {
    let k = axpy();
    for a in [1.0f32, 3.0] {
        let out = run_cpu(
            &k,
            Grid::linear(1, 4),
            &[
                Arg::Scalar(Scalar::F32(a)),
                f32s(&[1.0; 4]),
                f32s(&[0.0; 4]),
            ],
        )
        .expect("the CPU launch succeeds");
        assert_eq!(as_f32(&out[1]), vec![a; 4]);
    }
}
