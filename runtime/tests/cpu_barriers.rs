//! Shared memory and group barriers: a tree reduction (barrier inside a loop), a tiled
//! matmul (two barriers per tile), a prefix sum, and units that return early.

mod cpu_support;

use cpu_support::*;
use vibee_dsl::kernel::*;

fn unit() -> Expr {
    builtin(Builtin::UnitPos(None))
}

/// Each group sums its 64 inputs with a shared-memory tree; out[group] = sum.
fn block_sum() -> Kernel {
    let mut kb = Kb::new("block_sum");
    let block = kb.comptime("BLOCK", Elem::U32);
    let x = kb.buf("x", Elem::F32);
    let out = kb.buf_mut("out", Elem::F32);
    let tile = kb.shared("tile", Elem::F32, block.clone());
    let stride = kb.local("stride", Ty::U32);
    let body = vec![
        store(tile, unit(), kb.load(x, gid(), 1)),
        barrier(),
        let_(stride, bin(BinaryOp::Div, block, u32c(2))),
        while_(
            bin(BinaryOp::Gt, kb.get(stride), u32c(0)),
            vec![
                if_(
                    lt(unit(), kb.get(stride)),
                    vec![store(
                        tile,
                        unit(),
                        add(
                            kb.load(tile, unit(), 1),
                            kb.load(tile, add(unit(), kb.get(stride)), 1),
                        ),
                    )],
                    vec![],
                ),
                barrier(),
                assign(stride, bin(BinaryOp::Shr, kb.get(stride), u32c(1))),
            ],
        ),
        if_(
            bin(BinaryOp::Eq, unit(), u32c(0)),
            vec![store(
                out,
                builtin(Builtin::GroupPos(None)),
                kb.load(tile, u32c(0), 1),
            )],
            vec![],
        ),
    ];
    kb.finish(body)
}

#[test]
fn a_shared_memory_tree_reduction_sums_each_group() {
    let k = block_sum();
    let n = 64 * 50;
    let x: Vec<f32> = (0..n).map(|i| (i % 17) as f32).collect();
    let out = check(
        &k,
        Grid::linear(50, 64),
        &[Arg::Comptime(Scalar::U32(64)), f32s(&x), f32s(&[0.0; 50])],
    );
    let want: Vec<f32> = x.chunks(64).map(|c| c.iter().sum()).collect();
    assert_eq!(as_f32(&out[1]), want);
}

/// C = A·B for n×n matrices with TILE×TILE groups; each tile iteration loads A and B tiles
/// into shared memory between two barriers.
fn tiled_matmul() -> Kernel {
    let mut kb = Kb::new("tiled_matmul");
    let tile_c = kb.comptime("TILE", Elem::U32);
    let a = kb.buf("a", Elem::F32);
    let b = kb.buf("b", Elem::F32);
    let c = kb.buf_mut("c", Elem::F32);
    let n = kb.scalar("n", Elem::U32);
    let ta = kb.shared("ta", Elem::F32, mul(tile_c.clone(), tile_c.clone()));
    let tb = kb.shared("tb", Elem::F32, mul(tile_c.clone(), tile_c.clone()));
    let [row, col, tx, ty, t, k, acc] = ["row", "col", "tx", "ty", "t", "k", "acc"]
        .map(|name| kb.local(name, if name == "acc" { Ty::F32 } else { Ty::U32 }));
    let g = |b| builtin(b);
    let ntiles = bin(
        BinaryOp::Div,
        add(n.clone(), bin(BinaryOp::Sub, tile_c.clone(), u32c(1))),
        tile_c.clone(),
    );
    let at = |r: Expr, cc: Expr| add(mul(r, n.clone()), cc);
    let local_idx = add(mul(kb.get(ty), tile_c.clone()), kb.get(tx));
    let body = vec![
        let_(tx, g(Builtin::UnitPos(Some(Axis::X)))),
        let_(ty, g(Builtin::UnitPos(Some(Axis::Y)))),
        let_(row, g(Builtin::GlobalPos(Some(Axis::Y)))),
        let_(col, g(Builtin::GlobalPos(Some(Axis::X)))),
        let_(acc, f32c(0.0)),
        for_(
            t,
            u32c(0),
            ntiles,
            u32c(1),
            vec![
                store(
                    ta,
                    local_idx.clone(),
                    select(
                        bin(
                            BinaryOp::And,
                            lt(kb.get(row), n.clone()),
                            lt(add(mul(kb.get(t), tile_c.clone()), kb.get(tx)), n.clone()),
                        ),
                        kb.load(
                            a,
                            at(kb.get(row), add(mul(kb.get(t), tile_c.clone()), kb.get(tx))),
                            1,
                        ),
                        f32c(0.0),
                    ),
                ),
                store(
                    tb,
                    local_idx.clone(),
                    select(
                        bin(
                            BinaryOp::And,
                            lt(kb.get(col), n.clone()),
                            lt(add(mul(kb.get(t), tile_c.clone()), kb.get(ty)), n.clone()),
                        ),
                        kb.load(
                            b,
                            at(add(mul(kb.get(t), tile_c.clone()), kb.get(ty)), kb.get(col)),
                            1,
                        ),
                        f32c(0.0),
                    ),
                ),
                barrier(),
                for_(
                    k,
                    u32c(0),
                    tile_c.clone(),
                    u32c(1),
                    vec![assign(
                        acc,
                        math(
                            MathFn::Fma,
                            vec![
                                kb.load(ta, add(mul(kb.get(ty), tile_c.clone()), kb.get(k)), 1),
                                kb.load(tb, add(mul(kb.get(k), tile_c.clone()), kb.get(tx)), 1),
                                kb.get(acc),
                            ],
                        ),
                    )],
                ),
                barrier(),
            ],
        ),
        if_(
            bin(
                BinaryOp::And,
                lt(kb.get(row), n.clone()),
                lt(kb.get(col), n.clone()),
            ),
            vec![store(c, at(kb.get(row), kb.get(col)), kb.get(acc))],
            vec![],
        ),
    ];
    kb.finish(body)
}

