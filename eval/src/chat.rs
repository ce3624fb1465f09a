//! Hugging Face chat templates, rendered as transformers' `apply_chat_template`
//! renders them (`tokenize=False`).
//!
//! transformers compiles the `chat_template` of `tokenizer_config.json` in a
//! Jinja2 sandbox with `trim_blocks` and `lstrip_blocks`, loop controls, a
//! `tojson` filter that does not HTML-escape (Python's `json.dumps`,
//! `ensure_ascii=False`), the globals `raise_exception` and `strftime_now`, and
//! passes `messages`, `add_generation_prompt` and the tokenizer's special tokens
//! (`bos_token`, `eos_token`, ...). MiniJinja renders the same language; the
//! Python `str`/`dict` methods templates call come from `minijinja-contrib`.
//!
//! ```
//! use vibee_eval::chat::{ChatMessage, ChatTemplate};
//! let t = ChatTemplate::new(
//!     "{{ bos_token }}{% for m in messages %}<{{ m.role }}>{{ m.content | trim }}{% endfor %}{% if add_generation_prompt %}<assistant>{% endif %}",
//!     [("bos_token".to_string(), "<s>".to_string())].into(),
//! ).unwrap();
//! let text = t.render(&[ChatMessage::new("user", " Hi ")], true).unwrap();
//! assert_eq!(text, "<s><user>Hi<assistant>");
//! ```

use std::collections::BTreeMap;
use std::path::Path;

use minijinja::value::{Kwargs, Value, ValueKind};
use minijinja::{Environment, Error, ErrorKind};
use serde::Serialize;

use crate::error::{EvalError, Result};

/// One chat turn.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ChatMessage {
    /// `system`, `user` or `assistant`.
    pub role: String,
    /// The text.
    pub content: String,
}

impl ChatMessage {
    /// A message.
    pub fn new(role: &str, content: &str) -> Self {
        ChatMessage {
            role: role.into(),
            content: content.into(),
        }
    }
}

/// The special tokens transformers passes to a template.
const SPECIAL_TOKENS: &[&str] = &[
    "bos_token",
    "eos_token",
    "unk_token",
    "sep_token",
    "pad_token",
    "cls_token",
    "mask_token",
];

/// A compiled chat template with its special tokens.
#[derive(Debug)]
pub struct ChatTemplate {
    env: Environment<'static>,
    special_tokens: BTreeMap<String, String>,
    source: String,
}

fn template_error(source: &str, e: &Error) -> EvalError {
    EvalError::ChatTemplate {
        origin: source.into(),
        message: e.to_string(),
    }
}

impl ChatTemplate {
    /// Compiles `template`; `special_tokens` maps `bos_token` etc. to their text.
    pub fn new(template: &str, special_tokens: BTreeMap<String, String>) -> Result<Self> {
        Self::compile(template, special_tokens, "<chat template>")
    }

    fn compile(
        template: &str,
        special_tokens: BTreeMap<String, String>,
        source: &str,
    ) -> Result<Self> {
        let mut env = Environment::new();
        // transformers compiles templates with trim_blocks and lstrip_blocks.
        let syntax = minijinja::syntax::SyntaxConfig::builder()
            .trim_blocks(true)
            .lstrip_blocks(true)
            .build()
            .map_err(|e| template_error(source, &e))?;
        env.set_syntax(syntax);
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_filter("tojson", tojson);
        env.add_function("raise_exception", raise_exception);
        env.add_function("strftime_now", strftime_now);
        env.add_template_owned("chat", template.to_string())
            .map_err(|e| template_error(source, &e))?;
        Ok(ChatTemplate {
            env,
            special_tokens,
            source: source.into(),
        })
    }

