//! The GPT end to end: parameter names and count, gradients against finite differences of
//! the f64 reference evaluator, and training to (near) zero loss with AdamW.

// Helpers outside `#[test]` functions unwrap too: a broken invariant should fail loudly.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;

use vibee_dsl::graph::reference::evaluate;
use vibee_runtime::nn::{CpuGpt, Gpt, GptConfig, Module, NnError, Split};
use vibee_runtime::optim::{Adam, AdamConfig, Optimizer, ParamSet};
use vibee_runtime::train::model::Trainable;

fn tiny() -> GptConfig {
    GptConfig {
        vocab_size: 11,
        n_layer: 2,
        n_head: 2,
        d_model: 8,
        block_size: 6,
        rope_theta: None,
    }
}

#[test]
fn names_order_and_count_match_torch_gpt() {
    let m = Gpt::new(GptConfig::small(), 0).unwrap();
    // torch_gpt.py's GPT(256, 4, 4, 128, 128) has 875 264 parameters.
    assert_eq!(m.num_params(), 875_264);
    let names: Vec<&str> = m.parameters().iter().map(|p| p.name.as_str()).collect();
    assert_eq!(
        &names[..4],
        [
            "wte.weight",
            "wpe.weight",
            "blocks.0.ln1.weight",
            "blocks.0.ln1.bias"
        ]
    );
    assert!(names.contains(&"blocks.3.attn.qkv.weight"));
    assert!(names.contains(&"blocks.1.mlp.proj.bias"));
    assert_eq!(names[names.len() - 1], "lm_head.weight");
    let qkv = m
        .parameters()
        .into_iter()
        .find(|p| p.name == "blocks.0.attn.qkv.weight")
        .unwrap();
    assert_eq!(qkv.shape, [384, 128]);
}

#[test]
fn bad_configs_name_the_field() {
    let mut c = tiny();
    c.n_head = 3;
    let err = Gpt::new(c, 0).unwrap_err();
    assert!(
        matches!(&err, NnError::Config(e) if e.field == "d_model"),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        "model config: GptConfig: `d_model` = 8 must satisfy `d_model.is_multiple_of(n_head)` (n_head = 3)"
    );
    let mut c = tiny();
    c.n_layer = 0;
    let err = Gpt::new(c, 0).unwrap_err();
    assert!(
        matches!(&err, NnError::Config(e) if e.field == "n_layer"),
        "{err}"
    );
}

fn batch() -> (Vec<u32>, Vec<u32>) {
    let tokens = vec![1, 4, 2, 9, 10, 3, 0, 5, 5, 7, 2, 8];
    let targets = vec![4, 2, 9, 10, 3, 0, 5, 5, 7, 2, 8, 1];
    (tokens, targets)
}

#[test]
fn gradients_match_finite_differences() {
    gradients_match_finite_differences_for(tiny());
}

#[test]
fn rotary_gpt_gradients_match_finite_differences() {
    gradients_match_finite_differences_for(GptConfig {
        rope_theta: Some(10_000.0),
        ..tiny()
    });
}

#[test]
fn rotary_embeddings_replace_the_position_table() {
    let rope = GptConfig {
        rope_theta: Some(10_000.0),
        ..GptConfig::small()
    };
    let m = Gpt::new(rope, 0).unwrap();
    assert_eq!(m.num_params(), 875_264 - 128 * 128);
    assert!(m.parameters().iter().all(|p| p.name != "wpe.weight"));
    let odd_heads = GptConfig {
        rope_theta: Some(10_000.0),
        n_head: 2,
        d_model: 6,
        ..tiny()
    };
    let err = Gpt::new(odd_heads, 0).unwrap_err().to_string();
    assert!(err.contains("rope_theta"), "{err}");
}

