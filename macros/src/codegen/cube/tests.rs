//! Snapshots of the CubeCL code generated for hand-built IR kernels (the IR the macro's
//! lowering produces for the same sources), prettyplease-formatted.

use vibee_dsl::kernel::*;

use super::generate;

/// A kernel under construction: parameters, locals and shared arrays by name.
struct K(Kernel);

impl K {
    fn new(name: &str) -> K {
        K(Kernel {
            name: name.into(),
            params: vec![],
            locals: vec![],
            shared: vec![],
            body: vec![],
        })
    }
    fn param(&mut self, name: &str, kind: ParamKind) -> ParamId {
        self.0.params.push(Param {
            name: name.into(),
            kind,
            span: SpanId::NONE,
        });
        ParamId(self.0.params.len() as u32 - 1)
    }
    fn buffer(&mut self, name: &str, elem: Elem, mutable: bool) -> BufRef {
        BufRef::Param(self.param(name, ParamKind::Buffer { elem, mutable }))
    }
    fn local(&mut self, name: &str, ty: Ty, mutable: bool) -> VarId {
        self.0.locals.push(Local {
            name: name.into(),
            ty,
            mutable,
            span: SpanId::NONE,
        });
        VarId(self.0.locals.len() as u32 - 1)
    }
    fn shared(&mut self, name: &str, elem: Elem, len: Expr) -> BufRef {
        self.0.shared.push(SharedArray {
            name: name.into(),
            elem,
            len,
            span: SpanId::NONE,
        });
        BufRef::Shared(SharedId(self.0.shared.len() as u32 - 1))
    }
}

fn e(kind: ExprKind, ty: Ty) -> Expr {
    Expr::new(kind, ty, SpanId::NONE)
}
fn s(kind: StmtKind) -> Stmt {
    Stmt {
        kind,
        span: SpanId::NONE,
    }
}
fn bin(op: BinaryOp, a: Expr, b: Expr) -> Expr {
    let ty = if op.is_comparison() || op.is_logical() {
        Ty::BOOL
    } else {
        a.ty
    };
    e(ExprKind::Binary(op, Box::new(a), Box::new(b)), ty)
}
fn local(k: &K, v: VarId) -> Expr {
    e(ExprKind::Local(v), k.0.local(v).ty)
}
fn param(k: &K, p: ParamId) -> Expr {
    let ty = match k.0.param(p).kind {
        ParamKind::Scalar(elem) | ParamKind::Comptime { elem, .. } => Ty::scalar(elem),
        ParamKind::Buffer { elem, .. } => Ty::scalar(elem),
    };
    e(ExprKind::Param(p), ty)
}
fn load(k: &K, buf: BufRef, index: Expr, lanes: u8) -> Expr {
    let elem = k.0.buf_elem(buf).unwrap_or(Elem::F32);
    e(
        ExprKind::Load {
            buf,
            index: Box::new(index),
        },
        Ty::vector(elem, lanes),
    )
}
fn global_x() -> Expr {
    e(
        ExprKind::Builtin(Builtin::GlobalPos(Some(Axis::X))),
        Ty::U32,
    )
}
fn unit_x() -> Expr {
    e(ExprKind::Builtin(Builtin::UnitPos(Some(Axis::X))), Ty::U32)
}

fn snapshot(name: &str, kernel: &Kernel) {
    let tokens = generate(kernel);
    let file: syn::File = match syn::parse2(tokens.clone()) {
        Ok(file) => file,
        Err(err) => panic!("generated code does not parse: {err}\n{tokens}"),
    };
    let text = prettyplease::unparse(&file);
    insta::with_settings!({
        snapshot_path => concat!(env!("CARGO_MANIFEST_DIR"), "/../snapshots/expand"),
        prepend_module_to_snapshot => false,
        omit_expression => true,
    }, {
        insta::assert_snapshot!(format!("cube__{name}"), text);
    });
}

/// `y[i] = a * x[i] + y[i]` for `i < n`.
pub(crate) fn axpy() -> Kernel {
    let mut k = K::new("axpy");
    let a = k.param("a", ParamKind::Scalar(Elem::F32));
    let x = k.buffer("x", Elem::F32, false);
    let y = k.buffer("y", Elem::F32, true);
    let i = k.local("i", Ty::U32, false);
    let len = e(ExprKind::Len(x), Ty::U32);
    let value = bin(
        BinaryOp::Add,
        bin(BinaryOp::Mul, param(&k, a), load(&k, x, local(&k, i), 1)),
        load(&k, y, local(&k, i), 1),
    );
    k.0.body = vec![
        s(StmtKind::Let {
            var: i,
            init: global_x(),
        }),
        s(StmtKind::If {
            cond: bin(BinaryOp::Lt, local(&k, i), len),
            then_branch: vec![s(StmtKind::Store {
                buf: y,
                index: local(&k, i),
                value,
            })],
            else_branch: vec![],
        }),
    ];
    k.0
}

