//! `#[vibee::kernel(differentiable)]`: a straight-line function of float scalars, lowered
//! to an [`ElementwiseFn`] whose backward function the IR derives.

use vibee_dsl::kernel::elementwise::ElementwiseFn;
use vibee_dsl::kernel::{Expr, Ty};

use super::{LoweredElementwise, Lowerer, Mode, SpanTable};
use crate::ast::{self, KernelFn, ParamTy};
use crate::ctxt::Ctxt;
use crate::src::Src;

const SHAPE: &str = "a differentiable kernel takes floats by value and returns floats, e.g. `fn gelu(x: f32) -> f32`";

/// Lowers a differentiable kernel; `None` when an error was reported.
pub fn elementwise(cx: &Ctxt, f: &KernelFn) -> Option<LoweredElementwise> {
    let mut lw = Lowerer::new(cx, f, Mode::Elementwise);
    check_signature(&lw, f);
    if f.output.is_empty() {
        return None;
    }
    let prologue = lw.signature(f);
    let (body, results) = lw.elementwise_body(f)?;
    if cx.has_errors() {
        return None;
    }
    let mut all = prologue;
    all.extend(body);
    let spans = SpanTable(std::mem::take(&mut lw.spans));
    let function = ElementwiseFn {
        name: lw.name,
        inputs: lw.params,
        outputs: f.output.iter().map(|t| t.elem).collect(),
        locals: lw.locals,
        body: all,
        results,
    };
    Some(LoweredElementwise { function, spans })
}

fn check_signature(lw: &Lowerer<'_>, f: &KernelFn) {
    for g in &f.const_generics {
        lw.error(
            g.src,
            format!("const generics are not supported here; {SHAPE}"),
        );
    }
    for p in &f.params {
        match (p.ty, &p.comptime) {
            (_, Some(_)) => lw.error(
                p.src,
                format!("`#[comptime]` parameters are not supported here; {SHAPE}"),
            ),
            (ParamTy::Scalar { elem, .. }, None) if elem.is_float() => {}
            _ => lw.error(p.ty_src, format!("`{}` is not a float; {SHAPE}", p.ident)),
        }
    }
    if f.output.is_empty() && f.output_src.is_none() {
        lw.error(
            Src::of(&f.name),
            "a differentiable kernel returns its result: add a return type such as `-> f32` (or `-> (f32, f32)`)",
        );
    }
    for t in &f.output {
        if !t.elem.is_float() || t.lanes > 1 {
            lw.error(t.src, format!("results must be float scalars; {SHAPE}"));
        }
    }
}

impl Lowerer<'_> {
    /// The statements before the trailing expression, and the results it gives.
    fn elementwise_body(
        &mut self,
        f: &KernelFn,
    ) -> Option<(Vec<vibee_dsl::kernel::Stmt>, Vec<Expr>)> {
        let Some(tail) = f.body.tail() else {
            self.error(
                f.body.src,
                "a differentiable kernel ends with its result (an expression without `;`)",
            );
            return None;
        };
        let mut body = Vec::new();
        self.block_depth += 1;
        for s in &f.body.stmts[..f.body.stmts.len() - 1] {
            self.stmt(s, &mut body);
        }
        let parts: Vec<&ast::Expr> = match &tail.kind {
            ast::ExprKind::Tuple(parts) => parts.iter().collect(),
            _ => vec![tail],
        };
        if parts.len() != f.output.len() {
            self.error(
                tail.src,
                format!(
                    "this returns {} value(s), but the signature declares {}",
                    parts.len(),
                    f.output.len()
                ),
            );
            return None;
        }
        let mut results = Vec::new();
        for (part, ty) in parts.into_iter().zip(&f.output) {
            let want = Ty::scalar(ty.elem);
            let value = self
                .expr(part, Some(want))
                .and_then(|v| self.coerce(v, want, "as a result"));
            results.push(value);
        }
        body.append(&mut self.pending);
        self.block_depth -= 1;
        let results: Option<Vec<Expr>> = results.into_iter().collect();
        Some((body, results?))
    }
}
