//! Validation of a kernel: one rule per function, every problem reported with its span.

use super::ir::*;

/// One problem found in a kernel, at the span of its smallest culprit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    pub span: SpanId,
    pub message: String,
}
