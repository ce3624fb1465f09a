//! The CPU executor against the f64 reference evaluator, op by op, forward and backward
//! (each graph is differentiated, so the backward ops run too), on 1 and 2 threads.

// Helpers outside `#[test]` functions unwrap too: a broken invariant should fail loudly.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;

use vibee_dsl::graph::autodiff::gradients;
use vibee_dsl::graph::reference::evaluate;
use vibee_dsl::graph::{BinaryOp, DType, Graph, InputRole, NodeId, UnaryOp};
use vibee_runtime::exec::{CompileOptions, ExecError, Feed, Program};

struct Rng(u64);

impl Rng {
    fn vec(&mut self, n: usize, lo: f32, hi: f32) -> Vec<f32> {
        (0..n)
            .map(|_| {
                self.0 ^= self.0 << 13;
                self.0 ^= self.0 >> 7;
                self.0 ^= self.0 << 17;
                lo + (hi - lo) * ((self.0 >> 40) as f32 / (1u64 << 24) as f32)
            })
            .collect()
    }
}

/// Builds `forward` over float params of `shapes` (and U32 `data`), differentiates
/// `Σ out·r`, and compares every output and gradient with the reference.
fn check(
    shapes: &[&[usize]],
    data: &[(&str, &[usize], &[u32])],
    forward: impl Fn(&mut Graph, &[NodeId], &[NodeId]) -> NodeId,
) {
    let mut rng = Rng(0x2545_F491_4F6C_DD1D);
    let mut g = Graph::new();
    let mut values: Vec<Vec<f32>> = Vec::new();
    let mut ps = Vec::new();
    for (i, s) in shapes.iter().enumerate() {
        ps.push(
            g.input(&format!("p{i}"), s, DType::F32, InputRole::Param)
                .unwrap(),
        );
        values.push(rng.vec(s.iter().product(), -1.5, 1.5));
    }
    let ds: Vec<NodeId> = data
        .iter()
        .map(|(n, s, _)| g.input(n, s, DType::U32, InputRole::Data).unwrap())
        .collect();
    let out = forward(&mut g, &ps, &ds);
    let os = g.shape(out).to_vec();
    let r = g.input("r", &os, DType::F32, InputRole::Data).unwrap();
    values.push(rng.vec(os.iter().product(), -1.0, 1.0));
    let w = g.mul(out, r).unwrap();
    let axes: Vec<usize> = (0..os.len()).collect();
    let loss = g.sum(w, &axes, false).unwrap();
    let grads = gradients(&mut g, loss, &ps).unwrap();
    g.outputs = [out, loss].into_iter().chain(grads).collect();

    let mut feeds64 = HashMap::new();
    for (i, v) in values.iter().enumerate().take(shapes.len()) {
        feeds64.insert(
            format!("p{i}"),
            v.iter().map(|&x| f64::from(x)).collect::<Vec<_>>(),
        );
    }
    feeds64.insert(
        "r".to_string(),
        values[shapes.len()].iter().map(|&x| f64::from(x)).collect(),
    );
    for (n, _, v) in data {
        feeds64.insert(n.to_string(), v.iter().map(|&x| f64::from(x)).collect());
    }
    let want = evaluate(&g, &feeds64, 3).unwrap();
    for threads in [1, 2] {
        let mut p = Program::compile(&g, threads).unwrap();
        let feeds: Vec<Feed<'_>> = p
            .inputs()
            .iter()
            .map(|s| match (s.name.as_str(), s.dtype) {
                ("r", _) => Feed::F32(&values[shapes.len()]),
                (n, DType::U32) => Feed::U32(data.iter().find(|d| d.0 == n).unwrap().2),
                (n, _) => Feed::F32(&values[n[1..].parse::<usize>().unwrap()]),
            })
            .collect();
        p.run(&feeds, 3).unwrap();
        for (k, o) in g.outputs.iter().enumerate() {
            let (got, exp) = (p.output(k), &want[o.index()]);
            assert_eq!(got.len(), exp.len(), "output {k}");
            for (i, (&a, &b)) in got.iter().zip(exp).enumerate() {
                let tol = 2e-4 * (1.0 + b.abs());
                assert!(
                    (f64::from(a) - b).abs() <= tol,
                    "output {k}[{i}] on {threads} threads: {a} vs reference {b}"
                );
            }
        }
    }
}