fn gradients_match_finite_differences_for(cfg: GptConfig) {
    let gpt = Gpt::new(cfg, 3).unwrap();
    let (tokens, targets) = batch();
    let graph = gpt.trace_loss(2, 6, true).unwrap();
    let mut feeds: HashMap<String, Vec<f64>> = HashMap::new();
    feeds.insert(
        "tokens".into(),
        tokens.iter().map(|&t| f64::from(t)).collect(),
    );
    feeds.insert(
        "targets".into(),
        targets.iter().map(|&t| f64::from(t)).collect(),
    );
    for p in gpt.parameters() {
        feeds.insert(
            p.name.clone(),
            p.data.iter().map(|&x| f64::from(x)).collect(),
        );
    }
    let vals = evaluate(&graph, &feeds, 0).unwrap();
    let loss_at = |f: &HashMap<String, Vec<f64>>| {
        evaluate(&graph, f, 0).unwrap()[graph.outputs[0].index()][0]
    };
    let names: Vec<String> = gpt.parameters().iter().map(|p| p.name.clone()).collect();
    // A few elements of parameters at every depth.
    for (pi, name) in names.iter().enumerate().step_by(3) {
        let analytic = &vals[graph.outputs[1 + pi].index()];
        for e in [0, feeds[name].len() / 2, feeds[name].len() - 1] {
            let mut f = feeds.clone();
            f.get_mut(name).unwrap()[e] += 1e-6;
            let up = loss_at(&f);
            f.get_mut(name).unwrap()[e] -= 2e-6;
            let down = loss_at(&f);
            let numeric = (up - down) / 2e-6;
            assert!(
                (analytic[e] - numeric).abs() < 1e-6 + 1e-4 * numeric.abs(),
                "{name}[{e}]: {} vs {numeric}",
                analytic[e]
            );
        }
    }
    // The f32 executor agrees with the f64 reference on the loss and every gradient.
    let mut m = CpuGpt::from_model(gpt, 2);
    let mut grads: Vec<Vec<f32>> = m.params().iter().map(|p| vec![0.0; p.len()]).collect();
    let loss = m
        .loss_and_grad(&tokens, &targets, 2, 6, &mut grads)
        .unwrap();
    assert!((f64::from(loss) - vals[graph.outputs[0].index()][0]).abs() < 1e-5);
    for (k, gk) in grads.iter().enumerate() {
        let want = &vals[graph.outputs[1 + k].index()];
        for (a, b) in gk.iter().zip(want) {
            assert!(
                (f64::from(*a) - b).abs() < 1e-4 + 1e-3 * b.abs(),
                "{}: {a} vs {b}",
                names[k]
            );
        }
    }
    let l2 = m.loss(&tokens, &targets, 2, 6).unwrap();
    assert_eq!(
        loss, l2,
        "forward-only and training programs compute the same loss"
    );
}

#[test]
fn adamw_drives_a_repetitive_sequence_to_zero_loss() {
    learns_a_repetitive_sequence(None);
}

#[test]
fn a_rotary_gpt_learns_a_repetitive_sequence() {
    learns_a_repetitive_sequence(Some(10_000.0));
}

fn learns_a_repetitive_sequence(rope_theta: Option<f64>) {
    let cfg = GptConfig {
        vocab_size: 256,
        n_layer: 2,
        n_head: 2,
        d_model: 32,
        block_size: 16,
        rope_theta,
    };
    let mut m = CpuGpt::new(cfg, 1, 2).unwrap();
    let text: Vec<u32> = b"0123456789abcdefghijklmnopqrstuvwxyz"
        .iter()
        .cycle()
        .take(200)
        .map(|&b| u32::from(b))
        .collect();
    let (b, t) = (4, 16);
    let specs = m.param_specs().into_iter().map(|s| (s.name, s.shape));
    let mut opt = Adam::<f32>::new(AdamConfig::adamw(3e-3, 0.0), ParamSet::new(specs));
    let mut grads: Vec<Vec<f32>> = m.params().iter().map(|p| vec![0.0; p.len()]).collect();
    let mut loss = f32::INFINITY;
    for step in 0..300 {
        let (mut tokens, mut targets) = (Vec::new(), Vec::new());
        for r in 0..b {
            let s = (step * 7 + r * 13) % (text.len() - t - 1);
            tokens.extend_from_slice(&text[s..s + t]);
            targets.extend_from_slice(&text[s + 1..s + t + 1]);
        }
        grads.iter_mut().for_each(|g| g.fill(0.0));
        loss = m
            .loss_and_grad(&tokens, &targets, b, t, &mut grads)
            .unwrap();
        let gs: Vec<&[f32]> = grads.iter().map(|g| g.as_slice()).collect();
        opt.step(&mut m.params_mut(), &gs).unwrap();
    }
    assert!(loss < 0.05, "loss after 300 steps: {loss}");
    // The model now continues the sequence.
    let ctx = &text[..10];
    let logits = m.next_logits(ctx).unwrap();
    let best = (0..256)
        .max_by(|&a, &b| logits[a].total_cmp(&logits[b]))
        .unwrap();
    assert_eq!(best as u32, text[10]);
}

