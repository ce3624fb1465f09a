//! Reduced precision by `Cast`: bf16/f16 results are rounded after every op in the
//! executor exactly as in the f64 reference evaluator (up to the reference's f64 maths
//! before its rounding), gradients flow back through the casts, and inputs must be bound
//! as f32.

#![allow(clippy::unwrap_used)]

use std::collections::HashMap;

use vibee_dsl::graph::autodiff::gradients;
use vibee_dsl::graph::reference::evaluate;
use vibee_dsl::graph::{DType, Graph, InputRole, Tracer};
use vibee_runtime::exec::{ExecError, Feed, Program};

fn values(n: usize, seed: u32) -> Vec<f32> {
    (0..n)
        .map(|i| {
            let h = (i as u32)
                .wrapping_mul(2_654_435_761)
                .wrapping_add(seed.wrapping_mul(97));
            (h >> 8) as f32 / (1u32 << 24) as f32 - 0.5
        })
        .collect()
}

/// `mean(gelu(cast(x)·cast(w)ᵀ))` in `dt`, back in f32; outputs: loss, the reduced-precision
/// activation, then the gradient of `w`.
fn mixed(dt: DType) -> Graph {
    let tr = Tracer::new();
    let x = tr.input("x", &[4, 8], DType::F32, InputRole::Data);
    let w = tr.input("w", &[6, 8], DType::F32, InputRole::Param);
    let h = x.cast(dt).matmul_t(&w.cast(dt)).gelu();
    let loss = h.cast(DType::F32).mean(&[0, 1], false);
    let mut g = tr.finish(&[&loss, &h]).unwrap();
    let dw = gradients(&mut g, loss.id(), &[w.id()]).unwrap();
    g.outputs.extend(dw);
    g
}

fn run(g: &Graph, threads: usize) -> Vec<Vec<f32>> {
    let (x, w) = (values(32, 1), values(48, 2));
    let mut p = Program::compile(g, threads).unwrap();
    let feeds: Vec<Feed<'_>> = p
        .inputs()
        .iter()
        .map(|s| {
            if s.name == "x" {
                Feed::F32(&x)
            } else {
                Feed::F32(&w)
            }
        })
        .collect();
    p.run(&feeds, 0).unwrap();
    (0..g.outputs.len()).map(|k| p.output(k).to_vec()).collect()
}

fn reference(g: &Graph) -> Vec<Vec<f64>> {
    let feeds: HashMap<String, Vec<f64>> = [("x", values(32, 1)), ("w", values(48, 2))]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.iter().map(|&a| f64::from(a)).collect()))
        .collect();
    let vals = evaluate(g, &feeds, 0).unwrap();
    g.outputs.iter().map(|o| vals[o.index()].clone()).collect()
}

#[test]
fn bf16_and_f16_results_are_rounded_like_the_reference() {
    for (dt, ulp) in [(DType::BF16, 2f32.powi(-8)), (DType::F16, 2f32.powi(-11))] {
        let g = mixed(dt);
        let want = reference(&g);
        for threads in [1, 2] {
            let got = run(&g, threads);
            // The activation is representable in `dt`, and within an ulp of the reference
            // (which rounds f64 results; the executor rounds f32 ones).
            for (a, b) in got[1].iter().zip(&want[1]) {
                assert_eq!(*a, dt.round(*a), "{dt:?} value {a} is not representable");
                assert!((f64::from(*a) - b).abs() <= f64::from(2.0 * ulp) * b.abs().max(1e-3));
            }
            for k in [0, 2] {
                for (a, b) in got[k].iter().zip(&want[k]) {
                    let tol = 4.0 * f64::from(ulp) * b.abs().max(1e-2);
                    assert!(
                        (f64::from(*a) - b).abs() <= tol,
                        "{dt:?} output {k}: {a} vs {b}"
                    );
                }
            }
        }
    }
}

#[test]
fn reduced_precision_stays_close_to_f32_and_differs_from_it() {
    let full = run(&mixed(DType::F32), 1);
    let half = run(&mixed(DType::BF16), 1);
    let max_rel = full[2]
        .iter()
        .zip(&half[2])
        .map(|(a, b)| (a - b).abs() / a.abs().max(1e-3))
        .fold(0f32, f32::max);
    assert!(max_rel > 0.0, "bf16 must round somewhere");
    assert!(max_rel < 0.05, "bf16 gradient off by {max_rel}");
}

#[test]
fn reduced_precision_inputs_and_integer_casts_are_refused() {
    let mut g = Graph::new();
    let x = g.input("x", &[3], DType::BF16, InputRole::Data).unwrap();
    g.outputs.push(x);
    let err = Program::compile(&g, 1).unwrap_err();
    assert!(
        matches!(
            err,
            ExecError::Unsupported {
                dtype: DType::BF16,
                ..
            }
        ),
        "{err}"
    );

    let mut g = Graph::new();
    let x = g.input("x", &[3], DType::F32, InputRole::Data).unwrap();
    let err = g.cast(x, DType::U32).unwrap_err();
    assert!(err.to_string().contains("`cast`"), "{err}");
}
