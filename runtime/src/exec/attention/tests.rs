//! The tiled kernels against the `gemm` path, head by head, on every kind of tail: `T`
//! below, at and past a tile, a panel and a block, and every head width the kernels take.

use super::{Dims, Path, backward_on, forward_on};

/// Deterministic values in `[-1.5, 1.5)` (xorshift).
fn values(n: usize, mut seed: u64) -> Vec<f32> {
    (0..n)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            3.0 * ((seed >> 40) as f32 / (1u64 << 24) as f32) - 1.5
        })
        .collect()
}

/// Forward and backward of `path` on random `qkv` and `dy`.
fn run(path: Path, d: Dims) -> (Vec<f32>, Vec<f32>) {
    let scale = 1.0 / (d.hd as f32).sqrt();
    let qkv = values(d.b * d.t * 3 * d.c, 0x9E37_79B9_7F4A_7C15);
    let dy = values(d.b * d.t * d.c, 0x2545_F491_4F6C_DD1D);
    let mut y = vec![f32::NAN; dy.len()];
    forward_on(path, &qkv, &mut y, d, scale, None);
    let mut dqkv = vec![f32::NAN; qkv.len()];
    backward_on(path, (&qkv, &dy, None), &mut dqkv, d, None, scale);
    (y, dqkv)
}

fn assert_close(a: &[f32], b: &[f32], what: &str) {
    let scale = b.iter().fold(1.0f32, |m, v| m.max(v.abs()));
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!(
            (x - y).abs() <= 2e-5 * scale,
            "{what}[{i}]: tiled {x} vs gemm {y}"
        );
    }
}

#[test]
fn tiled_matches_gemm_on_every_tail() {
    let tiled = cfg!(target_arch = "x86_64") && Path::for_dims(dims(1, 32, 32, 1)) != Path::Gemm;
    if !tiled {
        eprintln!("this host runs the gemm path only; nothing to compare");
        return;
    }
    for (t, hd, heads) in [
        (1, 32, 2),
        (3, 16, 1),
        (4, 32, 1),
        (17, 32, 2),
        (31, 64, 1),
        (33, 48, 2),
        (77, 32, 3),
        (130, 64, 2),
        (1, 64, 1),
        (3, 64, 2),
        (17, 64, 1),
        (33, 32, 2),
        (77, 64, 1),
        (130, 32, 2),
    ] {
        let d = dims(2, t, hd, heads);
        assert_eq!(Path::for_dims(d), path_tiled(), "T {t}, hd {hd}");
        let (y, g) = run(path_tiled(), d);
        let (y0, g0) = run(Path::Gemm, d);
        assert!(y.iter().chain(&g).all(|v| v.is_finite()), "T {t}, hd {hd}");
        assert_close(&y, &y0, &format!("y (T {t}, hd {hd})"));
        assert_close(&g, &g0, &format!("dqkv (T {t}, hd {hd})"));
        assert_eq!(
            (y, g),
            run(path_tiled(), d),
            "T {t}, hd {hd}: not deterministic"
        );
    }
}

/// The gradient from the numerators the forward kept has the bits of the one that
/// recomputes them, on every tail of `T` and both head widths, on one thread and two.
#[test]
fn kept_numerators_give_the_recomputed_bits() {
    for (t, hd, heads) in [
        (1, 32, 2),
        (3, 64, 1),
        (17, 32, 2),
        (33, 64, 1),
        (77, 32, 3),
        (130, 64, 2),
    ] {
        let d = dims(3, t, hd, heads);
        let Some(n) = super::kept_len(d) else {
            eprintln!("this host runs the gemm path only; nothing is kept");
            return;
        };
        let scale = 1.0 / (hd as f32).sqrt();
        let qkv = values(d.b * d.t * 3 * d.c, 0x9E37_79B9_7F4A_7C15);
        let dy = values(d.b * d.t * d.c, 0x2545_F491_4F6C_DD1D);
        let (y0, g0) = run(path_tiled(), d);
        for threads in [1, 2] {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build();
            let Ok(pool) = pool else { return };
            let (mut y, mut g, mut kept) = (
                vec![f32::NAN; y0.len()],
                vec![f32::NAN; g0.len()],
                vec![f32::NAN; n],
            );
            pool.install(|| {
                super::forward(&qkv, &mut y, d, scale, Some(&mut kept));
                super::backward((&qkv, &dy, Some(&kept)), &mut g, d, scale);
            });
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert!(
                bits(&y) == bits(&y0),
                "y: T {t}, hd {hd}, {threads} threads"
            );
            assert!(
                bits(&g) == bits(&g0),
                "dqkv: T {t}, hd {hd}, {threads} threads"
            );
        }
    }
}