#[test]
fn recomputation_keeps_gradients_and_lowers_the_planned_peak() {
    use vibee_dsl::graph::passes::Recompute;
    let cfg = small(3);
    let (tokens, targets) = batch_of(4);
    let run = |policy| {
        let mut m = CpuGpt::new(cfg.clone(), 5, 2).unwrap();
        m.set_recompute(policy);
        let mut grads: Vec<Vec<f32>> = m.params().iter().map(|p| vec![0.0; p.len()]).collect();
        let loss = m
            .loss_and_grad(&tokens, &targets, 4, 8, &mut grads)
            .unwrap();
        let (peak, _) = m.planned_memory(4, 8).unwrap();
        (loss, grads, peak)
    };
    let (loss, grads, none) = run(Recompute::None);
    let (l_sel, g_sel, selective) = run(Recompute::Selective);
    let (l_full, g_full, full) = run(Recompute::Full);
    // Same operations on the same operands: bit-identical.
    assert_eq!((loss, &grads), (l_sel, &g_sel));
    assert_eq!((loss, &grads), (l_full, &g_full));
    assert!(selective < none, "selective {selective} vs none {none}");
    assert!(full < selective, "full {full} vs selective {selective}");
}

#[test]
fn bf16_autocast_trains_close_to_f32() {
    use vibee_dsl::graph::DType;
    let cfg = small(2);
    let (tokens, targets) = batch_of(4);
    let run = |precision| {
        let mut m = CpuGpt::new(cfg.clone(), 5, 1).unwrap();
        m.set_precision(precision);
        let mut grads: Vec<Vec<f32>> = m.params().iter().map(|p| vec![0.0; p.len()]).collect();
        let loss = m
            .loss_and_grad(&tokens, &targets, 4, 8, &mut grads)
            .unwrap();
        (loss, grads, m)
    };
    let (l32, g32, _) = run(None);
    let (l16, g16, mut m) = run(Some(DType::BF16));
    assert_ne!(l32, l16, "bf16 products round");
    assert!((l32 - l16).abs() < 0.02 * l32, "{l32} vs {l16}");
    let (dot, n32, n16) = g32.iter().flatten().zip(g16.iter().flatten()).fold(
        (0.0f64, 0.0f64, 0.0f64),
        |(d, a, b), (x, y)| {
            let (x, y) = (f64::from(*x), f64::from(*y));
            (d + x * y, a + x * x, b + y * y)
        },
    );
    let cosine = dot / (n32.sqrt() * n16.sqrt());
    assert!(cosine > 0.99, "gradient direction: cosine {cosine}");
    // Every product of the program runs in bf16.
    let g = m.training_program(4, 8).unwrap().graph().clone();
    let products: Vec<DType> = g
        .nodes
        .iter()
        .filter(|n| matches!(n.op, vibee_dsl::graph::Op::MatMul { .. }))
        .map(|n| n.dtype)
        .collect();
    assert!(!products.is_empty() && products.iter().all(|d| *d == DType::BF16));
}