    /// Reads `chat_template` and the special tokens from a `tokenizer_config.json`
    /// (or a model directory holding one; a `chat_template.jinja` beside it wins,
    /// as in recent transformers). A list of named templates gives `default`.
    pub fn from_tokenizer_config(path: &Path) -> Result<Self> {
        let (config_path, jinja) = if path.is_dir() {
            let jinja = path.join("chat_template.jinja");
            (
                path.join("tokenizer_config.json"),
                jinja.exists().then_some(jinja),
            )
        } else {
            (path.to_path_buf(), None)
        };
        let read = |p: &Path| {
            std::fs::read_to_string(p).map_err(|source| EvalError::Io {
                path: p.to_path_buf(),
                source,
            })
        };
        let config: serde_json::Value =
            serde_json::from_str(&read(&config_path)?).map_err(|e| EvalError::ChatTemplate {
                origin: config_path.display().to_string(),
                message: format!("not JSON: {e}"),
            })?;
        let template = match jinja {
            Some(j) => read(&j)?,
            None => template_of(&config).ok_or_else(|| EvalError::ChatTemplate {
                origin: config_path.display().to_string(),
                message: "no `chat_template` (a string, or a list with a `default` entry)".into(),
            })?,
        };
        let special = SPECIAL_TOKENS
            .iter()
            .filter_map(|k| {
                let v = config.get(*k)?;
                let text = v.as_str().or_else(|| v.get("content")?.as_str())?;
                Some((k.to_string(), text.to_string()))
            })
            .collect();
        Self::compile(&template, special, &config_path.display().to_string())
    }

    /// The special tokens passed to the template.
    pub fn special_tokens(&self) -> &BTreeMap<String, String> {
        &self.special_tokens
    }

    /// Renders a conversation; `add_generation_prompt` opens the assistant's turn.
    /// A template's `raise_exception(...)` is an error carrying its message.
    pub fn render(&self, messages: &[ChatMessage], add_generation_prompt: bool) -> Result<String> {
        let template = self
            .env
            .get_template("chat")
            .map_err(|e| template_error(&self.source, &e))?;
        let mut ctx: BTreeMap<String, Value> = self
            .special_tokens
            .iter()
            .map(|(k, v)| (k.clone(), Value::from(v.as_str())))
            .collect();
        ctx.insert(
            "messages".into(),
            Value::from(minijinja::value::Serde(messages)),
        );
        ctx.insert(
            "add_generation_prompt".into(),
            Value::from(add_generation_prompt),
        );
        ctx.insert("tools".into(), Value::from(()));
        ctx.insert("documents".into(), Value::from(()));
        template
            .render(Value::from(ctx))
            .map_err(|e| template_error(&self.source, &e))
    }
}

/// What transformers appends to the final message to find where it ends.
const CONTINUE_TAG: &str = "CONTINUE_FINAL_MESSAGE_TAG ";

impl ChatTemplate {
    /// Renders a conversation whose final message the model continues
    /// (transformers' `continue_final_message=True`): the output stops right
    /// after that message's content, without its end-of-turn tokens.
    pub fn render_continuing(&self, messages: &[ChatMessage]) -> Result<String> {
        let Some((last, init)) = messages.split_last() else {
            return Err(self.error("continue_final_message with an empty conversation".into()));
        };
        let mut tagged = init.to_vec();
        tagged.push(ChatMessage::new(
            &last.role,
            &format!("{}{CONTINUE_TAG}", last.content),
        ));
        let rendered = self.render(&tagged, false)?;
        let tag = CONTINUE_TAG.trim();
        let (Some(at), true) = (rendered.rfind(tag), rendered.contains(last.content.trim())) else {
            return Err(self.error(
                "the final message does not appear in the rendered chat; the template cannot continue it".into(),
            ));
        };
        // A template that trimmed the message also lost the tag's space.
        Ok(if rendered[at..].starts_with(CONTINUE_TAG) {
            rendered[..at].to_string()
        } else {
            rendered[..at].trim_end().to_string()
        })
    }

    fn error(&self, message: String) -> EvalError {
        EvalError::ChatTemplate {
            origin: self.source.clone(),
            message,
        }
    }
}

fn template_of(config: &serde_json::Value) -> Option<String> {
    match config.get("chat_template")? {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Array(named) => named
            .iter()
            .find(|t| t.get("name").and_then(|n| n.as_str()) == Some("default"))
            .and_then(|t| t.get("template")?.as_str().map(str::to_string)),
        _ => None,
    }
}

/// The template's own error: its message ends up in the [`EvalError`].
fn raise_exception(message: String) -> std::result::Result<Value, Error> {
    Err(Error::new(ErrorKind::InvalidOperation, message))
}

