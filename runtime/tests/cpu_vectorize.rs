//! The loop vectorizer: `for` loops whose body maps consecutive `f32` elements run four
//! iterations per step, and must stay bit-identical to the interpreter for every tail length
//! (0 to 3 iterations left for the scalar loop), for NaN, infinities, signed zeros and
//! division by zero, and for the values locals hold after the loop (`exp`, computed inline,
//! within the documented ulps). Maps that end in a fold (`s = s + value`) fold the lanes in
//! iteration order and must be bit-identical too. Loops that pass values
//! from one iteration to the next (through memory or a local) must not be vectorized; if
//! they were, these comparisons would fail.

mod cpu_support;

use cpu_support::*;
use vibee_dsl::kernel::*;

/// Inputs with the values whose arithmetic is easiest to get wrong.
fn awkward(n: usize) -> Vec<f32> {
    let special = [
        f32::NAN,
        -0.0,
        0.0,
        f32::INFINITY,
        f32::NEG_INFINITY,
        1e-40,
        -3.5,
    ];
    (0..n)
        .map(|i| match i % 11 {
            k if k < special.len() => special[k],
            k => k as f32 * 0.75 - 4.0,
        })
        .collect()
}

/// One unit per row: `let t = x·s; y = min(t, y) / d − max(y, −x) + t` at `row·cols + j`,
/// and `last[row]` = the loop variable after the loop.
fn map_kernel() -> Kernel {
    let mut kb = Kb::new("map_rows");
    let x = kb.buf("x", Elem::F32);
    let y = kb.buf_mut("y", Elem::F32);
    let last = kb.buf_mut("last", Elem::U32);
    let cols = kb.scalar("cols", Elem::U32);
    let s = kb.scalar("s", Elem::F32);
    let d = kb.scalar("d", Elem::F32);
    let [row, j] = ["row", "j"].map(|n| kb.local(n, Ty::U32));
    let t = kb.local("t", Ty::F32);
    let at = add(mul(kb.get(row), cols.clone()), kb.get(j));
    let xj = kb.load(x, at.clone(), 1);
    let yj = kb.load(y, at.clone(), 1);
    let value = add(
        bin(
            BinaryOp::Sub,
            bin(BinaryOp::Div, bin(BinaryOp::Min, kb.get(t), yj.clone()), d),
            bin(BinaryOp::Max, yj, un(UnaryOp::Neg, xj.clone())),
        ),
        kb.get(t),
    );
    let body = vec![
        let_(row, gid()),
        let_(j, u32c(7)),
        for_(
            j,
            u32c(0),
            cols,
            u32c(1),
            vec![let_(t, mul(xj, s)), store(y, at, value)],
        ),
        store(last, kb.get(row), kb.get(j)),
    ];
    kb.finish(body)
}

fn map_args(rows: usize, cols: u32, s: f32, d: f32) -> Vec<Arg> {
    let n = rows * cols as usize;
    vec![
        f32s(&awkward(n)),
        f32s(&awkward(n + 3)[3..]),
        u32s(&vec![0; rows]),
        Arg::Scalar(Scalar::U32(cols)),
        Arg::Scalar(Scalar::F32(s)),
        Arg::Scalar(Scalar::F32(d)),
    ]
}

#[test]
fn map_loops_match_the_interpreter_for_every_tail_length_and_special_value() {
    let k = map_kernel();
    for cols in 0..=13 {
        for (s, d) in [(1.5, 0.5), (-2.0, 0.0), (0.0, -0.0), (f32::NAN, 3.0)] {
            check(&k, Grid::linear(2, 3), &map_args(6, cols, s, d));
        }
    }
}

#[test]
fn map_loops_past_the_end_of_a_buffer_keep_their_checked_semantics() {
    let k = map_kernel();
    let mut args = map_args(6, 9, 1.5, 0.5);
    // `y` one element short: the loop's test fails, every access is checked.
    args[1] = f32s(&awkward(6 * 9 - 1));
    check(&k, Grid::linear(2, 3), &args);
}

/// `y[j + shift] = y[j] * 2 + x[j]` for `j` in `start..end`: each iteration reads what an
/// earlier one wrote (or will overwrite what a later one reads).
fn carried_through_memory(shift: u32) -> Kernel {
    let mut kb = Kb::new("carried");
    let x = kb.buf("x", Elem::F32);
    let y = kb.buf_mut("y", Elem::F32);
    let start = kb.scalar("start", Elem::U32);
    let end = kb.scalar("end", Elem::U32);
    let j = kb.local("j", Ty::U32);
    let value = add(
        mul(kb.load(y, kb.get(j), 1), f32c(2.0)),
        kb.load(x, kb.get(j), 1),
    );
    let body = vec![for_(
        j,
        start,
        end,
        u32c(1),
        vec![store(y, add(kb.get(j), u32c(shift)), value)],
    )];
    kb.finish(body)
}