/// A 32-token vocabulary, 2 heads of 8, context 8, `n_layer` blocks.
fn small(n_layer: usize) -> GptConfig {
    GptConfig {
        vocab_size: 32,
        n_layer,
        n_head: 2,
        d_model: 16,
        block_size: 8,
        rope_theta: None,
    }
}

/// `rows` rows of 8 tokens for [`small`] and their targets.
fn batch_of(rows: usize) -> (Vec<u32>, Vec<u32>) {
    let n = rows as u32 * 8;
    let tokens = (0..n).map(|i| (i * 7 + 3) % 32).collect();
    let targets = (0..n).map(|i| (i * 5 + 1) % 32).collect();
    (tokens, targets)
}

/// Loss and gradients of one step of a fresh [`small`] model (seed 3) on `threads` threads.
fn one_step(threads: usize, split: Split, batch: usize) -> (f32, Vec<Vec<f32>>) {
    one_step_of(small(2), threads, split, batch)
}

fn one_step_of(cfg: GptConfig, threads: usize, split: Split, batch: usize) -> (f32, Vec<Vec<f32>>) {
    let (tokens, targets) = batch_of(batch);
    let mut m = CpuGpt::new(cfg, 3, threads).unwrap();
    m.set_split(split);
    let mut grads: Vec<Vec<f32>> = m.params().iter().map(|p| vec![0.0; p.len()]).collect();
    let loss = m
        .loss_and_grad(&tokens, &targets, batch, 8, &mut grads)
        .unwrap();
    (loss, grads)
}

#[test]
fn a_batch_split_over_threads_gives_the_whole_batch_mean() {
    // Shares of 2 + 2 rows, and uneven ones (2 + 2 + 1) weighted by their rows.
    for (threads, batch) in [(2, 4), (3, 5)] {
        let (loss, grads) = one_step(1, Split::Batch, batch);
        let (l_split, g_split) = one_step(threads, Split::Batch, batch);
        assert!(
            (loss - l_split).abs() <= 1e-6 * loss.abs(),
            "{threads} threads: {loss} vs {l_split}"
        );
        for (k, (a, b)) in grads.iter().zip(&g_split).enumerate() {
            let scale = a.iter().fold(1e-3f32, |m, v| m.max(v.abs()));
            for (x, y) in a.iter().zip(b) {
                assert!((x - y).abs() <= 1e-5 * scale, "gradient {k}: {x} vs {y}");
            }
        }
        // Deterministic for a fixed thread count.
        let again = one_step(threads, Split::Batch, batch);
        assert_eq!((l_split, &g_split), (again.0, &again.1));
    }
    // Gradients longer than the chunk the shares are added in (the MLP's 192 × 48 weights).
    let wide = GptConfig {
        d_model: 48,
        ..small(1)
    };
    let (tokens, targets) = batch_of(4);
    let mut m = CpuGpt::new(wide.clone(), 3, 1).unwrap();
    let mut grads: Vec<Vec<f32>> = m.params().iter().map(|p| vec![0.0; p.len()]).collect();
    m.loss_and_grad(&tokens, &targets, 4, 8, &mut grads)
        .unwrap();
    assert!(grads.iter().any(|g| g.len() > 4096));
    let program = m.training_program(4, 8).unwrap();
    for (k, g) in grads.iter().enumerate() {
        assert!(
            g == program.output(1 + k),
            "gradient {k} is not the program's"
        );
    }
    let (_, g_split) = one_step_of(wide, 2, Split::Batch, 4);
    for (k, (a, b)) in grads.iter().zip(&g_split).enumerate() {
        let scale = a.iter().fold(1e-3f32, |m, v| m.max(v.abs()));
        for (i, (x, y)) in a.iter().zip(b).enumerate() {
            assert!(
                (x - y).abs() <= 1e-5 * scale,
                "gradient {k}[{i}]: {x} vs {y}"
            );
        }
    }
    // Splitting each op instead runs one program over the whole batch.
    let (l_ops, _) = one_step(2, Split::Ops, 4);
    assert!((l_ops - one_step(1, Split::Batch, 4).0).abs() <= 1e-6 * l_ops.abs());
}
