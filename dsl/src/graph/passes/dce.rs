//! Dead-code elimination: keeps the nodes the outputs depend on (and every input, so that
//! a program's bindings do not change when a parameter happens to be unused).

use crate::graph::ir::{Graph, NodeId, Op};

/// A copy of `g` without nodes its outputs do not need, and where each old node went.
pub fn eliminate_dead_code(g: &Graph) -> (Graph, Vec<Option<NodeId>>) {
    let mut live = vec![false; g.nodes.len()];
    for o in &g.outputs {
        live[o.index()] = true;
    }
    for i in (0..g.nodes.len()).rev() {
        if matches!(g.nodes[i].op, Op::Input { .. }) {
            live[i] = true;
        }
        if live[i] {
            for j in &g.nodes[i].inputs {
                live[j.index()] = true;
            }
        }
    }
    let mut map = vec![None; g.nodes.len()];
    let mut out = Graph::new();
    for (i, node) in g.nodes.iter().enumerate() {
        if !live[i] {
            continue;
        }
        let mut n = node.clone();
        // Operands of a live node are live, so they are already mapped.
        n.inputs = n.inputs.iter().filter_map(|j| map[j.index()]).collect();
        map[i] = Some(NodeId(out.nodes.len() as u32));
        out.nodes.push(n);
    }
    out.outputs = g.outputs.iter().filter_map(|o| map[o.index()]).collect();
    (out, map)
}