/// `strftime_now(format)`: only the formats templates use for dates.
fn strftime_now(format: String) -> std::result::Result<Value, Error> {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (y, m, d) = civil_from_days((secs / 86_400) as i64);
    const MONTHS: [&str; 12] = [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ];
    let month = MONTHS[(m - 1) as usize];
    Ok(Value::from(
        format
            .replace("%Y", &y.to_string())
            .replace("%m", &format!("{m:02}"))
            .replace("%d", &format!("{d:02}"))
            .replace("%B", month)
            .replace("%b", &month[..3]),
    ))
}

/// Days since 1970-01-01 → (year, month, day), proleptic Gregorian.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// transformers' `tojson`: `json.dumps(x, ensure_ascii=False, indent=...,
/// separators=..., sort_keys=...)` — Python's separators, no HTML escaping.
fn tojson(value: Value, kwargs: Kwargs) -> std::result::Result<Value, Error> {
    let indent: Option<usize> = kwargs.get("indent")?;
    let sort_keys: Option<bool> = kwargs.get("sort_keys")?;
    let separators: Option<Vec<String>> = kwargs.get("separators")?;
    kwargs.assert_all_used()?;
    let (item, key) = match separators.as_deref() {
        Some([a, b]) => (a.clone(), b.clone()),
        _ if indent.is_some() => (",".into(), ": ".into()),
        _ => (", ".into(), ": ".into()),
    };
    let style = PyJson {
        indent,
        item,
        key,
        sort_keys: sort_keys.unwrap_or(false),
    };
    let mut out = String::new();
    style.write(&value, 0, &mut out)?;
    Ok(Value::from_safe_string(out))
}

/// Python's `json.dumps` layout, over template values (maps keep their order).
struct PyJson {
    indent: Option<usize>,
    item: String,
    key: String,
    sort_keys: bool,
}

impl PyJson {
    fn newline(&self, depth: usize, out: &mut String) {
        if let Some(n) = self.indent {
            out.push('\n');
            out.push_str(&" ".repeat(n * depth));
        }
    }

    fn write(&self, v: &Value, depth: usize, out: &mut String) -> std::result::Result<(), Error> {
        match v.kind() {
            ValueKind::Undefined | ValueKind::None => out.push_str("null"),
            ValueKind::Bool => out.push_str(if v.is_true() { "true" } else { "false" }),
            ValueKind::String => {
                out.push_str(&serde_json::Value::from(v.as_str().unwrap_or_default()).to_string())
            }
            ValueKind::Number => out.push_str(&v.to_string()),
            ValueKind::Seq | ValueKind::Iterable => {
                let items: Vec<Value> = v.try_iter()?.collect();
                self.container(out, depth, '[', ']', items.len(), |i, out| {
                    self.write(&items[i], depth + 1, out)
                })?;
            }
            ValueKind::Map => {
                let mut keys: Vec<Value> = v.try_iter()?.collect();
                if self.sort_keys {
                    keys.sort();
                }
                self.container(out, depth, '{', '}', keys.len(), |i, out| {
                    let k = &keys[i];
                    let name = k.as_str().map_or_else(|| k.to_string(), str::to_string);
                    out.push_str(&serde_json::Value::from(name).to_string());
                    out.push_str(&self.key);
                    self.write(&v.get_item(k)?, depth + 1, out)
                })?;
            }
            _ => {
                return Err(Error::new(
                    ErrorKind::InvalidOperation,
                    format!("cannot serialize {} to JSON", v.kind()),
                ));
            }
        }
        Ok(())
    }

    fn container(
        &self,
        out: &mut String,
        depth: usize,
        open: char,
        close: char,
        len: usize,
        mut each: impl FnMut(usize, &mut String) -> std::result::Result<(), Error>,
    ) -> std::result::Result<(), Error> {
        out.push(open);
        for i in 0..len {
            if i > 0 {
                out.push_str(&self.item);
            }
            self.newline(depth + 1, out);
            each(i, out)?;
        }
        if len > 0 {
            self.newline(depth, out);
        }
        out.push(close);
        Ok(())
    }
}