/// One group sums `BLOCK`-strided elements of `x` into shared memory, then halves the
/// active units each step (a tree reduction with barriers), skipping odd inputs with
/// `continue`, and divides by `n` with integer division.
pub(crate) fn block_sum() -> Kernel {
    let mut k = K::new("block_sum");
    let x = k.buffer("x", Elem::U32, false);
    let out = k.buffer("out", Elem::U32, true);
    let block = k.param(
        "BLOCK",
        ParamKind::Comptime {
            elem: Elem::U32,
            const_generic: true,
        },
    );
    let tile = k.shared("tile", Elem::U32, param(&k, block));
    let acc = k.local("acc", Ty::U32, true);
    let j = k.local("j", Ty::U32, false);
    let stride = k.local("stride", Ty::U32, true);
    let t = unit_x;
    let xj = load(&k, x, local(&k, j), 1);
    let odd = bin(
        BinaryOp::Eq,
        bin(BinaryOp::Rem, xj.clone(), Expr::lit_u32(2)),
        Expr::lit_u32(1),
    );
    let for_loop = s(StmtKind::For {
        var: j,
        start: t(),
        end: e(ExprKind::Len(x), Ty::U32),
        step: param(&k, block),
        body: vec![
            s(StmtKind::If {
                cond: odd,
                then_branch: vec![s(StmtKind::Continue)],
                else_branch: vec![],
            }),
            s(StmtKind::Assign {
                var: acc,
                value: bin(BinaryOp::Add, local(&k, acc), xj),
            }),
        ],
    });
    let half = bin(BinaryOp::Div, local(&k, stride), Expr::lit_u32(2));
    let tree = s(StmtKind::While {
        cond: bin(BinaryOp::Gt, local(&k, stride), Expr::lit_u32(0)),
        body: vec![
            s(StmtKind::If {
                cond: bin(BinaryOp::Lt, t(), local(&k, stride)),
                then_branch: vec![s(StmtKind::Store {
                    buf: tile,
                    index: t(),
                    value: bin(
                        BinaryOp::Add,
                        load(&k, tile, t(), 1),
                        load(&k, tile, bin(BinaryOp::Add, t(), local(&k, stride)), 1),
                    ),
                })],
                else_branch: vec![],
            }),
            s(StmtKind::Barrier),
            s(StmtKind::Assign {
                var: stride,
                value: half.clone(),
            }),
        ],
    });
    k.0.body = vec![
        s(StmtKind::Let {
            var: acc,
            init: Expr::lit_u32(0),
        }),
        for_loop,
        s(StmtKind::Store {
            buf: tile,
            index: t(),
            value: local(&k, acc),
        }),
        s(StmtKind::Barrier),
        s(StmtKind::Let {
            var: stride,
            init: bin(BinaryOp::Div, param(&k, block), Expr::lit_u32(2)),
        }),
        tree,
        s(StmtKind::If {
            cond: bin(BinaryOp::Eq, t(), Expr::lit_u32(0)),
            then_branch: vec![s(StmtKind::Store {
                buf: out,
                index: Expr::lit_u32(0),
                value: load(&k, tile, Expr::lit_u32(0), 1),
            })],
            else_branch: vec![],
        }),
    ];
    k.0
}

/// `bins[x[i] % n_bins] += 1` with an atomic add.
pub(crate) fn histogram() -> Kernel {
    let mut k = K::new("histogram");
    let x = k.buffer("x", Elem::U32, false);
    let bins = k.buffer("bins", Elem::U32, true);
    let i = global_x();
    let bin_index = bin(
        BinaryOp::Rem,
        load(&k, x, i.clone(), 1),
        e(ExprKind::Len(bins), Ty::U32),
    );
    let add = e(
        ExprKind::AtomicAdd {
            buf: bins,
            index: Box::new(bin_index),
            value: Box::new(Expr::lit_u32(1)),
        },
        Ty::U32,
    );
    k.0.body = vec![s(StmtKind::If {
        cond: bin(BinaryOp::Lt, i, e(ExprKind::Len(x), Ty::U32)),
        then_branch: vec![s(StmtKind::Eval(add))],
        else_branch: vec![],
    })];
    k.0
}

