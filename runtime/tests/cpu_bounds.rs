//! The launch path's bounds check (`vibee_runtime::launch`): buffers too small for what the
//! grid is certain to touch are refused with a typed error, also once the proof is cached
//! and the same kernel and grid are launched again with other arguments.

use std::sync::LazyLock;

use vibee_dsl::kernel::*;
use vibee_runtime::buffer::RawBuffer;
use vibee_runtime::{ArgRef, Device, KernelSource, LaunchError};

fn e(kind: ExprKind, ty: Ty) -> Expr {
    Expr::new(kind, ty, SpanId::NONE)
}

/// `y[n + global] = 1.0`, unconditionally: every launch needs `len(y) > n + units - 1`.
fn store_after_n() -> Kernel {
    let param = |name: &str, kind| Param {
        name: name.into(),
        kind,
        span: SpanId::NONE,
    };
    let n = e(ExprKind::Param(ParamId(0)), Ty::U32);
    let global = e(ExprKind::Builtin(Builtin::GlobalPos(None)), Ty::U32);
    let index = e(
        ExprKind::Binary(BinaryOp::Add, Box::new(n), Box::new(global)),
        Ty::U32,
    );
    let store = StmtKind::Store {
        buf: BufRef::Param(ParamId(1)),
        index,
        value: Expr::lit_f(1.0, Elem::F32),
    };
    let y = ParamKind::Buffer {
        elem: Elem::F32,
        mutable: true,
    };
    Kernel {
        name: "store_after_n".into(),
        params: vec![param("n", ParamKind::Scalar(Elem::U32)), param("y", y)],
        locals: vec![],
        shared: vec![],
        body: vec![Stmt {
            kind: store,
            span: SpanId::NONE,
        }],
    }
}

static STORE_AFTER_N: LazyLock<Kernel> = LazyLock::new(store_after_n);

fn ir() -> &'static Kernel {
    &STORE_AFTER_N
}

fn launch(n: u32, len: usize, grid: Grid) -> Result<Vec<f32>, LaunchError> {
    let source = KernelSource {
        ir,
        cube: |_, _| Err(LaunchError::Device("no GPU in this test".into())),
    };
    let mut y = RawBuffer::Host(HostBuffer::F32(vec![0.0; len]));
    let mut args = [ArgRef::Scalar(Scalar::U32(n)), ArgRef::BufferMut(&mut y)];
    vibee_runtime::launch(&Device::Cpu, &source, grid, &mut args)?;
    match y {
        RawBuffer::Host(HostBuffer::F32(v)) => Ok(v),
        other => panic!("expected a host f32 buffer, got {other:?}"),
    }
}

fn needed(r: Result<Vec<f32>, LaunchError>) -> (usize, u64) {
    match r {
        Err(LaunchError::BufferTooSmall { len, needed, .. }) => (len, needed),
        other => panic!("expected a too-small buffer, got {other:?}"),
    }
}

#[test]
fn a_cached_proof_still_refuses_a_smaller_buffer() {
    let grid = Grid::cover(8, 4);
    let y = launch(2, 10, grid).expect("10 elements are enough");
    assert_eq!(y.iter().filter(|&&v| v == 1.0).count(), 8);
    assert_eq!(needed(launch(2, 9, grid)), (9, 9));
    launch(2, 10, grid).expect("the same launch again");
}

#[test]
fn a_changed_scalar_is_proved_again() {
    let grid = Grid::cover(16, 4);
    launch(1, 17, grid).expect("n = 1 needs 17 elements");
    assert_eq!(needed(launch(2, 17, grid)), (17, 17));
    assert_eq!(needed(launch(5, 17, grid)), (17, 20));
    launch(1, 17, grid).expect("n = 1 again");
}

#[test]
fn a_changed_grid_is_proved_again() {
    launch(0, 4, Grid::cover(4, 4)).expect("4 units, 4 elements");
    assert_eq!(needed(launch(0, 4, Grid::cover(8, 4))), (4, 7));
}