#[test]
fn elementwise_and_broadcasting() {
    for op in [
        UnaryOp::Neg,
        UnaryOp::Exp,
        UnaryOp::Tanh,
        UnaryOp::Sigmoid,
        UnaryOp::Relu,
        UnaryOp::Gelu,
        UnaryOp::Square,
        UnaryOp::Scale(0.5),
        UnaryOp::AddScalar(2.0),
    ] {
        check(&[&[5, 7]], &[], |g, x, _| g.unary(op, x[0]).unwrap());
    }
    let pairs: [(&[usize], &[usize]); 4] = [
        (&[4, 6], &[4, 6]),
        (&[3, 4, 6], &[6]),
        (&[6], &[3, 4, 6]),
        (&[3, 1, 6], &[4, 1]),
    ];
    for op in [
        BinaryOp::Add,
        BinaryOp::Sub,
        BinaryOp::Mul,
        BinaryOp::Maximum,
    ] {
        for (a, b) in pairs {
            check(&[a, b], &[], |g, x, _| g.binary(op, x[0], x[1]).unwrap());
        }
    }
}

#[test]
fn matmuls() {
    let cases: [(&[usize], &[usize], bool, bool); 7] = [
        (&[33, 20], &[20, 17], false, false),
        (&[20, 33], &[17, 20], true, true),
        (&[3, 9, 8], &[3, 8, 5], false, false),
        (&[3, 9, 8], &[5, 8], false, true),
        (&[3, 8, 9], &[8, 5], true, false),
        (&[9, 8], &[6, 8, 5], false, false),
        (&[2, 3, 16, 8], &[2, 3, 16, 8], false, true),
    ];
    for (a, b, ta, tb) in cases {
        check(&[a, b], &[], |g, x, _| {
            g.matmul(x[0], x[1], ta, tb).unwrap()
        });
    }
}

#[test]
fn long_products_in_row_blocks_match_a_plain_sum() {
    // One thread, a short inner dimension and a wide output: `gemm_f32` runs op(a)'s rows
    // in blocks (1100 rows: two whole blocks and a partial one), every transpose.
    let (m, n, k) = (1100, 384, 96);
    let mut rng = Rng(7);
    let (a, b) = (rng.vec(m * k, -1.0, 1.0), rng.vec(k * n, -1.0, 1.0));
    for (ta, tb) in [(false, false), (false, true), (true, false), (true, true)] {
        let mut c = vec![f32::NAN; m * n];
        vibee_runtime::exec::gemm_f32(&mut c, &a, &b, m, n, k, ta, tb, 1);
        for i in (0..m).step_by(37).chain([m - 1]) {
            for j in (0..n).step_by(11).chain([n - 1]) {
                let want: f64 = (0..k)
                    .map(|p| {
                        let x = if ta { a[p * m + i] } else { a[i * k + p] };
                        let y = if tb { b[j * k + p] } else { b[p * n + j] };
                        f64::from(x) * f64::from(y)
                    })
                    .sum();
                let got = c[i * n + j];
                assert!(
                    (f64::from(got) - want).abs() < 1e-4,
                    "ta {ta} tb {tb}: c[{i}, {j}] = {got}, want {want}"
                );
            }
        }
    }
}

#[test]
fn reductions_and_movement() {
    for axes in [&[0][..], &[1], &[2], &[0, 1], &[1, 2], &[0, 2]] {
        check(&[&[3, 4, 5]], &[], |g, x, _| {
            g.sum(x[0], axes, false).unwrap()
        });
        check(&[&[3, 4, 5]], &[], |g, x, _| {
            g.mean(x[0], axes, true).unwrap()
        });
        check(&[&[3, 4, 5]], &[], |g, x, _| {
            g.max(x[0], axes, false).unwrap()
        });
    }
    check(&[&[2, 3, 4, 5]], &[], |g, x, _| {
        g.permute(x[0], &[0, 2, 1, 3]).unwrap()
    });
    check(&[&[2, 3, 4, 5]], &[], |g, x, _| {
        g.permute(x[0], &[3, 1, 0, 2]).unwrap()
    });
    check(&[&[3, 6, 2]], &[], |g, x, _| {
        g.slice(x[0], 1, 2, 5).unwrap()
    });
    check(&[&[3, 6, 2]], &[], |g, x, _| g.pad(x[0], 2, 1, 3).unwrap());
    check(&[&[3, 1, 2]], &[], |g, x, _| {
        g.broadcast(x[0], &[4, 3, 5, 2]).unwrap()
    });
    check(&[&[2, 3], &[2, 4]], &[], |g, x, _| {
        g.concat(&[x[0], x[1]], 1).unwrap()
    });
    check(&[&[2, 12]], &[], |g, x, _| {
        g.reshape(x[0], &[4, 6]).unwrap()
    });
}

