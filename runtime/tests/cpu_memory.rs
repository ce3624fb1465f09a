//! Memory: out-of-bounds reads and writes, empty buffers, 4-lane vector loads and stores
//! (whole and partial), vector arithmetic, f16/bf16 storage, atomics.

mod cpu_support;

use cpu_support::*;
use half::{bf16, f16};
use vibee_dsl::kernel::*;

#[test]
fn out_of_bounds_reads_yield_zero_and_writes_are_dropped() {
    // out[i] = x[i + 2] for i in 0..8 over buffers of 5 and 6; index -1 via i32.
    let mut kb = Kb::new("oob");
    let x = kb.buf("x", Elem::F32);
    let out = kb.buf_mut("out", Elem::F32);
    let neg = kb.buf_mut("neg", Elem::F32);
    let body = vec![
        store(out, gid(), kb.load(x, add(gid(), u32c(2)), 1)),
        store(
            neg,
            bin(BinaryOp::Sub, cast(gid(), Elem::I32), i32c(1)),
            f32c(7.0),
        ),
    ];
    let k = kb.finish(body);
    let out = check(
        &k,
        Grid::linear(1, 8),
        &[
            f32s(&[1.0, 2.0, 3.0, 4.0, 5.0]),
            f32s(&[9.0; 6]),
            f32s(&[0.0; 3]),
        ],
    );
    assert_eq!(as_f32(&out[1]), vec![3.0, 4.0, 5.0, 0.0, 0.0, 0.0]);
    assert_eq!(as_f32(&out[2]), vec![7.0; 3]);
}

#[test]
fn empty_buffers_read_zero_and_report_length_zero() {
    let mut kb = Kb::new("empty");
    let x = kb.buf("x", Elem::I32);
    let e = kb.buf_mut("e", Elem::I32);
    let out = kb.buf_mut("out", Elem::U32);
    let body = vec![
        store(
            out,
            u32c(0),
            add(cast(kb.load(x, u32c(0), 1), Elem::U32), len(x)),
        ),
        store(e, u32c(0), i32c(5)),
        store(
            out,
            u32c(1),
            cast(extract(kb.load(x, u32c(0), 4), 3), Elem::U32),
        ),
    ];
    let k = kb.finish(body);
    let out = check(
        &k,
        Grid::linear(1, 1),
        &[i32s(&[]), i32s(&[]), u32s(&[9, 9])],
    );
    assert_eq!(as_u32(&out[2]), vec![0, 0]);
}

#[test]
fn vector_loads_and_stores_touch_four_elements_and_handle_the_ragged_end() {
    // A 4-lane copy over 10 elements: vector 2 covers elements 8..12, half outside.
    let mut kb = Kb::new("copy4");
    let x = kb.buf("x", Elem::F32);
    let y = kb.buf_mut("y", Elem::F32);
    let body = vec![store(y, gid(), kb.load(x, gid(), 4))];
    let k = kb.finish(body);
    let xs: Vec<f32> = (0..10).map(|i| i as f32 + 0.5).collect();
    let out = check(&k, Grid::linear(1, 3), &[f32s(&xs), f32s(&[-1.0; 10])]);
    assert_eq!(as_f32(&out[1]), xs);
    // Reading past the end fills zeros; writing to a shorter buffer drops the rest.
    let out = check(&k, Grid::linear(1, 3), &[f32s(&xs[..9]), f32s(&[-1.0; 11])]);
    let mut want: Vec<f32> = xs[..9].to_vec();
    want.extend([0.0, 0.0]);
    assert_eq!(as_f32(&out[1]), want);
}

