//! Every operator on every element type, every cast, every math function: the CPU backend
//! must agree bit for bit with the interpreter, including the edge cases (division by
//! zero, `i32::MIN / -1`, shifts past 31, NaN, saturating casts, f16/bf16 rounding).

mod cpu_support;

use cpu_support::*;
use half::{bf16, f16};
use vibee_dsl::kernel::*;

/// Edge-case inputs of `elem`, as f64 (`HostBuffer::set` converts them).
fn samples(elem: Elem) -> Vec<f64> {
    match elem {
        Elem::I32 => vec![
            0.0,
            1.0,
            -1.0,
            7.0,
            -7.0,
            3.0,
            31.0,
            33.0,
            2147483647.0,
            -2147483648.0,
            100000.0,
            -5.0,
        ],
        Elem::U32 => vec![
            0.0,
            1.0,
            2.0,
            7.0,
            3.0,
            31.0,
            33.0,
            4294967295.0,
            2147483648.0,
            100000.0,
            65536.0,
            5.0,
        ],
        _ => vec![
            0.0,
            -0.0,
            1.0,
            -1.5,
            3.25,
            1e-3,
            65504.0,
            -1e6,
            0.1,
            f64::NAN,
            f64::INFINITY,
            2.5,
        ],
    }
}

fn buffer(elem: Elem, values: &[f64]) -> HostBuffer {
    let mut b = HostBuffer::zeros(elem, values.len()).expect("numeric buffer");
    for (i, v) in values.iter().enumerate() {
        let s = match elem {
            Elem::I32 => Scalar::I32(*v as i32),
            Elem::U32 => Scalar::U32(*v as u32),
            Elem::F16 => Scalar::F16(f16::from_f64(*v)),
            Elem::BF16 => Scalar::BF16(bf16::from_f64(*v)),
            _ => Scalar::F32(*v as f32),
        };
        b.set(i, s);
    }
    b
}

/// Every pair of samples: `a` is the samples repeated, `b` the samples rotated.
fn pairs(elem: Elem) -> (HostBuffer, HostBuffer) {
    let s = samples(elem);
    let mut a = Vec::new();
    let mut b = Vec::new();
    for x in &s {
        for y in &s {
            a.push(*x);
            b.push(*y);
        }
    }
    (buffer(elem, &a), buffer(elem, &b))
}

const OPS: [BinaryOp; 18] = [
    BinaryOp::Add,
    BinaryOp::Sub,
    BinaryOp::Mul,
    BinaryOp::Div,
    BinaryOp::Rem,
    BinaryOp::BitAnd,
    BinaryOp::BitOr,
    BinaryOp::BitXor,
    BinaryOp::Shl,
    BinaryOp::Shr,
    BinaryOp::Eq,
    BinaryOp::Ne,
    BinaryOp::Lt,
    BinaryOp::Le,
    BinaryOp::Gt,
    BinaryOp::Ge,
    BinaryOp::Min,
    BinaryOp::Max,
];

/// `out[i] = a[i] op b[i]` (comparisons stored as u32 0/1).
fn binary_kernel(elem: Elem, op: BinaryOp) -> Kernel {
    let mut kb = Kb::new(&format!("bin_{}_{op:?}", elem.rust_name()));
    let a = kb.buf("a", elem);
    let b = kb.buf("b", elem);
    let out_elem = if op.is_comparison() { Elem::U32 } else { elem };
    let out = kb.buf_mut("out", out_elem);
    let i = kb.local("i", Ty::U32);
    let mut v = bin(op, kb.load(a, kb.get(i), 1), kb.load(b, kb.get(i), 1));
    if op.is_comparison() {
        v = cast(v, Elem::U32);
    }
    let body = vec![let_(i, gid()), store(out, kb.get(i), v)];
    kb.finish(body)
}

#[test]
fn binary_operators_match_the_interpreter() {
    for elem in [Elem::F32, Elem::F16, Elem::BF16, Elem::I32, Elem::U32] {
        let (a, b) = pairs(elem);
        let n = a.len();
        for op in OPS {
            if elem.is_float() && op.is_bitwise() {
                continue;
            }
            let k = binary_kernel(elem, op);
            let out_elem = if op.is_comparison() { Elem::U32 } else { elem };
            let out = HostBuffer::zeros(out_elem, n).expect("buffer");
            check(
                &k,
                Grid::cover(n, 32),
                &[Arg::Buf(a.clone()), Arg::Buf(b.clone()), Arg::Buf(out)],
            );
        }
    }
}

#[test]
fn integer_division_by_zero_and_overflow_yield_the_documented_values() {
    let k = binary_kernel(Elem::I32, BinaryOp::Div);
    let out = check(
        &k,
        Grid::linear(1, 3),
        &[i32s(&[5, i32::MIN, -9]), i32s(&[0, -1, 2]), i32s(&[9; 3])],
    );
    assert_eq!(as_i32(&out[2]), vec![0, i32::MIN, -4]);
    let k = binary_kernel(Elem::U32, BinaryOp::Rem);
    let out = check(
        &k,
        Grid::linear(1, 2),
        &[u32s(&[5, 7]), u32s(&[0, 4]), u32s(&[9; 2])],
    );
    assert_eq!(as_u32(&out[2]), vec![0, 3]);
}

