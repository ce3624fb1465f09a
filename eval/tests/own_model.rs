//! vibee's own models through the harness: log-likelihoods against an independent
//! log-softmax over the runtime's `next_logits`, batching that changes nothing,
//! generation, and `vibee-eval --model vibee` on a trained run directory.
#![cfg(feature = "runtime")]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use clap::Parser;
use serde_json::Value;
use vibee_eval::cli::{self, EvalArgs};
use vibee_eval::model::LanguageModel;
use vibee_eval::model::rolling::rolling_windows;
use vibee_eval::model::tokenizer::Tokenizer;
use vibee_eval::model::vibee::backend::{GptBackend, NextLogitsBackend};
use vibee_eval::model::vibee::load::{RunArgs, load_run};
use vibee_eval::model::vibee::{VibeeModel, VibeeOptions};
use vibee_eval::request::{Request, Response, Sampling};
use vibee_runtime::nn::{CpuGpt, GptConfig};
use vibee_runtime::train::{Bigram, RunOptions, TrainConfig, Trainable, train};

const TINY: GptConfig = GptConfig {
    vocab_size: 256,
    n_layer: 1,
    n_head: 2,
    d_model: 16,
    block_size: 32,
    rope_theta: None,
};

fn tiny_gpt() -> CpuGpt {
    CpuGpt::new(TINY, 7, 1).expect("tiny config is valid")
}

fn model_of(gpt: &CpuGpt, batch_size: usize) -> VibeeModel {
    let backend = GptBackend::new(gpt.model().clone(), 1);
    let options = VibeeOptions {
        batch_size,
        ..VibeeOptions::default()
    };
    VibeeModel::new("tiny", Box::new(backend), Tokenizer::Bytes, options)
}

/// log P(whole[p] | window) summed over the continuation, straight from `next_logits`,
/// with the harness's single input window `whole[-(max+1):][:-1]`.
fn reference(gpt: &mut CpuGpt, context: &[u32], continuation: &[u32]) -> (f64, bool) {
    let whole: Vec<u32> = context.iter().chain(continuation).copied().collect();
    let start = whole.len().saturating_sub(gpt.max_context() + 1);
    let (mut sum, mut greedy) = (0.0, true);
    for p in context.len()..whole.len() {
        let logits = gpt.next_logits(&whole[start..p]).expect("logits");
        let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let lse = f64::from(max)
            + logits
                .iter()
                .map(|&l| f64::from(l - max).exp())
                .sum::<f64>()
                .ln();
        sum += f64::from(logits[whole[p] as usize]) - lse;
        let top = logits.iter().position(|&l| l == max).expect("a maximum");
        greedy &= top == whole[p] as usize;
    }
    (sum, greedy)
}

fn bytes(s: &str) -> Vec<u32> {
    s.bytes().map(u32::from).collect()
}

fn ll(r: &Response) -> (f64, bool) {
    match r {
        Response::Loglikelihood(x, g) => (*x, *g),
        Response::Text(t) => panic!("a text answer {t:?} to a scoring request"),
    }
}

fn scoring_requests() -> Vec<Request> {
    let long = "The quick brown fox jumps over the lazy dog. ".repeat(3);
    let mut reqs = vec![
        Request::loglikelihood("Question: 2+2?\nAnswer: ".into(), "4".into()),
        Request::loglikelihood("Question: 2+2?\nAnswer:".into(), " 5".into()),
        Request::loglikelihood("Question: 2+2?\nAnswer:".into(), " four".into()),
        Request::loglikelihood(long.clone(), "cat".into()),
        Request::loglikelihood(String::new(), "hello".into()),
        Request::LoglikelihoodRolling { text: long },
    ];
    for c in ["A", "B", "C", "D"] {
        reqs.push(Request::loglikelihood("Pick:".into(), format!(" {c}")));
    }
    reqs
}

