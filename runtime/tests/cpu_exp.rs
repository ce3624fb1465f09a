//! The CPU backend's `exp` against the interpreter's (`f32::exp`, the C library's `expf`):
//! a dense sweep over the whole `f32` line through every shape of generated code. Scalar
//! `exp` (one unit at a time, or four units in vector lanes) calls `expf` and must be
//! bit-identical; `exp` of a 4-lane vector value is generated inline and must stay within
//! the documented bound [`EXP_ULPS`], and so must scalar `exp` in a loop the vectorizer
//! runs four iterations per step, whose every iteration computes the inline `exp`.

mod cpu_support;

use cpu_support::*;
use vibee_dsl::kernel::*;

/// `y[i] = exp(x[i])` with `lanes`-wide loads (index `i` counts vectors).
fn exp_kernel(lanes: u8) -> Kernel {
    let mut kb = Kb::new("exp");
    let x = kb.buf("x", Elem::F32);
    let y = kb.buf_mut("y", Elem::F32);
    let i = kb.local("i", Ty::U32);
    let value = math(MathFn::Exp, vec![kb.load(x, kb.get(i), lanes)]);
    let body = vec![let_(i, gid()), store(y, kb.get(i), value)];
    kb.finish(body)
}

/// Every `STRIDE`-th bit pattern (a prime stride, so every exponent and many mantissa
/// patterns are hit), plus the edges: signed zeros, infinities, NaNs with payloads, the
/// overflow and underflow thresholds and their neighbours, subnormal results.
fn inputs() -> Vec<f32> {
    const STRIDE: u64 = 4093;
    let mut v: Vec<f32> = (0..(1u64 << 32))
        .step_by(STRIDE as usize)
        .map(|b| f32::from_bits(b as u32))
        .collect();
    let edges = [
        0.0,
        -0.0,
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::NAN,
        -f32::NAN,
        f32::from_bits(0x7fc0_1234),
        f32::from_bits(0xffa0_0001),
        88.722_83,
        88.722_84,
        88.8,
        89.0,
        -87.336_54,
        -87.4,
        -100.0,
        -103.278_93,
        -103.972_08,
        -104.0,
        -104.5,
        f32::MAX,
        f32::MIN,
        f32::MIN_POSITIVE,
        1e-8,
        -1e-8,
        0.346_573_6,
        -0.346_573_6,
    ];
    for e in edges {
        let b = e.to_bits();
        v.extend([
            e,
            f32::from_bits(b.wrapping_add(1)),
            f32::from_bits(b.wrapping_sub(1)),
        ]);
    }
    // A multiple of 4 for the four-lane kernel.
    v.resize(v.len().next_multiple_of(4), 1.0);
    v
}