/// Shapes past the executor's task and lane sizes: several tasks per op, rows longer than
/// a lane block with a tail, permutes whose axes merge, a strided innermost axis and
/// size-1 axes, column sums split into groups.
#[test]
fn large_reductions_and_movement() {
    for axes in [&[0, 1][..], &[1], &[2]] {
        check(&[&[40, 50, 21]], &[], |g, x, _| {
            g.sum(x[0], axes, false).unwrap()
        });
        check(&[&[40, 50, 21]], &[], |g, x, _| {
            g.max(x[0], axes, false).unwrap()
        });
    }
    for perm in [&[2, 0, 3, 1, 4][..], &[0, 1, 3, 2, 4], &[4, 3, 2, 1, 0]] {
        check(&[&[6, 37, 3, 1, 33]], &[], |g, x, _| {
            g.permute(x[0], perm).unwrap()
        });
    }
    check(&[&[3, 700, 13]], &[], |g, x, _| {
        g.slice(x[0], 1, 5, 650).unwrap()
    });
    check(&[&[3, 700, 13]], &[], |g, x, _| {
        g.pad(x[0], 1, 7, 2).unwrap()
    });
    check(&[&[600, 20], &[600, 11]], &[], |g, x, _| {
        g.concat(&[x[0], x[1]], 1).unwrap()
    });
}

#[test]
fn row_ops() {
    check(&[&[6, 9]], &[], |g, x, _| g.softmax(x[0]).unwrap());
    check(&[&[6, 9]], &[], |g, x, _| g.log_softmax(x[0]).unwrap());
    check(&[&[2, 3, 7, 7]], &[], |g, x, _| {
        g.causal_softmax(x[0], 0.4).unwrap()
    });
    check(&[&[5, 16], &[16], &[16]], &[], |g, x, _| {
        g.layer_norm(x[0], Some(x[1]), Some(x[2]), 1e-5).unwrap()
    });
    check(&[&[5, 16], &[16]], &[], |g, x, _| {
        g.rms_norm(x[0], Some(x[1]), 1e-6).unwrap()
    });
    check(&[&[2, 8, 4], &[2, 8, 4], &[2, 8, 4]], &[], |g, x, _| {
        g.causal_attention(x[0], x[1], x[2]).unwrap()
    });
    check(&[&[2, 3, 7, 8]], &[], |g, x, _| {
        g.rope(x[0], 10_000.0).unwrap()
    });
}

/// Rows longer than a lane block and more rows than a task; causal attention longer than
/// a block of its triangular products (and not a multiple of one).
#[test]
fn large_row_ops_and_causal_attention() {
    check(&[&[90, 130]], &[], |g, x, _| g.softmax(x[0]).unwrap());
    check(&[&[90, 130]], &[], |g, x, _| g.log_softmax(x[0]).unwrap());
    check(&[&[90, 130], &[130], &[130]], &[], |g, x, _| {
        g.layer_norm(x[0], Some(x[1]), Some(x[2]), 1e-5).unwrap()
    });
    check(&[&[90, 130]], &[], |g, x, _| {
        g.rms_norm(x[0], None, 1e-6).unwrap()
    });
    check(&[&[4, 4, 45, 45]], &[], |g, x, _| {
        g.causal_softmax(x[0], 0.3).unwrap()
    });
    let qkv: &[usize] = &[2, 3, 37, 8];
    check(&[qkv, qkv, qkv], &[], |g, x, _| {
        g.causal_attention(x[0], x[1], x[2]).unwrap()
    });
}

/// The fused self-attention from a `qkv` projection and its gradient against the f64
/// reference: one block of the triangle, several, and a length no multiple of a block.
#[test]
fn self_attention_from_qkv() {
    for (shape, heads) in [([2, 7, 12], 2), ([2, 64, 36], 3), ([1, 77, 48], 4)] {
        check(&[&shape], &[], |g, x, _| {
            g.self_attention(x[0], heads).unwrap()
        });
    }
}

