//! The WGSL CubeCL produces for each standard kernel (`vibee::kernels`), snapshotted under
//! `snapshots/wgsl/`: a change in code generation (ours or CubeCL's) shows up as a diff a
//! reviewer reads like code. The kernels are launched through their typed launchers inside
//! `capture_wgsl`, which compiles each launch to WGSL instead of dispatching it; a wgpu
//! adapter is needed only for its properties. Plane operations are shown as compiled for a
//! device that has them.
#![allow(clippy::unwrap_used)] // a failed unwrap in a test is a failed test

#[cfg(not(feature = "wgpu"))]
#[test]
fn wgsl_snapshots() {
    println!("skipping WGSL snapshots: vibee was built without the `wgpu` feature");
}

/// CubeCL suffixes the entry point with a hash of the kernel's identity
/// (`fn axpy_3688121b(`), which includes type ids that change from one build to the next;
/// the snapshot shows `fn axpy_<id>(` instead.
#[cfg(feature = "wgpu")]
fn stable_entry_name(wgsl: &str) -> String {
    let lines = wgsl.lines().map(|line| {
        let Some(rest) = line.strip_prefix("fn ") else {
            return line.to_string();
        };
        let Some(open) = rest.find('(') else {
            return line.to_string();
        };
        let (name, tail) = rest.split_at(open);
        match name.rsplit_once('_') {
            Some((base, id)) if id.len() == 8 && id.bytes().all(|b| b.is_ascii_hexdigit()) => {
                format!("fn {base}_<id>{tail}")
            }
            _ => line.to_string(),
        }
    });
    lines.collect::<Vec<_>>().join("\n")
}

#[cfg(feature = "wgpu")]
#[test]
fn wgsl_snapshots() {
    use half::f16;
    use vibee::kernels::*;
    use vibee::prelude::*;
    use vibee::runtime::cube;

    let device = match cube::WgpuDevice::default_adapter() {
        Ok(d) => Device::Wgpu(d),
        Err(reason) => {
            println!("skipping WGSL snapshots: no wgpu device: {reason}");
            return;
        }
    };
    let f = |n: usize| Buffer::<f32>::zeros(&device, n).unwrap();
    let snap = |name: &str, launch: &dyn Fn() -> Result<(), LaunchError>| {
        let mut wgsl = cube::capture_wgsl(launch).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(wgsl.len(), 1, "{name} should launch one kernel");
        let text = stable_entry_name(&wgsl.remove(0));
        insta::with_settings!({
            snapshot_path => concat!(env!("CARGO_MANIFEST_DIR"), "/snapshots/wgsl"),
            prepend_module_to_snapshot => false,
            omit_expression => true,
        }, {
            insta::assert_snapshot!(name.to_string(), text);
        });
    };
    let g = Grid::cover(64, 64);
    let (x, w, b) = (f(4096), f(4096), f(4096));
    let y = std::cell::RefCell::new(f(4096));
    let out = || y.borrow_mut();

    snap("axpy", &|| axpy::launch(&device, g, 2.0, &x, &mut out()));
    snap("matmul", &|| {
        matmul::launch::<8>(
            &device,
            Grid {
                groups: [2, 2, 1],
                group_size: [8, 8, 1],
            },
            &x,
            &w,
            &mut out(),
            16,
            16,
            16,
        )
    });
    snap("softmax", &|| {
        softmax::launch::<32>(&device, Grid::linear(4, 32), &x, &mut out(), 64)
    });
    snap("layer_norm", &|| {
        layer_norm::launch::<64>(
            &device,
            Grid::linear(4, 64),
            &x,
            &w,
            &b,
            &mut out(),
            64,
            1e-5,
        )
    });
    snap("rms_norm", &|| {
        rms_norm::launch::<16>(&device, Grid::linear(4, 16), &x, &w, &mut out(), 64, 1e-6)
    });
    snap("rope", &|| {
        rope::launch(&device, g, &x, &mut out(), 4, 16, 10000.0)
    });
    let targets = Buffer::<u32>::zeros(&device, 4).unwrap();
    snap("cross_entropy", &|| {
        cross_entropy::launch::<64>(&device, Grid::linear(4, 64), &x, &targets, &mut out(), 128)
    });
    snap("transpose", &|| {
        transpose::launch::<8>(
            &device,
            Grid {
                groups: [2, 2, 1],
                group_size: [8, 8, 1],
            },
            &x,
            &mut out(),
            16,
            16,
        )
    });
    let sums = f(64);
    snap("scan_blocks", &|| {
        scan_blocks::launch::<64>(&device, Grid::linear(4, 64), &x, &mut out(), &mut f(64))
    });
    snap("add_block_offsets", &|| {
        add_block_offsets::launch::<64>(&device, g, &mut out(), &sums)
    });
    snap("histogram", &|| {
        histogram::launch(
            &device,
            g,
            &x,
            &mut Buffer::<u32>::zeros(&device, 16).unwrap(),
        )
    });
    snap("copy4", &|| {
        copy4::launch(&device, Grid::cover(1024, 64), &x, &mut out())
    });
    let (hx, hy) = (
        Buffer::<f16>::zeros(&device, 64).unwrap(),
        std::cell::RefCell::new(Buffer::<f16>::zeros(&device, 64).unwrap()),
    );
    snap("scale_f16", &|| {
        scale_f16::launch(&device, g, &hx, &mut hy.borrow_mut(), f16::from_f32(0.5))
    });
    snap("square", &|| square::launch(&device, g, &x, &mut out()));
}