#[test]
fn vector_arithmetic_extract_construct_and_select_match_the_interpreter() {
    for elem in [Elem::F32, Elem::I32, Elem::U32, Elem::F16, Elem::BF16] {
        let mut kb = Kb::new("vec_ops");
        let a = kb.buf("a", elem);
        let b = kb.buf("b", elem);
        let out = kb.buf_mut("out", elem);
        let va = kb.local("va", Ty::vector(elem, 4));
        let vb = kb.local("vb", Ty::vector(elem, 4));
        let two = lit_f(2.0, elem);
        let two = if elem.is_int() { cast(two, elem) } else { two };
        let mut body = vec![
            let_(va, kb.load(a, gid(), 4)),
            let_(vb, kb.load(b, gid(), 4)),
        ];
        for (k, op) in [
            BinaryOp::Add,
            BinaryOp::Sub,
            BinaryOp::Mul,
            BinaryOp::Div,
            BinaryOp::Max,
        ]
        .into_iter()
        .enumerate()
        {
            let v = bin(op, kb.get(va), kb.get(vb));
            body.push(store(out, add(mul(gid(), u32c(8)), u32c(k as u32)), v));
        }
        // Broadcast of a scalar, lane shuffle through extract/construct, and a select.
        let shuffled = construct(vec![
            extract(kb.get(va), 3),
            extract(kb.get(vb), 2),
            extract(kb.get(va), 1),
            two.clone(),
        ]);
        body.push(store(
            out,
            add(mul(gid(), u32c(8)), u32c(5)),
            bin(BinaryOp::Mul, shuffled, two),
        ));
        let cond = bin(BinaryOp::Lt, extract(kb.get(va), 0), extract(kb.get(vb), 0));
        body.push(store(
            out,
            add(mul(gid(), u32c(8)), u32c(6)),
            select(cond, kb.get(va), kb.get(vb)),
        ));
        let k = kb.finish(body);
        let av: Vec<f64> = (0..16).map(|i| (i as f64) * 1.5 - 7.0).collect();
        let bv: Vec<f64> = (0..16).map(|i| 3.0 - (i as f64) * 0.75).collect();
        let mk = |v: &[f64]| {
            let mut h = HostBuffer::zeros(elem, v.len()).expect("buffer");
            for (i, x) in v.iter().enumerate() {
                h.set(i, Scalar::F32(*x as f32).cast(elem));
            }
            Arg::Buf(h)
        };
        check(
            &k,
            Grid::linear(1, 4),
            &[
                mk(&av),
                mk(&bv),
                Arg::Buf(HostBuffer::zeros(elem, 4 * 8 * 4).expect("buffer")),
            ],
        );
    }
}

#[test]
fn half_precision_buffers_round_after_every_operation() {
    for elem in [Elem::F16, Elem::BF16] {
        let mut kb = Kb::new("half");
        let x = kb.buf("x", elem);
        let out = kb.buf_mut("out", elem);
        let acc = kb.local("acc", Ty::scalar(elem));
        let j = kb.local("j", Ty::U32);
        // A running sum rounds at every step, unlike an f32 sum rounded once.
        let body = vec![
            let_(acc, lit_f(0.0, elem)),
            for_(
                j,
                u32c(0),
                len(x),
                u32c(1),
                vec![assign(acc, add(kb.get(acc), kb.load(x, kb.get(j), 1)))],
            ),
            store(out, u32c(0), kb.get(acc)),
            store(out, u32c(1), mul(kb.load(x, u32c(1), 1), lit_f(3.3, elem))),
        ];
        let k = kb.finish(body);
        let mut xs = HostBuffer::zeros(elem, 100).expect("buffer");
        for i in 0..100 {
            xs.set(i, Scalar::F32(0.1 + i as f32 * 0.37).cast(elem));
        }
        let out = check(
            &k,
            Grid::linear(1, 1),
            &[
                Arg::Buf(xs),
                Arg::Buf(HostBuffer::zeros(elem, 2).expect("buffer")),
            ],
        );
        let sum = match &out[1] {
            HostBuffer::F16(v) => v[0].to_f32(),
            HostBuffer::BF16(v) => v[0].to_f32(),
            _ => unreachable!(),
        };
        assert!((sum - 1841.5).abs() < 60.0, "{elem:?} sum {sum}");
    }
    let _ = (f16::ONE, bf16::ONE);
}

