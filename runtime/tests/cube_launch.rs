//! The CubeCL launch contract, exercised with kernels written the way `codegen/cube.rs`
//! generates them (bounds-checked helpers, atomics, plane flag), on every GPU device present.
//! Without a GPU feature or a device, each test prints why it skips.

// The kernels are spelled as the generator writes them: fully parenthesized.
#![allow(
    unused_parens,
    reason = "kernels written as the code generator emits them"
)]

use cubecl::prelude::*;
use vibee_dsl::kernel::{Elem, Grid, Kernel, Param, ParamKind, Scalar, SpanId};
use vibee_runtime::cube::{CubeLaunch, ops};
use vibee_runtime::{ArgRef, Buffer, Device, KernelSource, LaunchError, launch};

#[cube(launch, create_dummy_kernel)]
pub fn axpy(a: f32, x: &[f32], y: &mut [f32]) {
    let i = ABSOLUTE_POS_X;
    if i < (x.len() as u32) {
        let __index = i;
        let __value = ((a * ops::load::<f32>(x, i)) + ops::load_mut::<f32>(y, i));
        ops::store::<f32>(y, __index, __value);
    }
}

/// Reads `x[i + shift]` for every unit, past the end of `x` for the last ones, and writes
/// `y[i + shift]`, past the end of `y`: out-of-bounds reads are zero, writes are dropped.
#[cube(launch, create_dummy_kernel)]
pub fn shifted_copy(x: &[u32], y: &mut [u32], #[comptime] shift: u32) {
    let i = ABSOLUTE_POS_X;
    ops::store::<u32>(y, i, ops::load::<u32>(x, (i + shift)));
    ops::store::<u32>(y, (i + shift), ops::div::<u32>(7u32, 0u32));
}

#[cube(launch, create_dummy_kernel)]
pub fn histogram(x: &[u32], bins: &[Atomic<u32>]) {
    let i = ABSOLUTE_POS_X;
    if i < (x.len() as u32) {
        ops::atomic_add::<u32>(
            bins,
            ops::rem::<u32>(ops::load::<u32>(x, i), (bins.len() as u32)),
            1u32,
        );
    }
}

/// A shared-memory tree sum of one group, with a plane sum folded in and a `continue`
/// lowered to a flag, as the generator writes them.
#[allow(
    clippy::assign_op_pattern,
    reason = "spelled the way the generator spells it"
)]
#[cube(launch, create_dummy_kernel)]
pub fn group_sum(x: &[f32], out: &mut [f32], #[comptime] block: u32, #[comptime] __planes: bool) {
    let mut tile = Shared::<[f32]>::new_slice(comptime!((block) as usize));
    let t = UNIT_POS_X;
    let mut acc = 0.0f32;
    {
        let __end_0 = (x.len() as u32);
        let __step_0 = block;
        let mut __i_0 = t;
        while __i_0 < __end_0 {
            let j = __i_0;
            let mut __continue_1 = false;
            if (ops::load::<f32>(x, j) < 0.0f32) {
                __continue_1 = true;
            }
            if !__continue_1 {
                acc = (acc + ops::load::<f32>(x, j));
            }
            __i_0 += __step_0;
        }
    }
    ops::store::<f32>(&mut tile, t, acc);
    sync_cube();
    let mut stride = ops::div::<u32>(block, 2u32);
    while (stride > 0u32) {
        if (t < stride) {
            let __index = t;
            let __value = (ops::load::<f32>(&tile, t) + ops::load::<f32>(&tile, (t + stride)));
            ops::store::<f32>(&mut tile, __index, __value);
        }
        sync_cube();
        stride = ops::div::<u32>(stride, 2u32);
    }
    let total = ops::plane_max_or_self::<f32>(ops::load::<f32>(&tile, 0u32), __planes);
    if (t == 0u32) {
        ops::store::<f32>(out, 0u32, total);
    }
    if (ops::plane_unit(__planes) == 0u32) {
        ops::store::<f32>(
            out,
            (1u32 + (UNIT_POS_X / ops::plane_size(__planes))),
            total,
        );
    }
}

