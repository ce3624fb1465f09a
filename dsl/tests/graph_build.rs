//! Graph building: typed errors at the user's call site, and the passes (CSE, DCE,
//! memory planning, autodiff's concat of tiled slices).

// Helpers outside `#[test]` functions unwrap too: a broken invariant should fail loudly.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;

use vibee_dsl::graph::autodiff::gradients;
use vibee_dsl::graph::passes::{
    eliminate_common_subexpressions, eliminate_dead_code, optimize, plan_memory,
};
use vibee_dsl::graph::reference::evaluate;
use vibee_dsl::graph::{DType, Graph, GraphError, InputRole, Op};

fn input(g: &mut Graph, name: &str, shape: &[usize]) -> vibee_dsl::graph::NodeId {
    g.input(name, shape, DType::F32, InputRole::Param).unwrap()
}

#[test]
fn a_shape_error_names_the_op_the_call_site_and_both_shapes() {
    let mut g = Graph::new();
    let a = input(&mut g, "a", &[2, 3]);
    let b = input(&mut g, "b", &[4, 5]);
    let line = line!() + 1;
    let err = g.matmul(a, b, false, false).unwrap_err();
    let GraphError::Shape {
        op, site, shapes, ..
    } = &err
    else {
        panic!("{err:?}")
    };
    assert_eq!(*op, "matmul");
    assert!(
        site.contains("graph_build.rs") && site.contains(&format!(":{line}:")),
        "{site}"
    );
    assert_eq!(shapes, &[vec![2, 3], vec![4, 5]]);
    let msg = err.to_string();
    assert!(
        msg.contains("[2, 3]") && msg.contains("[4, 5]") && msg.contains("contracted"),
        "{msg}"
    );
}

#[test]
fn every_kind_of_mistake_is_an_error_not_a_panic() {
    let mut g = Graph::new();
    let x = input(&mut g, "x", &[2, 3]);
    let ids = g.input("ids", &[4], DType::U32, InputRole::Data).unwrap();
    assert!(g.add(x, ids).is_err(), "float + u32");
    let y = input(&mut g, "y", &[3, 2]);
    assert!(g.add(x, y).is_err(), "no broadcast");
    assert!(g.reshape(x, &[4, 2]).is_err());
    assert!(g.permute(x, &[0, 0]).is_err());
    assert!(g.slice(x, 1, 2, 5).is_err());
    assert!(g.sum(x, &[1, 0], false).is_err(), "unsorted axes");
    assert!(g.concat(&[x, y], 0).is_err());
    assert!(g.causal_softmax(x, 1.0).is_err(), "not square");
    assert!(
        g.cross_entropy(x, ids).is_err(),
        "targets of the wrong length"
    );
    assert!(g.gather(x, x).is_err(), "float indices");
    assert!(g.dropout(x, 1.0, 0).is_err());
    assert!(matches!(
        g.input("x", &[1], DType::F32, InputRole::Data),
        Err(GraphError::DuplicateInput { .. })
    ));
    assert!(matches!(
        gradients(&mut g, x, &[x]),
        Err(GraphError::NonScalarLoss { .. })
    ));
    let mut feeds = HashMap::new();
    feeds.insert("x".to_string(), vec![0.0; 5]);
    assert!(matches!(
        evaluate(&g, &feeds, 0),
        Err(GraphError::FeedSize {
            want: 6,
            got: 5,
            ..
        })
    ));
}

#[test]
fn cse_merges_and_dce_drops() {
    let mut g = Graph::new();
    let x = input(&mut g, "x", &[4]);
    let a = g.gelu(x).unwrap();
    let b = g.gelu(x).unwrap();
    let _unused = g.softmax(x).unwrap();
    let s = g.add(a, b).unwrap();
    g.outputs.push(s);
    let (merged, map) = eliminate_common_subexpressions(&g);
    assert_eq!(map[a.index()], map[b.index()]);
    let (live, _) = eliminate_dead_code(&merged);
    assert!(!live.nodes.iter().any(|n| matches!(n.op, Op::Softmax)));
    let (opt, _) = optimize(&g);
    assert_eq!(opt.nodes.len(), 3, "x, one gelu, the add");
}

#[test]
fn memory_plan_reuses_dead_buffers() {
    let mut g = Graph::new();
    let mut x = input(&mut g, "x", &[1000]);
    for _ in 0..10 {
        x = g.gelu(x).unwrap();
    }
    g.outputs.push(x);
    let plan = plan_memory(&g);
    // A chain needs two live buffers at a time, not ten.
    assert_eq!(plan.peak_bytes, 2 * 4000);
    assert_eq!(plan.unplanned_bytes, 10 * 4000);
}

#[test]
fn gradients_of_slices_that_tile_an_axis_are_one_concat() {
    let mut g = Graph::new();
    let x = input(&mut g, "x", &[2, 6]);
    let parts: Vec<_> = (0..3)
        .map(|i| g.slice(x, 1, 2 * i, 2 * i + 2).unwrap())
        .collect();
    let t = g.mul(parts[0], parts[1]).unwrap();
    let t = g.mul(t, parts[2]).unwrap();
    let loss = g.sum(t, &[0, 1], false).unwrap();
    let d = gradients(&mut g, loss, &[x]).unwrap()[0];
    assert!(matches!(g.node(d).op, Op::Concat { axis: 1 }));
}

#[test]
fn graphs_print_one_node_per_line() {
    let mut g = Graph::new();
    let x = input(&mut g, "x", &[2, 3]);
    let w = input(&mut g, "w", &[4, 3]);
    let y = g.matmul(x, w, false, true).unwrap();
    g.outputs.push(y);
    let text = g.to_string();
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[0].starts_with("%0 = input[x, Param]() : f32[2, 3]  @ "),
        "{text}"
    );
    assert!(
        lines[2].starts_with("%2 = matmul[trans_b](%0, %1) : f32[2, 4]  @ "),
        "{text}"
    );
    assert!(lines[2].contains("graph_build.rs:"), "{text}");
    assert_eq!(lines[3], "outputs: %2");
}
