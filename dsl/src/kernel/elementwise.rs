//! Elementwise functions (scalars in, scalars out) and their lowering to buffer kernels.
//!
//! `#[vibee::kernel(differentiable)] fn gelu(x: f32) -> f32 { … }` lowers to an
//! [`ElementwiseFn`]: straight-line `let`s and assignments over scalar inputs, then one
//! result per output. [`ElementwiseFn::to_kernel`] wraps it into a buffer kernel (one unit
//! per element), and [`super::autodiff::vjp`] derives its backward function.

use serde::{Deserialize, Serialize};

use super::ir::*;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ElementwiseFn {
    pub name: String,
    /// Scalar inputs; every `ParamKind` here is `Scalar`.
    pub inputs: Vec<Param>,
    pub outputs: Vec<Elem>,
    pub locals: Vec<Local>,
    /// Only `Let` and `Assign` statements.
    pub body: Vec<Stmt>,
    /// One expression per output, evaluated after `body`.
    pub results: Vec<Expr>,
}
