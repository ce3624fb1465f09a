//! Static bounds analysis: which buffer indices a grid is certain to touch.

use super::ir::*;

/// `param` is certain to be accessed at `max_index` by some unit of the grid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Requirement {
    pub param: ParamId,
    pub max_index: u64,
}