#[test]
fn loops_that_carry_values_through_memory_match_the_interpreter() {
    for shift in [1, 2, 3] {
        let k = carried_through_memory(shift);
        for (start, end) in [(0, 20), (3, 17), (9, 9), (12, 4)] {
            let args = vec![
                f32s(&awkward(24)),
                f32s(&[1.0; 24]),
                Arg::Scalar(Scalar::U32(start)),
                Arg::Scalar(Scalar::U32(end)),
            ];
            check(&k, Grid::linear(1, 1), &args);
        }
    }
}

/// `let t = x[j] + acc; y[j] = t; acc = t`, then `y[0] = t`: a running sum, and a `let`
/// read after the loop.
fn carried_through_locals() -> Kernel {
    let mut kb = Kb::new("running");
    let x = kb.buf("x", Elem::F32);
    let y = kb.buf_mut("y", Elem::F32);
    let n = kb.scalar("n", Elem::U32);
    let j = kb.local("j", Ty::U32);
    let [t, acc] = ["t", "acc"].map(|v| kb.local(v, Ty::F32));
    let body = vec![
        let_(acc, f32c(0.5)),
        let_(t, f32c(0.0)),
        for_(
            j,
            u32c(0),
            n,
            u32c(1),
            vec![
                let_(t, add(kb.load(x, kb.get(j), 1), kb.get(acc))),
                store(y, kb.get(j), kb.get(t)),
                assign(acc, kb.get(t)),
            ],
        ),
        store(y, u32c(0), kb.get(t)),
    ];
    kb.finish(body)
}

#[test]
fn loops_that_carry_values_through_locals_match_the_interpreter() {
    let k = carried_through_locals();
    for n in [0, 3, 4, 9, 16] {
        let args = vec![
            f32s(&awkward(16)),
            f32s(&[0.0; 16]),
            Arg::Scalar(Scalar::U32(n)),
        ];
        check(&k, Grid::linear(1, 1), &args);
    }
}

/// `acc = max(acc, x[row·cols + j])` (or `min`, or the operands swapped) from `acc = a0`,
/// then `out[row] = acc` and `last[row] = j`.
fn reduction_kernel(op: BinaryOp, acc_first: bool) -> Kernel {
    let mut kb = Kb::new("reduce_rows");
    let x = kb.buf("x", Elem::F32);
    let out = kb.buf_mut("out", Elem::F32);
    let last = kb.buf_mut("last", Elem::U32);
    let cols = kb.scalar("cols", Elem::U32);
    let a0 = kb.scalar("a0", Elem::F32);
    let [row, j] = ["row", "j"].map(|n| kb.local(n, Ty::U32));
    let acc = kb.local("acc", Ty::F32);
    let xj = kb.load(x, add(mul(kb.get(row), cols.clone()), kb.get(j)), 1);
    let folded = if acc_first {
        bin(op, kb.get(acc), xj)
    } else {
        bin(op, xj, kb.get(acc))
    };
    let body = vec![
        let_(row, gid()),
        let_(acc, a0),
        let_(j, u32c(99)),
        for_(j, u32c(0), cols, u32c(1), vec![assign(acc, folded)]),
        store(out, kb.get(row), kb.get(acc)),
        store(last, kb.get(row), kb.get(j)),
    ];
    kb.finish(body)
}

/// Rows whose extreme is a number, a zero of either sign (first seen in any lane), NaN
/// everywhere, or absent.
fn reduction_rows(cols: usize) -> Vec<f32> {
    let rows: [&dyn Fn(usize) -> f32; 6] = [
        &|i| (i * 7 % 13) as f32 - 6.0,
        &|i| if i % 3 == 1 { -0.0 } else { -(i as f32) - 1.0 },
        &|i| if i % 2 == 0 { 0.0 } else { -0.0 },
        &|i| if i % 5 == 2 { f32::NAN } else { i as f32 * 0.5 },
        &|_| f32::NAN,
        &|i| if i == 3 { 0.0 } else { -0.0 },
    ];
    rows.iter().flat_map(|row| (0..cols).map(row)).collect()
}

#[test]
fn min_max_reductions_match_the_interpreter_for_zeros_nans_and_every_tail() {
    for op in [BinaryOp::Max, BinaryOp::Min] {
        for acc_first in [true, false] {
            let k = reduction_kernel(op, acc_first);
            for cols in 0..=13u32 {
                for a0 in [f32::NEG_INFINITY, f32::INFINITY, f32::NAN, 0.0, -0.0, 2.5] {
                    let args = vec![
                        f32s(&reduction_rows(cols as usize)),
                        f32s(&[7.0; 6]),
                        u32s(&[0; 6]),
                        Arg::Scalar(Scalar::U32(cols)),
                        Arg::Scalar(Scalar::F32(a0)),
                    ];
                    check(&k, Grid::linear(2, 3), &args);
                }
            }
        }
    }
}