#[test]
fn atomic_adds_count_every_unit_and_return_old_values() {
    // A histogram of gid % 7 over 3000 units in groups of 128, in u32, i32 and f32, plus
    // an out-of-bounds atomic that must not write and yields 0.
    let mut kb = Kb::new("histogram");
    let hu = kb.buf_mut("hu", Elem::U32);
    let hi = kb.buf_mut("hi", Elem::I32);
    let hf = kb.buf_mut("hf", Elem::F32);
    let old = kb.buf_mut("old", Elem::U32);
    let bin_ = kb.local("bin", Ty::U32);
    let body = vec![
        if_(bin(BinaryOp::Ge, gid(), u32c(3000)), vec![ret()], vec![]),
        let_(bin_, bin(BinaryOp::Rem, gid(), u32c(7))),
        eval(kb.atomic_add(hu, kb.get(bin_), u32c(1))),
        eval(kb.atomic_add(hi, kb.get(bin_), i32c(-2))),
        eval(kb.atomic_add(hf, kb.get(bin_), f32c(0.5))),
        store(old, gid(), kb.atomic_add(hu, u32c(1000), u32c(1))),
    ];
    let k = kb.finish(body);
    let out = check(
        &k,
        Grid::cover(3000, 128),
        &[
            u32s(&[0; 7]),
            i32s(&[0; 7]),
            f32s(&[0.0; 7]),
            u32s(&[5; 3000]),
        ],
    );
    let counts: Vec<u32> = (0..7)
        .map(|b| (0..3000u32).filter(|i| i % 7 == b).count() as u32)
        .collect();
    assert_eq!(as_u32(&out[0]), counts);
    assert_eq!(
        as_i32(&out[1]),
        counts.iter().map(|&c| -2 * c as i32).collect::<Vec<_>>()
    );
    assert_eq!(
        as_f32(&out[2]),
        counts.iter().map(|&c| c as f32 * 0.5).collect::<Vec<_>>()
    );
    assert!(as_u32(&out[3]).iter().all(|&v| v == 0));
}

#[test]
fn half_precision_atomics_match_the_interpreter() {
    for elem in [Elem::F16, Elem::BF16] {
        let mut kb = Kb::new("half_atomic");
        let h = kb.buf_mut("h", elem);
        let body = vec![eval(kb.atomic_add(
            h,
            bin(BinaryOp::Rem, gid(), u32c(2)),
            lit_f(0.25, elem),
        ))];
        let k = kb.finish(body);
        // One group: units run in order in both, so even rounding order agrees.
        check(
            &k,
            Grid::linear(1, 64),
            &[Arg::Buf(HostBuffer::zeros(elem, 2).expect("buffer"))],
        );
    }
}

#[test]
fn a_bounds_guard_only_covers_its_own_buffer_and_unchanged_index() {
    // `if i < len(a)` proves `a[i]` in bounds, not `b[i]` (b is shorter), and not `a[i]`
    // after `i` changes inside the branch.
    let mut kb = Kb::new("guards");
    let a = kb.buf_mut("a", Elem::U32);
    let b = kb.buf_mut("b", Elem::U32);
    let i = kb.local("i", Ty::U32);
    let j = kb.local("j", Ty::U32);
    let body = vec![
        let_(i, gid()),
        let_(j, gid()),
        if_(
            lt(kb.get(i), len(a)),
            vec![
                store(
                    a,
                    kb.get(i),
                    add(kb.load(a, kb.get(i), 1), kb.load(b, kb.get(i), 1)),
                ),
                store(b, kb.get(i), u32c(7)),
            ],
            vec![],
        ),
        if_(
            lt(kb.get(j), len(a)),
            vec![
                assign(j, add(kb.get(j), u32c(6))),
                store(a, kb.get(j), u32c(1000)),
            ],
            vec![],
        ),
    ];
    let k = kb.finish(body);
    let out = check(&k, Grid::linear(1, 8), &[u32s(&[1; 8]), u32s(&[10, 20])]);
    assert_eq!(as_u32(&out[0]), vec![11, 21, 1, 1, 1, 1, 1000, 1000]);
    assert_eq!(as_u32(&out[1]), vec![7, 7]);
}
