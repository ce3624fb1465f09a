//! The kernel IR as plain data.
//!
//! A [`Kernel`] is one function executed by every unit (thread) of a grid of groups
//! (CUDA: threads of blocks; CubeCL: units of cubes). Every expression carries its type
//! and the [`SpanId`] of the user's source it came from, so validation errors point at the
//! smallest culprit even though this crate knows nothing of `syn`.
//!
//! Semantics every backend shares (the interpreter is the definition):
//! - integer arithmetic wraps; integer division or remainder by zero yields 0;
//! - an out-of-bounds buffer read yields 0 and an out-of-bounds write is dropped
//!   (CubeCL's checked mode), so no launch is undefined behaviour;
//! - a vector access of `lanes` elements at vector index `i` touches elements
//!   `i*lanes .. i*lanes+lanes`;
//! - float → int casts saturate (Rust `as`), int → float round to nearest.

use serde::{Deserialize, Serialize};

/// Index of a source span in the table kept by whoever built the IR (the proc macro keeps
/// `proc_macro2::Span`s). `SpanId::NONE` marks synthesized nodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub struct SpanId(pub u32);

impl SpanId {
    /// A node that has no source of its own (derived by a pass).
    pub const NONE: SpanId = SpanId(u32::MAX);
}

/// Scalar element types.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Elem {
    F32,
    F16,
    BF16,
    I32,
    U32,
    Bool,
}

impl Elem {
    pub const ALL: [Elem; 6] = [
        Elem::F32,
        Elem::F16,
        Elem::BF16,
        Elem::I32,
        Elem::U32,
        Elem::Bool,
    ];

    pub fn is_float(self) -> bool {
        matches!(self, Elem::F32 | Elem::F16 | Elem::BF16)
    }

    pub fn is_int(self) -> bool {
        matches!(self, Elem::I32 | Elem::U32)
    }

    pub fn is_numeric(self) -> bool {
        self != Elem::Bool
    }

    /// Size of one element in bytes (bool is stored as a 32-bit word in buffers).
    pub fn size_bytes(self) -> usize {
        match self {
            Elem::F16 | Elem::BF16 => 2,
            _ => 4,
        }
    }

    /// The Rust spelling users write: `f32`, `f16`, `bf16`, `i32`, `u32`, `bool`.
    pub fn rust_name(self) -> &'static str {
        match self {
            Elem::F32 => "f32",
            Elem::F16 => "f16",
            Elem::BF16 => "bf16",
            Elem::I32 => "i32",
            Elem::U32 => "u32",
            Elem::Bool => "bool",
        }
    }

    pub fn from_rust_name(name: &str) -> Option<Elem> {
        Elem::ALL.into_iter().find(|e| e.rust_name() == name)
    }
}

/// The type of a value: an element type and a number of vector lanes (1 or 4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Ty {
    pub elem: Elem,
    pub lanes: u8,
}

impl Ty {
    pub const fn scalar(elem: Elem) -> Ty {
        Ty { elem, lanes: 1 }
    }
    pub const fn vector(elem: Elem, lanes: u8) -> Ty {
        Ty { elem, lanes }
    }
    pub const F32: Ty = Ty::scalar(Elem::F32);
    pub const U32: Ty = Ty::scalar(Elem::U32);
    pub const I32: Ty = Ty::scalar(Elem::I32);
    pub const BOOL: Ty = Ty::scalar(Elem::Bool);

    pub fn is_vector(self) -> bool {
        self.lanes > 1
    }
}

/// Lanes a vector value may have.
pub const VECTOR_LANES: u8 = 4;

/// Index of a parameter in [`Kernel::params`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ParamId(pub u32);

/// Index of a local variable in [`Kernel::locals`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct VarId(pub u32);

/// Index of a shared-memory array in [`Kernel::shared`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SharedId(pub u32);

