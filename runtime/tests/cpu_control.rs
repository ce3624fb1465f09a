//! Control flow and positions: if/else, for (with steps, negative bounds, the end of the
//! type), while with break and continue, early return, every position builtin on a 3-D
//! grid, comptime specialization, and runtime faults.

mod cpu_support;

use cpu_support::*;
use vibee_dsl::kernel::*;

#[test]
fn loops_break_continue_and_early_return_match_the_interpreter() {
    // out[i] = sum over j in (i..40).step_by(3) of j, skipping multiples of 5, stopping
    // past 30; units with i == 7 return before writing.
    let mut kb = Kb::new("loops");
    let out = kb.buf_mut("out", Elem::U32);
    let i = kb.local("i", Ty::U32);
    let j = kb.local("j", Ty::U32);
    let acc = kb.local("acc", Ty::U32);
    let body = vec![
        let_(i, gid()),
        let_(acc, u32c(0)),
        if_(bin(BinaryOp::Eq, kb.get(i), u32c(7)), vec![ret()], vec![]),
        for_(
            j,
            kb.get(i),
            u32c(40),
            u32c(3),
            vec![
                if_(
                    bin(
                        BinaryOp::Eq,
                        bin(BinaryOp::Rem, kb.get(j), u32c(5)),
                        u32c(0),
                    ),
                    vec![cont()],
                    vec![],
                ),
                if_(bin(BinaryOp::Gt, kb.get(j), u32c(30)), vec![brk()], vec![]),
                assign(acc, add(kb.get(acc), kb.get(j))),
            ],
        ),
        store(out, kb.get(i), kb.get(acc)),
    ];
    let k = kb.finish(body);
    let out = check(&k, Grid::linear(2, 8), &[u32s(&[99; 16])]);
    let want = |i: u32| {
        (i..40)
            .step_by(3)
            .filter(|j| j % 5 != 0)
            .take_while(|&j| j <= 30)
            .sum::<u32>()
    };
    let got = as_u32(&out[0]);
    for i in 0..16u32 {
        assert_eq!(
            got[i as usize],
            if i == 7 { 99 } else { want(i) },
            "unit {i}"
        );
    }
}

#[test]
fn while_loops_and_nested_ifs_match_the_interpreter() {
    // Collatz steps of gid+1, capped at 200, with an else chain.
    let mut kb = Kb::new("collatz");
    let out = kb.buf_mut("out", Elem::I32);
    let n = kb.local("n", Ty::I32);
    let steps = kb.local("steps", Ty::I32);
    let body = vec![
        let_(n, add(cast(gid(), Elem::I32), i32c(1))),
        let_(steps, i32c(0)),
        while_(
            bin(BinaryOp::Ne, kb.get(n), i32c(1)),
            vec![
                if_(
                    bin(
                        BinaryOp::Eq,
                        bin(BinaryOp::BitAnd, kb.get(n), i32c(1)),
                        i32c(0),
                    ),
                    vec![assign(n, bin(BinaryOp::Shr, kb.get(n), i32c(1)))],
                    vec![assign(n, add(mul(kb.get(n), i32c(3)), i32c(1)))],
                ),
                assign(steps, add(kb.get(steps), i32c(1))),
                if_(
                    bin(BinaryOp::Ge, kb.get(steps), i32c(200)),
                    vec![brk()],
                    vec![],
                ),
            ],
        ),
        store(out, gid(), kb.get(steps)),
    ];
    let k = kb.finish(body);
    let out = check(&k, Grid::linear(4, 32), &[i32s(&[0; 128])]);
    assert_eq!(as_i32(&out[0])[26], 111, "27 takes 111 steps");
}

#[test]
fn for_loops_with_negative_bounds_and_at_the_end_of_the_type_terminate() {
    let mut kb = Kb::new("bounds");
    let out = kb.buf_mut("out", Elem::I32);
    let j = kb.local("j", Ty::I32);
    let u = kb.local("u", Ty::U32);
    let body = vec![
        for_(
            j,
            i32c(-10),
            i32c(10),
            i32c(7),
            vec![store(
                out,
                u32c(0),
                add(kb.load(out, u32c(0), 1), kb.get(j)),
            )],
        ),
        // Would wrap past u32::MAX without the interpreter's stop rule.
        for_(
            u,
            u32c(u32::MAX - 5),
            u32c(u32::MAX),
            u32c(4),
            vec![store(out, u32c(1), add(kb.load(out, u32c(1), 1), i32c(1)))],
        ),
    ];
    let k = kb.finish(body);
    let out = check(&k, Grid::linear(1, 1), &[i32s(&[0, 0])]);
    assert_eq!(as_i32(&out[0]), vec![-10 + -3 + 4, 2]);
}