#[test]
fn unary_operators_match_the_interpreter() {
    for elem in [Elem::F32, Elem::F16, Elem::BF16, Elem::I32, Elem::U32] {
        for op in [UnaryOp::Neg, UnaryOp::Not] {
            let mut kb = Kb::new("unary");
            let a = kb.buf("a", elem);
            let out = kb.buf_mut("out", elem);
            let i = kb.local("i", Ty::U32);
            let body = vec![
                let_(i, gid()),
                store(out, kb.get(i), un(op, kb.load(a, kb.get(i), 1))),
            ];
            let k = kb.finish(body);
            let input = buffer(elem, &samples(elem));
            let n = input.len();
            check(
                &k,
                Grid::linear(1, n as u32),
                &[
                    Arg::Buf(input),
                    Arg::Buf(HostBuffer::zeros(elem, n).expect("buffer")),
                ],
            );
        }
    }
}

#[test]
fn casts_between_every_pair_of_types_match_the_interpreter() {
    let numeric = [Elem::F32, Elem::F16, Elem::BF16, Elem::I32, Elem::U32];
    for from in numeric {
        for to in numeric {
            let mut kb = Kb::new("cast");
            let a = kb.buf("a", from);
            let out = kb.buf_mut("out", to);
            let flag = kb.buf_mut("flag", Elem::U32);
            let i = kb.local("i", Ty::U32);
            let x = kb.load(a, kb.get(i), 1);
            let body = vec![
                let_(i, gid()),
                store(out, kb.get(i), cast(x.clone(), to)),
                // Through bool and back: `x != 0`.
                store(flag, kb.get(i), cast(cast(x, Elem::Bool), Elem::U32)),
            ];
            let k = kb.finish(body);
            let mut values = samples(Elem::F32);
            values.extend(samples(Elem::I32));
            values.extend([-3.7, 3.7, 4e9, -4e9, 16777217.0, 70000.0]);
            let input = buffer(from, &values);
            let n = input.len();
            check(
                &k,
                Grid::linear(1, n as u32),
                &[
                    Arg::Buf(input),
                    Arg::Buf(HostBuffer::zeros(to, n).expect("buffer")),
                    u32s(&vec![7; n]),
                ],
            );
        }
    }
}

#[test]
fn math_functions_match_the_interpreter() {
    let fns = MathFn::ALL;
    for elem in [Elem::F32, Elem::F16, Elem::BF16] {
        for f in fns {
            let mut kb = Kb::new("math");
            let a = kb.buf("a", elem);
            let out = kb.buf_mut("out", elem);
            let i = kb.local("i", Ty::U32);
            let x = kb.load(a, kb.get(i), 1);
            let args = (0..f.arity())
                .map(|k| {
                    if k == 0 {
                        x.clone()
                    } else {
                        lit_f(0.5 + k as f64, elem)
                    }
                })
                .collect();
            let body = vec![let_(i, gid()), store(out, kb.get(i), math(f, args))];
            let k = kb.finish(body);
            let values = [
                0.0,
                -0.0,
                0.5,
                -0.5,
                1.0,
                -2.0,
                3.25159,
                10.0,
                -10.0,
                100.0,
                f64::NAN,
                f64::INFINITY,
                1e-8,
                0.7,
            ];
            let input = buffer(elem, &values);
            let n = input.len();
            check(
                &k,
                Grid::linear(1, n as u32),
                &[
                    Arg::Buf(input),
                    Arg::Buf(HostBuffer::zeros(elem, n).expect("buffer")),
                ],
            );
        }
    }
    // Abs on integers wraps at i32::MIN.
    let mut kb = Kb::new("iabs");
    let a = kb.buf("a", Elem::I32);
    let out = kb.buf_mut("out", Elem::I32);
    let body = vec![store(
        out,
        gid(),
        math(MathFn::Abs, vec![kb.load(a, gid(), 1)]),
    )];
    let k = kb.finish(body);
    let out = check(
        &k,
        Grid::linear(1, 3),
        &[i32s(&[-5, i32::MIN, 4]), i32s(&[0; 3])],
    );
    assert_eq!(as_i32(&out[1]), vec![5, i32::MIN, 4]);
}

#[test]
fn literals_select_and_short_circuit_logic_match_the_interpreter() {
    let mut kb = Kb::new("logic");
    let a = kb.buf("a", Elem::I32);
    let out = kb.buf_mut("out", Elem::I32);
    let x = kb.local("x", Ty::I32);
    let hits = kb.buf_mut("hits", Elem::U32);
    // `x > 0 && atomic_add(hits[0], 1) == 0` only counts when the left side holds.
    let counted = bin(
        BinaryOp::Eq,
        kb.atomic_add(hits, u32c(0), u32c(1)),
        u32c(99),
    );
    let cond = bin(
        BinaryOp::Or,
        bin(
            BinaryOp::And,
            bin(BinaryOp::Gt, kb.get(x), i32c(0)),
            counted,
        ),
        bin(BinaryOp::Eq, kb.get(x), i32c(-3)),
    );
    let body = vec![
        let_(x, kb.load(a, gid(), 1)),
        store(out, gid(), select(cond, i32c(100), add(kb.get(x), i32c(2)))),
    ];
    let k = kb.finish(body);
    let out = check(
        &k,
        Grid::linear(1, 4),
        &[i32s(&[-3, 5, 0, 8]), i32s(&[0; 4]), u32s(&[0])],
    );
    assert_eq!(
        as_u32(&out[2]),
        vec![2],
        "the right side of && ran for the two positive inputs"
    );
    assert_eq!(as_i32(&out[1]), vec![100, 7, 2, 10]);
}