/// Four-lane loads and stores over a buffer whose length is not a multiple of four.
#[cube(launch, create_dummy_kernel)]
pub fn vec_double(x: &[f32], y: &mut [f32]) {
    let v = ops::load_vec4::<f32>(x, ABSOLUTE_POS_X);
    ops::store_vec4::<f32>(
        y,
        ABSOLUTE_POS_X,
        (v * Vector::<f32, Const<4>>::new(2.0f32)),
    );
}

// The launchers the facade's `cube_launcher!` template writes, spelled out.
fn axpy_launcher(ctx: &mut CubeLaunch<'_>, args: &mut [ArgRef<'_>]) -> Result<(), LaunchError> {
    let client = ctx.client();
    if ctx.defining() {
        let k = axpy::create_dummy_kernel(
            client.properties_shared(),
            client.target_properties_shared(),
            ctx.cube_count(),
            ctx.cube_dim(),
            ctx.scalar(args, 0)?,
            ctx.buffer(args, 1)?,
            ctx.buffer(args, 2)?,
        );
        ctx.define(k);
    } else {
        axpy::launch(
            client,
            ctx.cube_count(),
            ctx.cube_dim(),
            ctx.scalar(args, 0)?,
            ctx.buffer(args, 1)?,
            ctx.buffer(args, 2)?,
        );
    }
    Ok(())
}

