//! [`crate::ast`] → the kernel IR: names are resolved, every expression gets a type and a
//! [`SpanId`] into a table of source ranges, and misuse is reported at the smallest
//! culprit.
//!
//! Typing follows Rust with two kernel-specific rules: unsuffixed literals take the type
//! the context needs (an integer literal alone is `u32`, a float literal `f32`), and
//! `usize` is `u32`. One file per concern: `signature` (parameters), `stmt`, `expr`,
//! `call` (intrinsics and methods), `typing` (unification and literals), `elementwise`
//! (differentiable kernels).

mod call;
mod elementwise;
mod expr;
mod signature;
mod stmt;
mod store;
mod typing;

use std::collections::HashMap;

use vibee_dsl::kernel::elementwise::ElementwiseFn;
use vibee_dsl::kernel::{
    BufRef, Elem, Expr, ExprKind, Kernel, Local, Param, ParamId, SharedArray, SpanId, Stmt, Ty,
    VarId,
};

use crate::ast::KernelFn;
use crate::ctxt::Ctxt;
use crate::src::Src;

pub use elementwise::elementwise;

/// Source ranges of IR nodes, indexed by [`SpanId`].
#[derive(Debug, Default, Clone)]
pub struct SpanTable(Vec<Src>);

impl SpanTable {
    /// The source of `id`; synthesized nodes map to the macro invocation.
    pub fn get(&self, id: SpanId) -> Src {
        self.0
            .get(id.0 as usize)
            .copied()
            .unwrap_or_else(Src::call_site)
    }
}

/// A lowered kernel and the sources of its nodes.
#[derive(Debug)]
pub struct Lowered {
    pub kernel: Kernel,
    pub spans: SpanTable,
}

/// A lowered differentiable (elementwise) function.
#[derive(Debug)]
pub struct LoweredElementwise {
    pub function: ElementwiseFn,
    pub spans: SpanTable,
}

/// What a name in the body refers to.
#[derive(Debug, Clone, Copy)]
enum Binding {
    /// A scalar argument or a comptime value (never assignable).
    Param {
        id: ParamId,
        ty: Ty,
        comptime: bool,
    },
    /// A buffer parameter or a shared array.
    Buffer {
        buf: BufRef,
        elem: Elem,
        mutable: bool,
    },
    Local {
        id: VarId,
        ty: Ty,
        mutable: bool,
    },
    /// A name whose declaration had an error: uses stay silent to avoid cascades.
    Poisoned,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Kernel,
    /// A differentiable function: straight-line code over scalar inputs.
    Elementwise,
}

/// The state of lowering one kernel.
struct Lowerer<'a> {
    cx: &'a Ctxt,
    name: String,
    mode: Mode,
    params: Vec<Param>,
    locals: Vec<Local>,
    shared: Vec<SharedArray>,
    spans: Vec<Src>,
    scopes: Vec<HashMap<String, Binding>>,
    loop_depth: u32,
    /// How many blocks deep the current statement is (shared arrays live at depth 1).
    block_depth: u32,
    /// Statements an expression needs evaluated before the statement that contains it
    /// (an `if` used as a value whose branches have statements).
    pending: Vec<Stmt>,
}

/// Lowers a kernel; `None` when an error was reported.
pub fn kernel(cx: &Ctxt, f: &KernelFn) -> Option<Lowered> {
    let mut lw = Lowerer::new(cx, f, Mode::Kernel);
    if let Some(src) = f.output_src {
        // The body ends with the value it meant to return; reporting that too is noise.
        lw.error(src, "kernels return nothing; write results into a `&mut [T]` buffer (or declare an elementwise function `#[vibee::kernel(differentiable)]`)");
        return None;
    }
    let prologue = lw.signature(f);
    let mut body = prologue;
    body.extend(lw.kernel_body(&f.body));
    if cx.has_errors() {
        return None;
    }
    let spans = SpanTable(std::mem::take(&mut lw.spans));
    Some(Lowered {
        kernel: Kernel {
            name: lw.name,
            params: lw.params,
            locals: lw.locals,
            shared: lw.shared,
            body,
        },
        spans,
    })
}

impl<'a> Lowerer<'a> {
    fn new(cx: &'a Ctxt, f: &KernelFn, mode: Mode) -> Self {
        Lowerer {
            cx,
            name: f.name.to_string(),
            mode,
            params: Vec::new(),
            locals: Vec::new(),
            shared: Vec::new(),
            spans: Vec::new(),
            scopes: vec![HashMap::new()],
            loop_depth: 0,
            block_depth: 0,
            pending: Vec::new(),
        }
    }

    fn span(&mut self, src: Src) -> SpanId {
        self.spans.push(src);
        SpanId(self.spans.len() as u32 - 1)
    }

    fn src(&self, id: SpanId) -> Src {
        self.spans
            .get(id.0 as usize)
            .copied()
            .unwrap_or_else(Src::call_site)
    }

    fn node(&mut self, kind: ExprKind, ty: Ty, src: Src) -> Expr {
        let span = self.span(src);
        Expr { kind, ty, span }
    }

    fn stmt_node(&mut self, kind: vibee_dsl::kernel::StmtKind, src: Src) -> Stmt {
        let span = self.span(src);
        Stmt { kind, span }
    }

    fn error(&self, src: Src, message: impl std::fmt::Display) {
        self.cx.error_at(src, message);
    }

    fn lookup(&self, name: &str) -> Option<Binding> {
        self.scopes.iter().rev().find_map(|s| s.get(name).copied())
    }

    fn bind(&mut self, name: &syn::Ident, binding: Binding) {
        if let Some(scope) = self.scopes.last_mut() {
            scope.insert(name.to_string(), binding);
        }
    }

    fn declare_local(&mut self, name: &str, ty: Ty, mutable: bool, src: Src) -> VarId {
        let span = self.span(src);
        self.locals.push(Local {
            name: name.to_string(),
            ty,
            mutable,
            span,
        });
        VarId(self.locals.len() as u32 - 1)
    }
}
