//! The graph IR on every present device ([`DeviceProgram`]) against the CPU executor
//! ([`Program`]): the same graph, the same inputs, every output compared normwise
//! (`max|device − cpu| / max|cpu|`). The two differ only in the rounding of `exp`, `tanh`
//! and `log` (the CPU executor's fast polynomial forms against the device's) and in the
//! order of the products' sums (gemm's blocking against a sequential dot product).
#![allow(clippy::unwrap_used)] // a failed unwrap in a test is a failed test

use vibee::dsl::graph::autodiff::gradients;
use vibee::dsl::graph::{DType, Graph, InputRole, NodeId, UnaryOp};
use vibee::program::{DeviceProgram, DeviceProgramError};
use vibee::runtime::KernelSource;
use vibee::runtime::exec::{Feed, Program};
use vibee::runtime::nn::{Gpt, GptConfig, Module};

/// Largest normwise difference allowed in f32 (measured at most 6.1e-7, on the CPU backend
/// and on lavapipe).
const TOLERANCE: f32 = 1e-5;

fn devices() -> Vec<vibee::Device> {
    let (present, absent) = vibee::Device::available();
    for reason in absent {
        eprintln!("backend skipped: {reason}");
    }
    present
}

/// Deterministic values in [-1, 1).
fn values(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            ((s >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0) as f32
        })
        .collect()
}