#[test]
fn a_tiled_matmul_with_two_barriers_per_tile_matches_the_interpreter() {
    let k = tiled_matmul();
    let n = 37usize;
    let a: Vec<f32> = (0..n * n).map(|i| ((i * 7) % 11) as f32 - 5.0).collect();
    let b: Vec<f32> = (0..n * n).map(|i| ((i * 3) % 13) as f32 * 0.5).collect();
    let tiles = n.div_ceil(8) as u32;
    let grid = Grid {
        groups: [tiles, tiles, 1],
        group_size: [8, 8, 1],
    };
    let out = check(
        &k,
        grid,
        &[
            Arg::Comptime(Scalar::U32(8)),
            f32s(&a),
            f32s(&b),
            f32s(&vec![0.0; n * n]),
            Arg::Scalar(Scalar::U32(n as u32)),
        ],
    );
    let c = as_f32(&out[2]);
    for (r, cc) in [(0, 0), (5, 36), (36, 36), (20, 3)] {
        let want: f32 = (0..n).map(|k| a[r * n + k] * b[k * n + cc]).sum();
        assert!(
            (c[r * n + cc] - want).abs() < 1e-3,
            "c[{r},{cc}] = {} vs {want}",
            c[r * n + cc]
        );
    }
}

#[test]
fn a_prefix_sum_with_barriers_in_a_for_loop_matches_the_interpreter() {
    // Hillis-Steele inclusive scan over one group of 128 in u32.
    let mut kb = Kb::new("scan");
    let x = kb.buf("x", Elem::U32);
    let out = kb.buf_mut("out", Elem::U32);
    let s = kb.shared("s", Elem::U32, u32c(128));
    let offset = kb.local("offset", Ty::U32);
    let v = kb.local("v", Ty::U32);
    let body = vec![
        store(s, unit(), kb.load(x, gid(), 1)),
        barrier(),
        for_(
            offset,
            u32c(0),
            u32c(7),
            u32c(1),
            vec![
                let_(v, kb.load(s, unit(), 1)),
                if_(
                    bin(
                        BinaryOp::Ge,
                        unit(),
                        bin(BinaryOp::Shl, u32c(1), kb.get(offset)),
                    ),
                    vec![assign(
                        v,
                        add(
                            kb.get(v),
                            kb.load(
                                s,
                                bin(
                                    BinaryOp::Sub,
                                    unit(),
                                    bin(BinaryOp::Shl, u32c(1), kb.get(offset)),
                                ),
                                1,
                            ),
                        ),
                    )],
                    vec![],
                ),
                barrier(),
                store(s, unit(), kb.get(v)),
                barrier(),
            ],
        ),
        store(out, gid(), kb.load(s, unit(), 1)),
    ];
    let k = kb.finish(body);
    let x: Vec<u32> = (0..256).map(|i| (i * 13 % 10) as u32).collect();
    let out = check(&k, Grid::linear(2, 128), &[u32s(&x), u32s(&[0; 256])]);
    let mut want = Vec::new();
    for chunk in x.chunks(128) {
        let mut acc = 0;
        for v in chunk {
            acc += v;
            want.push(acc);
        }
    }
    assert_eq!(as_u32(&out[1]), want);
}

#[test]
fn units_that_return_early_no_longer_hold_up_barriers() {
    // Odd units leave at once; even units meet at the barrier and read a neighbour.
    let mut kb = Kb::new("early_exit");
    let out = kb.buf_mut("out", Elem::U32);
    let s = kb.shared("s", Elem::U32, u32c(16));
    let body = vec![
        if_(
            bin(BinaryOp::Eq, bin(BinaryOp::Rem, unit(), u32c(2)), u32c(1)),
            vec![ret()],
            vec![],
        ),
        store(s, unit(), add(unit(), u32c(100))),
        barrier(),
        store(
            out,
            gid(),
            kb.load(s, bin(BinaryOp::Rem, add(unit(), u32c(2)), u32c(16)), 1),
        ),
    ];
    let k = kb.finish(body);
    let out = check(&k, Grid::linear(3, 16), &[u32s(&[1; 48])]);
    assert_eq!(as_u32(&out[0])[..4], [102, 1, 104, 1]);
}
