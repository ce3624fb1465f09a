//! Symbolic dimensions: one traced model, a program per binding of `batch` and `seq`,
//! compiled once each and checked against the f64 reference; errors name the symbol.
#![allow(clippy::unwrap_used)] // a failed unwrap in a test is a failed test

use std::collections::HashMap;

use vibee_dsl::graph::reference::evaluate;
use vibee_dsl::graph::symbolic::{Bindings, Dim};
use vibee_dsl::graph::{DType, Graph, GraphError, InputRole, Tracer};
use vibee_runtime::exec::{CompileOptions, ExecError, Feed, Specialized};

const WIDTH: usize = 8;

/// Causal self-attention of `x [batch, seq, WIDTH]` with one projection, then a sum.
fn attention(b: &Bindings) -> Result<Graph, GraphError> {
    let tr = Tracer::with_bindings(b.clone());
    let (batch, seq) = (Dim::sym("batch"), Dim::sym("seq"));
    let x = tr.input_dims(
        "x",
        &[batch, seq, Dim::Fixed(WIDTH)],
        DType::F32,
        InputRole::Data,
    );
    let w = tr.input("w", &[WIDTH, WIDTH], DType::F32, InputRole::Param);
    let q = x.matmul(&w);
    let y = q.causal_attention(&x, &x);
    let loss = y.sum(&[0, 1, 2], false);
    tr.finish(&[&y, &loss])
}

fn values(n: usize, seed: u64) -> Vec<f32> {
    (0..n)
        .map(|i| (((i as u64 * 2654435761 + seed) % 1000) as f32 / 500.0) - 1.0)
        .collect()
}

#[test]
fn each_binding_compiles_once_and_matches_the_reference() {
    let mut programs = Specialized::new(attention, 1, CompileOptions::default());
    for (batch, seq) in [(2, 8), (3, 5), (2, 8), (1, 1), (3, 5)] {
        let bindings = Bindings::new(&[("batch", batch), ("seq", seq)]);
        let x = values(batch * seq * WIDTH, 1);
        let w = values(WIDTH * WIDTH, 2);
        let program = programs.program(&bindings).unwrap();
        let names: Vec<String> = program.inputs().iter().map(|s| s.name.clone()).collect();
        let feeds: Vec<Feed<'_>> = names
            .iter()
            .map(|n| Feed::F32(if n == "x" { &x } else { &w }))
            .collect();
        program.run(&feeds, 0).unwrap();
        assert_eq!(program.output(0).len(), batch * seq * WIDTH);
        let got = program.output(1)[0];

        let graph = attention(&bindings).unwrap();
        let f64s = |v: &[f32]| v.iter().map(|&e| f64::from(e)).collect::<Vec<_>>();
        let feeds = HashMap::from([("x".to_string(), f64s(&x)), ("w".to_string(), f64s(&w))]);
        let reference = evaluate(&graph, &feeds, 0).unwrap();
        let want = reference[graph.outputs[1].index()][0];
        assert!(
            (f64::from(got) - want).abs() <= 1e-5 * want.abs().max(1.0),
            "batch {batch}, seq {seq}: {got} vs {want}"
        );
    }
    assert_eq!(programs.len(), 3, "{programs:?}");
}

#[test]
fn an_unbound_symbol_is_an_error_naming_it_and_compiles_nothing() {
    let mut programs = Specialized::new(attention, 1, CompileOptions::default());
    let err = programs
        .program(&Bindings::new(&[("batch", 2)]))
        .unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, ExecError::Graph(_)), "{err:?}");
    assert!(
        text.contains("`seq` is not bound (bound: batch=2)"),
        "{text}"
    );
    assert!(text.contains("[batch, seq, 8]"), "{text}");
    assert!(text.contains("exec_specialize.rs"), "{text}");
    let zero = programs
        .program(&Bindings::new(&[("batch", 2), ("seq", 0)]))
        .unwrap_err();
    assert!(zero.to_string().contains("`seq` is bound to 0"), "{zero}");
    assert!(programs.is_empty());
}