/// `y[i] = x[i] * 2` four lanes at a time, then a plane sum of lane 0 into `total`.
pub(crate) fn vec_scale() -> Kernel {
    let mut k = K::new("vec_scale");
    let x = k.buffer("x", Elem::F32, false);
    let y = k.buffer("y", Elem::F32, true);
    let total = k.buffer("total", Elem::F32, true);
    let v = k.local("v", Ty::vector(Elem::F32, 4), false);
    let s0 = k.local("s0", Ty::F32, false);
    let two = e(ExprKind::Lit(Lit::Float(2.0)), Ty::vector(Elem::F32, 4));
    let lane0 = e(
        ExprKind::Extract {
            vector: Box::new(local(&k, v)),
            lane: 0,
        },
        Ty::F32,
    );
    let plane = e(ExprKind::Plane(PlaneOp::Sum, Box::new(lane0)), Ty::F32);
    k.0.body = vec![
        s(StmtKind::Let {
            var: v,
            init: bin(BinaryOp::Mul, load(&k, x, global_x(), 4), two),
        }),
        s(StmtKind::Store {
            buf: y,
            index: global_x(),
            value: local(&k, v),
        }),
        s(StmtKind::Let {
            var: s0,
            init: plane,
        }),
        s(StmtKind::If {
            cond: bin(
                BinaryOp::Eq,
                e(ExprKind::Builtin(Builtin::PlaneUnit), Ty::U32),
                Expr::lit_u32(0),
            ),
            then_branch: vec![s(StmtKind::Store {
                buf: total,
                index: e(ExprKind::Builtin(Builtin::GroupPos(Some(Axis::X))), Ty::U32),
                value: local(&k, s0),
            })],
            else_branch: vec![],
        }),
    ];
    k.0
}

#[test]
fn axpy_expansion() {
    snapshot("axpy", &axpy());
}

#[test]
fn block_sum_expansion() {
    snapshot("block_sum", &block_sum());
}

#[test]
fn histogram_expansion() {
    snapshot("histogram", &histogram());
}

#[test]
fn vec_scale_expansion() {
    snapshot("vec_scale", &vec_scale());
}

#[test]
fn atomic_buffers_are_declared_atomic() {
    let text = generate(&histogram()).to_string();
    assert!(text.contains("bins : & [Atomic < u32 >]"), "{text}");
    assert!(text.contains("x : & [u32]"), "{text}");
}

#[test]
fn planes_flag_only_where_planes_are_used() {
    assert!(!generate(&axpy()).to_string().contains("__planes"));
    let text = generate(&vec_scale()).to_string();
    assert!(text.contains("# [comptime] __planes : bool"), "{text}");
    assert!(
        text.contains("args : [buffer 0 , buffer 1 , buffer 2 , planes]"),
        "{text}"
    );
}

#[test]
fn continue_becomes_a_flag_that_skips_the_rest() {
    let text = generate(&block_sum()).to_string();
    // The strided loop takes id 0 for its counter, its `continue` flag id 1.
    assert!(text.contains("let mut __continue_1 = false"), "{text}");
    assert!(text.contains("__continue_1 = true"), "{text}");
    assert!(text.contains("if ! __continue_1"), "{text}");
    assert!(text.contains("__i_0 += __step_0"), "{text}");
    assert!(!text.contains("continue ;"), "{text}");
}

#[test]
fn integer_division_is_guarded() {
    let text = generate(&block_sum()).to_string();
    assert!(text.contains("__ops :: div :: < u32 >"), "{text}");
    assert!(text.contains("__ops :: rem :: < u32 >"), "{text}");
}

#[test]
fn shadowed_and_reserved_local_names_are_renamed() {
    let mut k = K::new("names");
    let n = k.param("n", ParamKind::Scalar(Elem::U32));
    let a = k.local("n", Ty::U32, false);
    let b = k.local("scope", Ty::U32, false);
    let c = k.local("t", Ty::U32, false);
    let d = k.local("t", Ty::U32, false);
    k.0.body = [a, b, c, d]
        .into_iter()
        .map(|var| {
            s(StmtKind::Let {
                var,
                init: param(&k, n),
            })
        })
        .collect();
    let text = generate(&k.0).to_string();
    for name in ["let n_0 =", "let scope_1 =", "let t_2 =", "let t_3 ="] {
        assert!(text.contains(name), "{name} in {text}");
    }
}