/// One kernel: parameters, locals, shared arrays and a body of statements.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Kernel {
    pub name: String,
    pub params: Vec<Param>,
    pub locals: Vec<Local>,
    pub shared: Vec<SharedArray>,
    pub body: Vec<Stmt>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Param {
    pub name: String,
    pub kind: ParamKind,
    pub span: SpanId,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ParamKind {
    /// `&[T]` (read only) or `&mut [T]`.
    Buffer { elem: Elem, mutable: bool },
    /// A runtime scalar argument, uniform over the grid.
    Scalar(Elem),
    /// A value known when the kernel is specialized: a `#[comptime]` argument or a const
    /// generic. Backends compile one variant per distinct value.
    Comptime { elem: Elem, const_generic: bool },
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Local {
    pub name: String,
    pub ty: Ty,
    pub mutable: bool,
    pub span: SpanId,
}

/// A group-shared array; `len` must be evaluable from literals and comptime parameters.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SharedArray {
    pub name: String,
    pub elem: Elem,
    pub len: Expr,
    pub span: SpanId,
}

/// Something that can be indexed: a buffer parameter or a shared array.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum BufRef {
    Param(ParamId),
    Shared(SharedId),
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Stmt {
    pub kind: StmtKind,
    pub span: SpanId,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum StmtKind {
    /// `let [mut] name = init;` — the local's type and mutability live in [`Kernel::locals`].
    Let {
        var: VarId,
        init: Expr,
    },
    /// `name = value;` (compound assignments are desugared).
    Assign {
        var: VarId,
        value: Expr,
    },
    /// `buf[index] = value;`; a vector `value` stores `lanes` elements at vector index `index`.
    Store {
        buf: BufRef,
        index: Expr,
        value: Expr,
    },
    If {
        cond: Expr,
        then_branch: Vec<Stmt>,
        else_branch: Vec<Stmt>,
    },
    /// `for var in start..end` (step 1) or `for var in (start..end).step_by(step)`.
    For {
        var: VarId,
        start: Expr,
        end: Expr,
        step: Expr,
        body: Vec<Stmt>,
    },
    While {
        cond: Expr,
        body: Vec<Stmt>,
    },
    Break,
    Continue,
    /// Early return of this unit.
    Return,
    /// Every unit of the group waits here (`sync_cube`); must be reached uniformly.
    Barrier,
    /// An expression evaluated for its effect (an atomic add whose old value is unused).
    Eval(Expr),
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Expr {
    pub kind: ExprKind,
    pub ty: Ty,
    pub span: SpanId,
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum Lit {
    /// A float literal, converted to the expression's element type.
    Float(f64),
    /// An integer literal, converted to the expression's element type.
    Int(i64),
    Bool(bool),
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum ExprKind {
    Lit(Lit),
    Local(VarId),
    /// The value of a scalar or comptime parameter.
    Param(ParamId),
    Builtin(Builtin),
    Unary(UnaryOp, Box<Expr>),
    Binary(BinaryOp, Box<Expr>, Box<Expr>),
    /// Conversion to `ty.elem` (lanes preserved).
    Cast(Box<Expr>),
    Math(MathFn, Vec<Expr>),
    /// `buf[index]`; with `ty.lanes == 4`, a vector load at vector index `index`.
    Load {
        buf: BufRef,
        index: Box<Expr>,
    },
    /// Number of elements of a buffer or shared array (u32).
    Len(BufRef),
    /// Lane `lane` of a vector value.
    Extract {
        vector: Box<Expr>,
        lane: u8,
    },
    /// A vector built from `lanes` scalars of the same type.
    Construct(Vec<Expr>),
    /// Atomically adds `value` to `buf[index]` and yields the previous value.
    AtomicAdd {
        buf: BufRef,
        index: Box<Expr>,
        value: Box<Expr>,
    },
    /// A reduction over the units of a plane (warp/subgroup); every unit gets the result.
    Plane(PlaneOp, Box<Expr>),
    /// `if cond { a } else { b }` as a value; both sides are evaluated.
    Select {
        cond: Box<Expr>,
        then_value: Box<Expr>,
        else_value: Box<Expr>,
    },
}

/// Position and size intrinsics. `axis: None` is the linearized value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Builtin {
    /// Position of the unit in its group (`UNIT_POS`).
    UnitPos(Option<Axis>),
    /// Position of the group in the grid (`CUBE_POS`).
    GroupPos(Option<Axis>),
    /// Units per group (`CUBE_DIM`).
    GroupSize(Option<Axis>),
    /// Groups in the grid (`CUBE_COUNT`).
    NumGroups(Option<Axis>),
    /// Position of the unit in the whole grid (`ABSOLUTE_POS`).
    GlobalPos(Option<Axis>),
    /// Units per plane (`PLANE_DIM`); 1 where the backend has no planes.
    PlaneSize,
    /// Position of the unit within its plane (`UNIT_POS_PLANE`).
    PlaneUnit,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Axis {
    X,
    Y,
    Z,
}

impl Axis {
    pub fn index(self) -> usize {
        match self {
            Axis::X => 0,
            Axis::Y => 1,
            Axis::Z => 2,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum UnaryOp {
    Neg,
    /// Logical not on bool, bitwise not on integers.
    Not,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum BinaryOp {
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
    /// Short-circuit `&&` on bool.
    And,
    /// Short-circuit `||` on bool.
    Or,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Min,
    Max,
}

impl BinaryOp {
    pub fn is_comparison(self) -> bool {
        matches!(
            self,
            BinaryOp::Eq | BinaryOp::Ne | BinaryOp::Lt | BinaryOp::Le | BinaryOp::Gt | BinaryOp::Ge
        )
    }
    pub fn is_logical(self) -> bool {
        matches!(self, BinaryOp::And | BinaryOp::Or)
    }
    pub fn is_bitwise(self) -> bool {
        matches!(
            self,
            BinaryOp::BitAnd | BinaryOp::BitOr | BinaryOp::BitXor | BinaryOp::Shl | BinaryOp::Shr
        )
    }
    pub fn symbol(self) -> &'static str {
        match self {
            BinaryOp::Add => "+",
            BinaryOp::Sub => "-",
            BinaryOp::Mul => "*",
            BinaryOp::Div => "/",
            BinaryOp::Rem => "%",
            BinaryOp::BitAnd => "&",
            BinaryOp::BitOr => "|",
            BinaryOp::BitXor => "^",
            BinaryOp::Shl => "<<",
            BinaryOp::Shr => ">>",
            BinaryOp::And => "&&",
            BinaryOp::Or => "||",
            BinaryOp::Eq => "==",
            BinaryOp::Ne => "!=",
            BinaryOp::Lt => "<",
            BinaryOp::Le => "<=",
            BinaryOp::Gt => ">",
            BinaryOp::Ge => ">=",
            BinaryOp::Min => "min",
            BinaryOp::Max => "max",
        }
    }
}

/// Math intrinsics on floats (`Abs` also on integers).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum MathFn {
    Exp,
    Log,
    Sqrt,
    Rsqrt,
    Tanh,
    Erf,
    Sin,
    Cos,
    Abs,
    /// `powf(base, exponent)`.
    Powf,
    /// `fma(a, b, c) = a * b + c`.
    Fma,
}

impl MathFn {
    pub const ALL: [MathFn; 11] = [
        MathFn::Exp,
        MathFn::Log,
        MathFn::Sqrt,
        MathFn::Rsqrt,
        MathFn::Tanh,
        MathFn::Erf,
        MathFn::Sin,
        MathFn::Cos,
        MathFn::Abs,
        MathFn::Powf,
        MathFn::Fma,
    ];

    pub fn name(self) -> &'static str {
        match self {
            MathFn::Exp => "exp",
            MathFn::Log => "log",
            MathFn::Sqrt => "sqrt",
            MathFn::Rsqrt => "rsqrt",
            MathFn::Tanh => "tanh",
            MathFn::Erf => "erf",
            MathFn::Sin => "sin",
            MathFn::Cos => "cos",
            MathFn::Abs => "abs",
            MathFn::Powf => "powf",
            MathFn::Fma => "fma",
        }
    }

    pub fn from_name(name: &str) -> Option<MathFn> {
        MathFn::ALL.into_iter().find(|f| f.name() == name)
    }

    pub fn arity(self) -> usize {
        match self {
            MathFn::Powf => 2,
            MathFn::Fma => 3,
            _ => 1,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum PlaneOp {
    Sum,
    Max,
}

impl Kernel {
    pub fn param(&self, id: ParamId) -> &Param {
        &self.params[id.0 as usize]
    }
    pub fn local(&self, id: VarId) -> &Local {
        &self.locals[id.0 as usize]
    }
    pub fn shared_array(&self, id: SharedId) -> &SharedArray {
        &self.shared[id.0 as usize]
    }
    /// Element type of a buffer or shared array.
    pub fn buf_elem(&self, buf: BufRef) -> Option<Elem> {
        match buf {
            BufRef::Param(p) => match self.params.get(p.0 as usize)?.kind {
                ParamKind::Buffer { elem, .. } => Some(elem),
                _ => None,
            },
            BufRef::Shared(s) => self.shared.get(s.0 as usize).map(|a| a.elem),
        }
    }
    pub fn buf_name(&self, buf: BufRef) -> &str {
        match buf {
            BufRef::Param(p) => &self.param(p).name,
            BufRef::Shared(s) => &self.shared_array(s).name,
        }
    }
    /// Parameters that are values fixed when the kernel is specialized, in order.
    pub fn comptime_params(&self) -> impl Iterator<Item = (ParamId, &Param)> {
        self.params
            .iter()
            .enumerate()
            .filter(|(_, p)| matches!(p.kind, ParamKind::Comptime { .. }))
            .map(|(i, p)| (ParamId(i as u32), p))
    }
    /// Whether the body contains a barrier anywhere.
    pub fn has_barrier(&self) -> bool {
        fn any(stmts: &[Stmt]) -> bool {
            stmts.iter().any(|s| match &s.kind {
                StmtKind::Barrier => true,
                StmtKind::If {
                    then_branch,
                    else_branch,
                    ..
                } => any(then_branch) || any(else_branch),
                StmtKind::For { body, .. } | StmtKind::While { body, .. } => any(body),
                _ => false,
            })
        }
        any(&self.body)
    }
}

impl Expr {
    pub fn new(kind: ExprKind, ty: Ty, span: SpanId) -> Expr {
        Expr { kind, ty, span }
    }
    pub fn lit_u32(v: u32) -> Expr {
        Expr::new(ExprKind::Lit(Lit::Int(v as i64)), Ty::U32, SpanId::NONE)
    }
    pub fn lit_f(v: f64, elem: Elem) -> Expr {
        Expr::new(ExprKind::Lit(Lit::Float(v)), Ty::scalar(elem), SpanId::NONE)
    }
    /// `if cond { a } else { b }`, of `a`'s type, with no source span (generated code).
    pub fn select(cond: Expr, a: Expr, b: Expr) -> Expr {
        let ty = a.ty;
        let kind = ExprKind::Select {
            cond: Box::new(cond),
            then_value: Box::new(a),
            else_value: Box::new(b),
        };
        Expr::new(kind, ty, SpanId::NONE)
    }
    /// Calls `f` on this expression and every sub-expression, parents first.
    pub fn walk(&self, f: &mut impl FnMut(&Expr)) {
        f(self);
        match &self.kind {
            ExprKind::Lit(_)
            | ExprKind::Local(_)
            | ExprKind::Param(_)
            | ExprKind::Builtin(_)
            | ExprKind::Len(_) => {}
            ExprKind::Unary(_, a) | ExprKind::Cast(a) | ExprKind::Plane(_, a) => a.walk(f),
            ExprKind::Extract { vector, .. } => vector.walk(f),
            ExprKind::Binary(_, a, b) => {
                a.walk(f);
                b.walk(f);
            }
            ExprKind::Math(_, args) | ExprKind::Construct(args) => {
                args.iter().for_each(|a| a.walk(f));
            }
            ExprKind::Load { index, .. } => index.walk(f),
            ExprKind::AtomicAdd { index, value, .. } => {
                index.walk(f);
                value.walk(f);
            }
            ExprKind::Select {
                cond,
                then_value,
                else_value,
            } => {
                cond.walk(f);
                then_value.walk(f);
                else_value.walk(f);
            }
        }
    }
}

/// A launch grid: groups in the grid and units per group, each in three axes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Grid {
    pub groups: [u32; 3],
    pub group_size: [u32; 3],
}

impl Grid {
    /// A one-dimensional grid of `groups` groups of `group_size` units.
    pub fn linear(groups: u32, group_size: u32) -> Grid {
        Grid {
            groups: [groups, 1, 1],
            group_size: [group_size, 1, 1],
        }
    }
    /// Enough groups of `group_size` units to cover `n` units.
    pub fn cover(n: usize, group_size: u32) -> Grid {
        let groups = n.div_ceil(group_size.max(1) as usize).max(1);
        Grid::linear(groups as u32, group_size)
    }
    /// Units in one group (saturating: three `u32` extents can exceed `u64`).
    #[inline]
    pub fn units_per_group(&self) -> u64 {
        extent(self.group_size)
    }
    /// Groups in the grid (saturating, as [`Grid::units_per_group`]).
    #[inline]
    pub fn num_groups(&self) -> u64 {
        extent(self.groups)
    }
}

/// The product of three extents, saturating. Inlined: every CPU launch takes this path.
#[inline]
fn extent(v: [u32; 3]) -> u64 {
    (u64::from(v[0]) * u64::from(v[1])).saturating_mul(u64::from(v[2]))
}
