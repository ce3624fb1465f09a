//! `for` loops versioned on their bounds: a loop whose accesses are affine in the loop
//! variable runs without per-access checks when a test before the loop proves every index
//! inside, and with them otherwise. Each kernel runs once where the test passes and once
//! where it must fail (the last rows reach past a buffer, an index wraps around `u32`, a
//! stride overflows), always bit-identical to the interpreter.

mod cpu_support;

use cpu_support::*;
use vibee_dsl::kernel::*;

fn ramp(n: usize) -> Vec<f32> {
    (0..n).map(|i| (i % 97) as f32 * 0.25 - 7.0).collect()
}

/// `out[row] = sum_j x[off + row*cols + j] * w[j]` and `y[off + row*cols + j] = 2 x[…]`,
/// one unit per row, guarded only by the loop's own bounds.
fn rows_kernel() -> Kernel {
    let mut kb = Kb::new("rows");
    let x = kb.buf("x", Elem::F32);
    let w = kb.buf("w", Elem::F32);
    let y = kb.buf_mut("y", Elem::F32);
    let out = kb.buf_mut("out", Elem::F32);
    let cols = kb.scalar("cols", Elem::U32);
    let off = kb.scalar("off", Elem::U32);
    let row = kb.local("row", Ty::U32);
    let j = kb.local("j", Ty::U32);
    let acc = kb.local("acc", Ty::F32);
    let at = add(off, add(mul(kb.get(row), cols.clone()), kb.get(j)));
    let xj = kb.load(x, at.clone(), 1);
    let body = vec![
        let_(row, gid()),
        let_(acc, f32c(0.0)),
        for_(
            j,
            u32c(0),
            cols,
            u32c(1),
            vec![
                assign(
                    acc,
                    add(kb.get(acc), mul(xj.clone(), kb.load(w, kb.get(j), 1))),
                ),
                store(y, at, mul(xj, f32c(2.0))),
            ],
        ),
        store(out, kb.get(row), kb.get(acc)),
    ];
    kb.finish(body)
}

fn rows_args(rows: usize, cols: u32, x_len: usize, y_len: usize, off: u32) -> Vec<Arg> {
    vec![
        f32s(&ramp(x_len)),
        f32s(&ramp(cols as usize)),
        f32s(&vec![5.0; y_len]),
        f32s(&vec![-1.0; rows]),
        Arg::Scalar(Scalar::U32(cols)),
        Arg::Scalar(Scalar::U32(off)),
    ]
}

#[test]
fn affine_row_loops_match_the_interpreter_inside_and_past_the_end() {
    let k = rows_kernel();
    let (rows, cols) = (12, 33u32);
    let n = rows * cols as usize;
    // Every row inside: the unchecked copy runs for every unit.
    check(&k, Grid::linear(3, 4), &rows_args(rows, cols, n, n, 0));
    // The last rows reach past `x` and `y` (one element, then whole rows): reads give 0,
    // writes are dropped, row by row where the test fails.
    for short in [1, cols as usize + 5, 3 * cols as usize] {
        check(
            &k,
            Grid::linear(3, 4),
            &rows_args(rows, cols, n - short, n - short + 1, 0),
        );
    }
    // An offset that wraps the index around 2^32 lands at small (valid) indices.
    check(
        &k,
        Grid::linear(3, 4),
        &rows_args(rows, cols, n, n, u32::MAX - 40),
    );
    // No columns: the loop never runs.
    check(&k, Grid::linear(3, 4), &rows_args(rows, 0, n, n, 0));
}

/// `out[col] = sum_r x[r*stride + col]` over `r in (0..rows).step_by(step)`.
fn strided_kernel() -> Kernel {
    let mut kb = Kb::new("columns");
    let x = kb.buf("x", Elem::F32);
    let out = kb.buf_mut("out", Elem::F32);
    let rows = kb.scalar("rows", Elem::U32);
    let stride = kb.scalar("stride", Elem::U32);
    let step = kb.scalar("step", Elem::U32);
    let col = kb.local("col", Ty::U32);
    let r = kb.local("r", Ty::U32);
    let acc = kb.local("acc", Ty::F32);
    let body = vec![
        let_(col, gid()),
        let_(acc, f32c(0.0)),
        for_(
            r,
            u32c(0),
            rows,
            step,
            vec![assign(
                acc,
                add(
                    kb.get(acc),
                    kb.load(x, add(mul(kb.get(r), stride), kb.get(col)), 1),
                ),
            )],
        ),
        store(out, kb.get(col), kb.get(acc)),
    ];
    kb.finish(body)
}

#[test]
fn strided_loops_match_the_interpreter_inside_past_the_end_and_on_overflow() {
    let k = strided_kernel();
    let args = |x_len: usize, rows: u32, stride: u32, step: u32| {
        vec![
            f32s(&ramp(x_len)),
            f32s(&[9.0; 16]),
            Arg::Scalar(Scalar::U32(rows)),
            Arg::Scalar(Scalar::U32(stride)),
            Arg::Scalar(Scalar::U32(step)),
        ]
    };
    let grid = Grid::linear(2, 8);
    check(&k, grid, &args(16 * 20, 20, 16, 1));
    check(&k, grid, &args(16 * 20, 20, 16, 3));
    // The last row is one short.
    check(&k, grid, &args(16 * 20 - 1, 20, 16, 1));
    // `r * stride` wraps around 2^32 for the later rows.
    check(&k, grid, &args(16 * 20, 20, 1 << 29, 1));
    // Stride 0: every row reads the first one.
    check(&k, grid, &args(16, 20, 0, 1));
}

/// Four-lane loads and stores at vector index `row*q + j` inside a loop, an invariant read
/// of `x[row]` (scale 0), and a loop whose body reassigns its variable (never versioned).
fn vector_kernel() -> Kernel {
    let mut kb = Kb::new("vector_rows");
    let x = kb.buf("x", Elem::F32);
    let y = kb.buf_mut("y", Elem::F32);
    let q = kb.scalar("q", Elem::U32);
    let row = kb.local("row", Ty::U32);
    let j = kb.local("j", Ty::U32);
    let k = kb.local("k", Ty::U32);
    let at = add(mul(kb.get(row), q.clone()), kb.get(j));
    let v = kb.load(x, at.clone(), 4);
    let first = kb.load(x, kb.get(row), 1);
    let body = vec![
        let_(row, gid()),
        for_(
            j,
            u32c(0),
            q.clone(),
            u32c(1),
            vec![store(
                y,
                at,
                mul(
                    v,
                    construct(vec![first.clone(), first.clone(), first.clone(), first]),
                ),
            )],
        ),
        for_(
            k,
            u32c(0),
            q,
            u32c(1),
            vec![
                store(y, kb.get(k), kb.load(x, kb.get(k), 1)),
                assign(k, add(kb.get(k), u32c(1))),
            ],
        ),
    ];
    kb.finish(body)
}

#[test]
fn vector_loops_and_loops_that_move_their_variable_match_the_interpreter() {
    let k = vector_kernel();
    let (rows, q) = (8usize, 5u32);
    let n = rows * q as usize * 4;
    for (x_len, y_len) in [(n, n), (n - 2, n), (n, n - 5), (n - 4 * q as usize, n - 1)] {
        check(
            &k,
            Grid::linear(2, 4),
            &[
                f32s(&ramp(x_len)),
                f32s(&vec![3.0; y_len]),
                Arg::Scalar(Scalar::U32(q)),
            ],
        );
    }
}
