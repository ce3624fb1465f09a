//! What lowering produces for accepted kernels.

use proc_macro2::TokenStream;
use quote::quote;
use vibee_dsl::kernel::*;

use super::lower_kernel;

fn lower(item: TokenStream) -> Kernel {
    lower_kernel(TokenStream::new(), item).expect("kernel lowers")
}

#[test]
fn axpy_params_and_body() {
    let k = lower(quote! {
        pub fn axpy(a: f32, x: &[f32], y: &mut [f32]) {
            let i = global_pos();
            if i < y.len() { y[i] = a * x[i] + y[i]; }
        }
    });
    assert_eq!(k.name, "axpy");
    let kinds: Vec<ParamKind> = k.params.iter().map(|p| p.kind).collect();
    assert_eq!(
        kinds,
        [
            ParamKind::Scalar(Elem::F32),
            ParamKind::Buffer {
                elem: Elem::F32,
                mutable: false
            },
            ParamKind::Buffer {
                elem: Elem::F32,
                mutable: true
            },
        ]
    );
    assert_eq!(k.locals[0].ty, Ty::U32);
    let StmtKind::If { then_branch, .. } = &k.body[1].kind else {
        panic!("expected if: {:?}", k.body[1])
    };
    assert!(matches!(
        then_branch[0].kind,
        StmtKind::Store {
            buf: BufRef::Param(ParamId(2)),
            ..
        }
    ));
}

#[test]
fn literals_take_the_type_of_the_other_operand() {
    let k = lower(quote! {
        fn k(x: &[i32], y: &mut [f32]) {
            let i = global_pos();
            let a = 2 * x[i];
            let b = 0.5 * y[i];
            let c = 7;
            let d = -1;
            y[i] = b;
        }
    });
    let tys: Vec<Ty> = k.locals.iter().map(|l| l.ty).collect();
    assert_eq!(tys, [Ty::U32, Ty::I32, Ty::F32, Ty::U32, Ty::I32]);
}

#[test]
fn const_generics_come_first_and_comptime_params_are_comptime() {
    let k = lower(quote! {
        fn k<const BLOCK: usize>(x: &mut [f32], #[comptime] d: u32) {
            let tile = shared::<f32>(BLOCK * 2);
            tile[unit_pos()] = x[global_pos()];
            barrier();
            x[global_pos()] = tile[(unit_pos() + 1) % d];
        }
    });
    assert_eq!(
        k.params[0].kind,
        ParamKind::Comptime {
            elem: Elem::U32,
            const_generic: true
        }
    );
    assert_eq!(
        k.params[2].kind,
        ParamKind::Comptime {
            elem: Elem::U32,
            const_generic: false
        }
    );
    assert_eq!(k.shared.len(), 1);
    assert!(k.has_barrier());
}

#[test]
fn compound_assignment_on_a_buffer_reads_then_stores() {
    let k = lower(quote! {
        fn k(y: &mut [f32]) { y[global_pos()] += 1.0; }
    });
    let StmtKind::Store { value, .. } = &k.body[0].kind else {
        panic!("{:?}", k.body)
    };
    let ExprKind::Binary(BinaryOp::Add, lhs, rhs) = &value.kind else {
        panic!("{value:?}")
    };
    assert!(matches!(lhs.kind, ExprKind::Load { .. }));
    assert_eq!(rhs.kind, ExprKind::Lit(Lit::Float(1.0)));
}

#[test]
fn value_if_is_a_select_when_branches_are_pure() {
    let k = lower(quote! {
        fn k(x: &[f32], y: &mut [f32]) {
            let i = global_pos();
            y[i] = if x[i] > 0.0 { x[i] } else { 0.0 };
        }
    });
    let StmtKind::Store { value, .. } = &k.body[1].kind else {
        panic!("{:?}", k.body)
    };
    assert!(matches!(value.kind, ExprKind::Select { .. }));
}

#[test]
fn value_if_with_statements_becomes_a_temporary() {
    let k = lower(quote! {
        fn k(x: &[f32], y: &mut [f32]) {
            let i = global_pos();
            let v = if x[i] > 0.0 { let t = x[i] * 2.0; t } else { 1.0 };
            y[i] = v;
        }
    });
    let kinds: Vec<&str> = k
        .body
        .iter()
        .map(|s| match s.kind {
            StmtKind::Let { .. } => "let",
            StmtKind::If { .. } => "if",
            StmtKind::Store { .. } => "store",
            _ => "other",
        })
        .collect();
    assert_eq!(kinds, ["let", "let", "if", "let", "store"]);
}

#[test]
fn loops_math_methods_and_vectors() {
    let k = lower(quote! {
        fn k(x: &[f32], y: &mut [f32], n: u32) {
            let mut acc = 0.0;
            for j in (0..n).step_by(2) {
                acc += x[j].exp().max(exp(x[j + 1]));
            }
            let mut v = load4(&x, global_pos());
            v[0] = acc;
            store4(&mut y, global_pos(), v * 2.0);
            let mut k = 0;
            while k < 10 { k += 1; if k == 5 { break; } }
        }
    });
    let StmtKind::For { step, .. } = &k.body[1].kind else {
        panic!("{:?}", k.body)
    };
    assert_eq!(step.kind, ExprKind::Lit(Lit::Int(2)));
    assert_eq!(
        k.locals.iter().find(|l| l.name == "v").map(|l| l.ty),
        Some(Ty::vector(Elem::F32, 4))
    );
}

#[test]
fn atomics_plane_ops_and_casts() {
    let k = lower(quote! {
        fn k(x: &[f32], hist: &mut [u32], out: &mut [f32]) {
            let i = global_pos();
            let bin = (x[i] * 10.0) as u32;
            atomic_add(&mut hist, bin, 1);
            hist.atomic_add(0, 1);
            out[i] = plane_sum(x[i]) + plane_max(x[i]) + plane_size() as f32;
        }
    });
    assert_eq!(
        k.body
            .iter()
            .filter(|s| matches!(s.kind, StmtKind::Eval(_)))
            .count(),
        2
    );
}

#[test]
fn every_node_has_a_span() {
    let k = lower(quote! {
        fn k(x: &[f32], y: &mut [f32]) { y[global_pos()] = x[global_pos()].sqrt(); }
    });
    let StmtKind::Store { value, .. } = &k.body[0].kind else {
        panic!()
    };
    value.walk(&mut |e| assert_ne!(e.span, SpanId::NONE, "{e:?}"));
}