/// The fused attention gives the same values on 1 and 2 threads, bit for bit, and the
/// same as its expansion into primitive ops within f32 rounding.
#[test]
fn self_attention_is_thread_independent_and_matches_its_expansion() {
    let mut g = Graph::new();
    let s: &[usize] = &[3, 70, 24];
    let qkv = g.input("qkv", s, DType::F32, InputRole::Param).unwrap();
    let y = g.self_attention(qkv, 2).unwrap();
    let sq = g.mul(y, y).unwrap();
    let loss = g.sum(sq, &[0, 1, 2], false).unwrap();
    let grads = gradients(&mut g, loss, &[qkv]).unwrap();
    g.outputs = [y, loss].into_iter().chain(grads).collect();
    let x = Rng(5).vec(s.iter().product(), -2.0, 2.0);
    let run = |g: &Graph, threads: usize| {
        let mut p = Program::compile(g, threads).unwrap();
        p.run(&[Feed::F32(&x)], 0).unwrap();
        (0..3).map(|i| p.output(i).to_vec()).collect::<Vec<_>>()
    };
    let one = run(&g, 1);
    assert_eq!(one, run(&g, 2), "thread count changed the result");
    let expanded = vibee_dsl::graph::passes::expand_attention(&g).unwrap();
    for (k, (a, b)) in one.iter().zip(run(&expanded, 1)).enumerate() {
        let scale = b.iter().fold(1.0f32, |m, v| m.max(v.abs()));
        let worst = a
            .iter()
            .zip(&b)
            .fold(0.0f32, |m, (x, y)| m.max((x - y).abs()));
        assert!(
            worst <= 1e-5 * scale,
            "output {k}: fused and expanded differ by {worst}"
        );
    }
}

fn bind(values: &[Vec<f32>]) -> Vec<Feed<'_>> {
    values.iter().map(|x| Feed::F32(x)).collect()
}

/// Causal attention's products leave entries nobody reads as they were: a run after a run
/// on other inputs gives exactly what a fresh program gives.
#[test]
fn causal_products_do_not_depend_on_earlier_runs() {
    let mut g = Graph::new();
    let s: &[usize] = &[2, 2, 40, 8];
    let q = g.input("q", s, DType::F32, InputRole::Param).unwrap();
    let k = g.input("k", s, DType::F32, InputRole::Param).unwrap();
    let v = g.input("v", s, DType::F32, InputRole::Param).unwrap();
    let o = g.causal_attention(q, k, v).unwrap();
    let sq = g.mul(o, o).unwrap();
    let loss = g.sum(sq, &[0, 1, 2, 3], false).unwrap();
    let grads = gradients(&mut g, loss, &[q, k, v]).unwrap();
    g.outputs = [loss].into_iter().chain(grads).collect();
    let mut rng = Rng(11);
    let n = s.iter().product();
    let first: Vec<Vec<f32>> = (0..3).map(|_| rng.vec(n, -30.0, 30.0)).collect();
    let second: Vec<Vec<f32>> = (0..3).map(|_| rng.vec(n, -1.0, 1.0)).collect();
    for threads in [1, 2] {
        let outputs = |p: &Program| (0..4).map(|i| p.output(i).to_vec()).collect::<Vec<_>>();
        let mut used = Program::compile(&g, threads).unwrap();
        used.run(&bind(&first), 0).unwrap();
        used.run(&bind(&second), 0).unwrap();
        let mut fresh = Program::compile(&g, threads).unwrap();
        fresh.run(&bind(&second), 0).unwrap();
        assert_eq!(outputs(&used), outputs(&fresh), "{threads} threads");
    }
}

#[test]
fn indices_cross_entropy_and_dropout() {
    let ids: &[u32] = &[3, 0, 3, 5, 1, 3];
    check(&[&[6, 4]], &[("ids", &[2, 3], ids)], |g, x, d| {
        g.gather(x[0], d[0]).unwrap()
    });
    check(&[&[2, 3, 4]], &[("ids", &[2, 3], ids)], |g, x, d| {
        g.scatter_add(d[0], x[0], 6).unwrap()
    });
    check(&[&[6, 7]], &[("t", &[6], ids)], |g, x, d| {
        g.cross_entropy(x[0], d[0]).unwrap()
    });
    check(&[&[40, 50]], &[], |g, x, _| {
        g.dropout(x[0], 0.25, 5).unwrap()
    });
}