/// One unit per row: `let t = sqrt(|x|) · k; y = t; acc = acc op t` (or `t op acc`) over
/// `row·cols + j` from `acc = a0`, then `out[row] = acc`.
fn fold_kernel(op: BinaryOp, acc_first: bool) -> Kernel {
    let mut kb = Kb::new("fold_rows");
    let x = kb.buf("x", Elem::F32);
    let y = kb.buf_mut("y", Elem::F32);
    let out = kb.buf_mut("out", Elem::F32);
    let cols = kb.scalar("cols", Elem::U32);
    let a0 = kb.scalar("a0", Elem::F32);
    let [row, j] = ["row", "j"].map(|n| kb.local(n, Ty::U32));
    let [t, acc] = ["t", "acc"].map(|n| kb.local(n, Ty::F32));
    let at = add(mul(kb.get(row), cols.clone()), kb.get(j));
    let root = math(
        MathFn::Sqrt,
        vec![math(MathFn::Abs, vec![kb.load(x, at.clone(), 1)])],
    );
    let folded = if acc_first {
        bin(op, kb.get(acc), kb.get(t))
    } else {
        bin(op, kb.get(t), kb.get(acc))
    };
    let body = vec![
        let_(row, gid()),
        let_(acc, a0),
        for_(
            j,
            u32c(0),
            cols,
            u32c(1),
            vec![
                let_(t, mul(root, f32c(1.25))),
                store(y, at, kb.get(t)),
                assign(acc, folded),
            ],
        ),
        store(out, kb.get(row), kb.get(acc)),
    ];
    kb.finish(body)
}

#[test]
fn folds_after_a_map_match_the_interpreter_bit_for_bit() {
    let ops = [
        BinaryOp::Add,
        BinaryOp::Sub,
        BinaryOp::Mul,
        BinaryOp::Div,
        BinaryOp::Min,
        BinaryOp::Max,
    ];
    for op in ops {
        for acc_first in [true, false] {
            let k = fold_kernel(op, acc_first);
            for cols in 0..=13u32 {
                for a0 in [0.0, -0.0, 1.5, f32::NAN, f32::INFINITY] {
                    let n = 6 * cols as usize;
                    let args = vec![
                        f32s(&awkward(n + 5)[5..]),
                        f32s(&vec![0.0; n]),
                        f32s(&[7.0; 6]),
                        Arg::Scalar(Scalar::U32(cols)),
                        Arg::Scalar(Scalar::F32(a0)),
                    ];
                    check(&k, Grid::linear(2, 3), &args);
                }
            }
        }
    }
}

/// A fold whose local another statement of the body reads sees its partial values: not a
/// map, so the loop runs one iteration at a time.
#[test]
fn folds_read_elsewhere_in_the_body_match_the_interpreter() {
    let mut kb = Kb::new("prefix");
    let x = kb.buf("x", Elem::F32);
    let y = kb.buf_mut("y", Elem::F32);
    let n = kb.scalar("n", Elem::U32);
    let j = kb.local("j", Ty::U32);
    let acc = kb.local("acc", Ty::F32);
    let body = vec![
        let_(acc, f32c(0.25)),
        for_(
            j,
            u32c(0),
            n,
            u32c(1),
            vec![
                store(y, kb.get(j), kb.get(acc)),
                assign(acc, add(kb.get(acc), kb.load(x, kb.get(j), 1))),
            ],
        ),
    ];
    let k = kb.finish(body);
    for n in [0, 3, 4, 9, 16] {
        let args = vec![
            f32s(&awkward(16)),
            f32s(&[0.0; 16]),
            Arg::Scalar(Scalar::U32(n)),
        ];
        check(&k, Grid::linear(1, 1), &args);
    }
}

/// `y = exp(x − m) / d` over rows (the last loop of a softmax): within `EXP_ULPS` of the
/// interpreter (one more for the division), for every tail length and special value.
#[test]
fn exp_maps_match_the_interpreter_within_the_exp_bound() {
    let mut kb = Kb::new("exp_rows");
    let x = kb.buf("x", Elem::F32);
    let y = kb.buf_mut("y", Elem::F32);
    let cols = kb.scalar("cols", Elem::U32);
    let m = kb.scalar("m", Elem::F32);
    let d = kb.scalar("d", Elem::F32);
    let [row, j] = ["row", "j"].map(|n| kb.local(n, Ty::U32));
    let at = add(mul(kb.get(row), cols.clone()), kb.get(j));
    let shifted = bin(BinaryOp::Sub, kb.load(x, at.clone(), 1), m);
    let value = bin(BinaryOp::Div, math(MathFn::Exp, vec![shifted]), d);
    let body = vec![
        let_(row, gid()),
        for_(j, u32c(0), cols, u32c(1), vec![store(y, at, value)]),
    ];
    let k = kb.finish(body);
    for cols in 0..=13u32 {
        for (m, d) in [(0.0, 1.0), (2.5, 3.0), (-1.0, 0.0), (f32::NAN, 1.0)] {
            let n = 6 * cols as usize;
            let args = vec![
                f32s(&awkward(n)),
                f32s(&vec![0.0; n]),
                Arg::Scalar(Scalar::U32(cols)),
                Arg::Scalar(Scalar::F32(m)),
                Arg::Scalar(Scalar::F32(d)),
            ];
            check_within_ulps(&k, Grid::linear(2, 3), &args, EXP_ULPS + 1);
        }
    }
}