/// Runs `exp` over `x` with `lanes`-wide loads and groups of `group` units; returns the
/// result and the largest ulp distance from `f32::exp` (NaNs must match bit for bit).
fn sweep(x: &[f32], lanes: u8, group: u32) -> (Vec<f32>, u32) {
    let allowed = if lanes == 4 { EXP_ULPS } else { 0 };
    let units = x.len() / lanes as usize;
    let grid = Grid::linear(units.div_ceil(group as usize) as u32, group);
    let out = run_cpu(
        &exp_kernel(lanes),
        grid,
        &[f32s(x), f32s(&vec![0.0; x.len()])],
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let y = as_f32(&out[1]);
    let worst = x
        .iter()
        .zip(&y)
        .map(|(&xi, &yi)| {
            let d = ulp_distance(Elem::F32, yi.to_bits(), xi.exp().to_bits());
            assert!(
                d <= allowed,
                "exp({xi:e}) [{:#x}] = {yi:e} [{:#x}], expf gives {:e}: {d} ulps (lanes {lanes}, group {group})",
                xi.to_bits(),
                yi.to_bits(),
                xi.exp()
            );
            d
        })
        .max()
        .unwrap_or(0);
    (y, worst)
}

#[test]
fn inline_exp_is_within_the_documented_ulps_of_expf_everywhere() {
    let x = inputs();
    // Groups of 3 run one unit at a time; groups of 64 four units in vector lanes; both
    // call `expf`. Four-lane loads make `exp` of an `f32x4`: the inline code.
    let (scalar, worst_scalar) = sweep(&x, 1, 3);
    let (lanes, worst_lanes) = sweep(&x, 1, 64);
    let (_, worst_loads) = sweep(&x, 4, 64);
    println!(
        "exp over {} inputs: worst {worst_scalar} / {worst_lanes} / {worst_loads} ulps",
        x.len()
    );
    let as_bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
    assert_eq!(as_bits(&scalar), as_bits(&lanes));
    // The bound is met, and not vacuously: some results do round differently from expf.
    assert_eq!(worst_loads, EXP_ULPS);
}

#[test]
fn inline_exp_edges_are_exact() {
    let x = [
        f32::INFINITY,
        f32::NEG_INFINITY,
        0.0,
        -0.0,
        89.0,
        -110.0,
        88.722_83,
        -103.278_93,
        f32::from_bits(0x7fc0_1234),
    ];
    let mut x = x.to_vec();
    x.resize(12, 0.0);
    let (y, _) = sweep(&x, 4, 1);
    let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
    let want: Vec<f32> = x.iter().map(|v| v.exp()).collect();
    assert_eq!(bits(&y), bits(&want));
    assert_eq!(&y[..6], &[f32::INFINITY, 0.0, 1.0, 1.0, f32::INFINITY, 0.0]);
    // The largest finite result and the smallest subnormal one.
    assert_eq!(y[6], 3.402_798_5e38);
    assert_eq!(y[7], f32::from_bits(1));
}

#[test]
fn interpreter_and_cpu_agree_within_the_bound_on_a_softmax_like_kernel() {
    // exp(x - max) summed: the shape softmax and cross-entropy kernels use.
    let mut kb = Kb::new("exp_sum");
    let x = kb.buf("x", Elem::F32);
    let y = kb.buf_mut("y", Elem::F32);
    let i = kb.local("i", Ty::U32);
    let three = construct(vec![f32c(3.5); 4]);
    let shifted = bin(BinaryOp::Sub, kb.load(x, kb.get(i), 4), three);
    let body = vec![
        let_(i, gid()),
        store(y, kb.get(i), math(MathFn::Exp, vec![shifted])),
    ];
    let k = kb.finish(body);
    let xs: Vec<f32> = (0..1000).map(|j| (j as f32 - 500.0) * 0.173).collect();
    check_within_ulps(
        &k,
        Grid::linear(4, 64),
        &[f32s(&xs), f32s(&[0.0; 1000])],
        EXP_ULPS,
    );
}

/// `for j in 0..n { y[j] = exp(x[j]) }` in one unit: a loop the vectorizer runs four
/// iterations per step, the last `n % 4` one at a time.
fn exp_loop_kernel() -> Kernel {
    let mut kb = Kb::new("exp_loop");
    let x = kb.buf("x", Elem::F32);
    let y = kb.buf_mut("y", Elem::F32);
    let n = kb.scalar("n", Elem::U32);
    let j = kb.local("j", Ty::U32);
    let value = math(MathFn::Exp, vec![kb.load(x, kb.get(j), 1)]);
    let body = vec![for_(
        j,
        u32c(0),
        n,
        u32c(1),
        vec![store(y, kb.get(j), value)],
    )];
    kb.finish(body)
}

#[test]
fn vectorized_loops_compute_the_inline_exp_in_every_iteration() {
    let x = inputs();
    let (lanes, _) = sweep(&x, 4, 64);
    let k = exp_loop_kernel();
    // Every tail length: the scalar iterations after the steps give the steps' results.
    for cut in 0..4 {
        let n = x.len() - cut;
        let args = [
            f32s(&x),
            f32s(&vec![0.0; x.len()]),
            Arg::Scalar(Scalar::U32(n as u32)),
        ];
        let out = run_cpu(&k, Grid::linear(1, 1), &args).unwrap_or_else(|e| panic!("{e}"));
        let y = as_f32(&out[1]);
        for (i, (&got, &want)) in y[..n].iter().zip(&lanes).enumerate() {
            assert_eq!(
                got.to_bits(),
                want.to_bits(),
                "exp({:e}) at {i} of {n}: loop {got:e}, vector kernel {want:e}",
                x[i]
            );
        }
    }
}
