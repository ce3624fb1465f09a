//! Validation of the lowered IR by `vibee_dsl::kernel::validate`, with its diagnostics
//! mapped back from [`SpanId`]s to the user's source.
//!
//! Lowering already rejects what it can see locally (types, writes to `&[T]`, shared
//! sizes); the IR validator adds whole-kernel rules such as barriers in divergent control
//! flow. It runs only on kernels that lowered cleanly, so a rule both passes know never
//! reports twice.

use vibee_dsl::kernel::Kernel;
use vibee_dsl::kernel::validate::{Diagnostic, validate};

use crate::ctxt::Ctxt;
use crate::lower::SpanTable;

/// Validates `kernel`, reporting every diagnostic at its source.
pub fn kernel(cx: &Ctxt, kernel: &Kernel, spans: &SpanTable) {
    report(cx, validate(kernel), spans);
}

/// Reports diagnostics at their spans.
pub fn report(cx: &Ctxt, diagnostics: Vec<Diagnostic>, spans: &SpanTable) {
    for d in diagnostics {
        cx.error_at(spans.get(d.span), d.message);
    }
}