#[test]
fn bad_bindings_are_typed_errors() {
    let mut g = Graph::new();
    let t = g
        .input("table", &[4, 2], DType::F32, InputRole::Param)
        .unwrap();
    let i = g.input("ids", &[3], DType::U32, InputRole::Data).unwrap();
    let y = g.gather(t, i).unwrap();
    g.outputs.push(y);
    let mut p = Program::compile(&g, 1).unwrap();
    let table = [0.0f32; 8];
    let err = p
        .run(&[Feed::F32(&table), Feed::U32(&[0, 9, 1])], 0)
        .unwrap_err();
    assert!(
        matches!(
            err,
            ExecError::IndexOutOfRange {
                index: 9,
                rows: 4,
                ..
            }
        ),
        "{err}"
    );
    assert!(
        err.to_string().contains("exec_ops.rs"),
        "the message names the call site: {err}"
    );
    let err = p
        .run(&[Feed::F32(&table[..7]), Feed::U32(&[0, 1, 1])], 0)
        .unwrap_err();
    assert!(
        matches!(
            err,
            ExecError::Feed {
                want: 8,
                got: 7,
                ..
            }
        ),
        "{err}"
    );
    let err = p.run(&[Feed::F32(&table)], 0).unwrap_err();
    assert!(
        matches!(err, ExecError::FeedCount { want: 2, got: 1 }),
        "{err}"
    );
}

#[test]
fn runs_are_deterministic_and_memory_is_reused() {
    let mut g = Graph::new();
    let x = g
        .input("x", &[64, 48], DType::F32, InputRole::Param)
        .unwrap();
    let w = g
        .input("w", &[96, 48], DType::F32, InputRole::Param)
        .unwrap();
    let mut h = x;
    for _ in 0..4 {
        let y = g.matmul(h, w, false, true).unwrap();
        let y = g.gelu(y).unwrap();
        h = g.matmul(y, w, false, false).unwrap();
        h = g.layer_norm(h, None, None, 1e-5).unwrap();
    }
    let loss = g.mean(h, &[0, 1], false).unwrap();
    let grads = gradients(&mut g, loss, &[x, w]).unwrap();
    g.outputs = vec![loss, grads[0], grads[1]];
    let mut rng = Rng(7);
    let (xv, wv) = (rng.vec(64 * 48, -1.0, 1.0), rng.vec(96 * 48, -0.2, 0.2));
    let mut p = Program::compile(&g, 2).unwrap();
    let mut run = || {
        p.run(&[Feed::F32(&xv), Feed::F32(&wv)], 0).unwrap();
        (0..3).map(|k| p.output(k).to_vec()).collect::<Vec<_>>()
    };
    assert_eq!(run(), run());
    assert!(
        p.planned_peak_bytes() < p.unplanned_bytes() / 2,
        "{} vs {}",
        p.planned_peak_bytes(),
        p.unplanned_bytes()
    );
}

#[test]
fn profiling_times_every_op_kind() {
    let mut g = Graph::new();
    let x = g.input("x", &[8, 16], DType::F32, InputRole::Data).unwrap();
    let w = g
        .input("w", &[4, 16], DType::F32, InputRole::Param)
        .unwrap();
    let y = g.matmul(x, w, false, true).unwrap();
    let y = g.unary(UnaryOp::Square, y).unwrap();
    let y = g.binary(BinaryOp::Add, y, y).unwrap();
    g.outputs.push(y);
    for (fuse, want) in [
        (
            false,
            &[("binary Add", 1), ("matmul_nt", 1), ("unary Square", 1)][..],
        ),
        (true, &[("fused_square_add", 1), ("matmul_nt", 1)][..]),
    ] {
        let options = CompileOptions {
            fuse,
            ..CompileOptions::default()
        };
        let mut p = Program::compile_with_options(&g, 1, options).unwrap();
        let (xv, wv) = ([0.5f32; 128], [0.25f32; 64]);
        p.run(&[Feed::F32(&xv), Feed::F32(&wv)], 0).unwrap();
        assert!(p.profile().is_empty(), "off by default");
        p.set_profiling(true);
        for _ in 0..3 {
            p.run(&[Feed::F32(&xv), Feed::F32(&wv)], 0).unwrap();
        }
        let prof = p.profile();
        let mut kinds: Vec<(&str, usize)> = prof.iter().map(|(o, _, n)| (o.as_str(), *n)).collect();
        kinds.sort();
        assert_eq!(kinds, want);
        assert!(prof.iter().all(|(_, s, _)| *s > 0.0));
        assert!(prof.windows(2).all(|w| w[0].1 >= w[1].1), "largest first");
    }
}
