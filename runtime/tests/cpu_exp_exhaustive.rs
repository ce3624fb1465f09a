//! The inline 4-lane `exp` against `expf` over every one of the 2³² `f32` inputs: the
//! bound `vibee_runtime::cpu` documents (and `cpu_exp.rs` samples densely). Ignored by
//! default (about a minute on two cores); run it after touching the math lowering with
//! `cargo test --release -p vibee-runtime --test cpu_exp_exhaustive -- --ignored --nocapture`.

mod cpu_support;

use cpu_support::*;
use rayon::prelude::*;
use vibee_dsl::kernel::*;
use vibee_runtime::cpu::{self, SliceArg};

/// `y[i] = exp(x[i])` on 4-lane vectors (`i` counts vectors).
fn exp_x4() -> Kernel {
    let mut kb = Kb::new("exp_x4");
    let x = kb.buf("x", Elem::F32);
    let y = kb.buf_mut("y", Elem::F32);
    let i = kb.local("i", Ty::U32);
    let value = math(MathFn::Exp, vec![kb.load(x, kb.get(i), 4)]);
    let body = vec![let_(i, gid()), store(y, kb.get(i), value)];
    kb.finish(body)
}

#[test]
#[ignore = "sweeps all 2^32 inputs; run with --ignored after changing the math lowering"]
fn inline_exp_is_within_the_documented_ulps_for_every_input() {
    const CHUNK: u64 = 1 << 24;
    let compiled = cpu::compile(&exp_x4(), &[]).unwrap_or_else(|e| panic!("{e}"));
    let (mut identical, mut worst) = (0u64, 0u32);
    let mut x = vec![0.0f32; CHUNK as usize];
    let mut y = vec![0.0f32; CHUNK as usize];
    for start in (0..1u64 << 32).step_by(CHUNK as usize) {
        x.iter_mut()
            .zip(start..)
            .for_each(|(v, b)| *v = f32::from_bits(b as u32));
        let grid = Grid::cover(x.len() / 4, 256);
        compiled
            .launch_slices(grid, &[SliceArg::read(&x), SliceArg::write(&mut y)])
            .unwrap_or_else(|e| panic!("{e}"));
        let (same, far) = x
            .par_iter()
            .zip(&y)
            .map(|(&xi, &yi)| {
                let d = ulp_distance(Elem::F32, yi.to_bits(), xi.exp().to_bits());
                assert!(d <= EXP_ULPS, "exp({xi:e}) [{:#x}]: {d} ulps", xi.to_bits());
                (u64::from(d == 0), d)
            })
            .reduce(|| (0, 0), |a, b| (a.0 + b.0, a.1.max(b.1)));
        identical += same;
        worst = worst.max(far);
    }
    let share = identical as f64 / (1u64 << 32) as f64;
    println!(
        "inline exp over all 2^32 inputs: worst {worst} ulp, {:.3}% bit-identical to expf",
        100.0 * share
    );
    assert_eq!(worst, EXP_ULPS);
}
