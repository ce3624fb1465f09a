//! One GPT training step (loss and every parameter's gradient) on every device present, at
//! the anchor's shapes: each device's result is compared with the CPU executor, and the
//! step is timed.
//!
//! ```text
//! cargo run --release --features wgpu --example device_gpt -- [layers dim heads block batch [steps]]
//! ```
//!
//! With no arguments it runs `torch_gpt.py`'s small shape (4 layers, width 128, 4 heads,
//! context 128, batch 16). The timed part is the graph alone (no optimizer), from the first
//! launch until the loss is read back to the host; device programs run the graph's
//! reference kernels (one thread per output element, untiled products), so the GPU figure
//! is the floor vibee starts from, not a tuned one.

use std::time::Instant;

use anyhow::{Context, bail};
use vibee::prelude::*;
use vibee::program::DeviceProgram;
use vibee::runtime::exec::{Feed, Program};
use vibee::runtime::nn::{Gpt, GptConfig, Module};

/// The shape and how many timed steps to run.
struct Args {
    layers: usize,
    dim: usize,
    heads: usize,
    block: usize,
    batch: usize,
    steps: usize,
}

fn parse_args() -> anyhow::Result<Args> {
    let given: Vec<String> = std::env::args().skip(1).collect();
    let mut values = [4usize, 128, 4, 128, 16, 5];
    const NAMES: [&str; 6] = ["layers", "dim", "heads", "block", "batch", "steps"];
    if given.len() > NAMES.len() {
        bail!(
            "expected at most {} arguments: {}",
            NAMES.len(),
            NAMES.join(" ")
        );
    }
    for (k, text) in given.iter().enumerate() {
        values[k] = text.parse().with_context(|| {
            format!(
                "argument {} ({}) must be a whole number, got {text:?}",
                k + 1,
                NAMES[k]
            )
        })?;
    }
    let [layers, dim, heads, block, batch, steps] = values;
    Ok(Args {
        layers,
        dim,
        heads,
        block,
        batch,
        steps: steps.max(1),
    })
}

fn main() -> anyhow::Result<()> {
    let args = parse_args()?;
    let config = GptConfig::new(256, args.layers, args.heads, args.dim, args.block);
    config.validate()?;
    let model = Gpt::new(config, 7)?;
    let (batch, seq) = (args.batch, args.block);
    let graph = model.trace_loss(batch, seq, true)?;
    let tokens: Vec<u32> = (0..batch * seq).map(|i| (i * 7 % 256) as u32).collect();
    let targets: Vec<u32> = (0..batch * seq).map(|i| (i * 5 % 256) as u32).collect();
    let params = model.parameters();

    let mut cpu = Program::compile(&graph, 1)?;
    let feeds: Vec<Feed<'_>> = cpu
        .inputs()
        .iter()
        .map(|spec| match spec.name.as_str() {
            "tokens" => Ok(Feed::U32(&tokens)),
            "targets" => Ok(Feed::U32(&targets)),
            name => params
                .iter()
                .find(|p| p.name == name)
                .map(|p| Feed::F32(&p.data))
                .with_context(|| format!("the graph reads an unknown input {name:?}")),
        })
        .collect::<anyhow::Result<_>>()?;
    cpu.run(&feeds, 0)?;
    println!(
        "GPT {} layers, width {}, {} heads, context {}, batch {}: {} outputs, CPU loss {:.6}",
        args.layers,
        args.dim,
        args.heads,
        args.block,
        args.batch,
        graph.outputs.len(),
        cpu.output(0)[0]
    );

    let (devices, absent) = Device::available();
    for reason in &absent {
        println!("skipped: {reason}");
    }
    let tokens_per_step = (batch * seq) as f64;
    for device in devices.iter().filter(|d| !matches!(d, Device::Cpu)) {
        let mut program = DeviceProgram::compile(device, &graph)?;
        program.run(&feeds, 0)?; // first launch compiles the device's kernels
        let _ = program.output(0)?;
        let start = Instant::now();
        for step in 0..args.steps {
            program.run(&feeds, step as u64)?;
        }
        let loss = program.output(0)?;
        let seconds = start.elapsed().as_secs_f64() / args.steps as f64;
        let mut worst = 0.0f32;
        for k in 0..graph.outputs.len() {
            let (want, got) = (cpu.output(k), program.output(k)?);
            let scale = want
                .iter()
                .fold(0.0f32, |a, v| a.max(v.abs()))
                .max(f32::MIN_POSITIVE);
            let diff = want
                .iter()
                .zip(&got)
                .fold(0.0f32, |a, (w, g)| a.max((w - g).abs()));
            worst = worst.max(diff / scale);
        }
        println!(
            "{device}: loss {:.6}, largest normwise difference from the CPU executor {worst:.2e}, \
             {:.2} ms a step, {:.0} tokens/s (forward + backward)",
            loss[0],
            seconds * 1e3,
            tokens_per_step / seconds
        );
    }
    Ok(())
}
