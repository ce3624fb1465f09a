//! Common-subexpression elimination: two nodes with the same op, operands and shape
//! compute the same value (dropout included: its mask is a pure function of its seed), so
//! the later one is replaced by the earlier.

use std::collections::HashMap;

use crate::graph::ir::{Graph, NodeId, Op};

/// A copy of `g` where duplicate computations are merged, and where each old node went.
pub fn eliminate_common_subexpressions(g: &Graph) -> (Graph, Vec<NodeId>) {
    let mut seen: HashMap<String, NodeId> = HashMap::new();
    let mut map: Vec<NodeId> = Vec::with_capacity(g.nodes.len());
    let mut out = Graph::new();
    for node in &g.nodes {
        let mut n = node.clone();
        n.inputs = n.inputs.iter().map(|j| map[j.index()]).collect();
        // The op's Debug form is a faithful key: ops hold only numbers, names and flags.
        let key = format!("{:?}|{:?}|{:?}|{:?}", n.op, n.inputs, n.shape, n.dtype);
        let is_input = matches!(n.op, Op::Input { .. });
        if let (false, Some(&prev)) = (is_input, seen.get(&key)) {
            map.push(prev);
            continue;
        }
        let id = NodeId(out.nodes.len() as u32);
        seen.insert(key, id);
        map.push(id);
        out.nodes.push(n);
    }
    out.outputs = g.outputs.iter().map(|o| map[o.index()]).collect();
    (out, map)
}
