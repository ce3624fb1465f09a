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
    let mut dying: Vec<Vec<usize>> = vec![Vec::new(); n];
    for r in 0..n {
        if root[r] == r && last_use[r] < n {
            dying[last_use[r]].push(r);
        }
    }
    let mut slot = vec![None; n];
    let mut slot_len: Vec<usize> = Vec::new();
    let mut free: Vec<usize> = Vec::new();
    let mut unplanned = 0;
    for (i, node) in g.nodes.iter().enumerate() {
        let owns = root[i] == i && !matches!(node.op, Op::Input { .. });
        if owns {
            let need = node.numel();
            unplanned += need * node.dtype.size_bytes();
            let s = take_slot(&mut free, &mut slot_len, need);
            slot[i] = Some(s);
        } else if root[i] != i {
            slot[i] = slot[root[i]];
        }
        for &r in &dying[i] {
            if let Some(s) = slot[r] {
                free.push(s);
            }
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

/// Best fit among free slots; else the largest free slot, grown; else a new slot.
fn take_slot(free: &mut Vec<usize>, slot_len: &mut Vec<usize>, need: usize) -> usize {
    let fit = free
        .iter()
        .enumerate()
        .filter(|(_, s)| slot_len[**s] >= need)
        .min_by_key(|(_, s)| slot_len[**s])
        .or_else(|| free.iter().enumerate().max_by_key(|(_, s)| slot_len[**s]))
        .map(|(k, _)| k);
    match fit {
        Some(k) => {
            let s = free.swap_remove(k);
            slot_len[s] = slot_len[s].max(need);
            s
        }
        None => {
            slot_len.push(need);
            slot_len.len() - 1
        }
    }
}
