//! The kernel IR's pretty printer, used by snapshots and `VIBEE_DUMP=ir`.
//!
//! The output reads like the Rust the user wrote, with every value's type made explicit:
//! `let i: u32 = global_pos();`, `y[i] = (a * x[i]: f32) + y[i];` is printed as nested
//! expressions with types on `let`s, casts and vector values.

use std::fmt::Write;

use super::elementwise::ElementwiseFn;
use super::ir::*;

/// Renders `kernel` as text.
pub fn print(kernel: &Kernel) -> String {
    let mut p = Printer {
        out: String::new(),
        kernel,
        indent: 0,
    };
    p.header();
    p.out.push_str(" {\n");
    p.indent = 1;
    for array in &kernel.shared {
        p.line(&format!(
            "shared {}: [{}; {}];",
            array.name,
            array.elem.rust_name(),
            p.expr(&array.len)
        ));
    }
    p.stmts(&kernel.body);
    p.out.push_str("}\n");
    p.out
}

/// Renders an elementwise function as text.
pub fn print_elementwise(f: &ElementwiseFn) -> String {
    let kernel = Kernel {
        name: f.name.clone(),
        params: f.inputs.clone(),
        locals: f.locals.clone(),
        shared: Vec::new(),
        body: Vec::new(),
    };
    let mut p = Printer {
        out: String::new(),
        kernel: &kernel,
        indent: 0,
    };
    p.header();
    let outs: Vec<&str> = f.outputs.iter().map(|e| e.rust_name()).collect();
    let _ = writeln!(p.out, " -> ({}) {{", outs.join(", "));
    p.indent = 1;
    p.stmts(&f.body);
    let results: Vec<String> = f.results.iter().map(|r| p.expr(r)).collect();
    p.line(&format!("({})", results.join(", ")));
    p.out.push_str("}\n");
    p.out
}

struct Printer<'k> {
    out: String,
    kernel: &'k Kernel,
    indent: usize,
}