#[test]
fn loglikelihoods_match_log_softmax_of_next_logits() {
    let mut gpt = tiny_gpt();
    let model = model_of(&gpt, 4);
    let reqs = scoring_requests();
    let got = model.answer(&reqs).expect("answers");
    for (req, resp) in reqs.iter().zip(&got) {
        let (value, greedy) = ll(resp);
        let (want, want_greedy) = match req {
            Request::Loglikelihood {
                context,
                continuation,
            } => {
                let (ctx, cont) = vibee_eval::model::split_context(context, continuation);
                let ctx = if ctx.is_empty() {
                    vec![10]
                } else {
                    bytes(&ctx)
                };
                reference(&mut gpt, &ctx, &bytes(&cont))
            }
            Request::LoglikelihoodRolling { text } => {
                let windows = rolling_windows(&bytes(text), 10, TINY.block_size);
                assert!(windows.len() > 2, "the text spans several windows");
                windows.iter().fold((0.0, true), |(s, g), w| {
                    let (x, wg) = reference(&mut gpt, &w.context, &w.predicted);
                    (s + x, g && wg)
                })
            }
            Request::GenerateUntil { .. } => unreachable!("only scoring requests here"),
        };
        assert!(
            (value - want).abs() < 1e-3,
            "{req:?}: adapter {value}, reference {want}"
        );
        if matches!(req, Request::Loglikelihood { .. }) {
            assert_eq!(greedy, want_greedy, "{req:?}");
        }
        assert!(value < 0.0);
    }
}

#[test]
fn batched_answers_equal_unbatched_ones() {
    let gpt = tiny_gpt();
    let reqs = scoring_requests();
    let batched = model_of(&gpt, 8).answer(&reqs).expect("batched");
    let single = model_of(&gpt, 1);
    for (req, b) in reqs.iter().zip(&batched) {
        let alone = single.answer(std::slice::from_ref(req)).expect("alone");
        let ((x, gx), (y, gy)) = (ll(b), ll(&alone[0]));
        assert!((x - y).abs() < 1e-4, "{req:?}: batched {x}, alone {y}");
        assert_eq!(gx, gy, "{req:?}");
    }
}

/// A bigram model whose greedy continuation of `a` is `bcdefgh…`.
fn alphabet_model() -> VibeeModel {
    let mut bigram = Bigram::new(256);
    {
        let mut params = bigram.params_mut();
        for b in 0..255usize {
            params[0][b * 256 + b + 1] = 10.0;
        }
    }
    let backend = NextLogitsBackend(bigram);
    VibeeModel::new(
        "abc",
        Box::new(backend),
        Tokenizer::Bytes,
        VibeeOptions::default(),
    )
}

fn text(r: &Response) -> &str {
    match r {
        Response::Text(t) => t,
        Response::Loglikelihood(..) => panic!("a score answer to a generation request"),
    }
}

#[test]
fn greedy_generation_stops_at_the_stop_sequence_and_budget() {
    let model = alphabet_model();
    let reqs = vec![
        Request::generate("xa".into(), vec!["fg".into()], 50),
        Request::generate("a".into(), vec![], 5),
        Request::generate("m".into(), vec!["z".into(), "q".into()], 100),
    ];
    let got = model.answer(&reqs).expect("generates");
    let texts: Vec<&str> = got.iter().map(text).collect();
    assert_eq!(texts, ["bcde", "bcdef", "nop"]);
}

#[test]
fn greedy_is_deterministic_and_sampling_is_seeded() {
    let gpt = tiny_gpt();
    let model = model_of(&gpt, 4);
    let greedy = Request::generate("Once upon a time".into(), vec![], 12);
    let a = model.answer(&[greedy.clone(), greedy.clone()]).expect("a");
    let b = model_of(&gpt, 1).answer(&[greedy]).expect("b");
    assert_eq!(text(&a[0]), text(&a[1]));
    assert_eq!(text(&a[0]), text(&b[0]));
    let sampled = |sample| {
        let s = Sampling {
            temperature: 5.0,
            top_p: 1.0,
            sample,
        };
        Request::sampled("Once".into(), vec![], 16, s)
    };
    let first = model.answer(&[sampled(0), sampled(1)]).expect("samples");
    let again = model.answer(&[sampled(0)]).expect("again");
    assert_eq!(text(&first[0]), text(&again[0]), "same seed, same sample");
    assert_ne!(
        text(&first[0]),
        text(&first[1]),
        "another sample draws again"
    );
}

