//! The Python functions of the harness's task folders (`utils.py`), as named
//! built-ins a task file refers to.

use serde_json::Value;

use crate::error::{EvalError, Result};
use crate::pyregex::PyRegex;
use crate::score::{hendrycks_math, minerva};
use crate::template::Doc;

/// Names accepted by `process_docs`.
pub const PROCESS_DOCS: &[&str] = &["hellaswag", "hendrycks_math", "minerva_math"];
/// Names accepted by `{function: ...}` in `doc_to_*`.
pub const DOC_FUNCTIONS: &[&str] = &[
    "winogrande.doc_to_text",
    "winogrande.doc_to_target",
    "winogrande.doc_to_choice",
    "minerva_math.doc_to_text",
    "wikitext.wikitext_detokenizer",
];

fn field<'a>(doc: &'a Doc, name: &str) -> std::result::Result<&'a str, String> {
    doc.get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("field `{name}` missing or not a string"))
}

/// Applies a named preprocessor to a split. Like `datasets.map`, the returned
/// fields are added to (or replace) the document's own.
pub fn process_docs(name: &str, task: &str, docs: Vec<Doc>) -> Result<Vec<Doc>> {
    let f: fn(&Doc) -> std::result::Result<Doc, String> = match name {
        "hellaswag" => hellaswag_doc,
        "hendrycks_math" => |d| math_doc(d, false),
        "minerva_math" => |d| math_doc(d, true),
        _ => {
            return Err(EvalError::Unknown {
                kind: "process_docs",
                name: name.into(),
                known: PROCESS_DOCS.join(", "),
            });
        }
    };
    docs.into_iter()
        .enumerate()
        .map(|(i, mut doc)| {
            let extra = f(&doc).map_err(|message| EvalError::Document {
                task: task.into(),
                doc: i,
                message,
            })?;
            doc.extend(extra);
            Ok(doc)
        })
        .collect()
}

/// HellaSwag's `preprocess`: strip, drop WikiHow `[bracket]` artifacts, squeeze double spaces.
pub fn hellaswag_preprocess(text: &str) -> String {
    static BRACKETS: std::sync::OnceLock<PyRegex> = std::sync::OnceLock::new();
    let re = BRACKETS.get_or_init(|| PyRegex::new(r"\[.*?\]").expect("built-in pattern"));
    let text = text.trim().replace(" [title]", ". ");
    re.sub(&text, "", 0).replace("  ", " ")
}

/// Python's `str.capitalize`: first character upper, the rest lower.
fn capitalize(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first
            .to_uppercase()
            .chain(chars.flat_map(char::to_lowercase))
            .collect(),
        None => String::new(),
    }
}

fn hellaswag_doc(doc: &Doc) -> std::result::Result<Doc, String> {
    let ctx = format!(
        "{} {}",
        field(doc, "ctx_a")?,
        capitalize(field(doc, "ctx_b")?)
    );
    let query = hellaswag_preprocess(&format!("{}: {ctx}", field(doc, "activity_label")?));
    let endings = doc
        .get("endings")
        .and_then(Value::as_array)
        .ok_or("field `endings` missing or not a list")?;
    let choices: Vec<Value> = endings
        .iter()
        .map(|e| {
            e.as_str()
                .map(|s| Value::String(hellaswag_preprocess(s)))
                .ok_or("an ending is not a string")
        })
        .collect::<std::result::Result<_, _>>()?;
    let gold = match doc.get("label") {
        Some(Value::String(s)) => s
            .trim()
            .parse::<i64>()
            .map_err(|_| format!("label `{s}` is not an integer"))?,
        Some(Value::Number(n)) => n.as_i64().ok_or("label is not an integer")?,
        _ => return Err("field `label` missing".into()),
    };
    let mut out = Doc::new();
    out.insert("query".into(), query.into());
    out.insert("choices".into(), Value::Array(choices));
    out.insert("gold".into(), gold.into());
    Ok(out)
}

fn math_doc(doc: &Doc, minerva: bool) -> std::result::Result<Doc, String> {
    let solution = field(doc, "solution")?;
    let boxed =
        hendrycks_math::last_boxed_only_string(solution).ok_or("solution has no \\boxed answer")?;
    let mut answer =
        hendrycks_math::remove_boxed(&boxed).map_err(|_| format!("cannot unbox `{boxed}`"))?;
    if minerva {
        answer = minerva::normalize_final_answer(&answer);
    }
    let mut out = Doc::new();
    out.insert("answer".into(), answer.into());
    Ok(out)
}

/// Calls a named `doc_to_*` function.
pub fn call(name: &str, doc: &Doc) -> std::result::Result<Value, String> {
    match name {
        "winogrande.doc_to_text" => match field(doc, "answer")? {
            "1" => Ok(0.into()),
            "2" => Ok(1.into()),
            other => Err(format!("answer `{other}` is neither \"1\" nor \"2\"")),
        },
        "winogrande.doc_to_target" => {
            let sentence = field(doc, "sentence")?;
            let idx = sentence.find('_').ok_or("sentence has no `_` blank")?;
            Ok(sentence[idx + 1..].trim().into())
        }
        "winogrande.doc_to_choice" => {
            let sentence = field(doc, "sentence")?;
            let idx = sentence.find('_').ok_or("sentence has no `_` blank")?;
            let opts = [field(doc, "option1")?, field(doc, "option2")?];
            Ok(Value::Array(
                opts.iter()
                    .map(|o| Value::String(format!("{}{o}", &sentence[..idx])))
                    .collect(),
            ))
        }
        "wikitext.wikitext_detokenizer" => {
            Ok(super::wikitext::detokenize(field(doc, "page")?).into())
        }
        "minerva_math.doc_to_text" => {
            Ok(format!("Problem:\n{}\n\nSolution:", field(doc, "problem")?).into())
        }
        _ => Err(format!(
            "unknown function `{name}`; known: {}",
            DOC_FUNCTIONS.join(", ")
        )),
    }
}