fn shifted_copy_launcher(
    ctx: &mut CubeLaunch<'_>,
    args: &mut [ArgRef<'_>],
) -> Result<(), LaunchError> {
    shifted_copy::launch(
        ctx.client(),
        ctx.cube_count(),
        ctx.cube_dim(),
        ctx.buffer(args, 0)?,
        ctx.buffer(args, 1)?,
        ctx.scalar(args, 2)?,
    );
    Ok(())
}

fn histogram_launcher(
    ctx: &mut CubeLaunch<'_>,
    args: &mut [ArgRef<'_>],
) -> Result<(), LaunchError> {
    histogram::launch(
        ctx.client(),
        ctx.cube_count(),
        ctx.cube_dim(),
        ctx.buffer(args, 0)?,
        ctx.buffer(args, 1)?,
    );
    Ok(())
}

fn group_sum_launcher(
    ctx: &mut CubeLaunch<'_>,
    args: &mut [ArgRef<'_>],
) -> Result<(), LaunchError> {
    group_sum::launch(
        ctx.client(),
        ctx.cube_count(),
        ctx.cube_dim(),
        ctx.buffer(args, 0)?,
        ctx.buffer(args, 1)?,
        ctx.scalar(args, 2)?,
        ctx.planes(),
    );
    Ok(())
}

fn vec_double_launcher(
    ctx: &mut CubeLaunch<'_>,
    args: &mut [ArgRef<'_>],
) -> Result<(), LaunchError> {
    vec_double::launch(
        ctx.client(),
        ctx.cube_count(),
        ctx.cube_dim(),
        ctx.buffer(args, 0)?,
        ctx.buffer(args, 1)?,
    );
    Ok(())
}

/// A kernel IR with `params` and an empty body: the launch path checks arguments and bounds
/// against it (the bodies above are what runs).
fn ir(name: &str, params: Vec<(&str, ParamKind)>) -> &'static Kernel {
    Box::leak(Box::new(Kernel {
        name: name.into(),
        params: params
            .into_iter()
            .map(|(n, kind)| Param {
                name: n.into(),
                kind,
                span: SpanId::NONE,
            })
            .collect(),
        locals: vec![],
        shared: vec![],
        body: vec![],
    }))
}

fn buf(elem: Elem, mutable: bool) -> ParamKind {
    ParamKind::Buffer { elem, mutable }
}

fn gpus() -> Vec<Device> {
    let (present, absent) = Device::available();
    for reason in &absent {
        println!("skipping backend: {reason}");
    }
    present
        .into_iter()
        .filter(|d| !matches!(d, Device::Cpu))
        .collect()
}

fn source(ir_fn: fn() -> &'static Kernel, cube: vibee_runtime::cube::CubeLauncher) -> KernelSource {
    KernelSource { ir: ir_fn, cube }
}

fn axpy_ir() -> &'static Kernel {
    static K: std::sync::OnceLock<&'static Kernel> = std::sync::OnceLock::new();
    K.get_or_init(|| {
        ir(
            "axpy",
            vec![
                ("a", ParamKind::Scalar(Elem::F32)),
                ("x", buf(Elem::F32, false)),
                ("y", buf(Elem::F32, true)),
            ],
        )
    })
}

#[test]
fn axpy_runs_on_every_gpu() {
    for device in gpus() {
        let n = 1000;
        let xs: Vec<f32> = (0..n).map(|i| i as f32).collect();
        let ys: Vec<f32> = (0..n).map(|i| 1.0 - i as f32).collect();
        let x = Buffer::from_slice(&device, &xs).expect("upload x");
        let mut y = Buffer::from_slice(&device, &ys).expect("upload y");
        let src = source(axpy_ir, axpy_launcher);
        let mut args = [
            ArgRef::Scalar(Scalar::F32(2.0)),
            ArgRef::Buffer(x.raw()),
            ArgRef::BufferMut(y.raw_mut()),
        ];
        launch(&device, &src, Grid::cover(n, 64), &mut args).expect("launch");
        let got = y.to_vec().expect("read y");
        let want: Vec<f32> = (0..n).map(|i| 2.0 * i as f32 + 1.0 - i as f32).collect();
        assert_eq!(got, want, "on {device}");
        println!("axpy ok on {device}");
    }
}

#[test]
fn out_of_bounds_reads_zero_and_drops_writes() {
    fn k() -> &'static Kernel {
        static K: std::sync::OnceLock<&'static Kernel> = std::sync::OnceLock::new();
        K.get_or_init(|| {
            ir(
                "shifted_copy",
                vec![
                    ("x", buf(Elem::U32, false)),
                    ("y", buf(Elem::U32, true)),
                    (
                        "shift",
                        ParamKind::Comptime {
                            elem: Elem::U32,
                            const_generic: false,
                        },
                    ),
                ],
            )
        })
    }
    for device in gpus() {
        let x = Buffer::from_slice(&device, &[10u32, 11, 12, 13, 14, 15, 16, 17]).expect("x");
        let mut y = Buffer::from_slice(&device, &[99u32; 8]).expect("y");
        let mut args = [
            ArgRef::Buffer(x.raw()),
            ArgRef::BufferMut(y.raw_mut()),
            ArgRef::Comptime(Scalar::U32(3)),
        ];
        launch(
            &device,
            &source(k, shifted_copy_launcher),
            Grid::linear(1, 8),
            &mut args,
        )
        .expect("launch");
        // Units 0..5 copy x[3..8]; units 5..8 read past the end (zero). The second store of
        // every unit writes 7 / 0 = 0 at i + 3, which is dropped past index 7.
        let got = y.to_vec().expect("read");
        assert_eq!(got, vec![13, 14, 15, 0, 0, 0, 0, 0], "on {device}");
    }
}

#[test]
fn histogram_with_atomics() {
    fn k() -> &'static Kernel {
        static K: std::sync::OnceLock<&'static Kernel> = std::sync::OnceLock::new();
        K.get_or_init(|| {
            ir(
                "histogram",
                vec![("x", buf(Elem::U32, false)), ("bins", buf(Elem::U32, true))],
            )
        })
    }
    for device in gpus() {
        let xs: Vec<u32> = (0..4096u32)
            .map(|i| i.wrapping_mul(2_654_435_761) >> 7)
            .collect();
        let x = Buffer::from_slice(&device, &xs).expect("x");
        let mut bins = Buffer::<u32>::zeros(&device, 16).expect("bins");
        let mut args = [ArgRef::Buffer(x.raw()), ArgRef::BufferMut(bins.raw_mut())];
        launch(
            &device,
            &source(k, histogram_launcher),
            Grid::cover(xs.len(), 128),
            &mut args,
        )
        .expect("launch");
        let mut want = vec![0u32; 16];
        xs.iter().for_each(|v| want[(v % 16) as usize] += 1);
        assert_eq!(bins.to_vec().expect("read"), want, "on {device}");
    }
}

