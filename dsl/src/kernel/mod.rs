//! The kernel IR and everything that works on it.

pub mod autodiff;
pub mod bounds;
pub mod elementwise;
pub mod interp;
pub mod ir;
pub mod ops;
pub mod pretty;
pub mod validate;
pub mod value;

pub use ir::*;
pub use value::{Element, HostBuffer, Scalar, ScalarArg};