/// Heads whose width is no multiple of 16 fall back to `gemm`.
#[test]
fn odd_head_widths_take_the_gemm_path() {
    for hd in [1, 8, 24, 40] {
        assert_eq!(Path::for_dims(dims(1, 9, hd, 2)), Path::Gemm, "hd {hd}");
    }
}

fn dims(b: usize, t: usize, hd: usize, heads: usize) -> Dims {
    Dims {
        b,
        t,
        c: hd * heads,
        heads,
        hd,
    }
}

#[cfg(target_arch = "x86_64")]
fn path_tiled() -> Path {
    Path::Tiled
}

#[cfg(not(target_arch = "x86_64"))]
fn path_tiled() -> Path {
    Path::Gemm
}

/// This process's CPU time in milliseconds (the machine is shared: wall time counts other
/// processes' turns).
#[cfg(all(target_os = "linux", target_pointer_width = "64"))]
fn cpu_ms() -> f64 {
    /// `struct timespec` on 64-bit Linux.
    #[repr(C)]
    struct Timespec {
        sec: i64,
        nsec: i64,
    }
    unsafe extern "C" {
        fn clock_gettime(clock: i32, ts: *mut Timespec) -> i32;
    }
    const CLOCK_PROCESS_CPUTIME_ID: i32 = 2;
    let mut ts = Timespec { sec: 0, nsec: 0 };
    // SAFETY: `ts` is a valid `timespec` for the call to fill.
    unsafe { clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    ts.sec as f64 * 1e3 + ts.nsec as f64 * 1e-6
}

/// Wall time in milliseconds where the CPU-time clock is not declared here.
#[cfg(not(all(target_os = "linux", target_pointer_width = "64")))]
fn cpu_ms() -> f64 {
    static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    START
        .get_or_init(std::time::Instant::now)
        .elapsed()
        .as_secs_f64()
        * 1e3
}

/// Not a check: times both paths on the anchor's shapes, interleaved on one thread (so
/// drift slows both alike), and prints each one's best and median of 15.
/// `cargo test --release -p vibee-runtime --lib attention_speed -- --ignored --nocapture`
#[test]
#[ignore = "a timing, run by hand"]
fn attention_speed() {
    let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build();
    let Ok(pool) = pool else { return };
    for (b, t, hd, heads) in [(16, 128, 32, 4), (8, 256, 64, 6)] {
        if std::env::var("ATTENTION_T").is_ok_and(|v| v != t.to_string()) {
            continue;
        }
        let d = dims(b, t, hd, heads);
        let qkv = values(b * t * 3 * d.c, 1);
        let dy = values(b * t * d.c, 2);
        let (mut y, mut dq) = (vec![0.0; dy.len()], vec![0.0; qkv.len()]);
        let mut times: [Vec<f64>; 4] = Default::default();
        for _ in 0..15 {
            for (k, path) in [Path::Gemm, path_tiled()].into_iter().enumerate() {
                // `ATTENTION_SPEED=gemm` (or `tiled`) times one path only, for `perf stat`.
                let only = std::env::var("ATTENTION_SPEED").unwrap_or_default();
                if !only.is_empty() && only != ["gemm", "tiled"][k] {
                    continue;
                }
                let start = cpu_ms();
                pool.install(|| forward_on(path, &qkv, &mut y, d, 0.1, None));
                times[k].push(cpu_ms() - start);
                let start = cpu_ms();
                pool.install(|| backward_on(path, (&qkv, &dy, None), &mut dq, d, None, 0.1));
                times[2 + k].push(cpu_ms() - start);
            }
        }
        let flops = 2.0 * (b * heads) as f64 * (t * (t + 1) / 2) as f64 * hd as f64;
        for (k, name) in ["fwd gemm", "fwd tiled", "bwd gemm", "bwd tiled"]
            .iter()
            .enumerate()
        {
            let row = &mut times[k];
            if row.is_empty() {
                continue;
            }
            row.sort_by(f64::total_cmp);
            let products = if k < 2 { 2.0 } else { 5.0 };
            println!(
                "T {t} hd {hd} {name}: best {:.2} ms ({:.1} GFLOP/s), median {:.2} ms",
                row[0],
                products * flops / row[0] / 1e6,
                row[7]
            );
        }
    }
}

/// The 8-lane `2ˣ` against f64 over the range softmax exponents take, and past its clamp.
#[cfg(target_arch = "x86_64")]
#[test]
fn exp2_8_is_within_an_ulp_or_two() {
    use std::arch::x86_64::{_mm256_loadu_ps, _mm256_storeu_ps};
    if !super::tiled::supported(16) {
        return;
    }
    let xs: Vec<f32> = (-16_000..8).map(|i| i as f32 * 0.008_3).collect();
    for chunk in xs.chunks_exact(8) {
        let mut e = [0.0f32; 8];
        // SAFETY: the host has AVX2 and FMA (checked above); `chunk` and `e` hold 8 floats.
        unsafe {
            let x = _mm256_loadu_ps(chunk.as_ptr());
            _mm256_storeu_ps(e.as_mut_ptr(), super::softmax::exp2_8(x));
        }
        for (&x, &y) in chunk.iter().zip(&e) {
            let want = f64::from(x.max(-126.0)).exp2();
            let err = (f64::from(y) - want).abs() / want;
            assert!(err <= 2.5e-7, "2^{x}: {y} vs {want}");
        }
    }
}

/// Softmax rows and their gradients, 8 lanes a step with a masked last chunk, against f64
/// sums for every length up to three chunks past a 16-key panel, with junk past the row.
#[cfg(target_arch = "x86_64")]
#[test]
fn row_kernels_match_f64_on_every_length() {
    use super::softmax::{exp_row, grad_row, row_max};
    if !super::tiled::supported(16) {
        return;
    }
    let scale = 0.37f64;
    for live in 1..=41usize {
        let end = live.next_multiple_of(16);
        let s: Vec<f64> = values(end, live as u64 + 7)
            .iter()
            .map(|&v| 4.0 * f64::from(v))
            .collect();
        let dp: Vec<f64> = values(end, live as u64 + 99)
            .iter()
            .map(|&v| f64::from(v))
            .collect();
        let m = s[..live]
            .iter()
            .fold(f64::NEG_INFINITY, |m, &v| m.max(v * scale));
        let e: Vec<f64> = s[..live].iter().map(|&v| (v * scale - m).exp()).collect();
        let total: f64 = e.iter().sum();
        let p: Vec<f64> = e.iter().map(|v| v / total).collect();
        let dot: f64 = p.iter().zip(&dp).map(|(a, b)| a * b).sum();
        let mut row: Vec<f32> = s
            .iter()
            .map(|&v| (v * scale * std::f64::consts::LOG2_E) as f32)
            .collect();
        let mut ds: Vec<f32> = dp.iter().map(|&v| (scale * v) as f32).collect();
        // SAFETY (all three): the host has AVX2 and FMA (checked above).
        let max = unsafe { row_max(&row, live) };
        let norm = unsafe { exp_row(&mut row, live, max) };
        let mut p32 = vec![f32::NAN; row.len()];
        unsafe { grad_row(&row, &mut p32, &mut ds, live, norm) };
        for j in 0..end {
            let (want_p, want_g) = match p.get(j) {
                Some(&pj) => (pj, scale * pj * (dp[j] - dot)),
                None => (0.0, 0.0),
            };
            let (got_p, got_g) = (f64::from(p32[j]), f64::from(ds[j]));
            assert!(
                (got_p - want_p).abs() <= 1e-6,
                "live {live}: p[{j}] {got_p} vs {want_p}"
            );
            assert!(
                (got_g - want_g).abs() <= 1e-6,
                "live {live}: ds[{j}] {got_g} vs {want_g}"
            );
        }
    }
}

/// Not a check: the attention gradient with the `qkv` bias gradient summed inside its
/// tasks (`backward_sums`) against the gradient and then the column reduction, on the
/// anchor's shapes, interleaved on one thread; prints each one's best and median of 15.
/// `cargo test --release -p vibee-runtime --lib bias_sum_speed -- --ignored --nocapture`
#[test]
#[ignore = "a timing, run by hand"]
fn bias_sum_speed() {
    use vibee_dsl::graph::ReduceOp;
    let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build();
    let Ok(pool) = pool else { return };
    for (b, t, hd, heads) in [(16, 128, 32, 4), (8, 256, 64, 6)] {
        let d = dims(b, t, hd, heads);
        let w = 3 * d.c;
        let (h, dy) = (values(b * t * w, 1), values(b * t * d.c, 2));
        let (mut dq, mut db) = (vec![0.0; h.len()], vec![0.0; w]);
        let mut times: [Vec<f64>; 2] = Default::default();
        for _ in 0..15 {
            let start = cpu_ms();
            pool.install(|| {
                super::backward((&h, &dy, None), &mut dq, d, 0.1);
                super::super::reduce::reduce(ReduceOp::Sum, &dq, &[b, t, w], &[0, 1], &mut db);
            });
            times[0].push(cpu_ms() - start);
            let start = cpu_ms();
            pool.install(|| {
                let sums = super::backward_sums((&h, &dy, None), &mut dq, d, 0.1);
                super::super::reduce::finish_columns(ReduceOp::Sum, &sums, b * t, &mut db);
            });
            times[1].push(cpu_ms() - start);
        }
        for (k, name) in ["bwd, then sum", "bwd with sums"].iter().enumerate() {
            let row = &mut times[k];
            row.sort_by(f64::total_cmp);
            println!(
                "T {t} hd {hd} {name}: best {:.2} ms, median {:.2} ms",
                row[0], row[7]
            );
        }
    }
}

/// Not a check: forward and gradient with the numerators kept between them against both
/// recomputing them, on the anchor's shapes, interleaved on one thread; prints each one's
/// best and median of 15 (forward, gradient).
/// `cargo test --release -p vibee-runtime --lib kept_speed -- --ignored --nocapture`
#[test]
#[ignore = "a timing, run by hand"]
fn kept_speed() {
    let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build();
    let Ok(pool) = pool else { return };
    for (b, t, hd, heads) in [(16, 128, 32, 4), (8, 256, 64, 6)] {
        let d = dims(b, t, hd, heads);
        let Some(n) = super::kept_len(d) else { return };
        let (qkv, dy) = (values(b * t * 3 * d.c, 1), values(b * t * d.c, 2));
        let (mut y, mut dq, mut kept) = (vec![0.0; dy.len()], vec![0.0; qkv.len()], vec![0.0; n]);
        let mut times: [Vec<f64>; 4] = Default::default();
        for _ in 0..15 {
            for keep in [false, true] {
                let k = usize::from(keep);
                let start = cpu_ms();
                let into = keep.then_some(&mut kept[..]);
                pool.install(|| super::forward(&qkv, &mut y, d, 0.1, into));
                times[k].push(cpu_ms() - start);
                let start = cpu_ms();
                let from = keep.then_some(&kept[..]);
                pool.install(|| super::backward((&qkv, &dy, from), &mut dq, d, 0.1));
                times[2 + k].push(cpu_ms() - start);
            }
        }
        for (k, name) in ["fwd", "fwd keeping", "bwd recomputing", "bwd from kept"]
            .iter()
            .enumerate()
        {
            let row = &mut times[k];
            row.sort_by(f64::total_cmp);
            println!(
                "T {t} hd {hd} {name}: best {:.2} ms, median {:.2} ms",
                row[0], row[7]
            );
        }
    }
}
