//! Memory planning by liveness: every computed value gets a slot; a slot is reused once
//! the last reader of the value in it has run. Reshapes alias their operand. The plan
//! states the peak before anything runs.

use crate::graph::ir::{Graph, Op};

/// Where every node's value lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemoryPlan {
    /// The node whose storage each node uses (itself, or what a reshape aliases).
    pub root: Vec<usize>,
    /// The slot of each node's root; `None` for inputs (bound from outside).
    pub slot: Vec<Option<usize>>,
    /// Elements each slot must hold.
    pub slot_len: Vec<usize>,
    /// Bytes of all slots together: the planned peak of intermediate storage.
    pub peak_bytes: usize,
    /// Bytes without reuse (every value its own buffer), for comparison.
    pub unplanned_bytes: usize,
}

/// Plans `g`'s storage; outputs stay live to the end.
pub fn plan_memory(g: &Graph) -> MemoryPlan {
    plan_memory_with(g, &[])
}

/// [`plan_memory`] for an executor that writes some values early: each `(node, position)`
/// of `written_at` says that `node`'s value is written when the node at `position` (an
/// earlier one) runs, together with that node's own. The value is then alive from there,
/// so it shares no slot with anything that node reads or writes.
///
/// ```
/// use vibee_dsl::graph::{DType, Graph, InputRole};
/// use vibee_dsl::graph::passes::{plan_memory, plan_memory_with};
/// let mut g = Graph::new();
/// let x = g.input("x", &[8], DType::F32, InputRole::Data).unwrap();
/// let a = g.gelu(x).unwrap();
/// let b = g.gelu(a).unwrap();
/// let c = g.gelu(b).unwrap();
/// g.outputs.push(c);
/// let (a, c) = (a.index(), c.index());
/// // `c` may take `a`'s slot: `a` is dead once `b` is computed...
/// assert_eq!(plan_memory(&g).slot[c], plan_memory(&g).slot[a]);
/// // ...unless `c` is written when `b` is, while `b`'s node still reads `a`.
/// let early = plan_memory_with(&g, &[(c, c - 1)]);
/// assert_ne!(early.slot[c], early.slot[a]);
/// ```
pub fn plan_memory_with(g: &Graph, written_at: &[(usize, usize)]) -> MemoryPlan {
    let n = g.nodes.len();
    let mut root: Vec<usize> = (0..n).collect();
    for (i, node) in g.nodes.iter().enumerate() {
        if matches!(node.op, Op::Reshape) {
            root[i] = root[node.inputs[0].index()];
        }
    }
    let mut last_use: Vec<usize> = (0..n).collect();
    for (i, node) in g.nodes.iter().enumerate() {
        for j in &node.inputs {
            let r = root[j.index()];
            last_use[r] = last_use[r].max(i);
        }
    }
    for o in &g.outputs {
        last_use[root[o.index()]] = usize::MAX;
    }
    let owners: Vec<usize> = (0..n)
        .filter(|&i| root[i] == i && !matches!(g.nodes[i].op, Op::Input { .. }))
        .collect();
    let unplanned = owners
        .iter()
        .map(|&i| g.nodes[i].numel() * g.nodes[i].dtype.size_bytes())
        .sum();
    let lifetimes: Vec<Value> = owners
        .iter()
        .map(|&i| Value {
            node: i,
            def: written_at
                .iter()
                .filter(|&&(node, _)| node == i)
                .fold(defined_at(g, i), |d, &(_, at)| d.min(at)),
            last: last_use[i],
            len: g.nodes[i].numel(),
        })
        .collect();
    let (mut slot, slot_len) = share_slots(n, &lifetimes);
    for i in 0..n {
        if root[i] != i {
            slot[i] = slot[root[i]];
        }
    }
    let peak = slot_len.iter().sum::<usize>() * 4;
    MemoryPlan {
        root,
        slot,
        slot_len,
        peak_bytes: peak,
        unplanned_bytes: unplanned,
    }
}

/// Where node `i`'s value is written: an extra output of a fused node is written by that
/// node, so it must not share a slot with anything the fused node reads.
fn defined_at(g: &Graph, i: usize) -> usize {
    match g.nodes[i].op {
        Op::FusedOutput { .. } => g.nodes[i].inputs.first().map_or(i, |f| f.index()),
        _ => i,
    }
}

/// A value to place: its node, the positions that write and last read it, its length.
struct Value {
    node: usize,
    def: usize,
    last: usize,
    len: usize,
}

/// Greedy by size for shared objects (Pisarchyk & Lee, 2020): values, largest first, go
/// into the smallest existing slot none of whose occupants is alive at the same time, else
/// into a new slot of their own size. Slots never grow, so the sum of slot sizes stays near
/// the largest sum of simultaneously live values (a value is alive from the node that
/// writes it through its last reader, both included: a node never writes into a slot it
/// reads).
fn share_slots(n: usize, values: &[Value]) -> (Vec<Option<usize>>, Vec<usize>) {
    let mut order: Vec<&Value> = values.iter().collect();
    order.sort_by_key(|v| (std::cmp::Reverse(v.len), v.def, v.node));
    let mut slot = vec![None; n];
    let mut slot_len: Vec<usize> = Vec::new();
    let mut occupants: Vec<Vec<(usize, usize)>> = Vec::new();
    for &&Value {
        node,
        def,
        last,
        len,
    } in &order
    {
        let free = (0..slot_len.len())
            .filter(|&s| occupants[s].iter().all(|&(d, l)| l < def || last < d))
            .min_by_key(|&s| slot_len[s]);
        let s = free.unwrap_or_else(|| {
            slot_len.push(len);
            occupants.push(Vec::new());
            slot_len.len() - 1
        });
        occupants[s].push((def, last));
        slot[node] = Some(s);
    }
    (slot, slot_len)
}