#[test]
fn shared_memory_tree_sum_and_plane_fallback() {
    fn k() -> &'static Kernel {
        static K: std::sync::OnceLock<&'static Kernel> = std::sync::OnceLock::new();
        K.get_or_init(|| {
            ir(
                "group_sum",
                vec![
                    ("x", buf(Elem::F32, false)),
                    ("out", buf(Elem::F32, true)),
                    (
                        "block",
                        ParamKind::Comptime {
                            elem: Elem::U32,
                            const_generic: true,
                        },
                    ),
                ],
            )
        })
    }
    for device in gpus() {
        let xs: Vec<f32> = (0..1000)
            .map(|i| if i % 7 == 0 { -1.0 } else { (i % 13) as f32 })
            .collect();
        let want: f32 = xs.iter().filter(|v| **v >= 0.0).sum();
        let x = Buffer::from_slice(&device, &xs).expect("x");
        let mut out = Buffer::<f32>::zeros(&device, 1 + 64).expect("out");
        let mut args = [
            ArgRef::Buffer(x.raw()),
            ArgRef::BufferMut(out.raw_mut()),
            ArgRef::Comptime(Scalar::U32(64)),
        ];
        launch(
            &device,
            &source(k, group_sum_launcher),
            Grid::linear(1, 64),
            &mut args,
        )
        .expect("launch");
        let got = out.to_vec().expect("read");
        assert_eq!(got[0], want, "on {device}");
        // Every plane leader wrote the same total (a plane max of equal values).
        let leaders = got[1..].iter().filter(|v| **v == want).count();
        assert!(leaders >= 1, "on {device}: {got:?}");
        println!(
            "group_sum ok on {device}: {leaders} plane(s) of {} units",
            64 / leaders
        );
    }
}

#[test]
fn vector_lanes_keep_in_bounds_elements() {
    fn k() -> &'static Kernel {
        static K: std::sync::OnceLock<&'static Kernel> = std::sync::OnceLock::new();
        K.get_or_init(|| {
            ir(
                "vec_double",
                vec![("x", buf(Elem::F32, false)), ("y", buf(Elem::F32, true))],
            )
        })
    }
    for device in gpus() {
        let xs: Vec<f32> = (0..10).map(|i| i as f32).collect();
        let x = Buffer::from_slice(&device, &xs).expect("x");
        let mut y = Buffer::<f32>::zeros(&device, 10).expect("y");
        let mut args = [ArgRef::Buffer(x.raw()), ArgRef::BufferMut(y.raw_mut())];
        launch(
            &device,
            &source(k, vec_double_launcher),
            Grid::linear(1, 3),
            &mut args,
        )
        .expect("launch");
        let want: Vec<f32> = xs.iter().map(|v| v * 2.0).collect();
        assert_eq!(y.to_vec().expect("read"), want, "on {device}");
    }
}

#[test]
fn cpu_buffers_are_rejected_on_a_gpu() {
    for device in gpus() {
        let x = Buffer::from_slice(&Device::Cpu, &[1.0f32]).expect("x");
        let mut y = Buffer::from_slice(&device, &[1.0f32]).expect("y");
        let mut args = [
            ArgRef::Scalar(Scalar::F32(1.0)),
            ArgRef::Buffer(x.raw()),
            ArgRef::BufferMut(y.raw_mut()),
        ];
        let err = launch(
            &device,
            &source(axpy_ir, axpy_launcher),
            Grid::linear(1, 1),
            &mut args,
        )
        .expect_err("a CPU buffer cannot be bound on a GPU");
        assert!(
            matches!(err, LaunchError::BadArgument { index: 1, .. }),
            "{err}"
        );
    }
}

#[cfg(feature = "wgpu")]
#[test]
fn wgsl_source_without_dispatch() {
    for device in gpus() {
        let Device::Wgpu(wgpu) = &device else {
            continue;
        };
        let x = Buffer::from_slice(&device, &[1.0f32; 4]).expect("x");
        let mut y = Buffer::from_slice(&device, &[1.0f32; 4]).expect("y");
        let mut args = [
            ArgRef::Scalar(Scalar::F32(1.0)),
            ArgRef::Buffer(x.raw()),
            ArgRef::BufferMut(y.raw_mut()),
        ];
        let src = source(axpy_ir, axpy_launcher);
        let wgsl = vibee_runtime::cube::wgsl_source(wgpu, &src, Grid::linear(1, 4), &mut args)
            .expect("wgsl");
        assert!(wgsl.contains("@compute"), "{wgsl}");
        println!("{wgsl}");
    }
}
