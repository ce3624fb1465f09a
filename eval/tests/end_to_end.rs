//! The whole path: CLI arguments → tasks → model (through the disk cache, or an
//! OpenAI-compatible server on loopback) → results.json, table, sample logs.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use clap::Parser;
use serde_json::{Value, json};
use vibee_eval::cli::{self, EvalArgs};
use vibee_eval::model::LanguageModel;
use vibee_eval::model::cache::CachedModel;
use vibee_eval::model::fake::FakeModel;
use vibee_eval::model::openai::{GenerationApi, OpenAiCompatible};
use vibee_eval::request::{Request, Response};

#[derive(Parser)]
struct Wrapper {
    #[command(flatten)]
    args: EvalArgs,
}

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("vibee-eval-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("scratch dir");
    d
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

#[test]
fn cli_writes_harness_shaped_results() {
    let out = scratch("cli");
    let args = Wrapper::parse_from([
        "x",
        "--model",
        "fake",
        "--tasks",
        "arc_easy,gsm8k",
        "--data-dir",
        fixtures().to_str().expect("utf8"),
        "--output",
        out.to_str().expect("utf8"),
    ])
    .args;
    cli::run(args).expect("runs");
    let results: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("results.json")).expect("written"))
            .expect("json");
    let golden: Value = serde_json::from_str(
        &std::fs::read_to_string(fixtures().join("../goldens/gsm8k.json")).expect("golden"),
    )
    .expect("json");
    for key in [
        "exact_match,strict-match",
        "exact_match_stderr,flexible-extract",
    ] {
        assert_eq!(
            results["results"]["gsm8k"][key], golden["results"]["gsm8k"][key],
            "{key}"
        );
    }
    assert_eq!(results["n-shot"]["gsm8k"], 5);
    assert_eq!(
        results["n-samples"]["arc_easy"],
        json!({"original": 6, "effective": 6})
    );
    let samples = std::fs::read_to_string(out.join("samples_gsm8k.jsonl")).expect("samples");
    // One line per document and filter.
    assert_eq!(samples.lines().count(), 12);
}

/// Counts the requests that reach the real model.
struct Counting(AtomicUsize);

impl LanguageModel for Counting {
    fn name(&self) -> String {
        "counting".into()
    }
    fn answer(&self, requests: &[Request]) -> vibee_eval::Result<Vec<Response>> {
        self.0.fetch_add(requests.len(), Ordering::SeqCst);
        FakeModel.answer(requests)
    }
}

#[test]
fn cache_resumes_without_reasking() {
    let dir = scratch("cache");
    let path = dir.join("cache.jsonl");
    let reqs: Vec<Request> = (0..5)
        .map(|i| Request::loglikelihood(format!("ctx {i}"), " cont".into()))
        .collect();
    let first = CachedModel::open(Counting(AtomicUsize::new(0)), &path).expect("opens");
    let a = first.answer(&reqs[..3]).expect("answers");
    // Simulate a crash mid-write: a torn last line must be ignored.
    std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .expect("open")
        .write_all(b"{\"key\": \"tor")
        .expect("write");
    let second = CachedModel::open(Counting(AtomicUsize::new(0)), &path).expect("reopens");
    assert_eq!(second.len(), 3);
    let b = second.answer(&reqs).expect("answers");
    assert_eq!(&b[..3], &a[..]);
    assert_eq!(b, FakeModel.answer(&reqs).expect("fake"));
    assert_eq!(
        second.inner().0.load(Ordering::SeqCst),
        2,
        "only the two new requests reach the model"
    );
    // Every answer survives another restart, the torn line notwithstanding.
    let third = CachedModel::open(Counting(AtomicUsize::new(0)), &path).expect("reopens");
    assert_eq!(third.len(), 5);
    assert_eq!(third.answer(&reqs).expect("cached"), b);
    assert_eq!(third.inner().0.load(Ordering::SeqCst), 0);
}

/// A one-thread OpenAI-compatible server on loopback answering `n` requests.
fn serve(n: usize, reply: fn(&Value) -> Value) -> (String, std::thread::JoinHandle<Vec<Value>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let url = format!("http://{}/v1", listener.local_addr().expect("addr"));
    let handle = std::thread::spawn(move || {
        let mut seen = Vec::new();
        for stream in listener.incoming().take(n) {
            let mut stream = stream.expect("conn");
            let mut reader = BufReader::new(stream.try_clone().expect("clone"));
            let mut len = 0;
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).expect("header");
                if line == "\r\n" || line.is_empty() {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().expect("length");
                }
            }
            let mut body = vec![0; len];
            reader.read_exact(&mut body).expect("body");
            let req: Value = serde_json::from_slice(&body).expect("json body");
            let resp = reply(&req).to_string();
            seen.push(req);
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                resp.len()
            );
            stream
                .write_all(head.as_bytes())
                .and_then(|_| stream.write_all(resp.as_bytes()))
                .expect("reply");
        }
        seen
    });
    (url, handle)
}

#[test]
fn openai_loglikelihood_from_echoed_prompt_logprobs() {
    let (url, server) = serve(1, |_| {
        json!({"choices": [{"text": "x", "logprobs": {
            "tokens": ["Question", ":", " yes", "x"],
            "token_logprobs": [null, -0.25, -1.5, -3.0],
            "text_offset": [0, 8, 9, 13],
            "top_logprobs": [null, {":": -0.25}, {" no": -0.5, " yes": -1.5}, {"x": -3.0}]}}]})
    });
    let client = OpenAiCompatible::new(&url, "m", None, 2, GenerationApi::Completions);
    let out = client
        .answer(&[Request::loglikelihood("Question:".into(), " yes".into())])
        .expect("scores");
    assert_eq!(out, vec![Response::Loglikelihood(-1.5, false)]);
    let seen = server.join().expect("server");
    assert_eq!(seen[0]["echo"], true);
    assert_eq!(seen[0]["prompt"], "Question: yes");
}

