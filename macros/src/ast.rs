//! The kernel as the macro understands it: the subset of Rust a kernel may use.
//!
//! `parse` builds this from `syn`, rejecting syntax kernels do not support; `lower` gives
//! it meaning (names, types) and produces the kernel IR. Every node keeps the [`Src`] of
//! the tokens it came from, so later passes can point at the smallest culprit.

use vibee_dsl::kernel::{Elem, MathFn};

use crate::src::Src;

/// A `#[vibee::kernel]` function.
#[derive(Debug)]
pub struct KernelFn {
    pub attrs: KernelAttrs,
    /// `#[doc]` attributes of the function, copied onto the generated module.
    pub docs: Vec<syn::Attribute>,
    pub vis: syn::Visibility,
    pub name: syn::Ident,
    pub const_generics: Vec<ConstGeneric>,
    pub params: Vec<Param>,
    /// Parameters whose declaration had an error: the body's uses of them stay silent.
    pub poisoned: Vec<syn::Ident>,
    /// The declared return type (only differentiable kernels have one).
    pub output: Vec<TypeName>,
    pub output_src: Option<Src>,
    pub body: Block,
}

/// Arguments of `#[vibee::kernel(...)]`.
#[derive(Debug, Default)]
pub struct KernelAttrs {
    /// `differentiable`: an elementwise function whose backward kernel is derived.
    pub differentiable: Option<Src>,
    /// `assert(expr)`: host-side checks of comptime values, in Rust.
    pub asserts: Vec<syn::Expr>,
}

/// Checks on one comptime value: `#[comptime(power_of_two, multiple_of = 32)]`.
#[derive(Debug, Default, Clone)]
pub struct ComptimeChecks {
    pub power_of_two: bool,
    pub multiple_of: Option<syn::Expr>,
}

/// `const NAME: usize` (or `u32`).
#[derive(Debug)]
pub struct ConstGeneric {
    pub ident: syn::Ident,
    pub host_ty: HostInt,
    pub checks: ComptimeChecks,
    pub src: Src,
}

/// How an integer comptime value is spelled on the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostInt {
    U32,
    Usize,
}

/// One function parameter.
#[derive(Debug)]
pub struct Param {
    pub ident: syn::Ident,
    /// `mut x: f32`: the body may assign to its own copy.
    pub mutable: bool,
    pub ty: ParamTy,
    /// `Some` for `#[comptime]` parameters.
    pub comptime: Option<ComptimeChecks>,
    pub src: Src,
    pub ty_src: Src,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamTy {
    /// A scalar; `usize` marks a `usize` spelled on the host (u32 in the IR).
    Scalar {
        elem: Elem,
        usize: bool,
    },
    Buffer {
        elem: Elem,
        mutable: bool,
    },
}

/// A scalar or vector type written in the body: `f32`, `usize`, `f32x4`.
#[derive(Debug, Clone, Copy)]
pub struct TypeName {
    pub elem: Elem,
    pub lanes: u8,
    pub src: Src,
}

#[derive(Debug)]
pub struct Block {
    pub stmts: Vec<Stmt>,
    pub src: Src,
}

#[derive(Debug)]
pub enum Stmt {
    /// `let [mut] name[: ty] = init;` (`name` is `None` for `let _ = …`).
    Let {
        name: Option<syn::Ident>,
        mutable: bool,
        ty: Option<TypeName>,
        init: Expr,
        src: Src,
    },
    /// An expression; `semi` tells whether it ended with `;`.
    Expr { expr: Expr, semi: bool },
}

#[derive(Debug)]
pub struct Expr {
    pub kind: ExprKind,
    pub src: Src,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum LitValue {
    /// An integer literal and its suffix type, if any.
    Int(u64, Option<Elem>),
    Float(f64, Option<Elem>),
    Bool(bool),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnOp {
    Neg,
    Not,
}

/// Binary operators, with `&&`/`||` apart because they short-circuit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    Rem,
    BitAnd,
    BitOr,
    BitXor,
    Shl,
    Shr,
    And,
    Or,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

/// The iteration space of a `for` loop: `start..end`, `start..=end`, `.step_by(step)`.
#[derive(Debug)]
pub struct RangeExpr {
    pub start: Box<Expr>,
    pub end: Box<Expr>,
    pub inclusive: bool,
    pub step: Option<Box<Expr>>,
}

#[derive(Debug)]
pub enum ExprKind {
    Lit(LitValue),
    /// A named value: a parameter, a local, a shared array, a const generic.
    Path(syn::Ident),
    /// A numeric constant such as `f32::MAX`, already resolved.
    Const(LitValue),
    Unary(UnOp, Box<Expr>),
    Binary(BinOp, Box<Expr>, Box<Expr>),
    Assign(Box<Expr>, Box<Expr>),
    CompoundAssign(BinOp, Box<Expr>, Box<Expr>),
    Cast(Box<Expr>, TypeName),
    /// `name(args)` or `name::<T>(args)`: an intrinsic call.
    Call {
        func: syn::Ident,
        turbofish: Option<TypeName>,
        args: Vec<Expr>,
    },
    MethodCall {
        receiver: Box<Expr>,
        method: syn::Ident,
        args: Vec<Expr>,
    },
    Index(Box<Expr>, Box<Expr>),
    /// `&x` or `&mut x`: only meaningful as a buffer argument of an intrinsic.
    Ref(Box<Expr>),
    If {
        cond: Box<Expr>,
        then_branch: Block,
        else_branch: Option<Box<Expr>>,
    },
    Block(Block),
    For {
        var: Option<syn::Ident>,
        range: RangeExpr,
        body: Block,
    },
    While {
        cond: Box<Expr>,
        body: Block,
    },
    Break,
    Continue,
    Return(Option<Box<Expr>>),
    Tuple(Vec<Expr>),
    /// Syntax already reported as unsupported; lowering skips it silently.
    Error,
}

impl Expr {
    /// An unsuffixed literal (possibly negated or parenthesized) takes its type from
    /// the other operand, so lowering types the other side first.
    pub fn is_untyped_literal(&self) -> bool {
        match &self.kind {
            ExprKind::Lit(LitValue::Int(_, None) | LitValue::Float(_, None)) => true,
            ExprKind::Unary(UnOp::Neg, inner) => inner.is_untyped_literal(),
            _ => false,
        }
    }
}

/// Math intrinsics as Rust spells them: free functions and methods on floats.
pub fn math_fn(name: &str) -> Option<MathFn> {
    match name {
        "ln" => Some(MathFn::Log),
        "mul_add" => Some(MathFn::Fma),
        other => MathFn::from_name(other),
    }
}
