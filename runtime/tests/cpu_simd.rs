//! The four-units-per-iteration shape against the one-unit shape and the interpreter:
//! masks from nested if/else, early returns in some lanes, blends of assignments, gathers
//! and scatters at non-consecutive or out-of-bounds indices, ragged ends.

mod cpu_support;

use cpu_support::*;
use vibee_dsl::kernel::*;

/// A kernel with divergent control flow in every construct the SIMD shape supports.
fn divergent() -> Kernel {
    let mut kb = Kb::new("divergent");
    let x = kb.buf("x", Elem::F32);
    let idx = kb.buf("idx", Elem::I32);
    let out = kb.buf_mut("out", Elem::F32);
    let hits = kb.buf_mut("hits", Elem::U32);
    let i = kb.local("i", Ty::U32);
    let v = kb.local("v", Ty::F32);
    let j = kb.local("j", Ty::I32);
    let body = vec![
        let_(i, gid()),
        // Units whose index is 3 mod 5 leave at once.
        if_(
            bin(
                BinaryOp::Eq,
                bin(BinaryOp::Rem, kb.get(i), u32c(5)),
                u32c(3),
            ),
            vec![ret()],
            vec![],
        ),
        let_(v, kb.load(x, kb.get(i), 1)),
        // A gather through an index buffer (some indices negative or past the end).
        let_(j, kb.load(idx, kb.get(i), 1)),
        if_(
            bin(BinaryOp::Gt, kb.get(v), f32c(0.0)),
            vec![
                assign(v, mul(kb.get(v), f32c(2.0))),
                if_(
                    bin(BinaryOp::Lt, kb.get(v), f32c(10.0)),
                    vec![assign(v, add(kb.get(v), kb.load(x, kb.get(j), 1)))],
                    vec![ret()],
                ),
            ],
            vec![assign(v, math(MathFn::Abs, vec![kb.get(v)]))],
        ),
        store(out, kb.get(i), kb.get(v)),
        // A scatter to a permuted index, out of bounds for some units.
        store(
            hits,
            bin(BinaryOp::BitXor, kb.get(i), u32c(1)),
            add(kb.get(i), u32c(100)),
        ),
    ];
    kb.finish(body)
}

#[test]
fn divergent_control_flow_agrees_in_both_shapes_and_with_the_interpreter() {
    let k = divergent();
    let n = 37;
    let x: Vec<f32> = (0..n).map(|i| ((i * 7) % 13) as f32 - 4.5).collect();
    let idx: Vec<i32> = (0..n as i32).map(|i| (i * 5) % 45 - 4).collect();
    for group in [4, 8, 3, 12] {
        let grid = Grid::cover(n, group);
        check(
            &k,
            grid,
            &[
                f32s(&x),
                i32s(&idx),
                f32s(&vec![-1.0; n]),
                u32s(&vec![0; n - 2]),
            ],
        );
    }
}

#[test]
fn elementwise_kernels_agree_in_both_shapes() {
    // gelu-like math with select, casts and integer ops on every lane.
    let mut kb = Kb::new("elementwise");
    let x = kb.buf("x", Elem::F32);
    let y = kb.buf_mut("y", Elem::F32);
    let c = kb.buf_mut("c", Elem::I32);
    let t = kb.local("t", Ty::F32);
    let xi = kb.load(x, gid(), 1);
    let inner = mul(
        f32c(0.79788456),
        add(
            xi.clone(),
            mul(f32c(0.044715), mul(xi.clone(), mul(xi.clone(), xi.clone()))),
        ),
    );
    let body = vec![
        let_(t, math(MathFn::Tanh, vec![inner])),
        store(
            y,
            gid(),
            mul(mul(f32c(0.5), xi.clone()), add(f32c(1.0), kb.get(t))),
        ),
        store(
            c,
            gid(),
            select(
                bin(
                    BinaryOp::And,
                    bin(BinaryOp::Gt, xi.clone(), f32c(0.0)),
                    lt(gid(), u32c(50)),
                ),
                bin(BinaryOp::Div, cast(xi.clone(), Elem::I32), i32c(3)),
                cast(
                    math(MathFn::Sqrt, vec![math(MathFn::Abs, vec![xi])]),
                    Elem::I32,
                ),
            ),
        ),
    ];
    let k = kb.finish(body);
    let n = 203;
    let x: Vec<f32> = (0..n).map(|i| (i as f32 - 100.0) * 0.37).collect();
    for group in [64, 63] {
        check(
            &k,
            Grid::cover(n, group),
            &[f32s(&x), f32s(&vec![0.0; n]), i32s(&vec![0; n])],
        );
    }
}

