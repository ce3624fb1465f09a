//! Rotary position embedding over `[.., T, d]` rows (see
//! [`Op::Rope`](vibee_dsl::graph::Op::Rope)): the angles' cosines and sines are computed
//! once per call in `f64` and rounded, then every row is rotated pairwise.

use rayon::prelude::*;
use vibee_dsl::graph::layout::rope_tables;

/// `out` = `x` (shape `shape`) rotated by base `theta` (backwards when `inverse`).
pub(super) fn rope(x: &[f32], shape: &[usize], theta: f64, inverse: bool, out: &mut [f32]) {
    let (t, d) = (shape[shape.len() - 2], shape[shape.len() - 1]);
    let half = d / 2;
    let (cos, sin) = rope_tables(t, d, theta, inverse);
    let round = |v: Vec<f64>| v.into_iter().map(|e| e as f32).collect::<Vec<_>>();
    let (cos, sin) = (round(cos), round(sin));
    out.par_chunks_mut(d)
        .zip(x.par_chunks(d))
        .enumerate()
        .for_each(|(r, (y, x))| {
            let at = (r % t) * half;
            for i in 0..half {
                let (c, s) = (cos[at + i], sin[at + i]);
                y[i] = x[i] * c - x[i + half] * s;
                y[i + half] = x[i + half] * c + x[i] * s;
            }
        });
}