#[test]
fn a_zero_step_is_a_launch_error_not_a_hang() {
    let mut kb = Kb::new("zero_step");
    let out = kb.buf_mut("out", Elem::U32);
    let j = kb.local("j", Ty::U32);
    let body = vec![for_(
        j,
        u32c(0),
        u32c(4),
        u32c(0),
        vec![store(out, kb.get(j), u32c(1))],
    )];
    let k = kb.finish(body);
    let err = run_cpu(&k, Grid::linear(1, 1), &[u32s(&[0; 4])]).expect_err("step 0 fails");
    assert!(err.to_string().contains("step_by"), "{err}");
}

#[test]
fn every_position_builtin_matches_the_interpreter_on_a_3d_grid() {
    let builtins = [
        Builtin::UnitPos(Some(Axis::X)),
        Builtin::UnitPos(Some(Axis::Y)),
        Builtin::UnitPos(Some(Axis::Z)),
        Builtin::UnitPos(None),
        Builtin::GroupPos(Some(Axis::X)),
        Builtin::GroupPos(Some(Axis::Y)),
        Builtin::GroupPos(Some(Axis::Z)),
        Builtin::GroupPos(None),
        Builtin::GroupSize(Some(Axis::X)),
        Builtin::GroupSize(Some(Axis::Y)),
        Builtin::GroupSize(Some(Axis::Z)),
        Builtin::GroupSize(None),
        Builtin::NumGroups(Some(Axis::X)),
        Builtin::NumGroups(Some(Axis::Y)),
        Builtin::NumGroups(Some(Axis::Z)),
        Builtin::NumGroups(None),
        Builtin::GlobalPos(Some(Axis::X)),
        Builtin::GlobalPos(Some(Axis::Y)),
        Builtin::GlobalPos(Some(Axis::Z)),
        Builtin::GlobalPos(None),
        Builtin::PlaneSize,
        Builtin::PlaneUnit,
    ];
    let mut kb = Kb::new("positions");
    let out = kb.buf_mut("out", Elem::U32);
    let nb = builtins.len() as u32;
    let base = kb.local("base", Ty::U32);
    let mut body = vec![let_(base, mul(gid(), u32c(nb)))];
    for (k, b) in builtins.iter().enumerate() {
        body.push(store(out, add(kb.get(base), u32c(k as u32)), builtin(*b)));
    }
    let k = kb.finish(body);
    let grid = Grid {
        groups: [3, 2, 2],
        group_size: [4, 3, 2],
    };
    let n = (grid.num_groups() * grid.units_per_group()) as usize * nb as usize;
    let out = check(&k, grid, &[u32s(&vec![0; n])]);
    assert!(as_u32(&out[0]).iter().any(|&v| v != 0));
}

#[test]
fn comptime_values_specialize_the_kernel() {
    let mut kb = Kb::new("scale");
    let factor = kb.comptime("factor", Elem::U32);
    let out = kb.buf_mut("out", Elem::U32);
    let body = vec![store(out, gid(), mul(gid(), factor))];
    let k = kb.finish(body);
    for f in [2u32, 5, 2] {
        let out = check(
            &k,
            Grid::linear(1, 4),
            &[Arg::Comptime(Scalar::U32(f)), u32s(&[0; 4])],
        );
        assert_eq!(as_u32(&out[0]), vec![0, f, 2 * f, 3 * f]);
    }
}

#[test]
fn plane_reductions_are_the_identity_on_the_cpu() {
    let mut kb = Kb::new("plane");
    let out = kb.buf_mut("out", Elem::F32);
    let body = vec![store(
        out,
        gid(),
        add(
            plane(PlaneOp::Sum, cast(gid(), Elem::F32)),
            plane(PlaneOp::Max, f32c(0.5)),
        ),
    )];
    let k = kb.finish(body);
    let out = check(&k, Grid::linear(1, 3), &[f32s(&[0.0; 3])]);
    assert_eq!(as_f32(&out[0]), vec![0.5, 1.5, 2.5]);
}

#[test]
fn malformed_kernels_are_compile_errors() {
    // A store to a read-only buffer.
    let mut kb = Kb::new("bad_store");
    let x = kb.buf("x", Elem::F32);
    let k = kb.finish(vec![store(x, u32c(0), f32c(1.0))]);
    let err = run_cpu(&k, Grid::linear(1, 1), &[f32s(&[0.0])]).expect_err("rejected");
    assert!(
        matches!(err, vibee_runtime::LaunchError::Compile { .. }),
        "{err}"
    );
    // A local assigned a value of another type.
    let mut kb = Kb::new("bad_type");
    let v = kb.local("v", Ty::F32);
    let k = kb.finish(vec![let_(v, u32c(3))]);
    let err = run_cpu(&k, Grid::linear(1, 1), &[]).expect_err("rejected");
    assert!(err.to_string().contains("type"), "{err}");
    // `break` outside a loop.
    let k = Kb::new("bad_break").finish(vec![brk()]);
    let err = run_cpu(&k, Grid::linear(1, 1), &[]).expect_err("rejected");
    assert!(err.to_string().contains("outside a loop"), "{err}");
}
