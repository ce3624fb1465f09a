//! Parity with lm-evaluation-harness for code tasks (pass@k over n samples,
//! executed in the sandbox) and perplexity tasks (rolling log-likelihood):
//! goldens recorded by `scripts/eval_goldens.py` from the real harness and HF
//! `code_eval`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value;
use vibee_eval::chat::ChatTemplate;
use vibee_eval::evaluator::{self, EvalOptions};
use vibee_eval::model::LanguageModel;
use vibee_eval::model::fake::{FakeModel, fnv1a64};
use vibee_eval::model::rolling::rolling_windows;
use vibee_eval::request::{Request, Response, truncate_at_stops};
use vibee_eval::task::registry::Registry;
use vibee_eval::task::{FewshotSampler, PromptStyle, Task};
use vibee_eval::template::{Doc, Templates};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests")
}

fn golden(name: &str) -> Value {
    let path = root().join("goldens").join(format!("{name}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).expect("golden is JSON")
}

fn load(task: &str, repeats: Option<usize>) -> Task {
    let mut config = Registry::builtin().expect("built-in tasks parse").tasks[task].clone();
    if let Some(r) = repeats {
        config.repeats = r;
    }
    Task::load(config, &root().join("fixtures"), &Templates::new()).expect("fixture loads")
}

/// The golden script's code-task model: per prompt and sample, the reference
/// solution or a wrong one, picked by a hash (its `code_completion`).
struct CodeFake {
    docs: BTreeMap<String, Doc>,
}

impl CodeFake {
    fn for_task(task: &Task) -> Self {
        let t = Templates::new();
        let mut sampler = FewshotSampler::default();
        let docs = (0..task.docs.len())
            .map(|i| {
                let ctx = task.contexts(&t, i, &mut sampler).expect("context");
                (ctx[0].clone(), task.docs[i].clone())
            })
            .collect();
        CodeFake { docs }
    }

    fn completion(doc: &Doc, key: &str) -> String {
        let good = !(fnv1a64(key) >> 8).is_multiple_of(3);
        let field = |f: &str| doc.get(f).and_then(Value::as_str).map(str::to_string);
        match field("canonical_solution") {
            Some(sol) if good => sol,
            Some(_) => "    return None\n".into(),
            None if good => format!("{}\n[DONE]\nextra", field("code").unwrap_or_default()),
            None => "def nothing():\n    return None\n[DONE]".into(),
        }
    }
}

impl LanguageModel for CodeFake {
    fn name(&self) -> String {
        "code-fake".into()
    }

    fn answer(&self, requests: &[Request]) -> vibee_eval::Result<Vec<Response>> {
        Ok(requests
            .iter()
            .map(|r| match r {
                Request::GenerateUntil {
                    context,
                    until,
                    sampling,
                    ..
                } => {
                    let sample = sampling.map_or(0, |s| s.sample);
                    let key = if sample == 0 {
                        context.clone()
                    } else {
                        format!("{context}\0{sample}")
                    };
                    let doc = &self.docs[context];
                    Response::Text(truncate_at_stops(&Self::completion(doc, &key), until))
                }
                other => panic!("unexpected request {other:?}"),
            })
            .collect())
    }
}

fn assert_close(ours: &Value, theirs: &Value, what: &str) {
    match (ours.as_f64(), theirs.as_f64()) {
        (Some(a), Some(b)) => assert!(
            a == b || (a - b).abs() <= 1e-12 * b.abs(),
            "{what}: vibee {a}, harness {b}"
        ),
        _ => assert_eq!(ours, theirs, "{what}"),
    }
}

/// Prompts, per-sample filtered programs and metrics, aggregates and stderrs.
fn check_code_task(name: &str, repeats: Option<usize>) {
    check_styled(name, name, repeats, None);
}

/// As [`check_code_task`], for golden `golden_name` of task `name`, optionally
/// under a fixture chat template (`(template, fewshot_as_multiturn)`).
fn check_styled(golden_name: &str, name: &str, repeats: Option<usize>, chat: Option<(&str, bool)>) {
    let g = golden(golden_name);
    let mut task = load(name, repeats);
    if let Some((template, multiturn)) = chat {
        let path = root().join(format!("fixtures/chat/{template}.json"));
        task.style = PromptStyle {
            system_instruction: None,
            chat_template: Some(Arc::new(
                ChatTemplate::from_tokenizer_config(&path).expect("template"),
            )),
            fewshot_as_multiturn: multiturn,
        };
    }
    let model = CodeFake::for_task(&task);
    let result =
        evaluator::evaluate_task(&task, &model, &Templates::new(), &EvalOptions::default())
            .expect("evaluates");
    for s in g["samples"][name].as_array().expect("samples") {
        let id = s["doc_id"].as_u64().expect("doc_id") as usize;
        let ours = &result.samples[id];
        let theirs_ctx = s["arguments"][0][0].as_str().expect("context");
        assert_eq!(
            ours.arguments[0].context(),
            theirs_ctx,
            "{name} doc {id}: prompt"
        );
        assert_eq!(
            ours.arguments.len(),
            repeats.unwrap_or(task.config.repeats),
            "{name} doc {id}: samples"
        );
        let theirs_progs: Vec<&str> = s["filtered_resps"]
            .as_array()
            .map(|a| match a.first() {
                Some(Value::Array(inner)) => inner.iter().filter_map(Value::as_str).collect(),
                _ => a.iter().filter_map(Value::as_str).collect(),
            })
            .unwrap_or_default();
        assert_eq!(
            ours.filtered_resps, theirs_progs,
            "{name} doc {id}: programs"
        );
        for (m, v) in s["metrics"].as_object().expect("metrics") {
            assert_close(
                &Value::from(ours.metrics[m]),
                v,
                &format!("{name} doc {id} {m}"),
            );
        }
    }
    for (k, v) in g["results"][name].as_object().expect("results") {
        if let Some(ours) = result.scores.get(k) {
            assert_close(ours, v, &format!("{name} {k}"));
        } else {
            assert!(
                ["name", "alias", "sample_len"].contains(&k.as_str()),
                "{name}: vibee lacks {k}"
            );
        }
    }
}

#[test]
fn humaneval_matches_the_harness() {
    check_code_task("humaneval", None);
}

#[test]
fn humaneval_pass_at_k_with_five_samples_matches_the_harness() {
    check_code_task("humaneval_64", Some(5));
}

#[test]
fn humaneval_plus_matches_the_harness() {
    check_code_task("humaneval_plus", None);
}

#[test]
fn humaneval_instruct_gen_prefix_matches_the_harness() {
    check_code_task("humaneval_instruct", None);
}

#[test]
fn humaneval_instruct_continues_the_chat_prefix_as_the_harness() {
    check_styled(
        "humaneval_instruct_chat",
        "humaneval_instruct",
        None,
        Some(("llama3", false)),
    );
}

#[test]
fn mbpp_instruct_matches_the_harness() {
    check_code_task("mbpp_instruct", None);
}

#[test]
fn mbpp_instruct_multiturn_chat_matches_the_harness() {
    check_styled(
        "mbpp_instruct_chat",
        "mbpp_instruct",
        None,
        Some(("chatml", true)),
    );
}

#[test]
fn mbpp_matches_the_harness() {
    check_code_task("mbpp", None);
}

#[test]
fn mbpp_plus_matches_the_harness() {
    check_code_task("mbpp_plus", None);
}

#[test]
fn mbpp_plus_instruct_matches_the_harness() {
    check_code_task("mbpp_plus_instruct", None);
}

#[test]
fn humaneval_64_instruct_with_five_samples_matches_the_harness() {
    check_code_task("humaneval_64_instruct", Some(5));
}

#[test]
fn wikitext_perplexities_match_the_harness() {
    let g = golden("wikitext");
    let task = load("wikitext", None);
    let result = evaluator::evaluate_task(
        &task,
        &FakeModel,
        &Templates::new(),
        &EvalOptions::default(),
    )
    .expect("evaluates");
    for s in g["samples"]["wikitext"].as_array().expect("samples") {
        let id = s["doc_id"].as_u64().expect("doc_id") as usize;
        let ours = &result.samples[id];
        let Request::LoglikelihoodRolling { text } = &ours.arguments[0] else {
            panic!("not a rolling request");
        };
        assert_eq!(
            text,
            s["arguments"][0][0].as_str().expect("text"),
            "doc {id}: detokenized page"
        );
        for (m, pair) in s["metrics"].as_object().expect("metrics") {
            assert_eq!(
                Some(ours.metrics[m]),
                pair[0].as_f64(),
                "doc {id} {m}: log-likelihood"
            );
            assert_eq!(
                Some(ours.weights[m]),
                pair[1].as_f64(),
                "doc {id} {m}: weight"
            );
        }
    }
    for (k, v) in g["results"]["wikitext"].as_object().expect("results") {
        if let Some(ours) = result.scores.get(k) {
            assert_eq!(ours, v, "wikitext {k}");
        }
    }
    assert_eq!(result.scores.len(), 6);
}

#[test]
fn rolling_windows_match_the_harness() {
    let g = golden("rolling_windows");
    for case in g.as_array().expect("cases") {
        let n = case["n"].as_u64().expect("n") as u32;
        let max_len = case["max_len"].as_u64().expect("max_len") as usize;
        let tokens: Vec<u32> = (1..=n).collect();
        let ours: Vec<Value> = rolling_windows(&tokens, 0, max_len)
            .into_iter()
            .map(|w| serde_json::json!([w.context, w.predicted]))
            .collect();
        assert_eq!(
            Value::Array(ours),
            case["windows"],
            "n {n} max_len {max_len}"
        );
    }
}

/// Answers with the reference body of each row (`canonical_solution`) or a
/// wrong one, for the tasks the harness has no task file for (BigCodeBench).
struct Reference {
    bodies: BTreeMap<String, String>,
}

impl LanguageModel for Reference {
    fn name(&self) -> String {
        "reference".into()
    }

    fn answer(&self, requests: &[Request]) -> vibee_eval::Result<Vec<Response>> {
        Ok(requests
            .iter()
            .map(|r| {
                let body = self.bodies.get(r.context()).cloned().unwrap_or_default();
                Response::Text(body)
            })
            .collect())
    }
}

#[test]
fn bigcodebench_reference_solutions_pass_their_unittests() {
    let task = load("bigcodebench", None);
    let field = |d: &Doc, f: &str| d[f].as_str().expect("field").to_string();
    let right = Reference {
        bodies: task
            .docs
            .iter()
            .map(|d| (field(d, "complete_prompt"), field(d, "canonical_solution")))
            .collect(),
    };
    let t = Templates::new();
    let opts = EvalOptions::default();
    let result = evaluator::evaluate_task(&task, &right, &t, &opts).expect("runs");
    assert_eq!(result.scores["pass@1,create_test"], Value::from(1.0));
    let wrong = Reference {
        bodies: right
            .bodies
            .keys()
            .map(|k| (k.clone(), "    return None\n".to_string()))
            .collect(),
    };
    let result = evaluator::evaluate_task(&task, &wrong, &t, &opts).expect("runs");
    assert_eq!(result.scores["pass@1,create_test"], Value::from(0.0));
}
