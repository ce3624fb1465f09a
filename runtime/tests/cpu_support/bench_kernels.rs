//! The kernels of the CPU benchmark (`benches/cpu_kernels.rs` includes this module), so the
//! tests check exactly the IR the benchmark times against the interpreter.
//!
//! Softmax comes in two algorithms, each scalar and with 4-lane loads: the plain one
//! computes `exp(x - max)` twice per element (once to sum, once to write), the one-pass one
//! stores the exponentials into the output while summing them and then scales the output
//! in place, so `exp` runs once per element.

use vibee_dsl::kernel::*;

use super::*;

/// `y[i] = a * x[i] + y[i]` with `lanes` lanes per unit (vector index `i`); the scalar
/// kernel is written the idiomatic way, guarded by `if i < len(y)`.
pub fn axpy(lanes: u8) -> Kernel {
    let mut kb = Kb::new(&format!("axpy_x{lanes}"));
    let a = kb.scalar("a", Elem::F32);
    let x = kb.buf("x", Elem::F32);
    let y = kb.buf_mut("y", Elem::F32);
    let i = kb.local("i", Ty::U32);
    let value = add(
        mul(kb.load(x, kb.get(i), lanes), a),
        kb.load(y, kb.get(i), lanes),
    );
    let mut update = store(y, kb.get(i), value);
    if lanes == 1 {
        update = if_(lt(kb.get(i), len(y)), vec![update], vec![]);
    }
    kb.finish(vec![let_(i, gid()), update])
}

/// Which softmax algorithm a kernel uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Softmax {
    /// Max, sum of `exp`, then `exp` again divided by the sum.
    Plain,
    /// Max, then `exp` stored into the output while summing, then the output scaled.
    OnePass,
}

/// One unit per row of `cols` elements (`x`, `y`, `cols: u32`).
pub fn softmax(algorithm: Softmax) -> Kernel {
    let name = match algorithm {
        Softmax::Plain => "softmax_rows",
        Softmax::OnePass => "softmax_rows_one_pass",
    };
    let mut kb = Kb::new(name);
    let x = kb.buf("x", Elem::F32);
    let y = kb.buf_mut("y", Elem::F32);
    let cols = kb.scalar("cols", Elem::U32);
    let [row, j] = ["row", "j"].map(|n| kb.local(n, Ty::U32));
    let [m, s, ex] = ["m", "s", "e"].map(|n| kb.local(n, Ty::F32));
    let at = add(mul(kb.get(row), cols.clone()), kb.get(j));
    let shifted = bin(BinaryOp::Sub, kb.load(x, at.clone(), 1), kb.get(m));
    let exp = math(MathFn::Exp, vec![shifted]);
    let for_cols = |body| for_(j, u32c(0), cols.clone(), u32c(1), body);
    let mut body = vec![
        let_(row, gid()),
        if_(
            bin(BinaryOp::Ge, mul(kb.get(row), cols.clone()), len(y)),
            vec![ret()],
            vec![],
        ),
        let_(m, f32c(f64::NEG_INFINITY)),
        let_(s, f32c(0.0)),
        for_cols(vec![assign(
            m,
            bin(BinaryOp::Max, kb.get(m), kb.load(x, at.clone(), 1)),
        )]),
    ];
    match algorithm {
        Softmax::Plain => body.extend([
            for_cols(vec![assign(s, add(kb.get(s), exp.clone()))]),
            for_cols(vec![store(y, at, bin(BinaryOp::Div, exp, kb.get(s)))]),
        ]),
        Softmax::OnePass => {
            let inv = bin(BinaryOp::Div, f32c(1.0), kb.get(s));
            body.extend([
                for_cols(vec![
                    let_(ex, exp),
                    store(y, at.clone(), kb.get(ex)),
                    assign(s, add(kb.get(s), kb.get(ex))),
                ]),
                assign(s, inv),
                for_cols(vec![store(
                    y,
                    at.clone(),
                    mul(kb.load(y, at, 1), kb.get(s)),
                )]),
            ])
        }
    }
    kb.finish(body)
}

/// The same with four lanes per load (`cols` a multiple of 4, `vcols = cols / 4` vectors
/// per row), as one writes a fast softmax: lane-wise running max and sum, one horizontal
/// reduction of each, and the vector `exp`.
pub fn softmax_x4(algorithm: Softmax) -> Kernel {
    let name = match algorithm {
        Softmax::Plain => "softmax_rows_x4",
        Softmax::OnePass => "softmax_rows_one_pass_x4",
    };
    let v4 = Ty::vector(Elem::F32, 4);
    let mut kb = Kb::new(name);
    let x = kb.buf("x", Elem::F32);
    let y = kb.buf_mut("y", Elem::F32);
    let vcols = kb.scalar("vcols", Elem::U32);
    let [row, j] = ["row", "j"].map(|n| kb.local(n, Ty::U32));
    let [m, s, mv, inv, ex] = ["m", "s", "mv", "inv", "e"].map(|n| kb.local(n, v4));
    let at = add(mul(kb.get(row), vcols.clone()), kb.get(j));
    let shifted = bin(BinaryOp::Sub, kb.load(x, at.clone(), 4), kb.get(mv));
    let exp = math(MathFn::Exp, vec![shifted]);
    let splat = |v: Expr| construct(vec![v; 4]);
    let fold = |op: BinaryOp, v: Expr| {
        let lo = bin(op, extract(v.clone(), 0), extract(v.clone(), 1));
        let hi = bin(op, extract(v.clone(), 2), extract(v, 3));
        bin(op, lo, hi)
    };
    let for_cols = |body| for_(j, u32c(0), vcols.clone(), u32c(1), body);
    let row_start = mul(mul(kb.get(row), vcols.clone()), u32c(4));
    let mut body = vec![
        let_(row, gid()),
        if_(bin(BinaryOp::Ge, row_start, len(y)), vec![ret()], vec![]),
        let_(m, splat(f32c(f64::NEG_INFINITY))),
        for_cols(vec![assign(
            m,
            bin(BinaryOp::Max, kb.get(m), kb.load(x, at.clone(), 4)),
        )]),
        let_(mv, splat(fold(BinaryOp::Max, kb.get(m)))),
        let_(s, splat(f32c(0.0))),
    ];
    let sum_step = |kb: &Kb| match algorithm {
        Softmax::Plain => vec![assign(s, add(kb.get(s), exp.clone()))],
        Softmax::OnePass => vec![
            let_(ex, exp.clone()),
            store(y, at.clone(), kb.get(ex)),
            assign(s, add(kb.get(s), kb.get(ex))),
        ],
    };
    body.push(for_cols(sum_step(&kb)));
    body.push(let_(
        inv,
        splat(bin(
            BinaryOp::Div,
            f32c(1.0),
            fold(BinaryOp::Add, kb.get(s)),
        )),
    ));
    let out = match algorithm {
        Softmax::Plain => exp,
        Softmax::OnePass => kb.load(y, at.clone(), 4),
    };
    body.push(for_cols(vec![store(y, at, mul(out, kb.get(inv)))]));
    kb.finish(body)
}
