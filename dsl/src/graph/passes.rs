//! Graph-to-graph passes, one per file.

pub mod cse;
pub mod dce;
pub mod expand;
pub mod fuse;
pub mod memory;
pub mod recompute;

pub use cse::eliminate_common_subexpressions;
pub use dce::eliminate_dead_code;
pub use expand::expand_attention;
pub use fuse::fuse_elementwise;
pub use memory::{MemoryPlan, plan_memory, plan_memory_with};
pub use recompute::{Recompute, recompute};

use super::ir::{Graph, NodeId};

/// CSE then DCE; returns the optimised graph and where each old node went (`None` if it
/// was dead).
pub fn optimize(g: &Graph) -> (Graph, Vec<Option<NodeId>>) {
    let (merged, m1) = eliminate_common_subexpressions(g);
    let (live, m2) = eliminate_dead_code(&merged);
    let map = m1.iter().map(|i| m2[i.index()]).collect();
    (live, map)
}