#[test]
fn groups_inside_every_buffer_skip_checks_and_the_others_keep_them() {
    // `long` covers every unit, `short` only the first groups: units past it take the else
    // branch, and the last group is ragged (index past both buffers).
    let mut kb = Kb::new("versioned");
    let short = kb.buf("short", Elem::F32);
    let long = kb.buf_mut("long", Elem::F32);
    let i = kb.local("i", Ty::U32);
    let body = vec![
        let_(i, gid()),
        if_(
            lt(kb.get(i), len(short)),
            vec![store(
                long,
                kb.get(i),
                add(kb.load(short, kb.get(i), 1), kb.load(long, kb.get(i), 1)),
            )],
            vec![store(long, kb.get(i), f32c(-7.0))],
        ),
    ];
    let k = kb.finish(body);
    let short_v: Vec<f32> = (0..21).map(|v| v as f32).collect();
    for group in [8, 4, 12] {
        let out = check(
            &k,
            Grid::linear(6, group),
            &[f32s(&short_v), f32s(&[0.5; 45])],
        );
        let got = as_f32(&out[1]);
        for (j, v) in got.iter().enumerate() {
            let want = match j {
                _ if j < 21 => j as f32 + 0.5,
                _ if j < 6 * group as usize => -7.0,
                _ => 0.5,
            };
            assert_eq!(*v, want, "group size {group}, element {j}");
        }
    }
}

#[test]
fn vector_accesses_at_the_global_position_are_versioned_per_group() {
    // 4-lane copy over 10 groups of 4 units: the first groups are wholly inside, the last
    // one straddles the end of both buffers.
    let mut kb = Kb::new("copy4_groups");
    let x = kb.buf("x", Elem::F32);
    let y = kb.buf_mut("y", Elem::F32);
    let i = kb.local("i", Ty::U32);
    let body = vec![
        let_(i, gid()),
        store(y, kb.get(i), kb.load(x, kb.get(i), 4)),
    ];
    let k = kb.finish(body);
    let xs: Vec<f32> = (0..150).map(|v| v as f32 * 0.5).collect();
    let out = check(&k, Grid::linear(10, 4), &[f32s(&xs), f32s(&[-1.0; 153])]);
    let got = as_f32(&out[1]);
    assert_eq!(got[..150], xs[..]);
    assert_eq!(got[150..], [0.0, 0.0, 0.0]);
}

#[test]
fn a_position_reassigned_in_a_loop_keeps_its_bounds_checks() {
    let mut kb = Kb::new("moved_index");
    let out = kb.buf_mut("out", Elem::U32);
    let i = kb.local("i", Ty::U32);
    let j = kb.local("j", Ty::U32);
    let body = vec![
        let_(i, gid()),
        for_(
            j,
            u32c(0),
            u32c(3),
            u32c(1),
            vec![assign(i, add(kb.get(i), u32c(5)))],
        ),
        store(out, kb.get(i), u32c(9)),
    ];
    let k = kb.finish(body);
    let out = check(&k, Grid::linear(4, 4), &[u32s(&[0; 20])]);
    let want: Vec<u32> = (0..20).map(|j| if j >= 15 { 9 } else { 0 }).collect();
    assert_eq!(as_u32(&out[0]), want);
}

