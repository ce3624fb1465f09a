//! Helpers the fusion tests share: inputs, deterministic feeds, and the check that a
//! fused graph matches the original in the reference evaluator and each fused kernel
//! matches it in the kernel interpreter.

#![allow(dead_code)] // (reason: each test file uses a part)

use std::collections::HashMap;

use vibee_dsl::graph::fused::FusedOp;
use vibee_dsl::graph::passes::fuse_elementwise;
use vibee_dsl::graph::reference::evaluate;
use vibee_dsl::graph::{DType, Graph, InputRole, NodeId, Op, ReduceOp};
use vibee_dsl::kernel::interp::{self, InterpArg};
use vibee_dsl::kernel::{HostBuffer, validate::validate};

pub fn input(g: &mut Graph, name: &str, shape: &[usize]) -> NodeId {
    g.input(name, shape, DType::F32, InputRole::Data).unwrap()
}

/// Deterministic values in about `[-2, 2]` for every input of `g`.
pub fn feeds(g: &Graph) -> HashMap<String, Vec<f64>> {
    g.inputs()
        .enumerate()
        .map(|(k, (id, name, _))| {
            let n = g.node(id).numel();
            let v = (0..n)
                .map(|i| ((i * 7 + k * 13) % 23) as f64 / 5.5 - 2.0)
                .collect();
            (name.to_string(), v)
        })
        .collect()
}

pub fn fused_nodes(g: &Graph) -> Vec<(NodeId, &FusedOp)> {
    g.nodes
        .iter()
        .enumerate()
        .filter_map(|(i, n)| match &n.op {
            Op::Fused(f) => Some((NodeId(i as u32), f.as_ref())),
            _ => None,
        })
        .collect()
}

/// Fuses `g`, checks the fused graph against the original in the reference evaluator (bit
/// for bit: the same f64 operations in the same order), and every fused kernel through the
/// kernel interpreter (f32 against f64: 1e-5 relative).
pub fn fuse_and_check(g: &Graph) -> Graph {
    let fused = fuse_elementwise(g).unwrap();
    let feeds = feeds(g);
    let want = evaluate(g, &feeds, 0).unwrap();
    let got = evaluate(&fused, &feeds, 0).unwrap();
    for (a, b) in g.outputs.iter().zip(&fused.outputs) {
        let (w, o) = (&want[a.index()], &got[b.index()]);
        let same = |x: &f64, y: &f64| x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan());
        assert!(
            w.len() == o.len() && w.iter().zip(o).all(|(x, y)| same(x, y)),
            "output {a} differs after fusion: {w:?} vs {o:?}\n{fused}"
        );
    }
    for (id, f) in fused_nodes(&fused) {
        assert!(validate(&f.kernel).is_empty(), "{:?}", validate(&f.kernel));
        interpret_and_compare(&fused, id, f, &got);
    }
    fused
}

/// Runs `f`'s kernel in the interpreter, combines its partial results in block order, and
/// compares every output with the reference's value of its node.
pub fn interpret_and_compare(g: &Graph, id: NodeId, f: &FusedOp, vals: &[Vec<f64>]) {
    let node = g.node(id);
    let f32s = |v: &[f64]| HostBuffer::F32(v.iter().map(|&x| x as f32).collect());
    let mut args: Vec<InterpArg> = node
        .inputs
        .iter()
        .map(|j| InterpArg::Buffer(f32s(&vals[j.index()])))
        .collect();
    let zeros = |n: usize| InterpArg::Buffer(HostBuffer::F32(vec![0.0; n]));
    args.extend((0..f.outputs.len()).map(|_| zeros(f.numel)));
    let layout = f.columns();
    if let Some(c) = layout {
        args.extend(f.reductions.iter().map(|_| zeros(c.blocks() * c.columns)));
    }
    let report = interp::run(&f.kernel, f.grid(), &mut args).unwrap();
    assert_eq!((report.oob_reads, report.oob_writes), (0, 0));
    let mut got: Vec<Vec<f64>> = (0..f.outputs.len())
        .map(|k| args[node.inputs.len() + k].buffer().unwrap().to_f64_vec())
        .collect();
    for (r, red) in f.reductions.iter().enumerate() {
        let c = layout.unwrap();
        let k = node.inputs.len() + f.outputs.len() + r;
        let parts = args[k].buffer().unwrap().to_f64_vec();
        let mut out = vec![
            if red.op == ReduceOp::Max {
                f64::NEG_INFINITY
            } else {
                0.0
            };
            c.columns
        ];
        for block in parts.chunks(c.columns) {
            for (o, &p) in out.iter_mut().zip(block) {
                *o = if red.op == ReduceOp::Max {
                    o.max(p)
                } else {
                    *o + p
                };
            }
        }
        if red.op == ReduceOp::Mean {
            out.iter_mut().for_each(|o| *o /= red.rows as f64);
        }
        // A reduced-precision result is rounded once, at the end, as the executor does.
        if matches!(red.dtype, DType::BF16 | DType::F16) {
            out.iter_mut()
                .for_each(|o| *o = f64::from(red.dtype.round(*o as f32)));
        }
        got.push(out);
    }
    let mut outs = vec![id];
    outs.extend((0..g.nodes.len()).filter_map(|u| {
        let n = &g.nodes[u];
        (matches!(n.op, Op::FusedOutput { .. }) && n.inputs[0] == id).then_some(NodeId(u as u32))
    }));
    assert_eq!(outs.len(), got.len(), "{}", f.kernel.name);
    for (k, (out, got)) in outs.iter().zip(&got).enumerate() {
        let want = &vals[out.index()];
        assert_eq!(want.len(), got.len(), "{}: output {k}", f.kernel.name);
        for (i, (&a, &b)) in got.iter().zip(want).enumerate() {
            let close = (a - b).abs() <= 1e-5 * (1.0 + b.abs()) || (a.is_nan() && b.is_nan());
            assert!(close, "{}: output {k}[{i}] {a} vs {b}", f.kernel.name);
        }
    }
}