#[test]
fn openai_perplexity_sends_the_harness_rolling_windows_as_token_ids() {
    // Each prompt token t scores -t/100; the generated token scores -9 and must
    // be ignored, as must each window's context.
    let (url, server) = serve(4, |req| {
        let prompt = req["prompt"].as_array().cloned().unwrap_or_default();
        let mut lps: Vec<Value> = vec![Value::Null];
        lps.extend(
            prompt
                .iter()
                .skip(1)
                .map(|t| json!(-t.as_f64().unwrap_or(0.0) / 100.0)),
        );
        lps.push(json!(-9.0));
        json!({"choices": [{"text": "x", "logprobs": {"token_logprobs": lps}}]})
    });
    let text = "abcdefghij";
    let client = OpenAiCompatible::new(&url, "m", None, 1, GenerationApi::Completions)
        .with_tokenizer(vibee_eval::model::tokenizer::Tokenizer::Bytes, 4);
    let out = client
        .answer(&[Request::LoglikelihoodRolling { text: text.into() }])
        .expect("scores");
    let want: f64 = text.bytes().map(|b| -f64::from(b) / 100.0).sum();
    match out[0] {
        Response::Loglikelihood(ll, _) => assert!((ll - want).abs() < 1e-12, "{ll} vs {want}"),
        ref other => panic!("{other:?}"),
    }
    let seen = server.join().expect("server");
    // Windows of max_length - 1 = 3 predicted tokens, the first after "\n".
    assert_eq!(seen[0]["prompt"], json!([10, 97, 98, 99]));
    assert!(seen.iter().all(|r| r["echo"] == true));
    assert!(
        seen.iter()
            .all(|r| r["prompt"].as_array().is_some_and(|p| p.len() <= 4))
    );
}

#[test]
fn openai_perplexity_without_a_tokenizer_is_an_error() {
    let client = OpenAiCompatible::new(
        "http://127.0.0.1:9/v1",
        "m",
        None,
        1,
        GenerationApi::Completions,
    );
    let err = client
        .answer(&[Request::LoglikelihoodRolling { text: "x".into() }])
        .expect_err("needs a tokenizer");
    assert!(err.to_string().contains("--tokenizer"), "{err}");
}

#[test]
fn openai_endpoint_without_prompt_logprobs_is_an_error() {
    let (url, server) = serve(1, |_| json!({"choices": [{"text": "x", "logprobs": null}]}));
    let client = OpenAiCompatible::new(&url, "m", None, 1, GenerationApi::Completions);
    let err = client
        .answer(&[Request::loglikelihood("Q:".into(), " A".into())])
        .expect_err("must refuse");
    assert!(
        err.to_string().contains("no prompt log-probabilities"),
        "{err}"
    );
    server.join().expect("server");
}

#[test]
fn openai_chat_generation_is_cut_at_stop_sequences() {
    let (url, server) = serve(3, |req| {
        let n = req["messages"][0]["content"].as_str().unwrap_or("").len();
        json!({"choices": [{"message": {"role": "assistant", "content": format!("#### {n}\n\nQuestion: more")}}]})
    });
    let client = OpenAiCompatible::new(&url, "m", None, 3, GenerationApi::Chat);
    let reqs: Vec<Request> = ["a", "bb", "ccc"]
        .iter()
        .map(|c| Request::generate((*c).into(), vec!["Question:".into()], 16))
        .collect();
    let out = client.answer(&reqs).expect("generates");
    let want: Vec<Response> = (1..=3)
        .map(|n| Response::Text(format!("#### {n}\n\n")))
        .collect();
    assert_eq!(out, want, "answers stay in request order under concurrency");
    server.join().expect("server");
}

/// Answers every generation request with the fixture's canonical solution.
struct Oracle(Vec<(String, String)>);

impl LanguageModel for Oracle {
    fn name(&self) -> String {
        "oracle".into()
    }
    fn answer(&self, requests: &[Request]) -> vibee_eval::Result<Vec<Response>> {
        Ok(requests
            .iter()
            .map(|r| {
                let sol = self
                    .0
                    .iter()
                    .find(|(p, _)| p == r.context())
                    .map(|(_, s)| s.clone())
                    .unwrap_or_default();
                Response::Text(sol)
            })
            .collect())
    }
}

#[test]
fn humaneval_canonical_solutions_score_pass_at_1_of_one() {
    use vibee_eval::task::{Task, registry::Registry};
    use vibee_eval::template::Templates;
    let problems =
        vibee_eval::sandbox::humaneval::load_problems(&fixtures().join("humaneval/test.jsonl"))
            .expect("problems");
    let oracle = Oracle(
        problems
            .iter()
            .map(|p| (p.prompt.clone(), p.canonical_solution.clone()))
            .collect(),
    );
    let config = Registry::builtin().expect("builtin").tasks["humaneval"].clone();
    let templates = Templates::new();
    let task = Task::load(config, &fixtures(), &templates).expect("loads");
    let result =
        vibee_eval::evaluator::evaluate_task(&task, &oracle, &templates, &Default::default())
            .expect("runs");
    assert_eq!(result.scores["pass@1,create_test"], json!(1.0));
    let fake =
        vibee_eval::evaluator::evaluate_task(&task, &FakeModel, &templates, &Default::default())
            .expect("runs");
    assert_eq!(fake.scores["pass@1,create_test"], json!(0.0));
}