/// The fused kernels' layout: `x` walks a row in groups, the group's `y` picks the row, `i =
/// y·width + x`, and a guard `x < width` holds in all four lanes, in some or in none.
fn row_layout() -> Kernel {
    let mut kb = Kb::new("row_layout");
    let a = kb.buf("a", Elem::F32);
    let bias = kb.buf("bias", Elem::F32);
    let out = kb.buf_mut("out", Elem::F32);
    let code = kb.buf_mut("code", Elem::U32);
    let width = kb.scalar("width", Elem::U32);
    let x = kb.local("x", Ty::U32);
    let i = kb.local("i", Ty::U32);
    let v = kb.local("v", Ty::F32);
    let first = mul(
        builtin(Builtin::GroupPos(Some(Axis::X))),
        builtin(Builtin::GroupSize(Some(Axis::X))),
    );
    let row = mul(builtin(Builtin::GroupPos(Some(Axis::Y))), width.clone());
    let body = vec![
        let_(x, add(first, builtin(Builtin::UnitPos(None)))),
        let_(i, add(row, kb.get(x))),
        if_(
            lt(kb.get(x), width),
            vec![
                let_(
                    v,
                    add(kb.load(a, kb.get(i), 1), kb.load(bias, kb.get(x), 1)),
                ),
                // A clamp as the fused `tanh` writes it, and a negation.
                assign(
                    v,
                    select(
                        bin(BinaryOp::Lt, kb.get(v), f32c(-1.5)),
                        f32c(-1.5),
                        un(UnaryOp::Neg, kb.get(v)),
                    ),
                ),
                store(out, kb.get(i), kb.get(v)),
                store(
                    code,
                    kb.get(i),
                    cast(cast(mul(kb.get(v), f32c(3.0)), Elem::I32), Elem::U32),
                ),
            ],
            vec![],
        ),
    ];
    kb.finish(body)
}

#[test]
fn row_layout_kernels_agree_in_both_shapes_for_whole_partial_and_empty_lanes() {
    let k = row_layout();
    let rows = 3;
    for (width, group) in [(16u32, 8u32), (10, 8), (10, 4), (6, 12), (10, 5)] {
        let n = rows * width as usize;
        let a: Vec<f32> = (0..n).map(|j| (j as f32 - 11.0) * 0.31).collect();
        let bias: Vec<f32> = (0..width).map(|j| j as f32 * -0.2).collect();
        let grid = Grid {
            groups: [width.div_ceil(group), rows as u32, 1],
            group_size: [group, 1, 1],
        };
        // The outputs one element short: the last unit's stores fall outside.
        let args = [
            f32s(&a),
            f32s(&bias),
            f32s(&vec![9.0; n - 1]),
            u32s(&vec![7; n - 1]),
            Arg::Scalar(Scalar::U32(width)),
        ];
        check(&k, grid, &args);
    }
}

#[test]
fn a_position_defined_after_some_lanes_returned_still_indexes_every_lane() {
    // Lane 0 of each four returns first; the later `let` of the position is blended under
    // the lanes left, and their accesses must still use their own positions.
    let mut kb = Kb::new("late_position");
    let x = kb.buf("x", Elem::F32);
    let y = kb.buf_mut("y", Elem::F32);
    let i = kb.local("i", Ty::U32);
    let body = vec![
        if_(
            bin(BinaryOp::Eq, bin(BinaryOp::Rem, gid(), u32c(4)), u32c(0)),
            vec![ret()],
            vec![],
        ),
        let_(i, gid()),
        store(y, kb.get(i), add(kb.load(x, kb.get(i), 1), f32c(1.0))),
    ];
    let k = kb.finish(body);
    let xs: Vec<f32> = (0..64).map(|v| v as f32).collect();
    let out = check(&k, Grid::linear(4, 16), &[f32s(&xs), f32s(&[0.0; 64])]);
    let want: Vec<f32> = (0..64)
        .map(|j| if j % 4 == 0 { 0.0 } else { j as f32 + 1.0 })
        .collect();
    assert_eq!(as_f32(&out[1]), want);
}