/// Runs `graph` on the CPU executor and on every device with `feeds`, and returns the
/// largest normwise difference of any output.
fn compare(graph: &Graph, feeds: &[Feed<'_>]) -> f32 {
    compare_calling(graph, feeds, &[])
}

/// [`compare`] for a graph that calls the kernel functions of `kernels`.
fn compare_calling(graph: &Graph, feeds: &[Feed<'_>], kernels: &[&'static KernelSource]) -> f32 {
    let mut cpu = Program::compile(graph, 1).unwrap();
    cpu.run(feeds, 0).unwrap();
    let mut worst = 0.0f32;
    for device in devices() {
        let mut dev = DeviceProgram::compile_with_kernels(&device, graph, kernels).unwrap();
        dev.run(feeds, 0).unwrap();
        for k in 0..graph.outputs.len() {
            let (want, got) = (cpu.output(k), dev.output(k).unwrap());
            assert_eq!(want.len(), got.len(), "output {k}");
            let scale = want.iter().fold(0.0f32, |a, v| a.max(v.abs()));
            let diff = want
                .iter()
                .zip(&got)
                .fold(0.0f32, |a, (w, g)| a.max((w - g).abs()));
            let d = diff / scale.max(1e-30);
            eprintln!("{device:?}, output {k}: {d:.2e}");
            worst = worst.max(d);
        }
    }
    worst
}

/// Every movement, reduction and row op of the IR with its gradient: broadcast, permute,
/// slice, pad, concat, contiguous and strided reductions (sum, mean, max), softmax,
/// log-softmax, RMS norm, a rotary embedding and a chain of unary ops, summed into one loss.
fn op_zoo() -> (Graph, Vec<NodeId>) {
    let mut g = Graph::new();
    let x = g.input("x", &[4, 6], DType::F32, InputRole::Param).unwrap();
    let b = g.input("b", &[6], DType::F32, InputRole::Param).unwrap();
    let y = g.add(x, b).unwrap();
    let p = g.permute(y, &[1, 0]).unwrap();
    let s = g.slice(p, 0, 1, 5).unwrap();
    let padded = g.pad(s, 1, 1, 2).unwrap();
    let c = g.concat(&[padded, x], 1).unwrap();
    let ls = g.log_softmax(c).unwrap();
    let sm = g.softmax(c).unwrap();
    let rn = g.rms_norm(c, None, 1e-5).unwrap();
    let mx = g.max(c, &[0], false).unwrap();
    let cube = g.reshape(y, &[2, 2, 6]).unwrap();
    let strided = g.mean(cube, &[0, 2], false).unwrap();
    let mut chain = g.unary(UnaryOp::Sigmoid, y).unwrap();
    for op in [
        UnaryOp::Tanh,
        UnaryOp::Square,
        UnaryOp::AddScalar(1.0),
        UnaryOp::Sqrt,
    ] {
        chain = g.unary(op, chain).unwrap();
    }
    let chain = g.unary(UnaryOp::Log, chain).unwrap();
    let relu = g.unary(UnaryOp::Relu, y).unwrap();
    let rotated = g.rope(cube, 100.0).unwrap();
    let mut parts = Vec::new();
    for t in [ls, sm, rn, mx, strided, chain, relu, rotated] {
        let sq = g.mul(t, t).unwrap();
        let all: Vec<usize> = (0..g.shape(sq).len()).collect();
        parts.push(g.sum(sq, &all, false).unwrap());
    }
    let mut loss = parts[0];
    for &q in &parts[1..] {
        loss = g.add(loss, q).unwrap();
    }
    g.outputs.extend([loss, c, mx, strided]);
    let ds = gradients(&mut g, loss, &[x, b]).unwrap();
    g.outputs.extend(ds);
    (g, vec![x, b])
}

#[test]
fn every_op_and_its_gradient_matches_the_cpu_executor() {
    let (g, _) = op_zoo();
    let (x, b) = (values(24, 1), values(6, 2));
    let worst = compare(&g, &[Feed::F32(&x), Feed::F32(&b)]);
    assert!(worst <= TOLERANCE, "largest normwise difference {worst:e}");
}

/// One training step of a small GPT (loss and every parameter's gradient), with its
/// matrix products autocast to `precision`; returns the largest normwise difference.
fn gpt_step(precision: Option<DType>) -> f32 {
    let cfg = GptConfig::new(32, 2, 2, 16, 8);
    let model = Gpt::new(cfg, 7).unwrap();
    let (batch, seq) = (2, 8);
    let graph = model.trace_loss_in(batch, seq, true, precision).unwrap();
    let tokens: Vec<u32> = (0..batch * seq).map(|i| (i * 7 % 32) as u32).collect();
    let targets: Vec<u32> = (0..batch * seq).map(|i| (i * 5 % 32) as u32).collect();
    let params = model.parameters();
    let cpu = Program::compile(&graph, 1).unwrap();
    let feeds: Vec<Feed<'_>> = cpu
        .inputs()
        .iter()
        .map(|spec| match spec.name.as_str() {
            "tokens" => Feed::U32(&tokens),
            "targets" => Feed::U32(&targets),
            name => {
                let p = params.iter().find(|p| p.name == name).unwrap();
                Feed::F32(&p.data)
            }
        })
        .collect();
    compare(&graph, &feeds)
}

#[test]
fn a_gpt_training_step_matches_the_cpu_executor() {
    let worst = gpt_step(None);
    assert!(worst <= TOLERANCE, "largest normwise difference {worst:e}");
}

/// With bf16 products, a sum that differs in its last f32 bit can round to the neighbouring
/// bf16 value (2⁻⁸ relative), so the comparison allows a few bf16 steps (measured: 1.4e-7 —
/// at this size no sum crossed a bf16 boundary).
#[test]
fn a_bf16_autocast_step_matches_the_cpu_executor() {
    let worst = gpt_step(Some(DType::BF16));
    assert!(worst <= 2e-2, "largest normwise difference {worst:e}");
}

#[test]
fn out_of_range_ids_are_named_errors() {
    let mut g = Graph::new();
    let table = g
        .input("wte", &[4, 3], DType::F32, InputRole::Param)
        .unwrap();
    let ids = g.input("ids", &[2], DType::U32, InputRole::Data).unwrap();
    let e = g.gather(table, ids).unwrap();
    g.outputs.push(e);
    let device = vibee::Device::Cpu;
    let mut p = DeviceProgram::compile(&device, &g).unwrap();
    let err = p
        .run(&[Feed::F32(&[0.0; 12]), Feed::U32(&[1, 9])], 0)
        .unwrap_err();
    assert!(err.to_string().contains("index 9"), "{err}");
}

/// Dropout's masks on every device are the CPU executor's, bit for bit, for several steps
/// and drop probabilities (the 64-bit hash computed in 32-bit halves).
#[test]
fn dropout_masks_match_the_cpu_executor_exactly() {
    let n = 5000;
    let x = values(n, 3);
    for p in [0.1, 0.5, 0.9] {
        let mut g = Graph::new();
        let xi = g.input("x", &[n], DType::F32, InputRole::Data).unwrap();
        let d = g.dropout(xi, p, 42).unwrap();
        g.outputs.push(d);
        let mut cpu = Program::compile(&g, 1).unwrap();
        for device in devices() {
            let mut dev = DeviceProgram::compile(&device, &g).unwrap();
            for step in [0, 1, 7_000_000_123] {
                cpu.run(&[Feed::F32(&x)], step).unwrap();
                dev.run(&[Feed::F32(&x)], step).unwrap();
                let (want, got) = (cpu.output(0), dev.output(0).unwrap());
                assert_eq!(want, got.as_slice(), "{device:?}, p {p}, step {step}");
                let kept = want.iter().filter(|v| **v != 0.0).count() as f64 / n as f64;
                assert!((kept - (1.0 - p)).abs() < 0.03, "kept {kept} at p {p}");
            }
        }
    }
}

/// SiLU, for the graph calls below.
#[vibee::kernel(differentiable)]
pub fn swish(x: f32) -> f32 {
    x / (1.0 + exp(-x))
}

/// `Σ swish(x·w)·r` and its gradient: the call and its derived backward run as the kernel
/// module's own forward and backward kernels on every device.
#[test]
fn kernel_calls_and_their_backward_match_the_cpu_executor() {
    let mut g = Graph::new();
    let x = g.input("x", &[4, 6], DType::F32, InputRole::Data).unwrap();
    let w = g.input("w", &[6, 5], DType::F32, InputRole::Param).unwrap();
    let r = g.input("r", &[4, 5], DType::F32, InputRole::Data).unwrap();
    let h = g.matmul(x, w, false, false).unwrap();
    let s = g.call(swish::elementwise(), 0, &[h]).unwrap();
    let y = g.mul(s, r).unwrap();
    let loss = g.sum(y, &[0, 1], false).unwrap();
    let dw = gradients(&mut g, loss, &[w]).unwrap()[0];
    g.outputs.extend([loss, dw]);
    let (xv, wv, rv) = (values(24, 4), values(30, 5), values(20, 6));
    let feeds = [Feed::F32(&xv), Feed::F32(&wv), Feed::F32(&rv)];
    let kernels: [&'static KernelSource; 2] = [&swish::SOURCE, &swish::vjp::SOURCE];
    let worst = compare_calling(&g, &feeds, &kernels);
    assert!(worst <= TOLERANCE, "largest normwise difference {worst:e}");

    // A broadcast operand has no macro kernel: GPU devices refuse it by name, the CPU
    // backend compiles the call's own IR.
    let mut g = Graph::new();
    let a = g.input("a", &[3, 4], DType::F32, InputRole::Data).unwrap();
    let b = g.input("b", &[4], DType::F32, InputRole::Data).unwrap();
    let c = g.call(soft_min::elementwise(), 0, &[a, b]).unwrap();
    g.outputs.push(c);
    for device in devices() {
        match DeviceProgram::compile_with_kernels(&device, &g, &[&soft_min::SOURCE]) {
            Ok(_) => assert!(matches!(device, vibee::Device::Cpu), "{device:?}"),
            Err(e) => {
                assert!(matches!(e, DeviceProgramError::Unsupported { .. }), "{e}");
                assert!(e.to_string().contains("compile_with_kernels"), "{e}");
            }
        }
    }
}

/// A two-input function, called with a broadcast operand.
#[vibee::kernel(differentiable)]
pub fn soft_min(a: f32, b: f32) -> f32 {
    -log(exp(-a) + exp(-b))
}