/// A tiny GPT trained for two steps by `vibee train`, shared by the tests below.
fn trained_run() -> &'static Path {
    static RUN: OnceLock<PathBuf> = OnceLock::new();
    RUN.get_or_init(|| {
        // A directory the trainer creates itself.
        let dir = scratch("run").join("run");
        let toml = format!(
            r#"
            [model]
            kind = "gpt"
            n_layers = 1
            n_heads = 2
            d_model = 16
            block_size = 128
            [corpus]
            kind = "markov"
            train_bytes = 20000
            val_bytes = 4000
            [train]
            steps = 2
            warmup_steps = 1
            batch_size = 2
            eval_every = 2
            eval_batches = 1
            threads = 1
            [output]
            dir = "{}"
            plot = false
            sample_tokens = 0
            "#,
            dir.display()
        );
        let cfg = TrainConfig::from_toml_str(&toml, "tiny.toml").expect("config");
        train(&cfg, &RunOptions::default()).expect("trains");
        dir
    })
}

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("vibee-eval-own-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("scratch dir");
    d
}

#[derive(Parser)]
struct Wrapper {
    #[command(flatten)]
    args: EvalArgs,
}

#[test]
fn vibee_eval_runs_a_trained_model_on_arc_easy() {
    let out = scratch("out");
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let model_args = format!("run={},batch_size=8,threads=1", trained_run().display());
    let args = Wrapper::parse_from([
        "x",
        "--model",
        "vibee",
        "--model-args",
        &model_args,
        "--tasks",
        "arc_easy",
        "--data-dir",
        fixtures.to_str().expect("utf8"),
        "--output",
        out.to_str().expect("utf8"),
    ])
    .args;
    cli::run(args).expect("evaluates");
    let results: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("results.json")).expect("written"))
            .expect("json");
    let arc = &results["results"]["arc_easy"];
    for key in ["acc,none", "acc_norm,none"] {
        let v = arc[key].as_f64().unwrap_or(-1.0);
        assert!((0.0..=1.0).contains(&v), "{key} = {v} in {arc}");
    }
    let name = results["config"]["model"].as_str().unwrap_or_default();
    assert!(name.starts_with("vibee:"), "model name {name:?}");
}

fn load_error(dir: &Path) -> String {
    let args = RunArgs::parse(&format!("run={}", dir.display())).expect("args");
    match load_run(&args) {
        Ok(_) => panic!("{} loaded", dir.display()),
        Err(e) => e.to_string(),
    }
}

/// A copy of the trained run to break.
fn copy_run(name: &str) -> PathBuf {
    let dst = scratch(name);
    let mut stack = vec![(trained_run().to_path_buf(), dst.clone())];
    while let Some((from, to)) = stack.pop() {
        std::fs::create_dir_all(&to).expect("dir");
        for entry in std::fs::read_dir(&from).expect("listing") {
            let path = entry.expect("entry").path();
            let target = to.join(path.file_name().expect("name"));
            if path.is_dir() {
                stack.push((path, target));
            } else {
                std::fs::copy(&path, &target).expect("copy");
            }
        }
    }
    dst
}

#[test]
fn a_bad_run_directory_is_an_error_naming_the_file() {
    let missing = std::env::temp_dir().join("vibee-eval-no-such-run");
    assert!(load_error(&missing).contains("vibee-eval-no-such-run"));
    let empty = scratch("empty");
    assert!(
        load_error(&empty).contains("config.toml"),
        "{}",
        load_error(&empty)
    );

    let no_latest = copy_run("no-latest");
    std::fs::remove_file(no_latest.join("checkpoints/latest")).expect("rm");
    assert!(
        load_error(&no_latest).contains("latest"),
        "{}",
        load_error(&no_latest)
    );

    let corrupt = copy_run("corrupt");
    let latest = std::fs::read_to_string(corrupt.join("checkpoints/latest")).expect("latest");
    let weights = corrupt
        .join("checkpoints")
        .join(latest.trim())
        .join("model.safetensors");
    std::fs::write(&weights, b"not safetensors").expect("write");
    let e = load_error(&corrupt);
    assert!(e.contains("model.safetensors"), "{e}");

    let bad_state = copy_run("bad-state");
    let state = bad_state
        .join("checkpoints")
        .join(latest.trim())
        .join("state.json");
    std::fs::write(&state, b"{").expect("write");
    let e = load_error(&bad_state);
    assert!(e.contains("state.json"), "{e}");

    assert!(RunArgs::parse("batch_size=2").is_err(), "run= is required");
    assert!(
        RunArgs::parse("run=x,colour=blue").is_err(),
        "unknown keys are refused"
    );

    let loaded =
        load_run(&RunArgs::parse(&format!("run={}", trained_run().display())).expect("args"))
            .expect("the intact run loads");
    assert!(loaded.name().contains("step-"));
}