impl Printer<'_> {
    fn header(&mut self) {
        let params: Vec<String> = self
            .kernel
            .params
            .iter()
            .map(|p| match p.kind {
                ParamKind::Buffer { elem, mutable } => format!(
                    "{}: &{}[{}]",
                    p.name,
                    if mutable { "mut " } else { "" },
                    elem.rust_name()
                ),
                ParamKind::Scalar(e) => format!("{}: {}", p.name, e.rust_name()),
                ParamKind::Comptime {
                    elem,
                    const_generic,
                } => format!(
                    "{} {}: {}",
                    if const_generic { "const" } else { "comptime" },
                    p.name,
                    elem.rust_name()
                ),
            })
            .collect();
        let _ = write!(
            self.out,
            "kernel {}({})",
            self.kernel.name,
            params.join(", ")
        );
    }

    fn line(&mut self, text: &str) {
        for _ in 0..self.indent {
            self.out.push_str("    ");
        }
        self.out.push_str(text);
        self.out.push('\n');
    }

    fn block(&mut self, head: &str, body: &[Stmt]) {
        self.line(&format!("{head} {{"));
        self.indent += 1;
        self.stmts(body);
        self.indent -= 1;
    }

    fn stmts(&mut self, stmts: &[Stmt]) {
        for s in stmts {
            self.stmt(s);
        }
    }

    fn local(&self, v: VarId) -> String {
        self.kernel
            .locals
            .get(v.0 as usize)
            .map_or_else(|| format!("%{}", v.0), |l| format!("{}_{}", l.name, v.0))
    }

    fn stmt(&mut self, s: &Stmt) {
        match &s.kind {
            StmtKind::Let { var, init } => {
                let local = self.kernel.locals.get(var.0 as usize);
                let mutable = if local.is_some_and(|l| l.mutable) {
                    "mut "
                } else {
                    ""
                };
                let ty = local.map_or_else(|| "?".to_string(), |l| ty_name(l.ty));
                let line = format!(
                    "let {mutable}{}: {ty} = {};",
                    self.local(*var),
                    self.expr(init)
                );
                self.line(&line);
            }
            StmtKind::Assign { var, value } => {
                let line = format!("{} = {};", self.local(*var), self.expr(value));
                self.line(&line);
            }
            StmtKind::Store { buf, index, value } => {
                let vec = if value.ty.is_vector() {
                    format!("[x{}]", value.ty.lanes)
                } else {
                    String::new()
                };
                let line = format!(
                    "{}{vec}[{}] = {};",
                    self.kernel.buf_name(*buf),
                    self.expr(index),
                    self.expr(value)
                );
                self.line(&line);
            }
            StmtKind::If {
                cond,
                then_branch,
                else_branch,
            } => {
                let head = format!("if {}", self.expr(cond));
                self.block(&head, then_branch);
                if else_branch.is_empty() {
                    self.line("}");
                } else {
                    self.block("} else", else_branch);
                    self.line("}");
                }
            }
            StmtKind::For {
                var,
                start,
                end,
                step,
                body,
            } => {
                let step = match step.kind {
                    ExprKind::Lit(Lit::Int(1)) => String::new(),
                    _ => format!(" step {}", self.expr(step)),
                };
                let head = format!(
                    "for {} in {}..{}{step}",
                    self.local(*var),
                    self.expr(start),
                    self.expr(end)
                );
                self.block(&head, body);
                self.line("}");
            }
            StmtKind::While { cond, body } => {
                let head = format!("while {}", self.expr(cond));
                self.block(&head, body);
                self.line("}");
            }
            StmtKind::Break => self.line("break;"),
            StmtKind::Continue => self.line("continue;"),
            StmtKind::Return => self.line("return;"),
            StmtKind::Barrier => self.line("barrier();"),
            StmtKind::Eval(e) => {
                let line = format!("{};", self.expr(e));
                self.line(&line);
            }
        }
    }

    fn expr(&self, e: &Expr) -> String {
        match &e.kind {
            ExprKind::Lit(Lit::Float(v)) => format!("{v:?}{}", e.ty.elem.rust_name()),
            ExprKind::Lit(Lit::Int(v)) => format!("{v}{}", e.ty.elem.rust_name()),
            ExprKind::Lit(Lit::Bool(b)) => b.to_string(),
            ExprKind::Local(v) => self.local(*v),
            ExprKind::Param(p) => self
                .kernel
                .params
                .get(p.0 as usize)
                .map_or_else(|| format!("$param{}", p.0), |p| p.name.clone()),
            ExprKind::Builtin(b) => builtin_name(*b),
            ExprKind::Unary(UnaryOp::Neg, a) => format!("-{}", self.atom(a)),
            ExprKind::Unary(UnaryOp::Not, a) => format!("!{}", self.atom(a)),
            ExprKind::Binary(op @ (BinaryOp::Min | BinaryOp::Max), a, b) => {
                format!("{}({}, {})", op.symbol(), self.expr(a), self.expr(b))
            }
            ExprKind::Binary(op, a, b) => {
                format!("{} {} {}", self.atom(a), op.symbol(), self.atom(b))
            }
            ExprKind::Cast(a) => format!("{} as {}", self.atom(a), ty_name(e.ty)),
            ExprKind::Math(f, args) => {
                let args: Vec<String> = args.iter().map(|a| self.expr(a)).collect();
                format!("{}({})", f.name(), args.join(", "))
            }
            ExprKind::Load { buf, index } => {
                let vec = if e.ty.is_vector() {
                    format!("[x{}]", e.ty.lanes)
                } else {
                    String::new()
                };
                format!("{}{vec}[{}]", self.kernel.buf_name(*buf), self.expr(index))
            }
            ExprKind::Len(buf) => format!("{}.len()", self.kernel.buf_name(*buf)),
            ExprKind::Extract { vector, lane } => format!("{}.{lane}", self.atom(vector)),
            ExprKind::Construct(parts) => {
                let parts: Vec<String> = parts.iter().map(|a| self.expr(a)).collect();
                format!("{}({})", ty_name(e.ty), parts.join(", "))
            }
            ExprKind::AtomicAdd { buf, index, value } => format!(
                "atomic_add({}[{}], {})",
                self.kernel.buf_name(*buf),
                self.expr(index),
                self.expr(value)
            ),
            ExprKind::Plane(op, a) => {
                let name = match op {
                    PlaneOp::Sum => "plane_sum",
                    PlaneOp::Max => "plane_max",
                };
                format!("{name}({})", self.expr(a))
            }
            ExprKind::Select {
                cond,
                then_value,
                else_value,
            } => format!(
                "select({}, {}, {})",
                self.expr(cond),
                self.expr(then_value),
                self.expr(else_value)
            ),
        }
    }

    /// An operand: parenthesized unless it cannot be ambiguous.
    fn atom(&self, e: &Expr) -> String {
        let text = self.expr(e);
        match e.kind {
            ExprKind::Binary(op, ..) if !matches!(op, BinaryOp::Min | BinaryOp::Max) => {
                format!("({text})")
            }
            ExprKind::Cast(_) | ExprKind::Unary(..) => format!("({text})"),
            _ => text,
        }
    }
}

/// `f32`, or `f32x4` for vectors.
pub fn ty_name(ty: Ty) -> String {
    if ty.is_vector() {
        format!("{}x{}", ty.elem.rust_name(), ty.lanes)
    } else {
        ty.elem.rust_name().to_string()
    }
}

fn builtin_name(b: Builtin) -> String {
    let (name, axis) = match b {
        Builtin::UnitPos(a) => ("unit_pos", a),
        Builtin::GroupPos(a) => ("group_pos", a),
        Builtin::GroupSize(a) => ("group_size", a),
        Builtin::NumGroups(a) => ("num_groups", a),
        Builtin::GlobalPos(a) => ("global_pos", a),
        Builtin::PlaneSize => ("plane_size", None),
        Builtin::PlaneUnit => ("plane_unit", None),
    };
    match axis {
        None => format!("{name}()"),
        Some(Axis::X) => format!("{name}_x()"),
        Some(Axis::Y) => format!("{name}_y()"),
        Some(Axis::Z) => format!("{name}_z()"),
    }
}