#[test]
fn a_scalar_operand_of_a_vector_operation_is_broadcast_to_every_lane() {
    for elem in [Elem::F32, Elem::I32, Elem::U32, Elem::BF16] {
        let mut kb = Kb::new("vector_scalar");
        let x = kb.buf("x", elem);
        let out = kb.buf_mut("out", elem);
        let flags = kb.buf_mut("flags", Elem::U32);
        let s = kb.scalar("s", elem);
        let v = kb.local("v", Ty::vector(elem, 4));
        let at = |k: u32| add(mul(gid(), u32c(6)), u32c(k));
        let mut body = vec![let_(v, kb.load(x, gid(), 4))];
        let ops = [BinaryOp::Add, BinaryOp::Sub, BinaryOp::Mul, BinaryOp::Div];
        for (k, op) in ops.into_iter().enumerate() {
            body.push(store(out, at(k as u32), bin(op, kb.get(v), s.clone())));
        }
        // A comparison with a scalar, stored as four 0/1 lanes.
        let below = bin(BinaryOp::Lt, kb.get(v), s.clone());
        body.push(store(flags, gid(), cast(below, Elem::U32)));
        let k = kb.finish(body);
        let xs: Vec<f32> = (0..32).map(|i| i as f32 * 0.75 - 9.0).collect();
        let (xbuf, sval) = match elem {
            Elem::I32 => (
                i32s(&xs.iter().map(|&v| v as i32).collect::<Vec<_>>()),
                Scalar::I32(-3),
            ),
            Elem::U32 => (
                u32s(&xs.iter().map(|&v| v.abs() as u32).collect::<Vec<_>>()),
                Scalar::U32(5),
            ),
            Elem::BF16 => (
                Arg::Buf(HostBuffer::BF16(
                    xs.iter().map(|&v| half::bf16::from_f32(v)).collect(),
                )),
                Scalar::BF16(half::bf16::from_f32(1.5)),
            ),
            _ => (f32s(&xs), Scalar::F32(1.5)),
        };
        let zeros = match elem {
            Elem::I32 => i32s(&[0; 8 * 6 * 4]),
            Elem::U32 => u32s(&[0; 8 * 6 * 4]),
            Elem::BF16 => Arg::Buf(HostBuffer::BF16(vec![half::bf16::ZERO; 8 * 6 * 4])),
            _ => f32s(&[0.0; 8 * 6 * 4]),
        };
        check(
            &k,
            Grid::linear(2, 4),
            &[xbuf, zeros, u32s(&[0; 32]), Arg::Scalar(sval)],
        );
    }
}

#[test]
fn groups_wholly_inside_run_as_one_range_in_every_chunk() {
    // `y[i] = x[i] * group_size + num_groups` with buffers that fit the grid exactly (every
    // group inside: the groups of a call run as one loop), one element short (the last
    // group checked), and large enough to be spread over threads in chunks of groups.
    let mut kb = Kb::new("flat_range");
    let x = kb.buf("x", Elem::F32);
    let y = kb.buf_mut("y", Elem::F32);
    let i = kb.local("i", Ty::U32);
    let scale = cast(builtin(Builtin::GroupSize(None)), Elem::F32);
    let offset = cast(builtin(Builtin::NumGroups(None)), Elem::F32);
    let value = add(mul(kb.load(x, kb.get(i), 1), scale), offset);
    let body = vec![let_(i, gid()), store(y, kb.get(i), value)];
    let k = kb.finish(body);
    for (groups, group) in [(5, 1), (7, 3), (6, 4), (9, 8), (4, 12), (700, 64)] {
        let n = (groups * group) as usize;
        for short in [0, 1] {
            let xs: Vec<f32> = (0..n - short).map(|v| v as f32 * 0.25 - 3.0).collect();
            check(
                &k,
                Grid::linear(groups, group),
                &[f32s(&xs), f32s(&vec![1.5; n - short])],
            );
        }
    }
}
