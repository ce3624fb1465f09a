//! Chat templates: rendering against transformers (goldens from the renderer
//! `apply_chat_template` calls), and `--apply_chat_template` /
//! `--fewshot_as_multiturn` prompts against lm-evaluation-harness.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value;
use vibee_eval::chat::{ChatMessage, ChatTemplate};
use vibee_eval::evaluator::{self, EvalOptions};
use vibee_eval::model::fake::FakeModel;
use vibee_eval::request::Request;
use vibee_eval::task::registry::Registry;
use vibee_eval::task::{FewshotSampler, PromptStyle, Task};
use vibee_eval::template::Templates;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests")
}

fn golden(name: &str) -> Value {
    let path = root().join("goldens").join(format!("{name}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).expect("golden is JSON")
}

fn template(name: &str) -> ChatTemplate {
    ChatTemplate::from_tokenizer_config(&root().join(format!("fixtures/chat/{name}.json")))
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn templates_render_as_transformers_renders_them() {
    let g = golden("chat_templates");
    let conversations: Vec<Vec<ChatMessage>> = g["conversations"]
        .as_array()
        .expect("conversations")
        .iter()
        .map(|c| {
            c.as_array()
                .expect("messages")
                .iter()
                .map(|m| {
                    ChatMessage::new(
                        m["role"].as_str().expect("role"),
                        m["content"].as_str().expect("content"),
                    )
                })
                .collect()
        })
        .collect();
    let cases = g["cases"].as_array().expect("cases");
    assert!(cases.len() >= 60);
    for case in cases {
        let name = case["template"].as_str().expect("template");
        let conv = &conversations[case["conversation"].as_u64().expect("index") as usize];
        let agp = case["add_generation_prompt"].as_bool().expect("flag");
        let ours = template(name).render(conv, agp);
        let what = format!("{name} conversation {} agp {agp}", case["conversation"]);
        match (&ours, case.get("text"), case.get("error")) {
            (Ok(text), Some(want), _) => assert_eq!(text, want.as_str().expect("text"), "{what}"),
            (Err(e), _, Some(want)) => {
                let want = want.as_str().expect("error");
                assert!(e.to_string().contains(want), "{what}: {e} lacks {want}");
            }
            _ => panic!("{what}: vibee {ours:?}, transformers {case}"),
        }
    }
}

#[test]
fn missing_chat_template_is_a_named_error() {
    let dir = std::env::temp_dir().join(format!("vibee-chat-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("tokenizer_config.json");
    std::fs::write(&path, r#"{"bos_token": "<s>"}"#).expect("write");
    let err = ChatTemplate::from_tokenizer_config(&dir)
        .expect_err("no template")
        .to_string();
    assert!(
        err.contains("tokenizer_config.json") && err.contains("chat_template"),
        "{err}"
    );
}

fn golden_requests(sample: &Value) -> Vec<(String, Option<String>)> {
    sample["arguments"]
        .as_array()
        .expect("arguments")
        .iter()
        .map(|a| {
            (
                a[0].as_str().expect("context").to_string(),
                a[1].as_str().map(str::to_string),
            )
        })
        .collect()
}

/// Prompts (exact), per-document metrics and aggregates of a chat-templated run.
fn check_chat_run(golden_name: &str, task_name: &str, template_name: &str) {
    let g = golden(golden_name);
    let chat = &g["chat"];
    let mut config = Registry::builtin().expect("builtin").tasks[task_name].clone();
    config.num_fewshot = g["n-shot"][task_name].as_u64().expect("n-shot") as usize;
    let templates = Templates::new();
    let mut task = Task::load(config, &root().join("fixtures"), &templates).expect("loads");
    task.style = PromptStyle {
        system_instruction: chat["system_instruction"].as_str().map(str::to_string),
        chat_template: Some(Arc::new(template(template_name))),
        fewshot_as_multiturn: chat["fewshot_as_multiturn"].as_bool().unwrap_or(false),
    };
    let mut sampler = FewshotSampler::default();
    let samples = g["samples"][task_name].as_array().expect("samples");
    let mut seen = std::collections::BTreeSet::new();
    for s in samples {
        let id = s["doc_id"].as_u64().expect("doc_id") as usize;
        if !seen.insert(id) {
            continue;
        }
        let ours = task
            .requests(&templates, id, &mut sampler)
            .expect("requests");
        let theirs = golden_requests(s);
        assert_eq!(ours.len(), theirs.len(), "{golden_name} doc {id}");
        for (a, (ctx, cont)) in ours.iter().zip(&theirs) {
            assert_eq!(a.context(), ctx, "{golden_name} doc {id}: prompt");
            if let (Request::Loglikelihood { continuation, .. }, Some(cont)) = (a, cont) {
                assert_eq!(continuation, cont, "{golden_name} doc {id}: continuation");
            }
        }
    }
    let result = evaluator::evaluate_task(&task, &FakeModel, &templates, &EvalOptions::default())
        .expect("evaluates");
    for (k, v) in g["results"][task_name].as_object().expect("results") {
        if let Some(ours) = result.scores.get(k) {
            assert_eq!(ours, v, "{golden_name} {k}");
        }
    }
}

#[test]
fn arc_easy_multiturn_with_system_instruction_matches_the_harness() {
    check_chat_run("arc_easy_chat_multiturn", "arc_easy", "llama3");
}

#[test]
fn a_template_rejecting_the_system_turn_is_retried_without_it() {
    check_chat_run("arc_easy_chat_gemma", "arc_easy", "gemma");
}

#[test]
fn arc_easy_single_turn_matches_the_harness() {
    check_chat_run("arc_easy_chat_singleturn", "arc_easy", "chatml");
}

#[test]
fn gsm8k_multiturn_matches_the_harness() {
    check_chat_run("gsm8k_chat", "gsm8k", "zephyr");
}

#[test]
fn winogrande_multiturn_matches_the_harness() {
    check_chat_run("winogrande_chat", "winogrande", "llama3");
}
