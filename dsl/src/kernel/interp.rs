//! The reference interpreter: the definition of what a kernel computes.

use super::value::{HostBuffer, Scalar};

/// An argument of an interpreted launch, in parameter order (comptime values as `Scalar`).
#[derive(Clone, Debug, PartialEq)]
pub enum InterpArg {
    Buffer(HostBuffer),
    Scalar(Scalar),
}
